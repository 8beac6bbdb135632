import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from dance_addon.core.motion import skeleton as sk

SMPL_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]


def test_joint_table_is_consistent():
    assert len(sk.JOINT_NAMES) == 20 == len(sk.PARENTS) == len(sk.REST_OFFSETS) == len(sk.SMPL_INDEX)
    assert sk.MOTION_DIM == 60
    assert set(sk.SMPL_INDEX).isdisjoint({10, 11, 22, 23})
    # parents agree with SMPL's own hierarchy after dropping the four end joints
    for i, smpl_i in enumerate(sk.SMPL_INDEX):
        if i == 0:
            assert sk.PARENTS[i] == -1
        else:
            assert sk.SMPL_INDEX[sk.PARENTS[i]] == SMPL_PARENTS[smpl_i]
            assert sk.PARENTS[i] < i


def test_rest_pose_is_a_t_pose_with_y_up():
    pos = sk.forward_kinematics(np.zeros((1, 20, 3)))[0]
    head, la, ra = pos[sk.joint_index("head")], pos[sk.joint_index("left_ankle")], pos[sk.joint_index("right_ankle")]
    lw, rw = pos[sk.joint_index("left_wrist")], pos[sk.joint_index("right_wrist")]
    assert head[1] > 0.5 and la[1] < -0.8 and ra[1] < -0.8
    assert lw[0] > 0.6 and rw[0] < -0.6            # arms out along +-X, left is +X
    assert abs(lw[1] - rw[1]) < 0.02 and lw[1] > 0.4  # level, at shoulder height
    assert 0.9 < sk.STANDING_HEIGHT < 1.0


def _reference_fk(rotvecs, trans):
    """Independent FK with scipy over the full SMPL tree (end joints carry no rotation)."""
    t = len(rotvecs)
    full = np.zeros((t, 24, 3))
    full[:, list(sk.SMPL_INDEX)] = rotvecs
    offsets = np.zeros((24, 3))
    offsets[list(sk.SMPL_INDEX)] = sk.REST_OFFSETS
    glob = [None] * 24
    pos = np.zeros((t, 24, 3))
    for j in range(24):
        local = Rotation.from_rotvec(full[:, j])
        if SMPL_PARENTS[j] < 0:
            glob[j] = local
            pos[:, j] = trans
        else:
            p = SMPL_PARENTS[j]
            glob[j] = glob[p] * local
            pos[:, j] = pos[:, p] + glob[p].apply(offsets[j])
    return pos[:, list(sk.SMPL_INDEX)]


def test_forward_kinematics_matches_scipy_reference():
    rng = np.random.default_rng(0)
    rv = rng.normal(scale=0.6, size=(50, 20, 3))
    trans = rng.normal(size=(50, 3))
    ours = sk.forward_kinematics(rv, trans)
    assert ours.shape == (50, 20, 3)
    assert np.allclose(ours, _reference_fk(rv, trans), atol=1e-12)
    # the flat 60-dim layout is the same motion
    assert np.allclose(sk.forward_kinematics(rv.reshape(50, 60), trans), ours)


def test_bone_lengths_are_preserved():
    rv = np.random.default_rng(1).normal(size=(20, 20, 3))
    pos = sk.forward_kinematics(rv)
    rest = sk.rest_positions()
    for i in range(1, 20):
        p = sk.PARENTS[i]
        assert np.allclose(np.linalg.norm(pos[:, i] - pos[:, p], axis=-1), np.linalg.norm(rest[i] - rest[p]))


def test_global_orientation_turns_the_whole_body():
    rv = np.zeros((1, 20, 3))
    rv[0, 0] = [0, np.pi / 2, 0]  # quarter turn about Y: forward +Z goes to +X
    pos = sk.forward_kinematics(rv)[0]
    rest = sk.rest_positions()
    assert np.allclose(pos, rest @ Rotation.from_rotvec([0, np.pi / 2, 0]).as_matrix().T, atol=1e-12)


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match=r"\(T, 20, 3\)"):
        sk.forward_kinematics(np.zeros((5, 19, 3)))
    with pytest.raises(ValueError, match="root_translation"):
        sk.forward_kinematics(np.zeros((5, 20, 3)), np.zeros((4, 3)))
    with pytest.raises(KeyError, match="not a canonical joint"):
        sk.joint_index("left_toe")
