"""The code-built dancer: canonical bones in a grounded T-pose, and a body that follows them."""
import numpy as np

from dance_addon.core.motion import skeleton as sk


def test_armature_matches_the_canonical_skeleton(bpy_module):
    from dance_addon.blender import character

    arm, body = character.build_dancer()
    assert sorted(b.name for b in arm.data.bones) == sorted(sk.JOINT_NAMES)
    bones = [arm.data.bones[name] for name in sk.JOINT_NAMES]
    for i, b in enumerate(bones):
        parent = sk.PARENTS[i]
        assert (b.parent.name if b.parent else None) == (sk.JOINT_NAMES[parent] if parent >= 0 else None)
    # heads sit at the canonical rest positions (Blender axes), soles on the ground
    rest = sk.rest_positions()
    rest[:, 1] += sk.STANDING_HEIGHT
    heads = np.array([b.head_local for b in bones])
    assert np.allclose(heads, rest @ character.CANONICAL_TO_BLENDER.T, atol=1e-5)
    verts = np.array([v.co for v in body.data.vertices])
    assert abs(verts[:, 2].min()) < 0.08 and verts[:, 2].max() > 1.6
    assert set(body.vertex_groups.keys()) == set(sk.JOINT_NAMES)


def test_body_follows_the_pose(bpy_module):
    bpy = bpy_module
    from dance_addon.blender import character

    arm, body = character.build_dancer()
    def hand_group_center():
        ev = body.evaluated_get(bpy.context.evaluated_depsgraph_get())
        gi = body.vertex_groups["left_wrist"].index
        idx = [v.index for v in body.data.vertices if any(g.group == gi for g in v.groups)]
        co = np.array([ev.data.vertices[i].co for i in idx])
        return co.mean(0)

    before = hand_group_center()
    # a quarter turn of the upper arm about its bone's local X axis swings the hand up or down
    arm.pose.bones["left_shoulder"].rotation_quaternion = (np.cos(np.pi / 4), np.sin(np.pi / 4), 0, 0)
    bpy.context.view_layer.update()
    after = hand_group_center()
    assert abs(after[2] - before[2]) > 0.3
