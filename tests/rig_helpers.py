"""Shared helpers for tests that bake canonical motion onto real rigs and measure the result."""
import numpy as np

from dance_addon.core.motion import skeleton as sk
from dance_addon.core.rig import bonemaps
from dance_addon.core.rig import posing as core_rig


def smooth_motion(n=40, seed=0):
    """(n, 20, 3) canonical rotation vectors drifting smoothly from a random pose, and (n, 3) root positions."""
    rng = np.random.default_rng(seed)
    base = rng.normal(scale=0.35, size=(1, 20, 3))
    wobble = np.cumsum(rng.normal(scale=0.05, size=(n, 20, 3)), axis=0)
    rv = base + wobble
    rv[:, 0] *= 0.5
    trans = np.cumsum(rng.normal(scale=0.01, size=(n, 3)), axis=0) + [0, 0.93, 0]
    return rv, trans


def bake_motion(bpy, obj, rv, trans):
    """Key the motion on frames 1..n of a new active action on obj (detected preset, its constants too)."""
    from dance_addon.blender import keying, rig_io

    rest = rig_io.rig_rest(obj)
    det = bonemaps.detect(rest.names)
    preset = bonemaps.PRESETS[det.preset]
    pose = core_rig.pose_rig(rest, det.bone_map, rv, trans, extra_bones=preset.extra_bones)
    frames = np.arange(1, len(rv) + 1, dtype=np.float64)
    target = rig_io.key_pose(obj, pose, frames, "Dance", preset.constants)
    keying.assign(obj, target)
    return det.bone_map


def world_directions(bpy, obj, bone_map, frame):
    """At a frame: {joint: unit world direction of its bone (to its only child's head, or its tail)}
    for the joints with one child or none, and {joint: world head position}."""
    bpy.context.scene.frame_set(frame)
    mw = obj.matrix_world
    heads = {j: np.array(mw @ obj.pose.bones[b].head) for j, b in bone_map.items()}
    tails = {j: np.array(mw @ obj.pose.bones[b].tail) for j, b in bone_map.items()}
    return _directions(heads, tails), heads


def rest_directions(obj, bone_map):
    """world_directions of the armature's rest pose."""
    mw = obj.matrix_world
    heads = {j: np.array(mw @ obj.data.bones[b].head_local) for j, b in bone_map.items()}
    tails = {j: np.array(mw @ obj.data.bones[b].tail_local) for j, b in bone_map.items()}
    return _directions(heads, tails)


def world_turns(obj, bone_map):
    """{joint: (3, 3) world rotation of its bone from rest to the current pose}."""
    mw = np.array(obj.matrix_world.to_3x3())
    turns = {}
    for j, b in bone_map.items():
        posed = mw @ np.array(obj.pose.bones[b].matrix.to_3x3())
        rest = mw @ np.array(obj.data.bones[b].matrix_local.to_3x3())
        turns[j] = posed @ np.linalg.inv(rest)
    return turns


def _directions(heads, tails):
    dirs = {}
    for i, j in enumerate(sk.JOINT_NAMES):
        kids = sk.CHILDREN[i]
        if len(kids) == 1:
            d = heads[sk.JOINT_NAMES[kids[0]]] - heads[j]
        elif i in sk.END_OFFSETS:
            d = tails[j] - heads[j]
        else:
            continue
        dirs[j] = d / np.linalg.norm(d)
    return dirs


def build_fbx_like_rig(bpy, name="FbxRig", leg_scale=1.0):
    """Mixamo names, A-pose arms, arbitrary rolls, centimetre Y-up data under a 90-degree X, 0.01 object.
    leg_scale lengthens both legs (hip to knee to ankle to toes) by that factor, the feet on the floor."""
    from mathutils import Vector
    from scipy.spatial.transform import Rotation

    rest = sk.rest_positions() + [0, sk.STANDING_HEIGHT, 0]
    end_offsets = dict(sk.END_OFFSETS)
    for hip, knee, ankle in ((1, 4, 7), (2, 5, 8)):
        knee_at = rest[hip] + leg_scale * (rest[knee] - rest[hip])
        ankle_at = knee_at + leg_scale * (rest[ankle] - rest[knee])
        rest[knee], rest[ankle] = knee_at, ankle_at
        end_offsets[ankle] = leg_scale * sk.END_OFFSETS[ankle]
    rest[:, 1] -= min(rest[7, 1] + end_offsets[7][1], rest[8, 1] + end_offsets[8][1])   # toes on the floor
    # A-pose: turn each arm chain 40 degrees down about the forward axis at the shoulder
    for side, sign in (("left", 1), ("right", -1)):
        pivot = rest[sk.joint_index(f"{side}_shoulder")]
        turn = Rotation.from_rotvec([0, 0, -sign * np.radians(40)]).as_matrix()
        for j in (f"{side}_elbow", f"{side}_wrist"):
            k = sk.joint_index(j)
            rest[k] = pivot + turn @ (rest[k] - pivot)
    hand_ends = {}
    for j in (18, 19):
        parent = sk.PARENTS[j]
        d = rest[j] - rest[parent]
        hand_ends[j] = rest[j] + 0.3 * d
    arm = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, arm)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    rng = np.random.default_rng(7)
    root = arm.edit_bones.new("mixamorig:Root")   # an unmapped bone above the hips
    root.head, root.tail = (0, 0, 0), (0, 10, 0)
    names = {}
    for i, joint in enumerate(sk.JOINT_NAMES):
        bone_name = "mixamorig:" + bonemaps.PRESETS["mixamo"].candidates[joint][0]
        names[i] = bone_name
        eb = arm.edit_bones.new(bone_name)
        head = rest[i] * 100.0
        kids = sk.CHILDREN[i]
        if i in sk.END_OFFSETS:
            tail = (hand_ends[i] if i in hand_ends else rest[i] + end_offsets[i]) * 100.0
        elif joint == "head":
            tail = head + [0, 20, 0]
        elif joint in ("pelvis", "spine3"):
            tail = rest[kids[0] if joint == "pelvis" else sk.joint_index("neck")] * 100.0
        else:
            tail = rest[kids[0]] * 100.0
        eb.head, eb.tail = Vector(head), Vector(tail)
        eb.roll = rng.uniform(-np.pi, np.pi)
        eb.parent = arm.edit_bones[names[sk.PARENTS[i]]] if i else root
    twist = arm.edit_bones.new("mixamorig:LeftArmTwist")  # an unmapped optional bone
    twist.head = arm.edit_bones["mixamorig:LeftArm"].head
    twist.tail = arm.edit_bones["mixamorig:LeftArm"].tail
    twist.parent = arm.edit_bones["mixamorig:LeftArm"]
    bpy.ops.object.mode_set(mode="OBJECT")
    obj.rotation_euler = (np.pi / 2, 0, 0)
    obj.scale = (0.01, 0.01, 0.01)
    obj.location = (2.0, 1.0, 0.0)
    for pb in obj.pose.bones:
        pb.rotation_mode = "QUATERNION"
    bpy.context.view_layer.update()
    return obj
