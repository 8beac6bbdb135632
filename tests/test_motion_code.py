"""The generator's motion code: the root as swing + heading change, everything else as is."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from dance_addon.core.motion import motion_code as mc


def _angle_between(rv_a, rv_b):
    """Geodesic angle (radians) between two sets of rotations given as rotation vectors."""
    return (Rotation.from_rotvec(rv_a).inv() * Rotation.from_rotvec(rv_b)).magnitude()


def test_split_and_join_heading_invert_each_other_and_leave_only_a_horizontal_swing():
    rv = Rotation.random(3000, random_state=1).as_rotvec()
    rv = rv[Rotation.from_rotvec(rv).apply([0, 1, 0])[:, 1] > -0.95]   # not upside down (swing < ~162 deg)
    heading, swing = mc.split_heading(rv)
    assert np.all(np.abs(heading) <= np.pi + 1e-12) and np.all(swing[:, 1] == 0)
    # the swing alone keeps the up axis where the full rotation puts it, up to the heading's turn
    up_full = Rotation.from_rotvec(rv).apply([0, 1, 0])
    up_swing = Rotation.from_rotvec(swing).apply([0, 1, 0])
    assert np.allclose(up_full[:, 1], up_swing[:, 1], atol=1e-9)
    assert np.max(_angle_between(mc.join_heading(heading, swing), rv)) < 1e-9


def test_encode_decode_round_trip_with_many_turns():
    """A dancer spinning three and a half times while tilting: the absolute root rotation
    vector jumps at every half turn, the code does not, and decoding gives the motion back."""
    t = np.arange(300)
    heading = np.linspace(0, 7 * np.pi, 300)                        # 3.5 turns
    tilt = np.stack([0.3 * np.sin(t / 10), np.zeros(300), 0.2 * np.cos(t / 7)], axis=-1)
    root = (Rotation.from_rotvec(heading[:, None] * [0, 1, 0]) * Rotation.from_rotvec(tilt)).as_rotvec()
    assert np.abs(np.diff(root, axis=0)).max() > 3                   # the jumps the code removes
    rv = np.random.default_rng(2).normal(scale=0.4, size=(300, 20, 3))
    rv[:, 0] = root
    code = mc.encode(rv)
    assert code.shape == (300, 60)
    assert np.abs(np.diff(code[:, :3], axis=0)).max() < 0.1
    assert np.allclose(code[1:, 1], 7 * np.pi / 299)                # the heading change per frame
    assert np.array_equal(code[:, 3:], rv[:, 1:].reshape(300, 57))  # other joints untouched
    back = mc.decode(code, start_heading=0.0)
    assert np.max(_angle_between(back[:, 0], root)) < 1e-9
    assert np.array_equal(back[:, 1:], rv[:, 1:])
    # a start heading turns the whole dance about +Y
    turned = mc.decode(code, start_heading=np.pi / 2)
    want = (Rotation.from_rotvec([0, np.pi / 2, 0]) * Rotation.from_rotvec(root)).as_rotvec()
    assert np.max(_angle_between(turned[:, 0], want)) < 1e-9


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match=r"\(T, 20, 3\)"):
        mc.encode(np.zeros((5, 60)))
    with pytest.raises(ValueError, match=r"\(T, 60\)"):
        mc.decode(np.zeros((5, 20, 3)))
