"""Realism measures (training/evaluation/realism.py): known answers, and real clips in the human range."""
from __future__ import annotations

import numpy as np
import pytest

from dance_addon.core.motion import skeleton as sk
from training.evaluation import realism
from training.evaluation.evaluate import Dance, ReferenceStats, evaluate_set
from training.evaluation.joints import evaluation_positions

FPS = 30.0


def pose(**joints: tuple[float, float, float]) -> np.ndarray:
    """(20, 3) rotation vectors: the T-pose with the named joints rotated."""
    rv = np.zeros((sk.NUM_JOINTS, 3))
    for name, r in joints.items():
        rv[sk.joint_index(name)] = r
    return rv


ARMS_DOWN = pose(left_shoulder=(0.0, 0.0, -1.2), right_shoulder=(0.0, 0.0, 1.2), left_elbow=(0.0, 0.3, 0.0))
CROUCH = pose(left_hip=(-0.9, 0.0, 0.0), right_hip=(-0.9, 0.0, 0.0), left_knee=(1.4, 0.0, 0.0),
              right_knee=(1.4, 0.0, 0.0), spine2=(0.4, 0.0, 0.0), left_shoulder=(0.0, 0.7, 0.5))


def held(rv: np.ndarray, frames: int) -> np.ndarray:
    return np.repeat(rv[None], frames, axis=0)


def test_a_still_pose_has_no_diversity_skate_or_travel():
    frames = int(10 * FPS)
    root = np.tile([0.3, sk.STANDING_HEIGHT, -1.0], (frames, 1))
    for pos in (sk.forward_kinematics(held(ARMS_DOWN, frames), root),
                evaluation_positions(held(ARMS_DOWN, frames), root)):
        assert realism.pose_diversity(pos, FPS) == pytest.approx(0.0, abs=1e-12)
        assert realism.planted_skate_cm_s(pos, FPS) == 0.0
        assert realism.pelvis_travel_m_min(pos, FPS) == 0.0


def test_a_body_gliding_at_constant_speed_travels_60v_per_minute_and_skates_at_v():
    v = 0.4                                                     # m/s, diagonal on the floor
    frames = int(60 * FPS) + 1                                  # one minute
    t = np.arange(frames) / FPS
    direction = np.array([0.6, 0.0, 0.8])
    root = np.array([0.0, sk.STANDING_HEIGHT, 0.0]) + v * t[:, None] * direction
    rv = held(ARMS_DOWN, frames)                                # legs straight: ankles low and level
    pos20 = sk.forward_kinematics(rv, root)
    pos24 = evaluation_positions(rv, root)
    for pos in (pos20, pos24):
        # every ankle frame is planted (constant height, no vertical speed), sliding at v
        assert realism.planted_skate_cm_s(pos, FPS) == pytest.approx(100 * v, rel=1e-9)
        # the Gaussian's reflecting edges bend the path's two ends: about 2 x 0.8 sigma shorter (0.6 %)
        assert realism.pelvis_travel_m_min(pos, FPS) == pytest.approx(60 * v, rel=0.01)
        assert realism.pose_diversity(pos, FPS) == pytest.approx(0.0, abs=1e-9)   # place does not count
    assert realism.pelvis_travel_m_min(pos20, FPS) <= 60 * v + 1e-9
    # the same glide for 10 s: 60 v per minute still, less the ends (3.7 % of 10 s)
    assert realism.pelvis_travel_m_min(pos20[:int(10 * FPS) + 1], FPS) == pytest.approx(60 * v, rel=0.05)


def test_only_low_and_vertically_still_ankle_frames_count_as_planted():
    """Left ankle slides along the floor at v the whole time; the right one stands still for the
    first half, then jumps to 0.3 m and flies at 2 m/s: its flight and its two jump frames
    (vertical speed 0.15 m x fps) are not planted."""
    v, half = 0.25, 90
    frames = 2 * half
    pos = np.zeros((frames, sk.NUM_JOINTS, 3))
    pos[:, 0, 1] = 0.9
    pos[:, 7, 0] = v * np.arange(frames) / FPS
    pos[half:, 8, 1] = 0.3
    pos[half:, 8, 2] = 2.0 * np.arange(frames - half) / FPS
    expected = 100 * v * frames / (frames + half - 1)           # left: all frames at v; right: half - 1 still frames
    assert realism.planted_skate_cm_s(pos, FPS) == pytest.approx(expected, rel=1e-9)
    # a foot never lower: its own 5th percentile is its floor
    pos[:, 8, 1] = 0.3
    pos[:, 8, 2] = 0.0
    assert realism.planted_skate_cm_s(pos, FPS) == pytest.approx(100 * v / 2, rel=1e-9)
    pos[:, 7, 1] = pos[:, 8, 1] = 1.0 - 0.2 * np.arange(frames) / FPS         # always sinking, at 0.2 m/s
    assert realism.planted_skate_cm_s(pos, FPS) == 0.0


def test_alternating_poses_give_their_distance_times_the_share_of_unlike_window_pairs():
    window = int(realism.WINDOW_S * FPS)
    windows = ["a", "b", "a", "a", "b"]                         # 3 x a, 2 x b: 6 of the 10 pairs unlike
    rv = np.concatenate([held(ARMS_DOWN if w == "a" else CROUCH, window) for w in windows]
                        + [held(pose(left_knee=(2.0, 0.0, 0.0)), window - 1)])     # trailing 2 s - 1 frame: dropped
    root = np.tile([0.0, sk.STANDING_HEIGHT, 0.0], (len(rv), 1))
    root[window:2 * window] += [1.5, 0.0, 2.0]                  # one crouch elsewhere ...
    rv[window:2 * window, 0] = [0.0, 2.0, 0.0]                  # ... facing another way: neither counts
    pos = sk.forward_kinematics(rv, root)
    desc = realism.pose_descriptors(pos)
    assert desc.shape == (len(rv), sk.NUM_JOINTS * (sk.NUM_JOINTS - 1) // 2 + 1)
    np.testing.assert_array_equal(desc[:, -1], pos[:, 0, 1])   # the last entry is the pelvis height
    np.testing.assert_allclose(desc[window], desc[4 * window], atol=1e-12)
    distance = np.linalg.norm(desc[0] - desc[4 * window])
    assert distance > 0.5
    assert realism.pose_diversity(pos, FPS) == pytest.approx(distance * 6 / 10, rel=1e-9)
    assert realism.pose_diversity(evaluation_positions(rv, root), FPS) == pytest.approx(distance * 6 / 10, rel=1e-9)
    # the pelvis height does count: the moved crouch 0.3 m lower adds 3 a-b pairs at d_low and 1 b-b pair at 0.3
    root[window:2 * window, 1] -= 0.3
    pos = sk.forward_kinematics(rv, root)
    d_low = np.linalg.norm(desc[0] - realism.pose_descriptors(pos[window:window + 1])[0])
    assert d_low > distance
    assert realism.pose_diversity(pos, FPS) == pytest.approx((3 * distance + 3 * d_low + 0.3) / 10, rel=1e-9)
    # fewer than two whole windows: 0
    assert realism.pose_diversity(pos[:2 * window - 1], FPS) == 0.0


def test_evaluate_set_reports_the_means_over_its_dances():
    frames = int(8 * FPS)
    t = np.arange(frames) / FPS
    dances = []
    for i, rv in enumerate((ARMS_DOWN, CROUCH, ARMS_DOWN)):
        rvs = held(rv, frames)
        rvs[frames // 2:] = CROUCH if i != 1 else ARMS_DOWN
        root = np.column_stack([0.2 * i * t, np.full(frames, sk.STANDING_HEIGHT), np.zeros(frames)])
        dances.append(Dance.from_motion(rvs, root, FPS, name=f"d{i}"))
    row = evaluate_set(dances, ReferenceStats.from_dances(dances))
    for key, fn in (("pose_diversity", realism.pose_diversity), ("planted_skate_cm_s", realism.planted_skate_cm_s),
                    ("travel_m_min", realism.pelvis_travel_m_min)):
        assert row[key] == pytest.approx(np.mean([fn(d.positions, d.fps) for d in dances]), rel=1e-12)
    assert row["pose_diversity"] > 0 and row["travel_m_min"] > 0


def test_shapes_that_are_not_joint_positions_are_refused():
    with pytest.raises(ValueError, match="expected joint positions"):
        realism.pose_diversity(np.zeros((100, 22, 3)), FPS)
    with pytest.raises(ValueError, match="fps"):
        realism.pelvis_travel_m_min(np.zeros((100, 20, 3)), 0.0)


@pytest.mark.parametrize("name", ["cmu-salsa/61_02", "cmu-modern/005_05"])
def test_real_clips_are_in_the_human_range(shared_data, name):
    """The issue's human ranges (median, p10-p90 over the CMU clips): pose diversity 1.0
    (0.82-1.16), planted skate 25 cm/s (20-30), travel 24 m/min (19-36); wide margins here."""
    from training.data.clips import load_clips
    clip = next(c for c in load_clips(shared_data) if c.name == name)
    values = realism.real_clip_values([clip])[name]
    assert 0.6 < values["pose_diversity"] < 1.6
    assert 12.0 < values["planted_skate_cm_s"] < 40.0
    assert 12.0 < values["travel_m_min"] < 50.0
