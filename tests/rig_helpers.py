"""Shared helpers for tests that bake canonical motion onto real rigs and measure the result."""
import numpy as np

from dance_addon.core.rig import bonemaps
from dance_addon.core.rig import posing as core_rig
from dance_addon.core.motion import skeleton as sk


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
    from dance_addon.blender import keying, retarget

    rest = retarget.rig_rest(obj)
    det = bonemaps.detect(rest.names)
    preset = bonemaps.PRESETS[det.preset]
    pose = core_rig.pose_rig(rest, det.bone_map, rv, trans, extra_bones=preset.extra_bones)
    frames = np.arange(1, len(rv) + 1, dtype=np.float64)
    target = retarget.key_pose(obj, pose, frames, "Dance", preset.constants)
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
