"""Per-segment music features: what the action graph matches against the motion of a segment.

Public API
- `MUSIC_SEGMENT_FEATURE_NAMES`: the names of the columns, in order (below).
- `segment_music_features(matrix, f0_hz, bounds, fps)` -> (N, F) float64, one row per segment.

Inputs: `matrix` (T, 43) from features.extract_features (columns found by name in
features.FEATURE_COLUMNS), `f0_hz` (T,) from pitch.f0(...).hz (0 = unvoiced; NaN, infinite or
negative values count as unvoiced too, so librosa.pyin's NaN output works), `bounds` (N, 2) int
[start, stop) frames with 0 <= start <= stop <= T (segments may overlap or be empty), `fps` the
frame rate of both. Every feature of a segment depends only on the frames inside it (no
normalisation over the track), so a row equals the function applied to that slice alone.

Columns, for a segment of n frames t = 0 .. n - 1 (r_t = the 'rms' column, linear amplitude;
o_t = 'onset_env'; k_t = 'onset_peak' in {0, 1}; v = the voiced frames, f0_t > 0, m = |v|):
- rms_mean: (1 / n) sum_t r_t.
- rms_db: dB(rms_mean), where dB(r) = max(0, 20 log10(r) + 80) is the level in dB above
  -80 dBFS (FLOOR_DB): 0 for silence, about 77 for a full-scale sine.
- loudness_change_db: the least-squares line through the per-frame levels dB(r_t) against t,
  evaluated at the last frame minus at the first: slope * (n - 1), with
  slope = sum_t (t - c)(dB(r_t) - mean) / sum_t (t - c)^2, c = (n - 1) / 2; 0 when n < 2.
  Negative when the music gets softer over the segment.
- f0_mean_semitones: (1 / m) sum_{t in v} 12 log2(f0_t / 55 Hz), 0 when m = 0.
- voiced_share: m / n.
- f0_range_semitones: the 90th minus the 10th percentile (linear interpolation between order
  statistics, numpy's default) of 12 log2(f0_t / 55) over v: the spread of the pitch,
  robust to a stray octave error on one frame; 0 when m = 0 (and when m = 1).
- onset_density: onsets per second, fps * (number of runs of consecutive k_t = 1) / n: a run
  of adjacent peak frames is one onset. (At 30 fps librosa's onset_detect windows, 30 ms, are
  shorter than a frame, so features' onset_peak marks a click on two adjacent frames; counted
  as runs, a 120 BPM click track gives 2.0 per second. A run already under way at a segment's
  first frame counts in that segment too.)
- onset_strength_mean: (1 / n) sum_t o_t (mean positive dB rise per band per frame).
Empty segments (n = 0) give a row of zeros; non-finite matrix values count as 0. Every column is
finite for any input and exactly 0 in digital silence.
"""
from __future__ import annotations

import numpy as np

from .features import FEATURE_COLUMNS

__all__ = ["FLOOR_DB", "MUSIC_SEGMENT_FEATURE_NAMES", "F0_REF_HZ", "segment_music_features"]

MUSIC_SEGMENT_FEATURE_NAMES: tuple[str, ...] = (
    "rms_mean", "rms_db", "loudness_change_db", "f0_mean_semitones", "voiced_share", "f0_range_semitones",
    "onset_density", "onset_strength_mean",
)
FLOOR_DB = -80.0  # dBFS counted as 0 dB: levels are dB above this floor, never negative
F0_REF_HZ = 55.0  # A1: pitch is in semitones above it
RANGE_PERCENTILES = (10.0, 90.0)
_NAME = {name: i for i, name in enumerate(MUSIC_SEGMENT_FEATURE_NAMES)}


def _level_db(rms: np.ndarray) -> np.ndarray:
    """Linear RMS -> dB above FLOOR_DB, >= 0 (0 for silence)."""
    with np.errstate(divide="ignore"):
        return np.maximum(20.0 * np.log10(np.maximum(rms, 0.0)) - FLOOR_DB, 0.0)


def _column(matrix: np.ndarray, name: str) -> np.ndarray:
    col = matrix[:, FEATURE_COLUMNS.index(name)].astype(np.float64)
    return np.where(np.isfinite(col), col, 0.0)


def _percentile_sorted(values: np.ndarray, starts: np.ndarray, counts: np.ndarray, q: float) -> np.ndarray:
    """q-th percentile (numpy's 'linear') of each group of sorted values[starts[i]:starts[i] + counts[i]];
    0 for empty groups."""
    out = np.zeros(counts.size)
    has = counts > 0
    pos = (q / 100.0) * (counts[has] - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, counts[has] - 1)
    frac = pos - lo
    a, b = values[starts[has] + lo], values[starts[has] + hi]
    out[has] = a + (b - a) * frac
    return out


def segment_music_features(matrix: np.ndarray, f0_hz: np.ndarray, bounds: np.ndarray, fps: float) -> np.ndarray:
    """(T, F) feature matrix, (T,) F0 in Hz, (N, 2) [start, stop) frames -> (N, 8) float64
    features named by MUSIC_SEGMENT_FEATURE_NAMES (formulas in the module doc)."""
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[1] != len(FEATURE_COLUMNS):
        raise ValueError(f"matrix must have shape (T, {len(FEATURE_COLUMNS)}) (features.FEATURE_COLUMNS), "
                         f"got {matrix.shape}")
    n_frames = matrix.shape[0]
    f0_hz = np.asarray(f0_hz, dtype=np.float64)
    if f0_hz.shape != (n_frames,):
        raise ValueError(f"f0_hz must have shape ({n_frames},) like the matrix rows, got {f0_hz.shape}")
    bounds = np.asarray(bounds)
    if bounds.size == 0:
        bounds = bounds.reshape(0, 2)
    if bounds.ndim != 2 or bounds.shape[1] != 2 or bounds.dtype.kind not in "iu":
        raise ValueError(f"bounds must be an (N, 2) integer array of [start, stop) frames, got {bounds.shape} "
                         f"{bounds.dtype}")
    bounds = bounds.astype(np.int64)
    start, stop = bounds[:, 0], bounds[:, 1]
    if np.any(start < 0) or np.any(stop < start) or np.any(stop > n_frames):
        raise ValueError(f"bounds need 0 <= start <= stop <= {n_frames}")
    fps = float(fps)
    if not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps}")

    n_seg = bounds.shape[0]
    out = np.zeros((n_seg, len(MUSIC_SEGMENT_FEATURE_NAMES)))
    counts = stop - start
    full = counts > 0
    if not full.any():
        return out
    # Gather the frames of every non-empty segment one after the other (segments may overlap):
    # each sum below is then over one segment's own frames in their order, the same arithmetic
    # as on that slice alone.
    seg_of = np.repeat(np.flatnonzero(full), counts[full])  # (M,) segment of each gathered frame
    first = np.concatenate([[0], np.cumsum(counts[full])[:-1]])  # offsets of the segments in the gather
    local = np.arange(seg_of.size) - np.repeat(first, counts[full])  # (M,) t within the segment
    idx = start[seg_of] + local  # (M,) frame index
    pos = np.repeat(np.arange(first.size), counts[full])  # (M,) row among the non-empty segments

    def seg_sum(x: np.ndarray) -> np.ndarray:
        return np.add.reduceat(x, first)

    n = counts[full].astype(np.float64)
    rms = _column(matrix, "rms")[idx]
    rms_mean = seg_sum(rms) / n
    out[full, _NAME["rms_mean"]] = rms_mean
    out[full, _NAME["rms_db"]] = _level_db(rms_mean)

    level = _level_db(rms)
    centre = (counts[seg_of] - 1) / 2.0  # c of each frame's segment
    u = local - centre
    level_mean = seg_sum(level) / n
    su2 = n * (n * n - 1.0) / 12.0  # sum_t (t - c)^2
    cov = seg_sum(u * (level - level_mean[pos]))
    slope = np.where(su2 > 0, cov / np.where(su2 > 0, su2, 1.0), 0.0)
    out[full, _NAME["loudness_change_db"]] = slope * (n - 1.0)

    hz = f0_hz[idx]
    voiced = np.isfinite(hz) & (hz > 0)
    semis = np.where(voiced, 12.0 * np.log2(np.where(voiced, hz, F0_REF_HZ) / F0_REF_HZ), 0.0)
    n_voiced = seg_sum(voiced.astype(np.float64))
    out[full, _NAME["voiced_share"]] = n_voiced / n
    out[full, _NAME["f0_mean_semitones"]] = np.where(n_voiced > 0, seg_sum(semis) / np.maximum(n_voiced, 1.0), 0.0)
    # order statistics of the voiced semitones within each segment
    vs = semis[voiced][np.lexsort((semis[voiced], pos[voiced]))]
    m = n_voiced.astype(np.int64)
    m_start = np.concatenate([[0], np.cumsum(m)[:-1]])
    lo_q, hi_q = RANGE_PERCENTILES
    out[full, _NAME["f0_range_semitones"]] = (_percentile_sorted(vs, m_start, m, hi_q)
                                              - _percentile_sorted(vs, m_start, m, lo_q))

    peak = _column(matrix, "onset_peak") > 0.5
    starts_run = peak[idx] & ((local == 0) | ~peak[np.maximum(idx - 1, 0)])  # first frame of a run of peaks
    out[full, _NAME["onset_density"]] = fps * seg_sum(starts_run.astype(np.float64)) / n
    out[full, _NAME["onset_strength_mean"]] = seg_sum(_column(matrix, "onset_env")[idx]) / n
    return out
