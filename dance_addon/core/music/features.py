"""Music features for the dance generator: one extractor for training and for Blender.

Public API
- `load_audio(path, sr=ANALYSIS_SR, backend='auto')` -> (n,) float32 mono samples
  (decoding and resampling: core/music/audio.py).
- `extract_features(samples, sr, fps=30)` -> `MusicFeatures` with `matrix` (T, F)
  float32, `beats` (frame indices), `tempo` (BPM), `fps` and more.
- `FEATURE_COLUMNS` names every column of `matrix`, in order; `FEATURES_VERSION`
  changes whenever any column's meaning changes (a trained model stores it and
  refuses features of another version).
- `AudioError`: the one error type for unusable audio.

Pipeline (numpy only; each step states which librosa 0.11 function it reproduces)
1. Mono (mean over channels), resampled to ANALYSIS_SR = 22050 Hz by our own
   polyphase windowed-sinc (core/music/audio.py), identical for every decoder.
2. Frame-synchronous spectra: frame t is centred exactly on sample round(t * sr / fps),
   i.e. on time t / fps (to 1 / (2 * 22050) s) for ANY fps, 29.97 included; no
   resampling of feature rows. T = 1 + floor(n * fps / sr) frames, as librosa with
   hop = sr / fps. STFT: n_fft 2048, periodic Hann, zero padding (core/music/spectral.py).
3. Per frame: mel power (128 Slaney bands, 0 to 11025 Hz) -> dB (ref 1, top_db 80 over
   the whole track) -> MFCC (20, DCT-II ortho) = librosa.feature.mfcc; onset envelope =
   librosa.onset.onset_strength (mean aggregation) at hop sr / fps; chroma (12) =
   librosa.feature.chroma_stft with tuning=0 (no tuning estimate), max-normalised;
   RMS = librosa.feature.rms (2048-sample frames); onset peaks =
   librosa.onset.onset_detect on that envelope.
4. Beats independent of fps: a second onset envelope at librosa's default rate (hop
   512 at 22050 Hz, median aggregation, exactly what librosa.beat.beat_track computes
   by default), tempo by librosa.feature.tempo, beats by librosa's Ellis DP
   (tightness 100) (core/music/beats.py); when the off-beats are as strong as the beats and
   twice the tempo is at most 210 BPM, the tempo is doubled and the beats tracked again
   (librosa's prior halves fast music). Beat times are rounded to the nearest fps frame.
5. Our additions: bass onset (onset envelope of the mel bands peaking below 200 Hz:
   kick drums), spectral flux (positive mel-power change relative to the two frames'
   total power, in [0, 1): hit size independent of loudness), beat phase and bar phase
   as sin/cos of 2 pi * position, downbeat one-hot. Which beat of a 4-beat bar is the
   downbeat is chosen by core.music.beats.downbeat_phase (bass onset plus chroma change at
   the beats, both from the hop-512 spectra, so it does not depend on fps either;
   see its limits: an honest heuristic assuming a steady 4/4).

Column conventions
- onset_env, bass_onset: mean positive dB rise per band per frame (>= 0).
- mfcc_00..mfcc_19: librosa's MFCC scale (mfcc_00 is about -1131 for digital silence).
- chroma_C..chroma_B: [0, 1], max-normalised per frame, 0 in silence.
- onset_peak, beat, downbeat: 1.0 on the event's frame, else 0.0.
- rms: linear amplitude of the 22050 Hz mono signal (0 in silence).
- beat_phase_sin/cos: angle 2 pi * (time since the last beat / beat interval); before
  the first and after the last beat the phase runs on at the median interval. With no
  beats (e.g. silence) both are 0. bar_phase_sin/cos: the same over a 4-beat bar, the
  downbeat at angle 0; 0 and 0 when there are fewer than two bars of beats.
Silence gives zero onset/energy/chroma/flux columns, no beats, tempo 0.0, no NaN.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .audio import ANALYSIS_SR, AudioError, load_audio, resample, to_mono
from .beats import (
    downbeat_phase,
    estimate_tempo,
    onset_strength,
    peak_near,
    pick_onsets,
    prefer_double_tempo,
    track_beats,
)
from .spectral import (
    chroma_filterbank,
    dct_matrix,
    frames,
    mel_filterbank,
    normalize_max,
    pad_centred,
    power_spectrum,
    power_to_db,
    rms,
)

__all__ = ["ANALYSIS_SR", "AudioError", "FEATURES_VERSION", "FEATURE_COLUMNS", "MusicFeatures", "beat_times_of",
           "extract_features", "load_audio"]

FEATURES_VERSION = "music-1"
N_FFT = 2048
N_MELS = 128
N_MFCC = 20
BEAT_HOP = 512  # librosa's default hop at 22050 Hz: the beat tracker's frame rate is 43.07 Hz
BASS_MAX_HZ = 200.0
METER = 4
CHROMA_NAMES = ("C", "Cs", "D", "Ds", "E", "F", "Fs", "G", "Gs", "A", "As", "B")
FEATURE_COLUMNS: tuple[str, ...] = (
    ("onset_env",)
    + tuple(f"mfcc_{i:02d}" for i in range(N_MFCC))
    + tuple(f"chroma_{c}" for c in CHROMA_NAMES)
    + ("onset_peak", "beat", "rms", "bass_onset", "spectral_flux",
       "beat_phase_sin", "beat_phase_cos", "downbeat", "bar_phase_sin", "bar_phase_cos")
)
_COL = {name: i for i, name in enumerate(FEATURE_COLUMNS)}
_FRAME_CHUNK = 512  # STFT frames per batch (bounds memory for long tracks)


@dataclass(frozen=True)
class MusicFeatures:
    """Frame-synchronous music features; frame t covers time t / fps seconds."""

    matrix: np.ndarray  # (T, F) float32, columns FEATURE_COLUMNS
    fps: float
    tempo: float  # BPM, 0.0 when no beat was found
    beats: np.ndarray  # (K,) int64 frame indices of beats
    beat_times: np.ndarray  # (K,) float64 seconds, before rounding to frames
    downbeats: np.ndarray  # (D,) int64 frame indices of estimated bar starts
    version: str = FEATURES_VERSION
    columns: tuple[str, ...] = FEATURE_COLUMNS

    def column(self, name: str) -> np.ndarray:
        """(T,) view of one named column."""
        return self.matrix[:, _COL[name]]


def beat_frames_of(matrix: np.ndarray, column: int) -> np.ndarray:
    """(K,) int64 frames a feature matrix (T, F) marks as beats in its `column` (> 0.5: the
    'beat' column is 1 at the tracker's beat frames, 0 elsewhere). The column is an argument
    because a model's features may be another list of columns than this module's."""
    return np.flatnonzero(np.asarray(matrix)[:, column] > 0.5)


def beat_times_of(matrix: np.ndarray, fps: float) -> np.ndarray:
    """The beats (seconds) marked in a feature matrix's 'beat' column: its frames / fps (the
    tracker's beat times rounded to frames, for a matrix kept without its MusicFeatures)."""
    return beat_frames_of(matrix, _COL["beat"]) / float(fps)


def _spectra(padded: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mel power (T, 128), chroma power (T, 12) and RMS (T,) of the frames centred on
    centres (T,) in the signal held by padded (from pad_centred), in chunks of frames."""
    bank_t = np.ascontiguousarray(np.concatenate(
        [mel_filterbank(ANALYSIS_SR, N_FFT, N_MELS), chroma_filterbank(ANALYSIS_SR, N_FFT)]).T)  # (1025, 140)
    banded = np.empty((centres.size, bank_t.shape[1]), dtype=np.float32)
    energy = np.empty(centres.size, dtype=np.float32)
    for s in range(0, centres.size, _FRAME_CHUNK):
        chunk = frames(padded, centres[s:s + _FRAME_CHUNK], N_FFT)  # (C, 2048)
        banded[s:s + _FRAME_CHUNK] = power_spectrum(chunk) @ bank_t  # (C, 140): both banks in one product
        energy[s:s + _FRAME_CHUNK] = rms(chunk)
    return banded[:, :N_MELS], banded[:, N_MELS:], energy


def _check_rate(value: float, what: str, source: str) -> float:
    value = float(value)
    if not (np.isfinite(value) and value > 0):
        raise AudioError(f"{source}: {what} must be a positive number, got {value}")
    return value


def extract_features(samples: np.ndarray, sr: float, fps: float = 30.0, *, source: str = "samples") -> MusicFeatures:
    """Features of (n,) or (n, channels) samples at sr Hz, one row per frame at fps.

    source names the audio in error messages (e.g. the file path).
    """
    sr = _check_rate(sr, "the sample rate (Hz)", source)
    fps = _check_rate(fps, "the frame rate (fps)", source)
    y = to_mono(samples, source=source)
    if y.size == 0:
        raise AudioError(f"{source}: there are no audio samples; give at least one sample")
    y = resample(y, sr, ANALYSIS_SR, source=source)
    n = y.size
    n_frames = 1 + int(np.floor(n * fps / ANALYSIS_SR))
    centres = np.rint(np.arange(n_frames) * ANALYSIS_SR / fps).astype(np.int64)
    hop = ANALYSIS_SR / fps

    padded = pad_centred(y, N_FFT)
    mel, chroma_power, energy = _spectra(padded, centres)
    mel_db = power_to_db(mel)  # (T, 128)
    onset = onset_strength(mel_db, N_FFT, hop)
    bass = onset_strength(mel_db[:, :_n_bass_bands()], N_FFT, hop)
    chroma = normalize_max(chroma_power)

    tempo, beat_times, bar_start = _track_beats(padded, n)
    beats = np.unique(np.clip(np.rint(beat_times * fps).astype(np.int64), 0, n_frames - 1))

    matrix = np.zeros((n_frames, len(FEATURE_COLUMNS)), dtype=np.float32)
    matrix[:, _COL["onset_env"]] = onset
    matrix[:, _COL["mfcc_00"]:_COL["mfcc_00"] + N_MFCC] = mel_db @ dct_matrix(N_MELS, N_MFCC)
    matrix[:, _COL["chroma_C"]:_COL["chroma_C"] + 12] = chroma
    matrix[pick_onsets(onset, ANALYSIS_SR, hop), _COL["onset_peak"]] = 1.0
    matrix[beats, _COL["beat"]] = 1.0
    matrix[:, _COL["rms"]] = energy
    matrix[:, _COL["bass_onset"]] = bass
    matrix[:, _COL["spectral_flux"]] = _relative_flux(mel, N_FFT, hop)

    downbeats = _fill_phases(matrix, beat_times, bar_start, fps)
    return MusicFeatures(matrix=matrix, fps=fps, tempo=float(tempo), beats=beats, beat_times=beat_times,
                         downbeats=downbeats)


def _track_beats(padded: np.ndarray, n: int) -> tuple[float, np.ndarray, int]:
    """Beats of the n-sample signal in padded (pad_centred) from spectra at hop 512,
    whatever the fps: (tempo in BPM, 0.0 without beats; beat times (K,) in s; index of
    the first downbeat among the beats, in [0, METER))."""
    centres = np.arange(1 + n // BEAT_HOP, dtype=np.int64) * BEAT_HOP
    mel, chroma_power, _ = _spectra(padded, centres)
    mel_db = power_to_db(mel)
    env = onset_strength(mel_db, N_FFT, BEAT_HOP, aggregate="median")
    frame_rate = ANALYSIS_SR / BEAT_HOP
    tempo = estimate_tempo(env, ANALYSIS_SR, BEAT_HOP)
    beat_frames = track_beats(env, frame_rate, tempo)
    if prefer_double_tempo(env, beat_frames, tempo):
        tempo *= 2
        beat_frames = track_beats(env, frame_rate, tempo)
    if beat_frames.size == 0:
        return 0.0, beat_frames / frame_rate, 0
    bass = onset_strength(mel_db[:, :_n_bass_bands()], N_FFT, BEAT_HOP)
    bar_start = downbeat_phase(peak_near(bass, beat_frames), _chroma_change(normalize_max(chroma_power), beat_frames),
                               METER)
    return tempo, beat_frames / frame_rate, bar_start


def _fill_phases(matrix: np.ndarray, beat_times: np.ndarray, bar_start: int, fps: float) -> np.ndarray:
    """Write the beat-phase, bar-phase and downbeat columns of (T, F) matrix in place;
    return the downbeat frames (D,). Columns stay 0 where they cannot be estimated."""
    n_frames = matrix.shape[0]
    beat_pos = _beat_position(np.arange(n_frames) / fps, beat_times)  # (T,) beats since the first one
    if beat_pos is None:
        return np.zeros(0, dtype=np.int64)
    matrix[:, _COL["beat_phase_sin"]] = np.sin(2 * np.pi * beat_pos)
    matrix[:, _COL["beat_phase_cos"]] = np.cos(2 * np.pi * beat_pos)
    if beat_times.size < 2 * METER:
        return np.zeros(0, dtype=np.int64)
    at_beat = np.clip(np.rint(beat_times * fps).astype(np.int64), 0, n_frames - 1)
    downbeats = np.unique(at_beat[bar_start::METER])
    bar = (beat_pos - bar_start) / METER
    matrix[downbeats, _COL["downbeat"]] = 1.0
    matrix[:, _COL["bar_phase_sin"]] = np.sin(2 * np.pi * bar)
    matrix[:, _COL["bar_phase_cos"]] = np.cos(2 * np.pi * bar)
    return downbeats


@lru_cache(maxsize=1)
def _n_bass_bands() -> int:
    """How many of the lowest mel bands peak below BASS_MAX_HZ (kick drums, bass)."""
    peaks_hz = np.argmax(mel_filterbank(ANALYSIS_SR, N_FFT, N_MELS), axis=1) * (ANALYSIS_SR / N_FFT)
    return int(np.count_nonzero(peaks_hz < BASS_MAX_HZ))


def _relative_flux(mel: np.ndarray, n_fft: int, hop: float) -> np.ndarray:
    """(T, B) mel power -> (T,) sum of positive rises / total power of both frames, aligned
    like the onset envelope."""
    out = np.zeros(mel.shape[0], dtype=np.float32)
    delay = 1 + int(n_fft // (2 * hop))
    if mel.shape[0] <= delay:
        return out
    prev, cur = mel[:-1].astype(np.float64), mel[1:].astype(np.float64)
    rise = np.maximum(cur - prev, 0.0).sum(axis=1)
    total = cur.sum(axis=1) + prev.sum(axis=1)
    flux = np.where(total > 1e-10, rise / np.maximum(total, 1e-10), 0.0)
    out[delay:] = flux[: mel.shape[0] - delay]
    return out


def _beat_position(times: np.ndarray, beat_times: np.ndarray) -> np.ndarray | None:
    """(T,) continuous beat count at each time (integer at beats); None with < 2 beats."""
    if beat_times.size < 2:
        return None
    period = float(np.median(np.diff(beat_times)))
    k = np.clip(np.searchsorted(beat_times, times, side="right") - 1, 0, beat_times.size - 2)
    inside = (beat_times[k + 1] - beat_times[k])
    pos = k + (times - beat_times[k]) / inside
    before = times < beat_times[0]
    after = times >= beat_times[-1]
    pos[before] = (times[before] - beat_times[0]) / period
    pos[after] = beat_times.size - 1 + (times[after] - beat_times[-1]) / period
    return pos


def _chroma_change(chroma: np.ndarray, at: np.ndarray) -> np.ndarray:
    """(K,) cosine distance between the mean chroma of the beat before and after each beat."""
    csum = np.concatenate([np.zeros((1, chroma.shape[1])), np.cumsum(chroma, axis=0, dtype=np.float64)])
    edges = np.concatenate([[0], at, [chroma.shape[0]]])
    seg = (csum[edges[1:]] - csum[edges[:-1]]) / np.maximum(np.diff(edges), 1)[:, None]  # (K + 1, 12)
    a, b = seg[:-1], seg[1:]
    cos = (a * b).sum(axis=1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
    return 1.0 - cos
