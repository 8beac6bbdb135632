"""A dancer made in code: the canonical skeleton as an armature, and a simple body skinned to it.

Used by the demo, the tests and anyone who wants a rig that matches the model exactly. The rig
stands in a T-pose with its soles on the ground plane (Z = 0), facing -Y as Blender characters do.
"""
from __future__ import annotations

import bmesh
import bpy
import numpy as np
from mathutils import Matrix, Vector

from ..core.motion import skeleton as sk
from ..core.rig.posing import CANONICAL_TO_BLENDER

# radius of each body part in metres, by the joint at the head of the bone
_RADII = {
    "pelvis": 0.11, "spine1": 0.11, "spine2": 0.12, "spine3": 0.12, "neck": 0.05, "head": 0.10,
    "left_hip": 0.075, "right_hip": 0.075, "left_knee": 0.055, "right_knee": 0.055,
    "left_ankle": 0.045, "right_ankle": 0.045, "left_collar": 0.05, "right_collar": 0.05,
    "left_shoulder": 0.05, "right_shoulder": 0.05, "left_elbow": 0.04, "right_elbow": 0.04,
    "left_wrist": 0.035, "right_wrist": 0.035,
}
_HEAD_TOP = np.array([0.0, 0.22, 0.0])


def canonical_bone_segments(offsets: np.ndarray = sk.REST_OFFSETS) -> list[tuple[str, str | None, np.ndarray, np.ndarray]]:
    """(name, parent name, head, tail) of each bone in Blender space, soles on Z = 0."""
    rest = sk.rest_positions(offsets)
    rest[:, 1] += sk.STANDING_HEIGHT
    segments = []
    for i, name in enumerate(sk.JOINT_NAMES):
        kids = sk.CHILDREN[i]
        if i in sk.END_OFFSETS:
            tail = rest[i] + sk.END_OFFSETS[i]
        elif name == "head":
            tail = rest[i] + _HEAD_TOP
        elif name == "pelvis":
            tail = rest[sk.joint_index("spine1")]
        elif name == "spine3":
            tail = rest[sk.joint_index("neck")]
        else:
            (kid,) = kids
            tail = rest[kid]
        parent = sk.JOINT_NAMES[sk.PARENTS[i]] if sk.PARENTS[i] >= 0 else None
        segments.append((name, parent, CANONICAL_TO_BLENDER @ rest[i], CANONICAL_TO_BLENDER @ tail))
    return segments


def build_armature(name: str = "Dancer", collection: bpy.types.Collection | None = None) -> bpy.types.Object:
    """An armature object whose bones are the canonical joints, in rest T-pose, quaternion rotation mode."""
    collection = collection or bpy.context.scene.collection
    arm = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, arm)
    collection.objects.link(obj)
    # edit bones need edit mode on an active object
    view_layer = bpy.context.view_layer
    previous = view_layer.objects.active
    view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        for bone_name, parent, head, tail in canonical_bone_segments():
            eb = arm.edit_bones.new(bone_name)
            eb.head = Vector(head)
            eb.tail = Vector(tail)
            eb.roll = 0.0
            if parent:
                eb.parent = arm.edit_bones[parent]
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
        view_layer.objects.active = previous
    for pb in obj.pose.bones:
        pb.rotation_mode = "QUATERNION"
    return obj


def build_body(armature: bpy.types.Object, name: str = "DancerBody") -> bpy.types.Object:
    """A body of capsules, one per bone, each skinned fully to its bone with an Armature modifier."""
    mesh = bpy.data.meshes.new(name)
    bm = bmesh.new()
    groups: list[tuple[str, list[int]]] = []
    for bone in armature.data.bones:
        head, tail = np.array(bone.head_local), np.array(bone.tail_local)
        length = float(np.linalg.norm(tail - head))
        radius = _RADII[bone.name]
        before = len(bm.verts)
        if bone.name == "head":
            geom = bmesh.ops.create_uvsphere(bm, u_segments=16, v_segments=10, radius=radius)
            center = (head + tail) / 2
            bmesh.ops.translate(bm, verts=geom["verts"], vec=Vector(center))
        else:
            geom = bmesh.ops.create_cone(bm, cap_ends=True, segments=12, radius1=radius, radius2=radius * 0.85,
                                         depth=max(length - radius * 0.3, 0.02))
            # the cone is built along Z about the origin: turn it onto the bone and move it to its middle
            rot = Vector((0, 0, 1)).rotation_difference(Vector(tail - head))
            xf = Matrix.Translation(Vector((head + tail) / 2)) @ rot.to_matrix().to_4x4()
            bmesh.ops.transform(bm, matrix=xf, verts=geom["verts"])
        bm.verts.ensure_lookup_table()
        groups.append((bone.name, list(range(before, len(bm.verts)))))
    bm.to_mesh(mesh)
    bm.free()
    body = bpy.data.objects.new(name, mesh)
    for coll in armature.users_collection:
        coll.objects.link(body)
    for bone_name, indices in groups:
        vg = body.vertex_groups.new(name=bone_name)
        vg.add(indices, 1.0, "REPLACE")
    mod = body.modifiers.new("Armature", "ARMATURE")
    mod.object = armature
    body.parent = armature
    return body


def build_dancer(name: str = "Dancer") -> tuple[bpy.types.Object, bpy.types.Object]:
    """The demo character: a canonical armature and its skinned body."""
    armature = build_armature(name)
    body = build_body(armature, f"{name}Body")
    return armature, body
