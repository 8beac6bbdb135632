"""A dancer made in code: the canonical skeleton as an armature, and a mannequin skinned to it.

Used by the demo, the tests and anyone who wants a rig that matches the model exactly. The rig
stands in a T-pose with its soles on the ground plane (Z = 0), facing -Y as Blender characters do.
"""
from __future__ import annotations

from dataclasses import dataclass

import bpy
import numpy as np
from mathutils import Vector

from ..core.motion import skeleton as sk
from ..core.rig.posing import CANONICAL_TO_BLENDER

_HEAD_TOP = np.array([0.0, 0.22, 0.0])


def canonical_bone_segments(
        offsets: np.ndarray = sk.REST_OFFSETS) -> list[tuple[str, str | None, np.ndarray, np.ndarray]]:
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


# The mannequin's colours (Workbench shows a material's viewport colour with color_type "MATERIAL"):
# an orange body, blue head, hands and feet, and a pale visor on the front of the head.
SKIN, ACCENT, FACE = (0.85, 0.45, 0.2, 1.0), (0.16, 0.3, 0.72, 1.0), (0.95, 0.93, 0.85, 1.0)
MATERIALS = ("DancerSkin", "DancerAccent", "DancerFace")


@dataclass
class _Part:
    """A closed, rounded solid: a lathe from pole to pole along p0 -> p1 with spherical ends.
    radius0/radius1: the ends' radii across `side` (metres); flat: the radius across the other
    axis as a fraction; side: the direction the first cross-section axis leans towards."""
    bone: str
    p0: np.ndarray
    p1: np.ndarray
    radius0: float
    radius1: float
    flat: float = 1.0
    side: tuple[float, float, float] = (1.0, 0.0, 0.0)
    material: int = 0


def _lathe(part: _Part, segments: int = 14, cap_rings: int = 4) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """Vertices and faces (quads, triangle fans at the poles) of one part; faces wind outwards."""
    p0, p1 = np.asarray(part.p0, float), np.asarray(part.p1, float)
    axis = p1 - p0
    length = float(np.linalg.norm(axis))
    axis = axis / length
    u = np.asarray(part.side, float) - axis * (np.asarray(part.side, float) @ axis)
    if np.linalg.norm(u) < 1e-6:                       # the side runs along the axis: take any other
        u = np.cross(axis, [0.0, 0.0, 1.0] if abs(axis[2]) < 0.9 else [0.0, 1.0, 0.0])
    u /= np.linalg.norm(u)
    v = np.cross(axis, u)
    # the profile from the p0 pole to the p1 pole: (distance along the axis, radius)
    phi0 = np.linspace(-np.pi / 2, 0.0, cap_rings + 1)[1:]
    phi1 = np.linspace(0.0, np.pi / 2, cap_rings + 1)[:-1]
    along = np.concatenate([part.radius0 * np.sin(phi0), length + part.radius1 * np.sin(phi1)])
    radius = np.concatenate([part.radius0 * np.cos(phi0), part.radius1 * np.cos(phi1)])
    ang = np.linspace(0.0, 2 * np.pi, segments, endpoint=False)
    ring = np.cos(ang)[:, None] * u + part.flat * np.sin(ang)[:, None] * v            # (S, 3)
    rings = p0 + along[:, None, None] * axis + radius[:, None, None] * ring[None]      # (R, S, 3)
    verts = np.concatenate([[p0 - part.radius0 * axis], rings.reshape(-1, 3), [p1 + part.radius1 * axis]])
    n_rings, last = len(along), 1 + len(along) * segments
    faces: list[tuple[int, ...]] = []
    def at(r, k):
        return 1 + r * segments + k % segments
    for k in range(segments):
        faces.append((0, at(0, k + 1), at(0, k)))
        for r in range(n_rings - 1):
            faces.append((at(r, k), at(r, k + 1), at(r + 1, k + 1), at(r + 1, k)))
        faces.append((at(n_rings - 1, k), at(n_rings - 1, k + 1), last))
    return verts, faces


def _mannequin_parts(armature: bpy.types.Object) -> list[_Part]:
    """The parts of the mannequin in the armature's rest space (Blender axes: facing -Y, Z up)."""
    bones = armature.data.bones
    head = {b.name: np.array(b.head_local) for b in bones}
    tail = {b.name: np.array(b.tail_local) for b in bones}
    z = np.array([0.0, 0.0, 1.0])
    parts = [
        # trunk: wide, shallow ellipses
        _Part("pelvis", head["pelvis"] - 0.05 * z, head["spine1"], 0.115, 0.10, 0.72),
        _Part("spine1", head["spine1"], head["spine2"], 0.10, 0.105, 0.72),
        _Part("spine2", head["spine2"], head["spine3"], 0.11, 0.12, 0.72),
        _Part("spine3", head["spine3"] + 0.02 * z, head["neck"] - 0.05 * z, 0.13, 0.12, 0.62),
        _Part("neck", head["neck"] - 0.02 * z, head["head"] + 0.01 * z, 0.045, 0.042),
        # the head: an egg, and a nose on its front
        _Part("head", head["head"] + 0.065 * z, head["head"] + 0.135 * z, 0.09, 0.085, 1.08, material=1),
        _Part("head", head["head"] + np.array([0.0, -0.06, 0.085]), head["head"] + np.array([0.0, -0.11, 0.075]),
              0.022, 0.014, material=1),
    ]
    for s in ("left", "right"):
        toe = tail[f"{s}_ankle"]
        ankle = head[f"{s}_ankle"]
        heel = np.array([ankle[0], ankle[1] + 0.05, 0.04])
        parts += [
            _Part(f"{s}_collar", head[f"{s}_collar"], head[f"{s}_shoulder"], 0.05, 0.055, 0.8, (0, 1, 0)),
            _Part(f"{s}_shoulder", head[f"{s}_shoulder"], head[f"{s}_elbow"], 0.05, 0.04),
            _Part(f"{s}_elbow", head[f"{s}_elbow"], head[f"{s}_wrist"], 0.04, 0.032),
            # hands: mitts, wide across the palm (front to back in the T-pose), thin through it
            _Part(f"{s}_wrist", head[f"{s}_wrist"], tail[f"{s}_wrist"], 0.05, 0.045, 0.5, (0, 1, 0), material=1),
            _Part(f"{s}_hip", head[f"{s}_hip"] - 0.02 * z, head[f"{s}_knee"], 0.08, 0.055),
            _Part(f"{s}_knee", head[f"{s}_knee"], head[f"{s}_ankle"] + 0.03 * z, 0.052, 0.04),
            # feet: shoes from heel to toe, the sole on the ground
            _Part(f"{s}_ankle", heel, np.array([toe[0], toe[1] + 0.03, 0.035]), 0.045, 0.04, 0.85, (1, 0, 0),
                  material=1),
        ]
    return parts


def _material(name: str, color: tuple[float, float, float, float]) -> bpy.types.Material:
    mat = bpy.data.materials.get(name) or bpy.data.materials.new(name)
    mat.diffuse_color = color
    return mat


def build_body(armature: bpy.types.Object, name: str = "DancerBody") -> bpy.types.Object:
    """A jointed mannequin: one rounded, closed solid per body part (an egg head with a nose and a
    visor facing the front, mitt hands, shoe feet), each skinned fully to its bone with an
    Armature modifier. Head, hands and feet are blue, the body orange, the visor pale."""
    verts, faces, mats, groups = [], [], [], {}
    count, egg = 0, None
    for part in _mannequin_parts(armature):
        v, f = _lathe(part)
        if part.bone == "head" and egg is None:
            egg = range(len(faces), len(faces) + len(f))
        verts.append(v)
        faces += [tuple(i + count for i in face) for face in f]
        mats += [part.material] * len(f)
        groups.setdefault(part.bone, []).extend(range(count, count + len(v)))
        count += len(v)
    verts = np.concatenate(verts)
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(verts.tolist(), [], faces)
    for mat_name, color in zip(MATERIALS, (SKIN, ACCENT, FACE)):
        mesh.materials.append(_material(mat_name, color))
    # the visor: the head's faces that look forward (-Y) at eye height
    head_center = np.array(armature.data.bones["head"].head_local) + np.array([0.0, 0.0, 0.1])
    mesh.polygons.foreach_set("material_index", np.array(mats, dtype=np.int32))
    for i in egg:
        poly = mesh.polygons[i]
        if -0.045 < poly.center[2] - head_center[2] < 0.06 and poly.normal[1] < -0.5:
            poly.material_index = 2
    mesh.polygons.foreach_set("use_smooth", np.ones(len(mesh.polygons), dtype=bool))
    mesh.validate()
    mesh.update()
    body = bpy.data.objects.new(name, mesh)
    for coll in armature.users_collection:
        coll.objects.link(body)
    for bone in armature.data.bones:
        vg = body.vertex_groups.new(name=bone.name)
        vg.add(groups.get(bone.name, []), 1.0, "REPLACE")
    mod = body.modifiers.new("Armature", "ARMATURE")
    mod.object = armature
    body.parent = armature
    body.color = SKIN
    return body


def build_dancer(name: str = "Dancer") -> tuple[bpy.types.Object, bpy.types.Object]:
    """The demo character: a canonical armature and its skinned body."""
    armature = build_armature(name)
    body = build_body(armature, f"{name}Body")
    return armature, body
