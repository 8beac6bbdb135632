"""Three minutes of music, samples to features: ours against the equivalent librosa pipeline.

Input: the first 180 s of the immich-memories-music tracks concatenated, as decoded
(48 kHz stereo float32). Both pipelines start from those samples:
- ours: dance_addon.core.music.features.extract_features (mix-down, our resampler to 22050 Hz,
  every feature column, beats).
- librosa: mix-down, librosa.resample (soxr_hq) to 22050 Hz, then onset_strength,
  mfcc, chroma_stft (tuning=0), rms (all at hop 735 = 30 fps) and beat_track (its
  default hop 512), i.e. the same quantities.
A second pair of rows starts from 22050 Hz mono samples (no resampling). Each is run
REPEATS times after one warm-up (librosa's numba compilation); min and median reported.
"""
from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np

from benchmarks import timings

REPEATS = 5
SECONDS = 180


def _music_48k() -> np.ndarray:
    import immich_memories_music
    import soundfile

    root = Path(immich_memories_music.__file__).parent / "tracks"
    parts, total = [], 0
    for path in sorted(root.rglob("*.opus"), key=lambda p: p.name):
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
        assert rate == 48000, (path, rate)
        parts.append(data)
        total += len(data)
        if total >= SECONDS * 48000:
            break
    return np.concatenate(parts)[: SECONDS * 48000]  # (8640000, 2)


def _librosa_features(y: np.ndarray, sr: int) -> None:
    import librosa

    mono = y.mean(axis=1) if y.ndim == 2 else y
    if sr != 22050:
        mono = librosa.resample(mono, orig_sr=sr, target_sr=22050, res_type="soxr_hq")
    hop = 735
    librosa.onset.onset_strength(y=mono, sr=22050, hop_length=hop)
    librosa.feature.mfcc(y=mono, sr=22050, hop_length=hop, n_mfcc=20)
    librosa.feature.chroma_stft(y=mono, sr=22050, hop_length=hop, tuning=0.0)
    librosa.feature.rms(y=mono, hop_length=hop)
    librosa.beat.beat_track(y=mono, sr=22050)


def run() -> list[dict]:
    from dance_addon.core.music.audio import resample
    from dance_addon.core.music.features import extract_features

    y48 = _music_48k()
    y22 = resample(y48.mean(axis=1), 48000, 22050)
    rows = []
    for label, y, sr in (("48 kHz stereo", y48, 48000), ("22.05 kHz mono", y22, 22050)):
        ours = timings(lambda: extract_features(y, sr, fps=30), REPEATS)
        theirs = timings(lambda: _librosa_features(y, sr), REPEATS)
        rows.append({"what": f"music features, {SECONDS} s {label}, librosa", "unit": "s", "min": min(theirs),
                     "median": statistics.median(theirs)})
        rows.append({"what": f"music features, {SECONDS} s {label}, ours", "unit": "s", "min": min(ours),
                     "median": statistics.median(ours), "compare_to": "librosa (row above)",
                     "ratio": min(ours) / min(theirs)})
    return rows
