"""Beat Align Score in Bailando's recipe, on numpy alone (the add-on shows it after a bake).

Kinematic beats: the strict local minima of the mean joint speed, smoothed by a Gaussian of
sigma 5 frames, at 60 fps (motions at other rates are resampled linearly to 60 fps first; the
speed of frame i is the step from frame i to i + 1). Score: the mean over music beats of
exp(-d^2 / (2 * 3^2)), d the distance in 60 fps frames from the beat to the nearest kinematic
beat. training/evaluation/beats.py uses these same functions and adds FACT's variant and
librosa's music beats.
"""
from __future__ import annotations

import numpy as np

from .rotations import resample_linear

BEAT_FPS = 60.0
SIGMA_FRAMES = 3.0
SMOOTHING = 5.0


def gaussian_smooth(x: np.ndarray, sigma: float, truncate: float = 4.0) -> np.ndarray:
    """1-D Gaussian smoothing with half-sample symmetric edges (scipy.ndimage.gaussian_filter1d, mode 'reflect')."""
    x = np.asarray(x, dtype=np.float64)
    radius = int(truncate * float(sigma) + 0.5)
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    k /= k.sum()
    if len(x) == 0:
        return x
    # np.pad repeats the reflection when the signal is shorter than the kernel, as scipy does
    return np.convolve(np.pad(x, radius, mode="symmetric"), k, mode="valid")


def strict_minima(x: np.ndarray) -> np.ndarray:
    """Indices i (0 < i < n-1) with x[i] < x[i-1] and x[i] < x[i+1] (scipy's argrelextrema with np.less)."""
    x = np.asarray(x)
    if len(x) < 3:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero((x[1:-1] < x[:-2]) & (x[1:-1] < x[2:])) + 1


def kinematic_beats(positions: np.ndarray, fps: float) -> np.ndarray:
    """Frame indices at 60 fps of the dance's kinematic beats. positions: (T, J, 3) metres."""
    pos = np.asarray(positions, dtype=np.float64)
    if abs(fps - BEAT_FPS) > 1e-9:
        pos = resample_linear(pos, fps, BEAT_FPS)
    speed = np.linalg.norm(np.diff(pos, axis=0), axis=-1).mean(axis=1)   # (T60 - 1,)
    return strict_minima(gaussian_smooth(speed, SMOOTHING))


def beat_align_score(positions: np.ndarray, fps: float, music_beats_s) -> float:
    """Mean over the music beats inside the dance of the Gaussian hit by the nearest kinematic beat, in [0, 1]."""
    pos = np.asarray(positions)
    n60 = int(np.floor((len(pos) - 1) / fps * BEAT_FPS + 1e-6)) + 1
    music = np.unique(np.rint(np.asarray(music_beats_s, dtype=np.float64) * BEAT_FPS).astype(np.int64))
    music = music[(music >= 0) & (music < n60 - 1)]
    kin = kinematic_beats(pos, fps)
    if len(music) == 0 or len(kin) == 0:
        return 0.0
    d = np.abs(music[:, None] - kin[None, :]).min(axis=1).astype(np.float64)
    return float(np.exp(-d ** 2 / (2.0 * SIGMA_FRAMES ** 2)).mean())
