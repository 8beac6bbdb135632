"""Short-time spectra and filter banks on numpy, matching librosa's defaults.

Conventions (the same as librosa 0.11, so our features can be checked against it):
- Frames are centred: frame t is the n_fft samples centred on sample centres[t] of
  the signal zero-padded by n_fft // 2 on both sides (librosa's center=True,
  pad_mode='constant'). Centres may be any sample positions, not only multiples of
  a hop, which is how frames land exactly on t / fps for any fps.
- Window: periodic Hann. Power spectrum |rfft|^2, shape (T, n_fft // 2 + 1).
- Mel bank: Slaney mel scale (htk=False), triangular filters from 0 Hz to sr / 2,
  'slaney' area normalisation: librosa.filters.mel.
- Chroma bank: librosa.filters.chroma (Gaussian bumps per FFT bin, octave weighting
  centred on octave 5 with width 2, C first) at a FIXED tuning of 0 (A4 = 440 Hz):
  we do not estimate the tuning per track.
- Decibels: 10 log10(max(S, 1e-10)), ref 1.0, floored at (global max - 80 dB):
  librosa.power_to_db. Note the floor depends on the loudest frame of the track.
- MFCC: orthonormal DCT-II over the mel dB bands, first n coefficients.
Arrays are float32 except where stated.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

AMIN = 1e-10
TOP_DB = 80.0


def pad_centred(y: np.ndarray, n_fft: int) -> np.ndarray:
    """(n,) signal -> (n + 2 * (n_fft // 2),) float32 with n_fft // 2 zeros on both sides."""
    half = n_fft // 2
    padded = np.zeros(y.size + 2 * half, dtype=np.float32)
    padded[half:half + y.size] = y
    return padded


def frames(padded: np.ndarray, centres: np.ndarray, n_fft: int) -> np.ndarray:
    """(n + n_fft,) signal from pad_centred, (T,) int centres in the unpadded signal ->
    (T, n_fft) frames centred on them (a copy)."""
    view = np.lib.stride_tricks.sliding_window_view(padded, n_fft)  # (n + 1, n_fft), no copy
    return view[np.asarray(centres, dtype=np.int64)]


@lru_cache(maxsize=8)
def hann(n: int) -> np.ndarray:
    """Periodic Hann window (n,) float32, as scipy.signal.get_window('hann', n)."""
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)).astype(np.float32)


def power_spectrum(frames_: np.ndarray) -> np.ndarray:
    """(T, n_fft) frames -> (T, n_fft // 2 + 1) float32 power of the Hann-windowed rfft."""
    # numpy's FFT works in float64 whatever the input: window straight into float64.
    windowed = np.multiply(frames_, hann(frames_.shape[1]), dtype=np.float64)  # (T, n_fft)
    spec = np.fft.rfft(windowed, axis=1)  # (T, n_fft // 2 + 1) complex128
    power = np.square(spec.real, dtype=np.float32)
    power += np.square(spec.imag, dtype=np.float32)
    return power


def rms(frames_: np.ndarray) -> np.ndarray:
    """(T, n) unwindowed frames -> (T,) root mean square, as librosa.feature.rms(y=...)."""
    return np.sqrt(np.einsum("tn,tn->t", frames_, frames_, dtype=np.float64) / frames_.shape[1]).astype(np.float32)


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    mel = f / (200.0 / 3)
    log_part = f >= 1000.0
    return np.where(log_part, 15.0 + np.log(np.maximum(f, 1e-12) / 1000.0) / (np.log(6.4) / 27.0), mel)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), m * (200.0 / 3))


@lru_cache(maxsize=8)
def mel_filterbank(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) float32 Slaney mel filters from 0 Hz to sr / 2."""
    fft_freqs = np.linspace(0.0, sr / 2.0, n_fft // 2 + 1)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sr / 2.0), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]
    return weights.astype(np.float32)


@lru_cache(maxsize=8)
def chroma_filterbank(sr: int, n_fft: int, n_chroma: int = 12) -> np.ndarray:
    """(n_chroma, n_fft // 2 + 1) float32 chroma filters, C first, tuning 0 (A4 = 440 Hz)."""
    freqs = np.linspace(0.0, sr, n_fft, endpoint=False)[1:]
    frq_bins = n_chroma * np.log2(freqs / (440.0 / 16.0))
    frq_bins = np.concatenate(([frq_bins[0] - 1.5 * n_chroma], frq_bins))
    bin_widths = np.concatenate((np.maximum(frq_bins[1:] - frq_bins[:-1], 1.0), [1.0]))
    d = frq_bins[None, :] - np.arange(n_chroma, dtype=np.float64)[:, None]
    half = np.round(n_chroma / 2.0)
    d = np.remainder(d + half + 10 * n_chroma, n_chroma) - half
    wts = np.exp(-0.5 * (2.0 * d / bin_widths[None, :]) ** 2)
    wts /= np.maximum(np.sqrt((wts ** 2).sum(axis=0, keepdims=True)), np.finfo(np.float64).tiny)
    wts *= np.exp(-0.5 * ((frq_bins / n_chroma - 5.0) / 2.0) ** 2)[None, :]
    wts = np.roll(wts, -3 * (n_chroma // 12), axis=0)
    return np.ascontiguousarray(wts[:, : n_fft // 2 + 1], dtype=np.float32)


def power_to_db(power: np.ndarray) -> np.ndarray:
    """Power -> dB re 1.0, floored at the array's max - 80 dB (librosa.power_to_db)."""
    db = 10.0 * np.log10(np.maximum(power, np.float32(AMIN)))
    return np.maximum(db, db.max() - np.float32(TOP_DB)) if db.size else db


@lru_cache(maxsize=8)
def dct_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_in, n_out) float32 orthonormal DCT-II: x (.., n_in) @ D gives the first n_out coefficients."""
    n = np.arange(n_in)[:, None]
    k = np.arange(n_out)[None, :]
    d = np.cos(np.pi * k * (2 * n + 1) / (2.0 * n_in)) * np.sqrt(2.0 / n_in)
    d[:, 0] /= np.sqrt(2.0)
    return d.astype(np.float32)


def normalize_max(x: np.ndarray) -> np.ndarray:
    """Divide each row of (T, C) non-negative x by its max; all-zero rows stay zero."""
    peak = x.max(axis=1, keepdims=True)
    return x / np.where(peak > np.finfo(np.float32).tiny, peak, np.float32(1.0))
