"""Speed-based checks: mean joint speed, jerk, and freezing/explosion per time window.

All on joint positions (T, J, 3) in metres (J = 20 canonical or 24 evaluation joints; use the
same J for a dance and its reference) at the dance's own fps. Speeds are forward differences
|x[t+1] - x[t]| * fps, averaged over joints and frames.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .joints import check_fps, check_positions

FREEZE_WINDOW_S = 10.0
FREEZE_LOW = 0.25    # a window slower than 25% of the real dance's mean joint speed is frozen
FREEZE_HIGH = 2.0    # ... faster than 200% is exploding


def joint_speeds(positions: np.ndarray, fps: float) -> np.ndarray:
    """(T-1,) mean joint speed in m/s of each step t -> t+1."""
    pos = check_positions(positions)
    return np.linalg.norm(np.diff(pos, axis=0), axis=-1).mean(axis=1) * check_fps(fps)


def mean_joint_speed(positions: np.ndarray, fps: float) -> float:
    """Mean joint speed of a dance in m/s (over joints and steps)."""
    return float(joint_speeds(positions, fps).mean())


def jerk(positions: np.ndarray, fps: float) -> float:
    """Mean jerk magnitude in m/s^3: |third finite difference| * fps^3, averaged over joints and frames.

    Computed at the dance's own fps (no resampling: interpolation would add jerk); compare
    dances at equal fps, since finite-difference jerk grows with the frame rate on noisy data.
    positions: (T, J, 3) metres, T >= 4.
    """
    pos = check_positions(positions, min_frames=4)
    third = np.diff(pos, n=3, axis=0) * check_fps(fps) ** 3   # (T-3, J, 3)
    return float(np.linalg.norm(third, axis=-1).mean())


@dataclass(frozen=True)
class FreezeReport:
    """Mean joint speed per window relative to the real dance.

    ratios: (W,) window mean joint speed / reference mean joint speed.
    starts_s: (W,) start time of each window in seconds.
    frozen: some window is below FREEZE_LOW x the reference; exploding: some window above FREEZE_HIGH x.
    """
    ratios: np.ndarray
    starts_s: np.ndarray
    frozen: bool
    exploding: bool

    @property
    def ok(self) -> bool:
        return not (self.frozen or self.exploding)


def freezing_windows(positions: np.ndarray, fps: float, reference_speed: float,
                     window_s: float = FREEZE_WINDOW_S, low: float = FREEZE_LOW,
                     high: float = FREEZE_HIGH) -> FreezeReport:
    """Split the dance into consecutive windows of `window_s` seconds and compare each window's
    mean joint speed with `reference_speed` (m/s, mean_joint_speed of the real mocap).

    The steps are cut into windows of round(window_s * fps) steps; a last partial window shorter
    than half a window joins the one before it; a dance shorter than one window is one window.
    """
    speeds = joint_speeds(positions, fps)                      # (T-1,)
    fps = check_fps(fps)
    if not (np.isfinite(reference_speed) and reference_speed > 0):
        raise ValueError(f"reference_speed must be the real dance's positive mean joint speed in m/s, "
                         f"got {reference_speed}")
    if not window_s > 0:
        raise ValueError(f"window_s must be positive seconds, got {window_s}")
    size = max(1, int(round(window_s * fps)))
    starts = list(range(0, len(speeds), size))
    if len(starts) > 1 and len(speeds) - starts[-1] < size / 2:
        starts.pop()
    bounds = starts + [len(speeds)]
    ratios = np.array([speeds[a:b].mean() for a, b in zip(bounds[:-1], bounds[1:])]) / reference_speed
    return FreezeReport(ratios=ratios, starts_s=np.array(starts) / fps,
                        frozen=bool((ratios < low).any()), exploding=bool((ratios > high).any()))
