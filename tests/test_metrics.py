"""Quality metrics on synthetic dances with known answers (training/evaluation)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import sqrtm

from dance_addon.core.motion import skeleton as sk
from dance_addon.core.motion.rotations import rotvec_to_matrix
from training.evaluation import beats, dynamics, features, feet, fid
from training.evaluation.evaluate import Dance, ReferenceStats, evaluate_set
from training.evaluation.joints import LEFT_TOE, evaluation_positions
from training.evaluation.rotation_range import RotationRange

FPS = 60.0
SIGMA = beats.SIGMA_FRAMES
SWINGING = {"left_shoulder": (0.0, 0.0, 1.0), "right_shoulder": (0.0, 0.0, -1.0),
            "left_elbow": (0.0, 1.0, 0.0), "right_elbow": (0.0, -1.0, 0.0), "spine2": (0.0, 0.5, 0.0)}


def swing(n_frames: int, fps: float, turns_s: np.ndarray, amplitude: float = 0.6) -> np.ndarray:
    """(T,) angle swinging between +-amplitude, coming to rest exactly at each turn time (seconds).

    Between consecutive turns the angle follows half a cosine, so its speed is zero at the turns
    and the motion is mirror-symmetric about each of them.
    """
    t = np.arange(n_frames) / fps
    turns = np.asarray(turns_s)
    k = np.clip(np.searchsorted(turns, t, side="right") - 1, 0, len(turns) - 2)
    phase = np.clip((t - turns[k]) / (turns[k + 1] - turns[k]), 0.0, 1.0)
    return amplitude * (-1.0) ** k * np.cos(np.pi * phase)


def arm_dance(theta: np.ndarray, root: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Rotations (T, 20, 3) swinging arms, elbows and chest by theta, and (T, 3) root (standing still by default)."""
    rv = np.zeros((len(theta), sk.NUM_JOINTS, 3))
    for name, axis in SWINGING.items():
        rv[:, sk.joint_index(name)] = theta[:, None] * np.array(axis)
    if root is None:
        root = np.tile([0.0, sk.STANDING_HEIGHT, 0.0], (len(theta), 1))
    return rv, root


def periodic_turns(n_frames: int, fps: float, first_s: float, period_s: float) -> np.ndarray:
    return first_s + period_s * np.arange(-2, int(n_frames / fps / period_s) + 3)


# ---------------------------------------------------------------- beat alignment

def test_bailando_dance_on_the_beat_scores_one_and_shifted_scores_fall_as_a_gaussian():
    n, period = 8 * 60, 30                        # 8 s at 60 fps, a beat every 0.5 s
    beat_frames = np.arange(30, n - 30, period)   # music beats, away from the smoothing's edges
    music_s = beat_frames / FPS
    scores = []
    for shift in range(7):
        # Bailando's speed sample i is the step i -> i+1: a stop half a frame after beat b is read at b
        turns = periodic_turns(n, FPS, (beat_frames[0] + 0.5 + shift) / FPS, period / FPS)
        pos = sk.forward_kinematics(*arm_dance(swing(n, FPS, turns)))
        if shift == 0:
            kin = beats.kinematic_beats_bailando(pos, FPS)
            assert set(beat_frames) <= set(kin)
        scores.append(beats.beat_align_score_bailando(pos, FPS, music_s))
    assert scores[0] == pytest.approx(1.0, abs=1e-12)
    assert all(a > b for a, b in zip(scores, scores[1:]))
    expected = np.exp(-np.arange(7) ** 2 / (2 * SIGMA ** 2))
    assert np.allclose(scores, expected, atol=1e-12)


def test_fact_dance_on_the_beat_scores_one_and_off_beat_dance_scores_less():
    n, period = 8 * 60, 30
    beat_frames = np.arange(15, n, period)
    # FACT's envelope sample i is the step i-1 -> i: a stop half a frame before beat b is read at b
    on = sk.forward_kinematics(*arm_dance(swing(n, FPS, periodic_turns(n, FPS, (15 - 0.5) / FPS, 0.5))))
    kin = beats.kinematic_beats_fact(on, FPS)
    assert len(kin) >= 14 and set(kin) <= set(beat_frames)
    assert beats.beat_align_score_fact(on, FPS, beat_frames / FPS) == pytest.approx(1.0, abs=1e-12)
    off = sk.forward_kinematics(*arm_dance(swing(n, FPS, periodic_turns(n, FPS, (15 - 0.5 + 4) / FPS, 0.5))))
    assert beats.beat_align_score_fact(off, FPS, beat_frames / FPS) == pytest.approx(np.exp(-16 / 18), abs=1e-12)


def test_beat_scores_resample_other_frame_rates_to_60_fps():
    n60, beat_frames = 8 * 60, np.arange(30, 8 * 60 - 30, 30)
    turns = periodic_turns(n60, FPS, (30 + 0.5) / FPS, 0.5)
    theta = swing(4 * n60, 4 * FPS, turns)            # the same dance recorded at 240 fps
    pos240 = sk.forward_kinematics(*arm_dance(theta))
    score = beats.beat_align_score_bailando(pos240, 4 * FPS, beat_frames / FPS)
    assert score > 0.99


def test_a_dance_without_pauses_scores_zero_and_missing_music_beats_are_an_error():
    n = 300
    rv, _ = arm_dance(np.zeros(n))
    t = np.arange(n) / FPS
    root = np.stack([0.5 * t ** 2, np.full(n, 0.93), np.zeros(n)], axis=1)   # ever faster glide: no stop
    pos = sk.forward_kinematics(rv, root)
    assert beats.beat_align_score_bailando(pos, FPS, [1.0, 2.0]) == 0.0
    assert beats.beat_align_score_fact(pos, FPS, [1.0, 2.0]) == 0.0
    with pytest.raises(ValueError, match="none falls within the dance"):
        beats.beat_align_score_bailando(pos, FPS, [60.0])
    with pytest.raises(ValueError, match=r"shape \(T, 20 or 24, 3\)"):
        beats.beat_align_score_fact(pos[:, :5], FPS, [1.0])


def test_librosa_beats_follow_a_click_track():
    sr = 22050
    clicks_s = np.arange(0.5, 12.0, 0.5)              # 120 BPM
    import librosa
    audio = librosa.clicks(times=clicks_s, sr=sr, length=12 * sr)
    found = beats.music_beats_librosa(audio, sr)
    assert len(found) >= len(clicks_s) - 4
    assert np.abs(found[:, None] - clicks_s[None]).min(axis=1).max() < 0.04   # 1.5 hops of 512 samples


def test_dance_to_its_own_music_outscores_mismatched_music(music_tracks):
    import soundfile

    def load(path):
        audio, sr = soundfile.read(str(path), dtype="float32", always_2d=True, frames=12 * 48000)
        return beats.music_beats_librosa(audio.T, sr)                # the first 12 s keep the test short

    own, other = load(music_tracks[0]), load(music_tracks[5])
    n = int(min(own[-1], other[-1]) * FPS)
    dance = sk.forward_kinematics(*arm_dance(swing(n, FPS, own + 0.5 / FPS)))
    assert beats.beat_align_score_bailando(dance, FPS, own) > beats.beat_align_score_bailando(dance, FPS, other) + 0.2


# ---------------------------------------------------------------- speed, freezing, jerk

def test_freezing_windows_flag_frozen_and_exploding_dances_over_three_minutes():
    n, fps = 180 * 30, 30.0
    turns = periodic_turns(n, fps, 0.25, 0.5)
    real = sk.forward_kinematics(*arm_dance(swing(n, fps, turns)))
    ref_speed = dynamics.mean_joint_speed(real, fps)

    report = dynamics.freezing_windows(real, fps, ref_speed)
    assert len(report.ratios) == 18 and np.allclose(report.starts_s, np.arange(18) * 10.0)
    assert report.ok and np.allclose(report.ratios, 1.0, atol=0.02)

    theta = swing(n, fps, turns)
    theta[40 * 30:52 * 30] = theta[40 * 30]            # stands still from 40 s to 52 s
    frozen = dynamics.freezing_windows(sk.forward_kinematics(*arm_dance(theta)), fps, ref_speed)
    assert frozen.frozen and not frozen.exploding and not frozen.ok
    assert frozen.ratios[4] < 0.25 and frozen.ratios[3] > 0.9

    fast = sk.forward_kinematics(*arm_dance(swing(n, fps, periodic_turns(n, fps, 0.1, 0.2))))
    exploding = dynamics.freezing_windows(fast, fps, ref_speed)
    assert exploding.exploding and not exploding.frozen


def test_a_short_tail_joins_the_last_window():
    n, fps = 24 * 30 + 1, 30.0                        # 24 s: windows 0-10, 10-24 (the 4 s tail joins)
    pos = sk.forward_kinematics(*arm_dance(swing(n, fps, periodic_turns(n, fps, 0.25, 0.5))))
    report = dynamics.freezing_windows(pos, fps, dynamics.mean_joint_speed(pos, fps))
    assert np.allclose(report.starts_s, [0.0, 10.0])
    with pytest.raises(ValueError, match="reference_speed"):
        dynamics.freezing_windows(pos, fps, 0.0)


def test_jerk_of_a_cubic_trajectory():
    fps, n = 50.0, 100
    t = np.arange(n) / fps
    a, b = 0.3, -0.4                                   # x = a t^3, y = 0.93 + b t^3: jerk (6a, 6b)
    root = np.stack([a * t ** 3, 0.93 + b * t ** 3, np.zeros(n)], axis=1)
    pos = evaluation_positions(np.zeros((n, 20, 3)), root)
    assert dynamics.jerk(pos, fps) == pytest.approx(6 * np.hypot(a, b), rel=1e-6)
    assert dynamics.mean_joint_speed(pos[:2], fps) == pytest.approx(np.linalg.norm(root[1] - root[0]) * fps)


# ---------------------------------------------------------------- feet

def _pivot_dance(n: int, fps: float, pivot: bool) -> np.ndarray:
    """Standing body turning back and forth about the vertical through its left toe (pivot),
    or the same pelvis path with the body not turning, so both feet slide (floating)."""
    t = np.arange(n) / fps
    yaw = 0.6 * np.sin(2 * np.pi * t / 1.5)
    rest = evaluation_positions(np.zeros((1, 20, 3)))[0]
    toe = rest[LEFT_TOE]
    turn = rotvec_to_matrix(yaw[:, None] * np.array([0.0, 1.0, 0.0]))     # (T, 3, 3)
    root = toe - turn @ toe + np.array([0.0, sk.STANDING_HEIGHT, 0.0])      # keeps the left toe still
    rv = np.zeros((n, 20, 3))
    if pivot:
        rv[:, 0, 1] = yaw
    return evaluation_positions(rv, root)


def test_pfc_is_zero_on_a_pivot_and_positive_when_the_feet_float():
    fps, n = 60.0, 240
    plausible = feet.physical_foot_contact(_pivot_dance(n, fps, pivot=True), fps)
    floating = feet.physical_foot_contact(_pivot_dance(n, fps, pivot=False), fps)
    assert plausible == pytest.approx(0.0, abs=1e-9)
    assert floating > 0.1
    still = evaluation_positions(*arm_dance(np.zeros(n)))
    assert feet.physical_foot_contact(still, fps) == 0.0


def test_foot_skating_is_zero_for_planted_feet_and_the_sliding_speed_for_sliding_feet():
    fps, n = 60.0, 180
    theta = swing(n, fps, periodic_turns(n, fps, 0.25, 0.5))
    planted = feet.foot_skating(evaluation_positions(*arm_dance(theta)), fps)
    assert planted.speed_cm_s == pytest.approx(0.0, abs=1e-9) and planted.skate_fraction == 0.0
    assert planted.contact_fraction == 1.0

    speed = 0.3                                        # m/s along X, feet on the floor
    root = np.stack([speed * np.arange(n) / fps, np.full(n, sk.STANDING_HEIGHT), np.zeros(n)], axis=1)
    sliding = feet.foot_skating(evaluation_positions(np.zeros((n, 20, 3)), root), fps)
    assert sliding.speed_cm_s == pytest.approx(100 * speed, rel=1e-9)
    assert sliding.skate_fraction == 1.0 and sliding.contact_fraction == 1.0

    lifted = evaluation_positions(np.zeros((n, 20, 3)), root)
    lifted[:, [7, 10], 1] += 0.3                       # the left foot held 30 cm up: only the right one slides
    half = feet.foot_skating(lifted, fps)
    assert half.contact_fraction == 0.5 and half.speed_cm_s == pytest.approx(100 * speed)


def test_foot_metrics_need_the_24_joint_layout():
    pos20 = sk.forward_kinematics(np.zeros((10, 20, 3)))
    with pytest.raises(ValueError, match="evaluation_positions"):
        feet.foot_skating(pos20, FPS)


# ---------------------------------------------------------------- features

def _reference_kinetic(pos: np.ndarray, dt: float, w: int = 2) -> np.ndarray:
    """The AIST++ kinetic features written out loop by loop (fairmotion's windowed averages)."""
    t, out = len(pos), []
    for j in range(pos.shape[1]):
        h = v = e = 0.0
        for i in range(1, t):
            vel, nv, acc, na = np.zeros(3), 0, np.zeros(3), 0
            for k in range(i - w, i + w + 1):
                if k - 1 >= 0 and k < t:
                    vel += pos[k, j] - pos[k - 1, j]
                    nv += 1
                if k - 1 >= 0 and k + 1 < t:
                    acc += ((pos[k + 1, j] - pos[k, j]) - (pos[k, j] - pos[k - 1, j])) / dt / dt
                    na += 1
            vel /= nv * dt
            h += vel[0] ** 2 + vel[2] ** 2
            v += vel[1] ** 2
            e += np.linalg.norm(acc / na)
        out += [h / (t - 1), v / (t - 1), e / (t - 1)]
    return np.array(out)


def test_kinetic_features_match_the_reference_loops_and_a_glide():
    rng = np.random.default_rng(3)
    rv = rng.normal(scale=0.3, size=(12, 20, 3))
    pos = evaluation_positions(rv, rng.normal(scale=0.1, size=(12, 3)))
    ours = features.kinetic_features(pos, FPS)
    assert ours.shape == (72,)
    assert np.allclose(ours, _reference_kinetic(pos, 1 / FPS), rtol=1e-10)

    n, vel = 90, np.array([0.4, -0.2, 0.3])
    root = vel * (np.arange(n) / FPS)[:, None] + [0.0, 0.93, 0.0]
    glide = features.kinetic_features(evaluation_positions(np.zeros((n, 20, 3)), root), FPS).reshape(24, 3)
    assert np.allclose(glide, [vel[0] ** 2 + vel[2] ** 2, vel[1] ** 2, 0.0], atol=1e-9)


def _reference_geometric(pos: np.ndarray) -> np.ndarray:
    """AIST++'s manual features frame by frame, one relation at a time, as its utils compute them."""
    names = ("root lhip rhip belly lknee rknee spine lankle rankle chest ltoes rtoes neck linshoulder "
             "rinshoulder head lshoulder rshoulder lelbow relbow lwrist rwrist lhand rhand").split()
    dt, rows = 1 / 120, []
    for f in range(1, len(pos)):
        def at(name, frame=f):
            special = {"zero": [0, 0, 0], "y_unit": [0, 1, 0], "minus_y_unit": [0, -1, 0],
                       "y_min": [0, pos[f, :, 1].min(), 0]}
            return np.array(special[name], float) if name in special else pos[frame, names.index(name)]
        row = []
        for kind, js, thr in features.GEOMETRIC_FEATURES:
            if kind == "fast":
                row.append(np.linalg.norm(at(js[0]) - at(js[0], f - 1)) / dt > thr)
            elif kind == "move":        # velocity of j3 relative to j1 along j1 -> j2
                vel = at(js[2]) - at(js[0]) - (at(js[2], f - 1) - at(js[0], f - 1))
                d = at(js[1]) - at(js[0])
                row.append(vel @ d / np.linalg.norm(d) / dt > thr)
            elif kind == "nmove":       # velocity of j4 relative to j1 along the normal of (j1, j2, j3)
                vel = at(js[3]) - at(js[0]) - (at(js[3], f - 1) - at(js[0], f - 1))
                d = np.cross(at(js[2]) - at(js[0]), at(js[1]) - at(js[0]))
                row.append(vel @ d / np.linalg.norm(d) / dt > thr)
            elif kind == "plane":
                a, b, c, q = (at(j) for j in js)
                n = np.cross(c - a, b - a)
                row.append(n @ (q - a) / np.linalg.norm(n) > thr)
            elif kind == "nplane":
                n1, n2, a, q = (at(j) for j in js)
                row.append((n2 - n1) @ (q - a) / np.linalg.norm(n2 - n1) > thr)
            else:
                u, v = at(js[1]) - at(js[0]), at(js[3]) - at(js[2])
                angle = np.degrees(np.arccos(u @ v / np.linalg.norm(u) / np.linalg.norm(v)))
                row.append(thr[0] < angle < thr[1])
        rows.append(row)
    return np.array(rows, dtype=float).mean(axis=0)


def test_geometric_features_match_the_reference_frame_by_frame():
    rng = np.random.default_rng(4)
    n = 40
    rv = np.cumsum(rng.normal(scale=0.15, size=(n, 20, 3)), axis=0)       # a random, fast-moving dance
    root = np.cumsum(rng.normal(scale=0.05, size=(n, 3)), axis=0)
    pos = evaluation_positions(rv, root)
    ours = features.geometric_features(pos, FPS)
    assert np.array_equal(ours, _reference_geometric(pos))
    assert 0.0 < ours.mean() < 1.0 and len(np.unique(ours)) > 5      # the relations really vary


def test_geometric_features_on_known_poses():
    n = 30
    still = features.geometric_features(evaluation_positions(np.zeros((n, 20, 3)), np.zeros((n, 3))), FPS)
    assert still.shape == (32,)
    fast = [12, 13, 21, 22, 31]                        # "fast" relations: nothing moves
    elbows_bent, torso_level = [6, 7], 28
    assert np.all(still[fast] == 0.0) and np.all(still[elbows_bent] == 0.0) and still[torso_level] == 0.0

    rv = np.zeros((n, 20, 3))
    rv[:, sk.joint_index("left_elbow"), 1] = np.pi / 2    # forearms bent 90 degrees
    rv[:, sk.joint_index("right_elbow"), 1] = -np.pi / 2
    rv[:, 0, 0] = np.pi / 2                               # lying face down: torso level
    bent = features.geometric_features(evaluation_positions(rv, np.zeros((n, 3))), FPS)
    assert np.all(bent[elbows_bent] == 1.0) and bent[torso_level] == 1.0

    root = np.zeros((n, 3))
    root[:, 0] = 3.0 * np.arange(n) / FPS                 # gliding at 3 m/s: the root counts as fast
    assert features.geometric_features(evaluation_positions(np.zeros((n, 20, 3)), root), FPS)[31] == 1.0


def test_feature_scales_are_the_smpl_constants():
    assert features.HUMERUS == pytest.approx(0.2568, abs=1e-4)
    assert features.SHOULDER_WIDTH == pytest.approx(0.3908, abs=1e-4)
    assert features.HIP_WIDTH == pytest.approx(0.1192, abs=1e-4)


# ---------------------------------------------------------------- Fréchet distance, FID, diversity

def test_frechet_distance_closed_form():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    a, b = np.array([1.0, 2.0, 0.5, 3.0]), np.array([4.0, 1.0, 0.5, 0.1])
    mu1, mu2 = rng.normal(size=4), rng.normal(size=4)
    # shared eigenvectors: d^2 = |mu1 - mu2|^2 + sum (sqrt(a) - sqrt(b))^2
    d2 = fid.frechet_distance(mu1, q @ np.diag(a) @ q.T, mu2, q @ np.diag(b) @ q.T)
    assert d2 == pytest.approx(np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2), rel=1e-10)
    # general covariances: the textbook formula with scipy's sqrtm
    s1 = np.cov(rng.normal(size=(50, 4)), rowvar=False)
    s2 = np.cov(rng.normal(size=(50, 4)) * [1, 2, 3, 4], rowvar=False)
    textbook = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * sqrtm(s1 @ s2).real)
    assert fid.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(textbook, rel=1e-9)


def _feature_set(speeds: list[float]) -> list[Dance]:
    return [Dance.from_motion(*arm_dance(swing(240, FPS, periodic_turns(240, FPS, 0.1 * i, p), 0.3 + 0.1 * i)),
                              FPS, name=f"p{p}") for i, p in enumerate(speeds)]


def test_fid_is_zero_for_identical_sets_and_positive_for_different_ones():
    slow = np.stack([features.kinetic_features(d.positions, d.fps) for d in _feature_set([0.5, 0.6, 0.7, 0.8])])
    fast = np.stack([features.kinetic_features(d.positions, d.fps) for d in _feature_set([0.2, 0.25, 0.3, 0.35])])
    assert fid.fid(slow, slow) == pytest.approx(0.0, abs=1e-6)
    assert fid.fid(fast, slow) > 1.0
    assert fid.diversity(np.array([[0.0], [1.0], [3.0]]), np.array([[-1.0], [1.0]])) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="differ in dimension"):
        fid.fid(slow[:, :10], slow)


# ---------------------------------------------------------------- rotation range

def test_rotation_range_counts_frames_outside_the_data():
    rng = np.random.default_rng(5)
    data = rng.uniform(-0.5, 0.5, size=(200, 20, 3))
    rr = RotationRange.fit([data[:100], data[100:]])
    assert rr.fraction_outside(data) == 0.0
    gen = rng.uniform(-0.4, 0.4, size=(100, 20, 3))
    gen[:10, sk.joint_index("left_knee"), 0] = 0.8
    gen[50:60, 0, 1] = 3.0                              # a turn of the whole body is not a joint rotation
    assert rr.fraction_outside(gen) == pytest.approx(0.1)
    assert RotationRange.fit([data], include_root=True).fraction_outside(gen) == pytest.approx(0.2)
    with pytest.raises(ValueError, match=r"\(T, 20, 3\) or \(T, 60\)"):
        rr.fraction_outside(gen[:, :19])
    # a joint the data never moves: float noise within the margin is inside, a real move is not
    still = np.zeros((50, 20, 3))
    rr0 = RotationRange.fit([still])
    assert rr0.fraction_outside(still + 1e-4) == 0.0
    assert RotationRange.fit([still], margin=0.0).fraction_outside(still + 1e-4) == 1.0
    assert rr0.fraction_outside(still + 0.05) == 1.0


# ---------------------------------------------------------------- one table row

def test_evaluate_set_gives_one_row_and_the_reference_against_itself_is_perfect():
    real = _feature_set([0.5, 0.6, 0.7, 0.8])
    reference = ReferenceStats.from_dances(real)
    row = evaluate_set(real, reference)
    assert row["n_dances"] == 4
    assert row["fid_k"] == pytest.approx(0.0, abs=1e-6) and row["fid_g"] == pytest.approx(0.0, abs=1e-6)
    assert row["div_k"] == pytest.approx(row["div_k_ref"]) and row["div_k"] > 0
    assert row["bas_bailando"] is None and row["rotation_outside"] == 0.0
    assert row["frozen_fraction"] == 0.0 and row["foot_skate_cm_s"] == pytest.approx(0.0, abs=1e-9)

    frozen = [Dance.from_motion(*arm_dance(np.full(240, 0.4 * i)), FPS, name=f"still{i}") for i in range(3)]
    bad = evaluate_set(frozen, reference)
    assert bad["frozen_fraction"] == 1.0 and bad["fid_k"] > row["fid_k"] + 1.0
    assert bad["rotation_outside"] > 0.0 and bad["speed_ratio_max"] == 0.0
    for value in bad.values():
        assert value is None or np.isfinite(value)


def test_core_beat_align_matches_scipy_smoothing_and_extrema():
    """The numpy implementation the add-on uses equals scipy's gaussian_filter1d and argrelextrema."""
    from scipy.ndimage import gaussian_filter1d
    from scipy.signal import argrelextrema

    from dance_addon.core.motion import beatalign

    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 21, 22, 500):
        x = rng.normal(size=n)
        assert np.allclose(beatalign.gaussian_smooth(x, 5.0), gaussian_filter1d(x, 5.0, mode="reflect"), atol=1e-12)
        assert np.array_equal(beatalign.strict_minima(x), argrelextrema(x, np.less)[0])
