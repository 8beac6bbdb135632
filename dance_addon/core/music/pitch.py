"""Fundamental frequency (F0) per frame: YIN with a pYIN-like voicing decision, numpy only.

Public API
- `f0(samples, sr, fps=30.0, fmin=65.0, fmax=1000.0, *, window=None, beta=(2, 18),
  unvoiced_weight=0.01, switch_prob=0.01, silence_rms=1e-4)` -> `PitchTrack`.
- `PitchTrack`: frozen; `hz` (T,) float64 with 0.0 on unvoiced frames, `voiced` (T,) bool,
  `confidence` (T,) float64 in [0, 1] (the voiced probability of step 3), `fps`;
  `semitones(ref_hz=55.0)` (T,) semitones above ref_hz, 0.0 on unvoiced frames.

Frames (the same grid as core/music/features.py)
Frame t is centred on sample c_t = round(t * sr / fps), T = 1 + floor(n * fps / sr), and the
signal is zero padded at both ends (spectral.pad_centred / spectral.frames). At sr =
features.ANALYSIS_SR (what features.load_audio returns) row t of this track is row t of
features.extract_features(...).matrix. Each frame analyses the L = W + tau_max + 2 samples
y[c_t - L // 2 : c_t + L - L // 2]: the difference window and all its lags are centred on c_t.
(librosa.pyin/yin with center=True analyse the 2048 samples centred on c_t with a shrinking
window instead; the two see nearly the same audio.)

Algorithm (de Cheveigne & Kawahara 2002, "YIN", steps 2 to 5; the threshold distribution and
the hidden Markov model after Mauch & Dixon 2014, "pYIN")
1. Difference function with a fixed window W (default 1024 samples at 22050 Hz, 46 ms, and at
   least 2 * tau_max), lags tau = 0 .. tau_max + 1 with tau_max = ceil(sr / fmin):
       d(tau) = sum_{j<W} (x_j - x_{j+tau})^2 = e(0) + e(tau) - 2 r(tau),
   r(tau) = sum_{j<W} x_j x_{j+tau} by FFT (one rfft of the window, one of the whole segment,
   one irfft, for a chunk of frames at once), e(tau) = sum_{j<W} x_{j+tau}^2 by a cumulative sum.
   Frames whose segment reaches into the zero padding (the first and last two or three) sum
   only over pairs of real samples, rescaled to W pairs (four more correlations, for those
   frames only): plain zeros would bias their period (a tone's edge frames read up to 1.4 %
   sharp). With fewer than W / 4 real pairs at some lag the frame counts as silent.
2. Cumulative mean normalised difference: d'(0) = 1,
       d'(tau) = d(tau) / ((1 / tau) sum_{1 <= j <= tau} d(j));
   frames whose RMS is below silence_rms (default 1e-4, -80 dBFS) get d' = 1 (no trough).
3. Absolute threshold, made probabilistic as in pYIN: the threshold s is not one number but
   drawn from a Beta(2, 18) prior (mean 0.1). For each s, YIN picks the FIRST trough (local
   minimum of d' with tau_min = floor(sr / fmax) <= tau <= tau_max) below s. Trough k (in lag
   order) is that pick exactly when d'_k < s <= min of the earlier troughs, so it gets
       p_k = F(min(1, min_{j<k} d'_j)) - F(d'_k)      (0 if negative),
   F the Beta CDF (closed form for integer parameters: a binomial tail). The frame's voiced
   probability is P(some trough is below s) = 1 - F(min_k d'_k) = sum_k p_k (`confidence`).
   The 4 troughs with the largest p_k are the frame's candidates.
4. Parabolic interpolation of d' through each candidate lag and its two neighbours gives a
   fractional period tau*; candidate pitch = sr / tau*, clipped to [fmin, fmax].
5. Decoding (pYIN's HMM, on the candidates instead of 0.1-semitone bins): per frame the
   states are the candidates (emission p_k) and "unvoiced" (emission
   unvoiced_weight * (1 - confidence)); staying voiced costs 1 - switch_prob times a triangle
   in the pitch jump, max(0, 1 - |jump in semitones| / (215.5 / fps)) (pYIN's maximum
   transition rate, 35.92 octaves per second); switching voicing costs switch_prob. Viterbi
   gives the path. A steady frame leans voiced when its best candidate's p_k exceeds
   unvoiced_weight * (1 - confidence): with the default 0.01, when its best trough d' is below
   about 0.3. pYIN's equivalent weight is 1 / (its number of pitch bins), about 0.002, and it
   also gives the deepest trough 1 % of the probability when no trough is below s, so
   librosa.pyin calls many more frames voiced (about half the frames of white noise); this
   tracker is stricter: see tests/test_pitch.py for the agreement on real music.

Limits: one F0 per frame, so on mixed music (voice, bass and chords at once) the track follows
whichever periodicity dominates the frame, often the bass or the melody; read it as "the most
periodic pitch" rather than "the melody". Lags are whole samples before interpolation, so the
resolution at 1 kHz (22 samples) rests on the parabola (about 0.1 % on a clean tone).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .audio import AudioError, to_mono
from .beats import _fast_length
from .spectral import frames, pad_centred

__all__ = ["PitchTrack", "f0"]

_FRAME_CHUNK = 256  # frames per FFT batch (bounds memory on long tracks)
_N_CANDIDATES = 4  # troughs per frame the decoder chooses among
_MAX_SEMITONES_PER_S = 6 * 35.92  # pitch HMM half-width: pYIN's max transition rate, 35.92 octaves/s (/ 2)
_REF_SR = 22050.0
_REF_WINDOW = 1024  # samples at 22050 Hz (librosa's yin/pyin frame_length // 2)


@dataclass(frozen=True)
class PitchTrack:
    """F0 per frame; frame t is centred on time t / fps."""

    hz: np.ndarray          # (T,) float64 Hz, 0.0 where not voiced
    voiced: np.ndarray      # (T,) bool
    confidence: np.ndarray  # (T,) float64 in [0, 1]: probability that the frame is voiced
    fps: float

    def semitones(self, ref_hz: float = 55.0) -> np.ndarray:
        """(T,) float64 semitones above ref_hz on voiced frames, 0.0 elsewhere."""
        out = np.zeros_like(self.hz)
        out[self.voiced] = 12.0 * np.log2(self.hz[self.voiced] / ref_hz)
        return out


def _beta_cdf(x: np.ndarray, a: int, b: int) -> np.ndarray:
    """Regularised incomplete beta I_x(a, b) for positive integers a, b, x clipped to [0, 1]:
    P(Binomial(a + b - 1, x) >= a) = 1 - sum_{j<a} C(a + b - 1, j) x^j (1 - x)^(a + b - 1 - j)."""
    x = np.clip(x, 0.0, 1.0)
    n = a + b - 1
    below = np.zeros_like(x)
    for j in range(a):
        below += math.comb(n, j) * x ** j * (1.0 - x) ** (n - j)
    return np.clip(1.0 - below, 0.0, 1.0)


def _xcorr(a: np.ndarray, b: np.ndarray, n_fft: int, n_lags: int) -> np.ndarray:
    """(C, W) and (C, L) -> (C, n_lags) sum_{j<W} a_j b_{j+tau}, by FFT of size n_fft >= L."""
    spec = np.conj(np.fft.rfft(a, n_fft, axis=1)) * np.fft.rfft(b, n_fft, axis=1)
    return np.fft.irfft(spec, n_fft, axis=1)[:, :n_lags]


def _cmnd(seg: np.ndarray, window: int, n_lags: int, silence_rms: float, mask: np.ndarray | None = None
          ) -> np.ndarray:
    """(C, L) float32 segments -> (C, n_lags) float64 cumulative mean normalised difference.

    mask (C, L) bool marks the real samples of segments that reach into the zero padding: there
    d(tau) sums only over pairs of real samples, rescaled to W pairs (unbiased at the edges);
    a frame with fewer than W / 4 such pairs at some lag counts as silent."""
    x = seg.astype(np.float64)
    n_fft = _fast_length(x.shape[1])  # >= L: no wrap-around for lags < n_lags
    r = _xcorr(x[:, :window], x, n_fft, n_lags)  # r(tau) = sum_j x_j x_{j+tau}
    if mask is None:
        cs = np.zeros((x.shape[0], x.shape[1] + 1))
        np.cumsum(x * x, axis=1, out=cs[:, 1:])
        e = cs[:, window:window + n_lags] - cs[:, :n_lags]  # e(tau) = sum_{j<W} x_{j+tau}^2
        d = e[:, :1] + e - 2.0 * r
        power = e[:, 0] / window  # mean square of the window
    else:
        m, x2 = mask.astype(np.float64), x * x
        pairs = np.rint(_xcorr(m[:, :window], m, n_fft, n_lags))  # real (j, j + tau) pairs
        d = _xcorr(x2[:, :window], m, n_fft, n_lags) + _xcorr(m[:, :window], x2, n_fft, n_lags) - 2.0 * r
        d *= window / np.maximum(pairs, 1.0)
        power = np.where(pairs.min(axis=1) >= window // 4, x2[:, :window].sum(axis=1) / np.maximum(pairs[:, 0], 1.0),
                         0.0)
    d = np.maximum(d, 0.0)
    d[:, 0] = 0.0
    mean = np.cumsum(d[:, 1:], axis=1) / np.arange(1, n_lags)
    out = np.ones_like(d)
    ok = mean > 1e-12 * window * power[:, None]
    out[:, 1:] = np.where(ok, d[:, 1:] / np.where(ok, mean, 1.0), 1.0)
    out[power < silence_rms ** 2] = 1.0  # silence: no periodicity at all
    return out


def _candidates(dp: np.ndarray, tau_min: int, tau_max: int, a: int, b: int, k: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(C, n_lags) d' -> the k most probable troughs per frame: fractional periods (C, k) in
    samples, their probabilities (C, k) (0 for missing candidates), voiced probability (C,)."""
    mid = dp[:, tau_min:tau_max + 1]
    trough = (mid < dp[:, tau_min - 1:tau_max]) & (mid <= dp[:, tau_min + 1:tau_max + 2])
    height = np.where(trough, mid, np.inf)
    # min over the troughs strictly before each lag (1 where there is none: F(1) = 1)
    before = np.minimum.accumulate(np.concatenate([np.ones((mid.shape[0], 1)), height[:, :-1]], axis=1), axis=1)
    row, col = np.nonzero(trough)
    mass = np.zeros(mid.shape)
    mass[row, col] = np.maximum(_beta_cdf(np.minimum(before[row, col], 1.0), a, b)
                                - _beta_cdf(mid[row, col], a, b), 0.0)
    lowest = np.min(height, axis=1)
    p_voiced = np.where(np.isfinite(lowest), 1.0 - _beta_cdf(np.minimum(lowest, 1.0), a, b), 0.0)
    k = min(k, mid.shape[1])
    pick = np.argpartition(-mass, k - 1, axis=1)[:, :k]  # (C, k) lag offsets
    prob = np.take_along_axis(mass, pick, axis=1)
    tau = pick + tau_min
    rows = np.arange(dp.shape[0])[:, None]
    left, centre, right = dp[rows, tau - 1], dp[rows, tau], dp[rows, tau + 1]
    curv = left + right - 2.0 * centre
    slope = 0.5 * (right - left)
    shift = np.where((curv > 0) & (np.abs(slope) < curv), -slope / np.where(curv > 0, curv, 1.0), 0.0)
    return tau + shift, prob, np.clip(p_voiced, 0.0, 1.0)


def _decode(semis: np.ndarray, prob: np.ndarray, p_voiced: np.ndarray, unvoiced_weight: float,
            switch_prob: float, max_jump: float) -> tuple[np.ndarray, np.ndarray]:
    """Viterbi over K voiced candidates and one unvoiced state per frame.

    semis (T, K) candidate pitches in semitones, prob (T, K) their probabilities, p_voiced (T,).
    Returns (T,) chosen candidate index and (T,) bool voiced."""
    t_len, k = prob.shape
    with np.errstate(divide="ignore"):
        emit = np.log(np.concatenate([prob, (unvoiced_weight * (1.0 - p_voiced))[:, None]], axis=1))  # (T, K+1)
        stay, switch = math.log(1.0 - switch_prob), math.log(switch_prob)
        jump = np.abs(semis[1:, None, :] - semis[:-1, :, None])  # (T-1, from K, to K)
        trans = np.empty((max(t_len - 1, 0), k + 1, k + 1))
        trans[:, :k, :k] = np.log(np.maximum(1.0 - jump / max_jump, 0.0)) + stay
    trans[:, :k, k] = switch
    trans[:, k, :k] = switch
    trans[:, k, k] = stay
    back = np.zeros((t_len, k + 1), dtype=np.int64)
    score = emit[0] if t_len else np.zeros(k + 1)
    cols = np.arange(k + 1)
    for t in range(1, t_len):
        cand = score[:, None] + trans[t - 1]  # (from, to)
        best = np.argmax(cand, axis=0)
        back[t] = best
        score = cand[best, cols] + emit[t]
    path = np.zeros(t_len, dtype=np.int64)
    if t_len:
        path[-1] = int(np.argmax(score))
        for t in range(t_len - 1, 0, -1):
            path[t - 1] = back[t, path[t]]
    return np.minimum(path, k - 1), path < k


def f0(samples: np.ndarray, sr: float, fps: float = 30.0, fmin: float = 65.0, fmax: float = 1000.0, *,
       window: int | None = None, beta: tuple[int, int] = (2, 18), unvoiced_weight: float = 0.01,
       switch_prob: float = 0.01, silence_rms: float = 1e-4) -> PitchTrack:
    """F0 of (n,) mono float samples at sr Hz, one value per frame at fps (see the module doc).
    (n, channels) samples and integer PCM are taken as extract_features takes them (audio.to_mono).

    window: the YIN integration window in samples (default 46 ms, at least 2 * sr / fmin).
    beta: integer parameters of the threshold prior. unvoiced_weight, switch_prob: the voicing
    model (step 5 of the module doc). silence_rms: frames quieter than this are unvoiced.
    """
    y = to_mono(samples)  # (n,) float32; AudioError (a ValueError) for unusable samples
    if y.size == 0:
        raise AudioError("samples: there are no audio samples; give at least one sample")
    sr, fps, fmin, fmax = float(sr), float(fps), float(fmin), float(fmax)
    if not (sr > 0 and fps > 0 and 0 < fmin < fmax <= sr / 2):
        raise ValueError(f"need sr > 0, fps > 0 and 0 < fmin < fmax <= sr / 2; got sr={sr}, fps={fps}, "
                         f"fmin={fmin}, fmax={fmax}")
    a, b = (int(v) for v in beta)
    if a < 1 or b < 1 or (a, b) != tuple(beta):
        raise ValueError(f"beta must be two positive integers, got {beta}")
    if not (0.0 < switch_prob < 1.0 and unvoiced_weight > 0.0):
        raise ValueError(f"need 0 < switch_prob < 1 and unvoiced_weight > 0; got {switch_prob}, {unvoiced_weight}")

    tau_min = max(2, int(math.floor(sr / fmax)))
    tau_max = int(math.ceil(sr / fmin))
    n_lags = tau_max + 2  # d' at tau_max + 1 tells whether tau_max is a trough
    win = int(window) if window is not None else max(int(round(_REF_WINDOW * sr / _REF_SR)), 2 * tau_max)
    if win < tau_max:
        raise ValueError(f"window {win} must be at least one period of fmin ({tau_max} samples)")
    seg_len = win + n_lags

    n = y.size
    n_frames = 1 + int(math.floor(n * fps / sr))
    centres = np.rint(np.arange(n_frames) * sr / fps).astype(np.int64)
    padded = pad_centred(y, seg_len)
    padded = np.concatenate([padded, np.zeros(1, np.float32)])  # the last centre may be n (sample n is 0)

    period = np.zeros((n_frames, _N_CANDIDATES))
    prob = np.zeros((n_frames, _N_CANDIDATES))
    conf = np.zeros(n_frames)
    for s in range(0, n_frames, _FRAME_CHUNK):
        seg = frames(padded, centres[s:s + _FRAME_CHUNK], seg_len)  # (C, L)
        dp = _cmnd(seg, win, n_lags, silence_rms)  # (C, n_lags)
        first = centres[s:s + _FRAME_CHUNK] - seg_len // 2  # sample of each segment's start
        edge = np.flatnonzero((first < 0) | (first + seg_len > n))  # segments reaching into the padding
        if edge.size:
            where = first[edge, None] + np.arange(seg_len)
            dp[edge] = _cmnd(seg[edge], win, n_lags, silence_rms, mask=(where >= 0) & (where < n))
        per, pr, pv = _candidates(dp, tau_min, tau_max, a, b, _N_CANDIDATES)
        period[s:s + per.shape[0], :per.shape[1]] = per
        prob[s:s + per.shape[0], :per.shape[1]] = pr
        conf[s:s + per.shape[0]] = pv
    cand_hz = np.clip(sr / np.maximum(period, 1.0), fmin, fmax)
    choice, voiced = _decode(12.0 * np.log2(cand_hz / fmin), prob, conf, float(unvoiced_weight), float(switch_prob),
                             _MAX_SEMITONES_PER_S / fps)
    hz = np.where(voiced, cand_hz[np.arange(n_frames), choice], 0.0)
    return PitchTrack(hz=hz, voiced=voiced, confidence=conf, fps=fps)
