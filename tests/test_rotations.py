import numpy as np
import pytest
from scipy.spatial.transform import Rotation, Slerp

from dance_addon.core.motion import rotations as r


@pytest.fixture
def rotvecs():
    rng = np.random.default_rng(0)
    rv = rng.normal(size=(2000, 3))
    rv *= rng.uniform(0, np.pi, size=(2000, 1)) / np.linalg.norm(rv, axis=1, keepdims=True)
    rv[:5] = [[0, 0, 0], [1e-9, 0, 0], [np.pi, 0, 0], [0, -np.pi, 0], [0, 0, 3.1415]]
    return rv


def test_rotvec_quat_matrix_match_scipy(rotvecs):
    ref = Rotation.from_rotvec(rotvecs)
    q = r.rotvec_to_quat(rotvecs)
    q_ref = ref.as_quat(scalar_first=True)
    assert np.allclose(np.abs(np.sum(q * q_ref, axis=-1)), 1.0, atol=1e-12)
    assert np.allclose(r.rotvec_to_matrix(rotvecs), ref.as_matrix(), atol=1e-12)
    assert np.allclose(r.quat_to_matrix(q_ref), ref.as_matrix(), atol=1e-12)
    m = ref.as_matrix()
    q_back = r.matrix_to_quat(m)
    assert np.allclose(np.abs(np.sum(q_back * q_ref, axis=-1)), 1.0, atol=1e-12)
    rv_back = r.matrix_to_rotvec(m)
    assert np.allclose(Rotation.from_rotvec(rv_back).as_matrix(), m, atol=1e-10)
    assert np.all(np.linalg.norm(rv_back, axis=-1) <= np.pi + 1e-9)


def test_quat_to_rotvec_matches_scipy_away_from_pi(rotvecs):
    keep = np.linalg.norm(rotvecs, axis=1) < np.pi - 1e-3
    rv = rotvecs[keep]
    q = Rotation.from_rotvec(rv).as_quat(scalar_first=True)
    q[::2] *= -1  # either sign of the quaternion gives the same rotation vector
    assert np.allclose(r.quat_to_rotvec(q), rv, atol=1e-10)


def test_multiply_and_apply_match_scipy(rotvecs):
    a, b = Rotation.from_rotvec(rotvecs), Rotation.from_rotvec(rotvecs[::-1])
    qa, qb = a.as_quat(scalar_first=True), b.as_quat(scalar_first=True)
    prod = r.quat_multiply(qa, qb)
    assert np.allclose(r.quat_to_matrix(prod), (a * b).as_matrix(), atol=1e-12)
    v = np.random.default_rng(1).normal(size=(len(rotvecs), 3))
    assert np.allclose(r.quat_apply(qa, v), a.apply(v), atol=1e-12)
    assert np.allclose(r.quat_to_matrix(r.quat_conjugate(qa)), a.inv().as_matrix(), atol=1e-12)


@pytest.mark.parametrize("order", ["ZXY", "XYZ", "ZYX", "YXZ", "YZX", "XZY"])
def test_euler_matches_scipy_intrinsic(order):
    angles = np.random.default_rng(2).uniform(-np.pi / 2 + 0.01, np.pi / 2 - 0.01, size=(500, 3))
    m = r.euler_to_matrix(angles, order)
    assert np.allclose(m, Rotation.from_euler(order, angles).as_matrix(), atol=1e-12)
    assert np.allclose(r.euler_to_matrix(r.matrix_to_euler(m, order), order), m, atol=1e-10)


def test_quat_continuity_removes_sign_flips():
    rv = np.linspace(0, 3, 200)[:, None] * np.array([[0.3, 0.8, -0.5]])
    q = r.rotvec_to_quat(rv)
    flipped = q * np.where(np.random.default_rng(3).random(200) < 0.5, -1.0, 1.0)[:, None]
    fixed = r.quat_continuity(flipped)
    assert np.all(np.sum(fixed[1:] * fixed[:-1], axis=-1) > 0)
    assert np.allclose(r.quat_to_matrix(fixed), r.quat_to_matrix(q), atol=1e-12)


def test_slerp_matches_scipy():
    key = Rotation.random(2, random_state=4)
    ts = np.linspace(0, 1, 11)
    ref = Slerp([0, 1], key)(ts).as_matrix()
    q = key.as_quat(scalar_first=True)
    ours = r.quat_slerp(np.repeat(q[:1], 11, 0), np.repeat(q[1:], 11, 0), ts)
    assert np.allclose(r.quat_to_matrix(ours), ref, atol=1e-10)


@pytest.mark.parametrize("src,dst", [(60, 30), (120, 30), (30, 60), (60, 29.97), (25, 24)])
def test_resample_rotvecs_matches_scipy_slerp(src, dst):
    rng = np.random.default_rng(5)
    n, joints = 97, 4
    # a smooth random motion: small per-frame steps
    steps = rng.normal(scale=0.05, size=(n, joints, 3))
    rots = [Rotation.identity(joints)]
    for t in range(1, n):
        rots.append(Rotation.from_rotvec(steps[t]) * rots[-1])
    rv = np.stack([x.as_rotvec() for x in rots])
    out = r.resample_rotvecs(rv, src, dst)
    times_src = np.arange(n) / src
    n_out = int(np.floor((n - 1) / src * dst + 1e-6)) + 1
    assert out.shape == (n_out, joints, 3)
    times_dst = np.arange(n_out) / dst
    for j in range(joints):
        ref = Slerp(times_src, Rotation.from_rotvec(rv[:, j]))(times_dst).as_matrix()
        assert np.allclose(r.rotvec_to_matrix(out[:, j]), ref, atol=1e-9)


def test_resample_linear_keeps_endpoints():
    x = np.cumsum(np.ones((61, 3)), axis=0)
    y = r.resample_linear(x, 60, 30)
    assert y.shape == (31, 3)
    assert np.allclose(y, x[::2])


def test_rotvec_continuity_keeps_a_spin_smooth_and_the_same_rotations():
    angle = np.linspace(0, 7 * np.pi, 500)                 # three and a half turns about Y
    rv = r.quat_to_rotvec(r.rotvec_to_quat(angle[:, None] * np.array([[0.0, 1.0, 0.0]])))
    assert np.abs(np.diff(rv, axis=0)).max() > 1.0         # wrapped: jumps at every half turn
    smooth = r.rotvec_continuity(rv)
    assert np.abs(np.diff(smooth, axis=0)).max() < 0.1
    assert np.allclose(r.rotvec_to_matrix(smooth), r.rotvec_to_matrix(rv), atol=1e-9)


def test_rotvec_continuity_matches_the_frame_by_frame_rule_on_a_spinning_body():
    """The run-wise continuity equals the frame-by-frame definition on several turns of a body
    whose axis also wobbles (the raw vectors jump at every half turn and pass near zero)."""
    from dance_addon.core.motion.rotations import quat_to_rotvec, rotvec_continuity, rotvec_to_quat

    def frame_by_frame(rv):
        rv = rv.copy()
        for t in range(1, len(rv)):
            n = np.linalg.norm(rv[t])
            u = rv[t] / max(n, 1e-8)
            rv[t] = rv[t] + 2 * np.pi * np.round((rv[t - 1] @ u - n) / (2 * np.pi)) * u
        return rv

    rng = np.random.default_rng(4)
    h = np.cumsum(rng.normal(0.02, 0.05, 3000))                      # several turns, back and forth
    truth = np.stack([0.3 * np.sin(3 * h), h, 0.2 * np.cos(0.7 * h)], axis=1)
    raw = quat_to_rotvec(rotvec_to_quat(truth))                        # angles folded into [0, pi]
    assert np.abs(np.diff(raw, axis=0)).max() > 3.0                    # the folded series jumps
    ours = rotvec_continuity(raw[:, None])[:, 0]
    np.testing.assert_allclose(ours, frame_by_frame(raw), atol=1e-9)
    assert np.linalg.norm(np.diff(ours, axis=0), axis=1).max() < 0.5   # and ours does not
