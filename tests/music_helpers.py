"""Measures and signals shared by the music tests (not a test module)."""
from __future__ import annotations

import math

import numpy as np

from dance_addon.core.music.features import ANALYSIS_SR as SR


def corr(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two (T,) series."""
    a = np.asarray(a, np.float64) - np.mean(a)
    b = np.asarray(b, np.float64) - np.mean(b)
    return float((a * b).sum() / math.sqrt((a * a).sum() * (b * b).sum()))


def f_measure(reference: np.ndarray, estimate: np.ndarray, tolerance: float = 0.07) -> float:
    """Beat F-measure: each reference time matches at most one estimate within +-tolerance s."""
    if reference.size == 0 or estimate.size == 0:
        return float(reference.size == estimate.size)
    used = np.zeros(reference.size, dtype=bool)
    hits = 0
    for t in estimate:
        gaps = np.where(used, np.inf, np.abs(reference - t))
        j = int(np.argmin(gaps))
        if gaps[j] <= tolerance:
            used[j] = True
            hits += 1
    if hits == 0:
        return 0.0
    precision, recall = hits / estimate.size, hits / reference.size
    return 2 * precision * recall / (precision + recall)


def tempo_agrees(ours: float, theirs: float) -> bool:
    """Within 4 %, or within 4 % of an exact octave (x2 or x1/2)."""
    return any(abs(ours - theirs * k) <= 0.04 * theirs * k for k in (1.0, 2.0, 0.5))


def click_track(bpm: float, sr: int = SR, seconds: float = 30.0, start: float = 0.5,
                accent_every: int = 0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(samples, click times): decaying noise bursts every beat; with accent_every=k,
    every k-th click (from the first) also gets a loud 60 Hz kick."""
    rng = np.random.default_rng(seed)
    y = np.zeros(int(seconds * sr), np.float32)
    times = np.arange(start, seconds - 0.2, 60.0 / bpm)
    n = int(0.05 * sr)
    decay = np.exp(-np.arange(n) / (0.008 * sr))
    kick = np.sin(2 * np.pi * 60 * np.arange(n) / sr) * np.exp(-np.arange(n) / (0.03 * sr))
    for k, t in enumerate(times):
        i = int(round(t * sr))
        burst = 0.3 * rng.standard_normal(n) * decay
        if accent_every and k % accent_every == 0:
            burst = burst + 0.8 * kick
        m = min(n, y.size - i)
        y[i:i + m] += burst[:m].astype(np.float32)
    return y, times
