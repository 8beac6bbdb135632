"""Audio loading and resampling on numpy alone, identical in training and in Blender.

Conventions
- Samples are float32, mono, shape (n,), nominally in [-1, 1]; a sample rate is in Hz.
- Decoding is done at the file's own rate by one of two backends, chosen at call
  time (never imported at module top): Blender's `aud` inside Blender (any format
  Blender plays), `soundfile` (libsndfile: WAV, FLAC, OGG/Vorbis, Opus, MP3) outside.
  Multichannel audio is mixed down by the mean over channels.
- Resampling is ALWAYS our own numpy code (`resample`), so both backends feed the
  feature extractor exactly the same samples for the same decoded audio:
  polyphase windowed-sinc interpolation. Each output sample n sits at input
  position n * sr_in / sr_out and is the dot product of the input around it with
  h(t) = fc * sinc(fc * t) * kaiser(t / W, beta=8.6), where the cutoff
  fc = 0.945 * min(1, sr_out / sr_in) (a fraction of the input Nyquist band), the
  half-width W = 16 zero crossings / fc input samples, and each phase's taps are
  scaled to sum to 1 (exact DC gain). Outside the signal the input is zero.
  Measured from 48 kHz to 22050 Hz: 0.0 dB up to 9 kHz, -2.5 dB at 10 kHz, -7 dB at
  10.5 kHz, below -89 dB from 13 kHz (aliasing); a 1 kHz sine is within 2e-5.
  The ratio sr_out / sr_in is used as the exact fraction L / M when L <= 1000 and
  otherwise rounded to the nearest fraction with L <= 1000 (odd rates such as
  47999 Hz): a relative timing error of a few 1e-6 (2e-6 at 47999 Hz: 2.4 ms in 20 min).
- Every failure raises `AudioError` (a ValueError) whose message names the file (or
  the in-memory source), the problem and what to do.
- A damaged file that still decodes in part (an MP3 cut short by an interrupted download)
  gives the part that decodes; when that is clearly shorter than the length the file's
  header declares, `decode_soundfile` also warns (`AudioWarning`). libmpg123's own
  warnings, which it writes straight to the process's stderr, are held back.
"""
from __future__ import annotations

import math
import os
import sys
import warnings
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator, Literal

import numpy as np

Decoder = Callable[[Path], tuple[np.ndarray, float]]
Backend = Literal["auto", "soundfile", "aud"]

ANALYSIS_SR = 22050  # Hz: the rate every feature is computed at (librosa's default)
MAX_CHANNELS = 64
MAX_PEAK = 1000.0  # 60 dB over full scale: beyond it the samples cannot be float audio
_ROLLOFF = 0.945
_ZERO_CROSSINGS = 16
_KAISER_BETA = 8.6
_MAX_PHASES = 1000
_BLOCK_OUT = 1 << 18  # output samples per matrix product (keeps the input block in cache)
_PHASE_GROUP = 16  # phases computed by one matrix product


class AudioError(ValueError):
    """Audio that cannot be used: missing, unreadable, empty, corrupt or non-finite."""


class AudioWarning(UserWarning):
    """Audio that can be used but is not what its file promises (e.g. cut short)."""


# A file that decodes this much shorter than its header declares is taken as cut short (MP3
# decoders differ from the header by encoder delay and padding: a few thousand samples).
_SHORT_FRACTION = 0.99
_SHORT_SECONDS = 0.5


# -- decoding -----------------------------------------------------------------------


@contextmanager
def _quiet_stderr_fd() -> Iterator[None]:
    """File descriptor 2 sent to the null device meanwhile: libmpg123 (inside libsndfile) prints
    its warnings about a damaged MP3 ("Xing stream size off...", "Cannot read next header...")
    straight to it, past Python; what went wrong is told by AudioError or AudioWarning instead."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # stderr replaced by an object without a descriptor
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


def decode_soundfile(path: Path) -> tuple[np.ndarray, float]:
    """Decode with libsndfile: (samples (n, channels) float32, sample rate in Hz).

    A file cut short gives what decodes, with an AudioWarning when that is clearly shorter than
    its header declares (a file with no such header cannot be told from a short song)."""
    import soundfile

    try:
        with _quiet_stderr_fd():
            declared = soundfile.info(str(path)).frames
            data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except RuntimeError as err:  # soundfile.LibsndfileError: unknown format, corrupt data
        # libsndfile says "File does not exist or is not a regular file" of a file it finds no
        # audio in (e.g. the first few hundred bytes of an MP3); the file is there (load_audio checked)
        reason = "libsndfile finds no audio in it" if "does not exist" in str(err) else str(err)
        raise AudioError(f"{path}: cannot decode the audio ({reason}); "
                         "is it a damaged (cut short?) file or a format libsndfile does not read?") from err
    got = len(data)
    if got < _SHORT_FRACTION * declared and declared - got > _SHORT_SECONDS * rate:
        warnings.warn(AudioWarning(f"{path}: only the first {got / rate:.1f} s of the {declared / rate:.1f} s "
                                   "its header declares decode (a download cut short?); using those"),
                      stacklevel=2)
    return data, float(rate)


def decode_aud(path: Path) -> tuple[np.ndarray, float]:
    """Decode with Blender's `aud` (import bpy first): (samples (n, channels) float32, rate in Hz)."""
    import aud

    try:
        sound = aud.Sound(str(path))
        rate, _channels = sound.specs
        data = np.asarray(sound.data(), dtype=np.float32)
    except aud.error as err:
        raise AudioError(f"{path}: Blender cannot decode the audio ({err}); "
                         "is it a corrupt file or a format Blender does not play?") from err
    if data.ndim == 1:
        data = data[:, None]
    return data, float(rate)


def _choose_decoder(backend: Backend) -> Decoder:
    if backend == "soundfile":
        return decode_soundfile
    if backend == "aud":
        return decode_aud
    if backend != "auto":
        raise ValueError(f"unknown audio backend {backend!r}: use 'auto', 'soundfile' or 'aud'")
    if "bpy" in sys.modules:  # inside Blender, where soundfile is not available
        return decode_aud
    return decode_soundfile


def load_audio(path: str | Path, sr: int = ANALYSIS_SR, *, backend: Backend = "auto") -> np.ndarray:
    """Decode `path`, mix to mono and resample to `sr` Hz with `resample`: (n,) float32.

    backend: 'aud' (Blender's decoder; needs bpy imported), 'soundfile', or 'auto'
    (aud when bpy is already imported, i.e. inside Blender, otherwise soundfile).
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such file; check the path of the music")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: the file is empty (0 bytes); export the music again")
    data, rate = _choose_decoder(backend)(path)
    mono = to_mono(data, source=str(path))
    if mono.size == 0:
        raise AudioError(f"{path}: the file holds no audio samples; export the music again")
    return resample(mono, rate, sr, source=str(path))


# -- sample conditioning ------------------------------------------------------------


def to_mono(samples: np.ndarray, *, source: str = "samples") -> np.ndarray:
    """(n,) or (n, channels) samples -> (n,) float32 by the mean over channels.

    Float samples are taken as they are (full scale is 1.0); integer PCM is scaled by
    its type's full scale (int16: 32768). Raises AudioError for other shapes or types,
    for a (channels, n) array (more than MAX_CHANNELS channels), for samples beyond
    +-MAX_PEAK (integer PCM passed as float) and for NaN or infinite samples.
    """
    a = np.asarray(samples)
    if a.dtype.kind not in "fiu":
        raise AudioError(f"{source}: samples must be numbers, got dtype {a.dtype}")
    if a.ndim not in (1, 2):
        raise AudioError(f"{source}: samples must have shape (n,) or (n, channels), got {a.shape}")
    if a.ndim == 2 and a.shape[1] > MAX_CHANNELS:
        raise AudioError(f"{source}: samples of shape {a.shape} would have {a.shape[1]} channels; "
                         "give them as (n, channels), e.g. transpose a (channels, n) array")
    scale = 1.0 if a.dtype.kind == "f" else 1.0 / (np.iinfo(a.dtype).max + 1.0)
    if a.ndim == 2 and a.shape[1] > 1:
        mono = a.astype(np.float32, copy=False) @ np.full(a.shape[1], scale / a.shape[1], dtype=np.float32)
    else:
        mono = a.reshape(-1).astype(np.float32) * np.float32(scale) if scale != 1.0 else \
            a.reshape(-1).astype(np.float32, copy=False)
    finite = np.isfinite(mono)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise AudioError(f"{source}: {bad.size} samples are NaN or infinite (first at sample {bad[0]}); "
                         "the audio is damaged or was decoded wrongly: re-export it")
    peak = float(np.abs(mono).max(initial=0.0))
    if peak > MAX_PEAK:
        raise AudioError(f"{source}: samples reach {peak:g}, far beyond full scale 1.0; "
                         "give float samples in [-1, 1] (integer PCM converted without scaling?)")
    return mono


def _ratio(sr_in: float, sr_out: float) -> tuple[int, int]:
    """sr_out / sr_in as L / M with L <= _MAX_PHASES (exact for every usual rate)."""
    frac = (Fraction(sr_out).limit_denominator(10**6) / Fraction(sr_in).limit_denominator(10**6))
    if frac.numerator > _MAX_PHASES:
        frac = (1 / frac).limit_denominator(_MAX_PHASES)  # bound L, the number of phases
        frac = 1 / frac
    return frac.numerator, frac.denominator


def _phase_taps(L: int, M: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Polyphase filter for ratio L / M.

    Returns taps (L, K) float32, offsets (L,) int (start of phase p's input window,
    relative to the padded input, for the first output of that phase) and the padding.
    """
    fc = _ROLLOFF * min(1.0, L / M)
    half = _ZERO_CROSSINGS / fc  # half-width in input samples
    pad = int(math.ceil(half))
    K = 2 * pad
    p = np.arange(L)
    floor_pos = (p * M) // L  # floor of the input position of output p
    frac = p * M / L - floor_pos  # (L,)
    t = frac[:, None] + (pad - 1) - np.arange(K)[None, :]  # (L, K) distance from input sample to output
    inside = np.abs(t) <= half
    window = np.where(inside, np.i0(_KAISER_BETA * np.sqrt(np.clip(1.0 - (t / half) ** 2, 0.0, None))), 0.0)
    taps = fc * np.sinc(fc * t) * window
    taps /= taps.sum(axis=1, keepdims=True)
    # Output p reads padded input [floor_pos - pad + 1 + pad, ...): the pad cancels.
    offsets = floor_pos + 1
    return taps.astype(np.float32), offsets, pad


def resample(samples: np.ndarray, sr_in: float, sr_out: float, *, source: str = "samples") -> np.ndarray:
    """Resample (n,) float32 mono samples from sr_in to sr_out Hz (method: module docstring).

    Output length: ceil(n * L / M) samples, where L / M is the rate ratio.
    """
    for rate in (sr_in, sr_out):
        if not (math.isfinite(rate) and rate > 0):
            raise AudioError(f"{source}: a sample rate must be a positive number of Hz, got {rate}")
    x = np.asarray(samples, dtype=np.float32)
    L, M = _ratio(sr_in, sr_out)
    if L == M:
        return x.copy()
    n_out = -(-x.size * L // M)
    # Computed as matrix products: output row q, phase p (n = q * L + p) reads the input
    # window starting at q * M + offsets[p]. A group of consecutive phases shares one
    # wider window, so a block of rows times a (width, group) tap matrix gives them all.
    # Phases are replicated (L, M scaled by G) until the row stride M covers two filters,
    # so every window view is a plain strided matrix that BLAS reads without a copy.
    n_taps = 2 * math.ceil(_ZERO_CROSSINGS / (_ROLLOFF * min(1.0, L / M)))
    G = max(1, -(-2 * n_taps // M))
    L, M = L * G, M * G
    taps, offsets, pad = _phase_taps(L, M)  # (L, K), (L,)
    K = taps.shape[1]
    n_q = -(-n_out // L)
    xpad = np.zeros(n_q * M + offsets[-1] + K + 1, dtype=np.float32)
    xpad[pad:pad + x.size] = x
    out = np.empty((n_q, L), dtype=np.float32)
    q_block = max(1, _BLOCK_OUT // L)
    for p0 in range(0, L, _PHASE_GROUP):
        p1 = min(L, p0 + _PHASE_GROUP)
        shift = offsets[p0:p1] - offsets[p0]  # (g,)
        width = int(shift[-1]) + K
        bank = np.zeros((width, p1 - p0), dtype=np.float32)  # (width, g)
        for j, s in enumerate(shift):
            bank[s:s + K, j] = taps[p0 + j]
        view = np.lib.stride_tricks.as_strided(xpad[offsets[p0]:], shape=(n_q, width),
                                               strides=(M * 4, 4), writeable=False)  # (n_q, width)
        for q0 in range(0, n_q, q_block):
            out[q0:q0 + q_block, p0:p1] = view[q0:q0 + q_block] @ bank
    return out.reshape(-1)[:n_out]
