"""Motion features of the paper's section 3.2 (dance_addon/core/motion/features.py), on known answers."""
from __future__ import annotations

import numpy as np
import pytest

from dance_addon.core.motion import features as F
from dance_addon.core.motion import skeleton as sk

FPS = 30.0
FRAMES_PER_CYCLE = 30        # the walk: one stride (a step of each foot) per second
SWING_FRAMES = 12            # each swing lasts 0.4 s; 3-frame double supports in between
HOLD_FRAMES = 3


def standing(rotvecs: np.ndarray) -> np.ndarray:
    """FK of (T, 20, 3) rotations with the pelvis over the origin and the lowest foot point on Y = 0."""
    rotvecs = sk.as_motion(rotvecs)
    root = np.zeros((len(rotvecs), 3))
    root[:, 1] = sk.grounded_pelvis_height(rotvecs)
    return sk.forward_kinematics(rotvecs, root)


def still(frames: int = 30) -> np.ndarray:
    return standing(np.zeros((frames, 20, 3)))


def rotate_y(positions: np.ndarray, angle: float, about=(0.0, 0.0, 0.0)) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    r = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])      # +Z -> (sin, 0, cos)
    about = np.asarray(about)
    return (positions - about) @ r.T + about


def walk(cycles: int = 4, hip: float = 0.35, knee: float = 1.0, yaw: float = 0.0, arm_wave: float = 0.0,
         with_rotations: bool = False):
    """A walk built from rotations: (positions (T, 20, 3), steps), and its rotation vectors
    (T, 20, 3) third when with_rotations.

    Each cycle: double support, left swing, double support, right swing. A swinging hip goes from
    `hip` rad behind to `hip` in front with the knee bending up to `knee` rad (sin bump); the stance
    hip goes the other way with the knee straight, and the root is placed so that the stance ankle
    stays where it touched down (no sliding). Optional pelvis yaw oscillation (rad) and arm waving.
    """
    legs = []                                  # per frame: (left hip, right hip, left knee, right knee, stance foot)
    left, right = hip, -hip                    # + = leg behind (rotation about +X), - = in front
    for _ in range(cycles):
        for swing in ("left", "right"):
            stance = 8 if swing == "left" else 7
            legs += [(left, right, 0.0, 0.0, stance)] * HOLD_FRAMES
            for i in range(SWING_FRAMES):
                u = (i + 1) / SWING_FRAMES
                bump = knee * np.sin(np.pi * u)
                if swing == "left":
                    legs.append((hip - 2 * hip * u, -hip + 2 * hip * u, bump, 0.0, stance))
                else:
                    legs.append((-hip + 2 * hip * u, hip - 2 * hip * u, 0.0, bump, stance))
            left, right = legs[-1][0], legs[-1][1]
    legs += [(left, right, 0.0, 0.0, 7)] * HOLD_FRAMES
    n = len(legs)
    rot = np.zeros((n, 20, 3))
    table = np.array([leg[:4] for leg in legs])
    rot[:, 1, 0], rot[:, 2, 0], rot[:, 4, 0], rot[:, 5, 0] = table.T
    t = np.arange(n) / FPS
    rot[:, 0, 1] = yaw * np.sin(2 * np.pi * 0.5 * t)
    rot[:, 14, 2] = -0.6 + arm_wave * np.sin(2 * np.pi * 1.3 * t)        # left arm down-ish, waving
    rot[:, 15, 2] = 0.6 + arm_wave * np.sin(2 * np.pi * 0.7 * t)
    rot[:, 16, 1] = -arm_wave * (1 + np.sin(2 * np.pi * 0.9 * t))        # elbows bending forward
    rel = standing(rot)                        # pelvis over the origin; now keep the stance ankle put
    root = np.zeros((n, 3))
    anchor = rel[0, legs[0][4], [0, 2]]
    for f in range(n):
        foot = legs[f][4]
        if f > 0 and foot != legs[f - 1][4]:
            anchor = root[f - 1, [0, 2]] + rel[f - 1, foot, [0, 2]]
        root[f, [0, 2]] = anchor - rel[f, foot, [0, 2]]
    positions = rel + root[:, None, :]
    return (positions, 2 * cycles, rot) if with_rotations else (positions, 2 * cycles)


# ---------------------------------------------------------------- speed, acceleration, spacing, density

def test_still_pose():
    p = still()
    assert np.array_equal(F.joint_speed(p, FPS), np.zeros((30, 20)))
    assert np.array_equal(F.joint_acceleration(p, FPS), np.zeros((30, 20)))
    assert F.movement_spacing(p) == pytest.approx(0.0, abs=1e-12)
    assert F.density(p, FPS) == 0.0
    assert F.footsteps(p, FPS) == (0, 0.0)
    assert F.foot_contacts(p, FPS).all()
    f = dict(zip(F.SEGMENT_FEATURE_NAMES, F.segment_features(p, FPS)))
    for name in ("mean_speed", "mean_acceleration", "density", "steps_per_second",
                 "airborne_fraction", "knee_angular_speed", "ankle_speed", "travel_speed", "turn_speed"):
        assert f[name] == 0.0, name
    assert f["spacing"] == pytest.approx(0.0, abs=1e-12)
    assert f["pelvis_height"] == pytest.approx(sk.STANDING_HEIGHT, abs=0.03)
    for frames in (1, 2, 3):
        v = F.segment_features(still(frames), FPS)
        assert v.shape == (len(F.SEGMENT_FEATURE_NAMES),) and v.dtype == np.float64
        assert np.isfinite(v).all()


def test_feature_names():
    assert 15 <= len(F.SEGMENT_FEATURE_NAMES) <= 20
    assert len(set(F.SEGMENT_FEATURE_NAMES)) == len(F.SEGMENT_FEATURE_NAMES) == F.NUM_SEGMENT_FEATURES


def test_constant_velocity():
    v = np.array([0.3, -0.1, 0.4])
    frames = 45
    k = np.arange(frames)
    p = still(1) + (k / FPS)[:, None, None] * v
    speed = np.linalg.norm(v)
    np.testing.assert_allclose(F.joint_speed(p, FPS), speed, rtol=1e-12)
    np.testing.assert_allclose(F.joint_acceleration(p, FPS), 0.0, atol=1e-9)
    # every joint is |v| * |t - mean t| from its centroid
    spacing = speed * np.abs(k - k.mean()).mean() / FPS
    assert F.movement_spacing(p) == pytest.approx(spacing, rel=1e-12)
    assert F.density(p, FPS) == pytest.approx(speed / spacing, rel=1e-12)
    f = dict(zip(F.SEGMENT_FEATURE_NAMES, F.segment_features(p, FPS)))
    assert f["mean_speed"] == pytest.approx(speed) and f["ankle_speed"] == pytest.approx(speed)
    assert f["mean_acceleration"] == pytest.approx(0.0, abs=1e-9)
    assert f["travel_speed"] == pytest.approx(np.hypot(v[0], v[2]))
    assert f["turn_speed"] == pytest.approx(0.0, abs=1e-9)


def test_circles_give_spacing_radius_and_density_frequency():
    # every joint goes round a horizontal circle of radius r, 3 whole turns at w rad/s
    r, w, frames = 0.15, 2 * np.pi * 1.5, 60
    t = np.arange(frames) / FPS
    circle = r * np.stack([np.cos(w * t), np.zeros(frames), np.sin(w * t)], axis=-1)
    p = still(1) + circle[:, None, :]
    assert F.movement_spacing(p) == pytest.approx(r, rel=1e-12)
    # central differences of a sampled circle: speed = r * fps * sin(w / fps) (inner frames)
    inner = F.joint_speed(p, FPS)[1:-1]
    np.testing.assert_allclose(inner, r * FPS * np.sin(w / FPS), rtol=1e-9)
    assert F.density(p, FPS) == pytest.approx(w, rel=0.03)
    np.testing.assert_allclose(F.joint_acceleration(p, FPS)[2:-2], r * (FPS * np.sin(w / FPS)) ** 2, rtol=1e-9)
    # a still pose has zero density, a faster circle of the same size a higher one
    fast = still(1) + (r * np.stack([np.cos(2 * w * t), np.zeros(frames), np.sin(2 * w * t)], -1))[:, None]
    assert F.density(fast, FPS) > 1.9 * F.density(p, FPS)


# ---------------------------------------------------------------- heading and arms

def test_body_heading_follows_the_pelvis_turn():
    rest = F.body_heading(still(1))[0]
    assert abs(rest) < 0.05                     # SMPL's hips are staggered by a few mm
    for angle in (0.5, 1.5, -2.0, 3.0):
        rot = np.zeros((1, 20, 3))
        rot[0, 0, 1] = angle
        got = F.body_heading(standing(rot))[0] - rest
        assert np.angle(np.exp(1j * (got - angle))) == pytest.approx(0.0, abs=1e-9)


def arms(left_rotvec, right_rotvec, pelvis=(0.0, 0.0, 0.0)) -> np.ndarray:
    rot = np.zeros((1, 20, 3))
    rot[0, 0] = pelvis
    rot[0, 14], rot[0, 15] = left_rotvec, right_rotvec
    return F.arm_shape(standing(rot))[0].reshape(2, 3)      # (arm, [out, up, forward])


def test_arm_shape_up_down_forward():
    length = np.linalg.norm(sk.REST_OFFSETS[16]) + np.linalg.norm(sk.REST_OFFSETS[18])   # ~0.52 m
    t_pose = arms((0, 0, 0), (0, 0, 0))
    assert (t_pose[:, 0] > 0.5).all() and (np.abs(t_pose[:, 1:]) < 0.06).all()
    up = arms((0, 0, np.pi / 2), (0, 0, -np.pi / 2))
    down = arms((0, 0, -np.pi / 2), (0, 0, np.pi / 2))
    assert (up[:, 1] > 0.5).all() and (down[:, 1] < -0.5).all()
    np.testing.assert_allclose(up[:, 1], length, atol=0.02)
    assert (np.abs(up[:, 0]) < 0.06).all() and (np.abs(down[:, 0]) < 0.06).all()
    forward = arms((0, -np.pi / 2, 0), (0, np.pi / 2, 0))
    assert (forward[:, 2] > 0.5).all() and (np.abs(forward[:, :2]) < 0.06).all()
    # the same pose turned 90 and 180 degrees: still forward in the body frame
    for yaw in (np.pi / 2, np.pi):
        np.testing.assert_allclose(arms((0, -np.pi / 2, 0), (0, np.pi / 2, 0), pelvis=(0, yaw, 0)), forward, atol=1e-9)
    # arms crossed in front of the chest: inward
    crossed = arms((0, -2.2, 0), (0, 2.2, 0))
    assert (crossed[:, 0] < -0.1).all() and (crossed[:, 2] > 0.2).all()


# ---------------------------------------------------------------- footsteps

def test_walk_steps_are_counted():
    p, steps = walk(cycles=4)
    contacts = F.foot_contacts(p, FPS)
    counted, airborne = F.footsteps(p, FPS)
    assert counted == steps == 8
    # each foot swings 12 of every 30 frames (the frame either side moves too, by central differences)
    assert 0.4 - 0.05 < airborne < 0.4 + 2 / 30
    assert contacts[:HOLD_FRAMES - 1].all() and contacts[-HOLD_FRAMES + 1:].all()   # double supports
    left_swing = slice(HOLD_FRAMES, HOLD_FRAMES + SWING_FRAMES)
    assert contacts[left_swing, 1].all() and not contacts[left_swing, 0].all()
    f = dict(zip(F.SEGMENT_FEATURE_NAMES, F.segment_features(p, FPS)))
    assert f["steps_per_second"] == pytest.approx(8 / (len(p) / FPS))
    leg = np.linalg.norm(sk.REST_OFFSETS[4]) + np.linalg.norm(sk.REST_OFFSETS[7])    # hip to ankle
    distance = 8 * 2 * leg * np.sin(0.35)                    # 8 steps of 2 L sin(hip) each
    assert f["travel_speed"] == pytest.approx(distance / ((len(p) - 1) / FPS), rel=0.03)
    # more cycles, more steps; two cycles alone give 4
    assert F.footsteps(walk(cycles=2)[0], FPS)[0] == 4
    # a foot that never comes down inside the segment makes no step
    assert F.footsteps(p[HOLD_FRAMES + 2:HOLD_FRAMES + SWING_FRAMES - 2], FPS)[0] == 0


def test_one_frame_flicker_is_no_step():
    p = still(40)
    p[20, 7, 1] += 0.2                        # the left ankle jumps up for one frame
    assert F.footsteps(p, FPS)[0] == 0
    q = still(40)
    q[15:25, 7, 1] += 0.2                     # ... and for a third of a second: a step
    assert F.footsteps(q, FPS)[0] == 1


# ---------------------------------------------------------------- centre of mass and balance

def test_centre_of_mass():
    assert F.COM_WEIGHTS.sum() == pytest.approx(1.0) and (F.COM_WEIGHTS >= 0).all()
    masses = [seg[3] for seg in F.BODY_SEGMENTS]
    assert sum(masses) == pytest.approx(1.0, abs=1e-9)       # Winter's fractions
    p = still(2)
    com = F.centre_of_mass(p)
    assert com.shape == (2, 3)
    assert abs(com[0, 1] - p[0, 0, 1]) < 0.1                  # near the pelvis, standing
    shift = np.array([0.4, 0.2, -1.0])
    np.testing.assert_allclose(F.centre_of_mass(p + shift), com + shift, atol=1e-12)


@pytest.mark.parametrize("axis", [0, 2])
def test_balance_grows_with_the_lean(axis):
    p = still(1)
    mid = 0.5 * (p[0, 7] + p[0, 8])
    com_height = F.centre_of_mass(p)[0, 1] - mid[1]
    upright = F.balance(p)[0]
    assert upright < 0.04
    values = []
    for deg in (0, 5, 10, 20, 30):
        a = np.radians(deg)
        c, s = np.cos(a), np.sin(a)
        # tip the whole body about a horizontal line through the heel centre
        r = np.array([[1, 0, 0], [0, c, -s], [0, s, c]]) if axis == 0 else np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
        leaned = (p - mid) @ r.T + mid
        values.append(F.balance(leaned)[0])
        if deg:
            assert values[-1] == pytest.approx(com_height * s, abs=upright + 0.005)
    assert np.all(np.diff(values) > 0)


# ---------------------------------------------------------------- knees

def test_knee_angles_and_speed():
    frames = 20
    beta = np.linspace(0.0, 1.2, frames)                     # flexion rising at 1.2 rad per 19 frames
    p = np.zeros((frames, 20, 3))
    for hip, knee, ankle, x in ((1, 4, 7, 0.1), (2, 5, 8, -0.1)):
        p[:, hip] = [x, 0.9, 0.0]
        p[:, knee] = [x, 0.5, 0.0]
        p[:, ankle] = np.stack([np.full(frames, x), 0.5 - 0.4 * np.cos(beta), -0.4 * np.sin(beta)], -1)
    angles = F.knee_angles(p)
    np.testing.assert_allclose(angles, np.stack([beta, beta], -1), atol=1e-9)
    np.testing.assert_allclose(F.knee_angular_speed(p, FPS), 1.2 / (frames - 1) * FPS, rtol=1e-9)
    rest = F.knee_angles(still(1))[0]
    assert (rest < 0.2).all()


# ---------------------------------------------------------------- segment vectors

def test_segment_features_do_not_depend_on_heading_or_place():
    p, _ = walk(cycles=2, yaw=0.6, arm_wave=0.5)
    base = F.segment_features(p, FPS)
    assert np.isfinite(base).all()
    f = dict(zip(F.SEGMENT_FEATURE_NAMES, base))
    assert f["turn_speed"] > 0.3 and f["steps_per_second"] > 0 and f["mean_speed"] > 0.3
    for angle, about in ((0.7, (0, 0, 0)), (np.pi, (1.0, 0.0, -2.0)), (-2.5, (0.3, 0.0, 0.3))):
        turned = rotate_y(p, angle, about) + np.array([3.0, 0.0, -5.0])
        np.testing.assert_allclose(F.segment_features(turned, FPS), base, rtol=1e-9, atol=1e-9)


def test_batch_equals_per_segment():
    p, _ = walk(cycles=3, yaw=0.4, arm_wave=0.6)
    rng = np.random.default_rng(3)
    starts = rng.integers(0, len(p) - 60, 25)
    bounds = np.concatenate([
        np.stack([starts, starts + 60], 1),
        np.stack([starts[:10], starts[:10] + rng.integers(1, 40, 10)], 1),   # other lengths, down to 1 frame
        [[0, len(p)], [len(p) - 3, len(p)], [5, 7]],
    ])
    batch = F.segment_features_batch(p, FPS, bounds)
    assert batch.shape == (len(bounds), len(F.SEGMENT_FEATURE_NAMES))
    one = np.stack([F.segment_features(p[a:b], FPS) for a, b in bounds])
    np.testing.assert_allclose(batch, one, rtol=1e-12, atol=1e-12)
    assert F.segment_features_batch(p, FPS, np.zeros((0, 2), dtype=int)).shape == (0, len(F.SEGMENT_FEATURE_NAMES))
    for bad in ([[0, len(p) + 1]], [[-1, 5]], [[5, 5]], [[0.0, 5.0]]):
        with pytest.raises(ValueError):
            F.segment_features_batch(p, FPS, np.array(bad))


# ---------------------------------------------------------------- real mocap

def test_real_clip_is_in_human_ranges(shared_data):
    from training.data.clips import load_clips

    clips = {c.name: c for c in load_clips(shared_data)}
    clip = clips["cmu-salsa/60_06"]
    p = sk.forward_kinematics(clip.rotvecs, clip.root_translation)
    starts = np.arange(0, len(p) - 60, 30)
    feats = F.segment_features_batch(p, clip.fps, np.stack([starts, starts + 60], 1))
    med = dict(zip(F.SEGMENT_FEATURE_NAMES, np.median(feats, axis=0)))
    steps, airborne = F.footsteps(p, clip.fps)
    per_minute = steps / (len(p) / clip.fps) * 60
    print(f"{clip.name}: {len(p)} frames, {steps} steps ({per_minute:.0f}/min), airborne {airborne:.2f}; "
          "segment medians: " + ", ".join(f"{k} {v:.3f}" for k, v in med.items()))
    assert np.isfinite(feats).all()
    assert 0.2 < med["mean_speed"] < 2.0
    assert 20 < per_minute < 300
    assert 0.2 < airborne < 0.8
    assert np.median(F.balance(p)) < 0.3
    assert 0.7 < med["pelvis_height"] < 1.0
    assert 0.05 < med["spacing"] < 0.6
