"""Joint-rotation ranges seen in the data, and how often a generated motion leaves them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from dance_addon.core.motion.skeleton import MOTION_DIM, NUM_JOINTS

# Radians of tolerance on both sides of the data's range: the CMU import never moves the collars
# (their rotation is one constant per side), so without it float noise of 1e-4 rad in a
# generated collar would count as leaving the data's range.
MARGIN = 0.01


@dataclass(frozen=True)
class RotationRange:
    """Per rotation dimension (60 = 20 joints x rotation vector xyz, radians) the data's [low, high].

    checked: (60,) bool, the dimensions the check looks at. By default the pelvis (dims 0-2, the
    global orientation: a turn to any heading is fine) is left out; every local joint rotation
    (dims 3-59) is checked.
    """
    low: np.ndarray      # (60,) radians
    high: np.ndarray     # (60,) radians
    checked: np.ndarray  # (60,) bool

    @classmethod
    def fit(cls, motions: Iterable[np.ndarray], percentile: float = 0.0,
            include_root: bool = False, margin: float = MARGIN) -> "RotationRange":
        """Ranges from reference motions, each (T, 20, 3) or (T, 60) local rotation vectors.

        percentile: 0 takes the data's min and max; p > 0 takes the p-th and (100-p)-th percentiles.
        margin: radians added on both sides (see MARGIN).
        """
        frames = [_flat_motion(m, f"reference motion {i}") for i, m in enumerate(motions)]
        if not frames:
            raise ValueError("RotationRange.fit needs at least one reference motion")
        if not 0.0 <= percentile < 50.0:
            raise ValueError(f"percentile must be in [0, 50), got {percentile}")
        data = np.concatenate(frames)                         # (N, 60)
        low, high = np.percentile(data, [percentile, 100.0 - percentile], axis=0)
        low, high = low - margin, high + margin
        checked = np.ones(MOTION_DIM, dtype=bool)
        checked[:3] = include_root
        return cls(low=low, high=high, checked=checked)

    def outside(self, rotvecs: np.ndarray) -> np.ndarray:
        """(T, 60) bool: checked dimensions outside [low, high]."""
        flat = _flat_motion(rotvecs, "motion")
        return ((flat < self.low) | (flat > self.high)) & self.checked

    def fraction_outside(self, rotvecs: np.ndarray) -> float:
        """Fraction of frames with at least one checked dimension outside the data's range."""
        return float(self.outside(rotvecs).any(axis=1).mean())


def _flat_motion(rotvecs, what: str) -> np.ndarray:
    m = np.asarray(rotvecs, dtype=np.float64)
    if m.ndim == 3 and m.shape[1:] == (NUM_JOINTS, 3):
        m = m.reshape(len(m), MOTION_DIM)
    if m.ndim != 2 or m.shape[1] != MOTION_DIM or len(m) == 0:
        raise ValueError(f"{what}: expected rotation vectors of shape (T, {NUM_JOINTS}, 3) or (T, {MOTION_DIM}), "
                         f"got {m.shape}")
    if not np.isfinite(m).all():
        raise ValueError(f"{what}: non-finite rotation at frame {np.argwhere(~np.isfinite(m))[0][0]}")
    return m
