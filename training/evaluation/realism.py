"""Three realism measures of one dance: pose diversity, planted-foot skate and pelvis travel.

They read joint positions in metres, Y up, at `fps`: the 20 canonical joints (T, 20, 3) of
dance_addon.core.motion.skeleton.forward_kinematics, or SMPL's 24 (T, 24, 3) of
joints.evaluation_positions (the layout a Dance carries). The pelvis is joint 0 and the ankles
are joints 7 and 8 in both layouts; pose diversity uses the 20 canonical joints (SMPL_INDEX of
the 24). Speeds are central differences (numpy.gradient, one-sided at the ends).

- pose_diversity: the dance is cut into non-overlapping WINDOW_S windows (a shorter trailing part
  is dropped); each frame is described by the distance between every pair of the 20 joints
  (190 numbers, blind to heading and place) plus the pelvis height; each window's frames are
  averaged; the result is the mean Euclidean distance over all pairs of window averages
  (0.0 with fewer than 2 windows). 0 for a dance that holds one pose.
- planted_skate_cm_s: per ankle, the frames where it is less than PLANT_BAND above its own 5th
  percentile height and its vertical speed is below PLANT_VERTICAL_SPEED; the mean horizontal
  speed of the ankle over those frames of both feet together, in cm/s (0.0 when no frame
  qualifies).
- pelvis_travel_m_min: the horizontal path of the pelvis, each horizontal coordinate smoothed
  with a Gaussian of sigma TRAVEL_SIGMA_S (beatalign.gaussian_smooth), its length per minute of
  the dance ((T - 1) / fps seconds).

real_clip_ranges() gives their median and 10th-90th percentiles over the CMU clips of
../shared/data (every clip but the walk cmu-modern/005_01), the human range `make eval` quotes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from dance_addon.core.motion.beatalign import gaussian_smooth
from dance_addon.core.motion.skeleton import NUM_JOINTS, SMPL_INDEX, forward_kinematics

from .joints import LEFT_ANKLE, PELVIS, RIGHT_ANKLE, check_fps, check_positions

WINDOW_S = 2.0                 # s: pose-diversity windows
PLANT_BAND = 0.04              # m above the ankle's own 5th-percentile height
PLANT_VERTICAL_SPEED = 0.15    # m/s: a planted ankle moves up or down slower than this
PLANT_PERCENTILE = 5.0
TRAVEL_SIGMA_S = 0.25          # s: sigma of the Gaussian smoothing the pelvis path

# the walk among the clips; real_clip_ranges leaves it out
WALK_CLIPS: frozenset[str] = frozenset({"cmu-modern/005_01"})

# the keys of realism() and of evaluate_set's row, in the order make eval shows them
MEASURES: tuple[str, ...] = ("pose_diversity", "planted_skate_cm_s", "travel_m_min")

_PAIRS = np.triu_indices(NUM_JOINTS, 1)    # the 190 joint pairs


def _canonical(positions: np.ndarray) -> np.ndarray:
    """(T, 20, 3) of (T, 20, 3) or (T, 24, 3) positions (validated)."""
    pos = check_positions(positions, min_frames=1)
    return pos if pos.shape[1] == NUM_JOINTS else pos[:, list(SMPL_INDEX)]


def pose_descriptors(positions: np.ndarray) -> np.ndarray:
    """(T, 191): per frame the distances between every pair of the 20 canonical joints, then the
    pelvis height (metres). positions: (T, 20, 3) or (T, 24, 3)."""
    pos = _canonical(positions)
    dist = np.linalg.norm(pos[:, _PAIRS[0]] - pos[:, _PAIRS[1]], axis=-1)     # (T, 190)
    return np.concatenate([dist, pos[:, PELVIS, 1:2]], axis=1)


def pose_diversity(positions: np.ndarray, fps: float, window_s: float = WINDOW_S) -> float:
    """Mean Euclidean distance between the window averages of pose_descriptors (module docstring)."""
    desc = pose_descriptors(positions)
    n = int(round(window_s * check_fps(fps)))
    if n < 1:
        raise ValueError(f"a {window_s} s window at {fps:g} fps is shorter than one frame")
    windows = len(desc) // n
    if windows < 2:
        return 0.0
    means = desc[:windows * n].reshape(windows, n, -1).mean(axis=1)          # (W, 191)
    i, j = np.triu_indices(windows, 1)
    return float(np.linalg.norm(means[i] - means[j], axis=-1).mean())


def planted_skate_cm_s(positions: np.ndarray, fps: float, band: float = PLANT_BAND,
                       vertical_speed: float = PLANT_VERTICAL_SPEED) -> float:
    """Mean horizontal ankle speed (cm/s) over the planted frames of both ankles (module docstring)."""
    pos = check_positions(positions)
    fps = check_fps(fps)
    ankles = pos[:, [LEFT_ANKLE, RIGHT_ANKLE]]                                  # (T, 2, 3), same in both layouts
    vel = np.gradient(ankles, axis=0) * fps                                     # (T, 2, 3) m/s
    low = np.percentile(ankles[..., 1], PLANT_PERCENTILE, axis=0)               # (2,) per ankle
    planted = (ankles[..., 1] < low + band) & (np.abs(vel[..., 1]) < vertical_speed)   # (T, 2)
    if not planted.any():
        return 0.0
    return float(100.0 * np.linalg.norm(vel[..., [0, 2]], axis=-1)[planted].mean())


def pelvis_travel_m_min(positions: np.ndarray, fps: float, sigma_s: float = TRAVEL_SIGMA_S) -> float:
    """Length (m) of the smoothed horizontal pelvis path per minute (module docstring)."""
    pos = check_positions(positions)
    fps = check_fps(fps)
    path = pos[:, PELVIS][:, [0, 2]]                                            # (T, 2) horizontal
    smooth = np.column_stack([gaussian_smooth(path[:, k], sigma_s * fps) for k in range(2)])
    length = float(np.linalg.norm(np.diff(smooth, axis=0), axis=-1).sum())
    return length / ((len(pos) - 1) / fps / 60.0)


def realism(positions: np.ndarray, fps: float) -> dict[str, float]:
    """The three measures of one dance, keyed by MEASURES."""
    return {"pose_diversity": pose_diversity(positions, fps),
            "planted_skate_cm_s": planted_skate_cm_s(positions, fps),
            "travel_m_min": pelvis_travel_m_min(positions, fps)}


# ------------------------------------------------------------------------------- real data

@dataclass(frozen=True)
class Range:
    """Median and 10th/90th percentiles of one measure over n dances."""
    median: float
    p10: float
    p90: float
    n: int


def ranges_of(values: Iterable[dict[str, float]]) -> dict[str, Range]:
    """Per measure, the median and 10th-90th percentiles over dances (realism() dicts)."""
    values = list(values)
    if not values:
        raise ValueError("no dances to take the ranges of")
    out = {}
    for key in MEASURES:
        v = np.array([d[key] for d in values])
        p10, med, p90 = np.percentile(v, [10, 50, 90])
        out[key] = Range(float(med), float(p10), float(p90), len(v))
    return out


def real_clip_values(clips=None) -> dict[str, dict[str, float]]:
    """realism() of every real clip but WALK_CLIPS, by clip name. clips: training.data.clips.Clip
    objects (name, rotvecs (T, 20, 3), root_translation (T, 3), fps); default load_clips()."""
    if clips is None:
        from training.data.clips import load_clips
        clips = load_clips()
    out = {}
    for c in clips:
        if c.name in WALK_CLIPS:
            continue
        pos = forward_kinematics(np.asarray(c.rotvecs, np.float64), np.asarray(c.root_translation, np.float64))
        out[c.name] = realism(pos, c.fps)
    return out


def real_clip_ranges(clips=None) -> dict[str, Range]:
    """Median and 10th-90th percentiles of each measure over the real clips (real_clip_values)."""
    return ranges_of(real_clip_values(clips).values())


def format_ranges(ranges: dict[str, Range]) -> str:
    """One sentence: the real clips' median (p10-p90) of each measure."""
    n = next(iter(ranges.values())).n
    r = [ranges[k] for k in MEASURES]
    return (f"Real CMU clips ({n}, the walk left out), median (10th-90th percentile): pose diversity "
            f"{r[0].median:.2f} ({r[0].p10:.2f}-{r[0].p90:.2f}), planted skate {r[1].median:.1f} cm/s "
            f"({r[1].p10:.1f}-{r[1].p90:.1f}), travel {r[2].median:.1f} m/min ({r[2].p10:.1f}-{r[2].p90:.1f}).")


if __name__ == "__main__":
    values = real_clip_values()
    for name, v in values.items():
        print(f"{name:22s} " + "  ".join(f"{k} {v[k]:7.3f}" for k in MEASURES))
    print(format_ranges(ranges_of(values.values())))
