"""The same canonical motion on two differently built rigs gives the same world bone directions."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from dance_addon.core.motion import skeleton as sk
from dance_addon.core.rig import bonemaps
from dance_addon.core.rig import posing as core_rig
from rig_helpers import bake_motion, build_fbx_like_rig, smooth_motion, world_directions

MIXAMO_NAMES = bonemaps.PRESETS["mixamo"].candidates


def test_two_rigs_dance_the_same(bpy_module):
    bpy = bpy_module
    from dance_addon.blender import character

    rv, trans = smooth_motion()
    ours = character.build_armature("Dancer")
    fbx = build_fbx_like_rig(bpy)
    map_ours = bake_motion(bpy, ours, rv, trans)
    map_fbx = bake_motion(bpy, fbx, rv, trans)
    cos = {}
    for f in range(1, len(rv) + 1, 3):
        d1, h1 = world_directions(bpy, ours, map_ours, f)
        d2, h2 = world_directions(bpy, fbx, map_fbx, f)
        for j in d1:
            cos.setdefault(j, []).append(float(d1[j] @ d2[j]))
    means = {j: np.mean(c) for j, c in cos.items()}
    worst = min(means, key=means.get)
    assert means[worst] >= 0.98, (worst, means[worst])
    # limbs are corrected exactly, whatever the rest pose or roll
    for j in ("left_elbow", "right_elbow", "left_shoulder", "left_knee", "right_ankle", "left_wrist"):
        assert means[j] > 0.9999, (j, means[j])


def test_canonical_rig_reproduces_forward_kinematics(bpy_module):
    """On our own rig, posed joint positions are the canonical FK (Blender axes, grounded, moved to rest)."""
    bpy = bpy_module
    from dance_addon.blender import character

    rv, trans = smooth_motion(n=20, seed=3)
    obj = character.build_armature("Dancer")
    bone_map = bake_motion(bpy, obj, rv, trans)
    core_pose = sk.forward_kinematics(rv)
    for f in (1, 10, 20):
        _, heads = world_directions(bpy, obj, bone_map, f)
        got = np.array([heads[j] for j in sk.JOINT_NAMES])
        want = core_pose[f - 1] @ core_rig.CANONICAL_TO_BLENDER.T
        # same shape up to the root's placement
        assert np.allclose(got - got[0], want - want[0], atol=1e-4)


def test_floor_keeps_the_lowest_foot_on_the_ground(bpy_module):
    bpy = bpy_module
    from dance_addon.blender import character

    rv, trans = smooth_motion(n=30, seed=5)
    rv[:, 4, 0] = np.linspace(0, 1.5, 30)  # bend the left knee more and more
    rv[:, 5, 0] = np.linspace(0, 1.5, 30)
    arm = character.build_armature("Dancer")
    rest_ankle_z = {b: arm.data.bones[b].head_local.z for b in ("left_ankle", "right_ankle")}
    sole = min(arm.data.bones[b].tail_local.z for b in rest_ankle_z)
    assert abs(sole) < 1e-6  # the rig stands on the ground in rest
    bake_motion(bpy, arm, rv, trans)
    lowest = []
    for f in range(1, 31):
        bpy.context.scene.frame_set(f)
        points = []
        for b, z0 in rest_ankle_z.items():
            pb = arm.pose.bones[b]
            points.append((arm.matrix_world @ pb.head).z - z0)   # the sole under the ankle
            points.append((arm.matrix_world @ pb.tail).z)        # the toe end
        lowest.append(min(points))
    assert np.allclose(lowest, 0.0, atol=1e-4)
    # the knees bend a lot by the end, so the pelvis must have come down
    bpy.context.scene.frame_set(30)
    low = (arm.matrix_world @ arm.pose.bones["pelvis"].head).z
    bpy.context.scene.frame_set(1)
    high = (arm.matrix_world @ arm.pose.bones["pelvis"].head).z
    assert high - low > 0.1


def test_missing_leg_bone_is_reported():
    rest = core_rig.RigRest(["a"], [-1], np.eye(4)[None], np.eye(4))
    with pytest.raises(core_rig.RigError, match="no bone 'hip_l'"):
        core_rig.pose_rig(rest, {"pelvis": "a", "left_hip": "hip_l", "right_hip": "a"},
                          np.zeros((2, 20, 3)), np.zeros((2, 3)))


def test_face_forward_turns_the_whole_dance_to_face_front():
    rv, _ = smooth_motion(n=30, seed=9)
    rv[:, 0] = (Rotation.from_rotvec([0, 2.0, 0]) * Rotation.from_rotvec(rv[:, 0] * 0.3)).as_rotvec()
    out = core_rig.face_forward(rv)
    root = Rotation.from_rotvec(out[:, 0]).as_matrix()
    fwd = root[:, :, 2].sum(axis=0)
    assert abs(np.arctan2(fwd[0], fwd[2])) < 1e-9            # on average it faces +Z
    assert np.allclose(out[:, 1:], rv[:, 1:])                # limbs untouched
    # the same turn on every frame: positions are the original's, rotated about Y
    before, after = sk.forward_kinematics(rv), sk.forward_kinematics(out)
    turn = Rotation.from_matrix(root[0]) * Rotation.from_rotvec(rv[0, 0]).inv()
    assert np.allclose(turn.apply(before.reshape(-1, 3)).reshape(before.shape), after, atol=1e-9)
    assert np.allclose(turn.as_rotvec()[[0, 2]], 0, atol=1e-12)  # a turn about the vertical only
