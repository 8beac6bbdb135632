"""Beat Align Score: how well the dance's kinematic beats meet the music's beats.

Two published recipes, both defined in frames at 60 fps with sigma = 3 frames (0.05 s). Motions
at another rate are resampled linearly to 60 fps first; music beats are given in seconds and
rounded to the nearest 60 fps frame. Kinematic beats are the local minima of joint speed: the
moments the body comes to a (near) stop.

- Bailando (Li et al. 2022, `utils/metrics_new.py` / `beat_align_score.py`: calc_db, BA):
  speed[i] = mean over joints of |x[i+1] - x[i]| (i = 0..T-2, the step *leaving* frame i),
  smoothed by a Gaussian of sigma 5 frames; kinematic beats are its strict local minima.
  Score = mean over MUSIC beats (those before frame T-1) of exp(-d^2 / (2 sigma^2)), d the
  frame distance to the nearest kinematic beat. "Does every music beat get a motion beat?"
  This is the number the project quotes as "beat alignment" (`bas_bailando`).
- FACT (Li et al. 2021, AI Choreographer, mint `tools/calculate_beat_scores.py`:
  motion_peak_onehot, alignment_score): envelope[i] = sum over joints of |x[i] - x[i-1]|
  (the step *arriving* at frame i, envelope[0] = 0), no smoothing; kinematic beats are
  minima over +-10 frames. Score = mean over KINEMATIC beats of exp(-d^2 / (2 sigma^2)), d to
  the nearest music beat before frame T. "Does every motion beat land on a music beat?"
  Reported as `bas_fact`.

A dance with no kinematic beat scores 0 in both (FACT returns 0; Bailando's code would fail).
"""
from __future__ import annotations

import numpy as np
from scipy.signal import argrelextrema

from dance_addon.core.motion import beatalign as core_beatalign

from .joints import at_fps, check_fps, check_positions

BEAT_FPS = core_beatalign.BEAT_FPS           # frame rate the recipes are defined at
SIGMA_FRAMES = core_beatalign.SIGMA_FRAMES   # score tolerance, frames at 60 fps (0.05 s), both recipes
BAILANDO_SMOOTHING = core_beatalign.SMOOTHING  # Gaussian sigma on the speed curve, frames at 60 fps
FACT_ORDER = 10          # a FACT kinematic beat is the minimum over +-10 frames at 60 fps


def kinematic_beats_bailando(positions: np.ndarray, fps: float) -> np.ndarray:
    """Bailando's kinematic beats: frame indices (at 60 fps) of the smoothed mean-speed minima.

    positions: (T, J, 3) metres (J = 20 or 24). Frame i means the step from frame i to i+1.
    """
    return _bailando_beats(_at_beat_fps(positions, fps))


def kinematic_beats_fact(positions: np.ndarray, fps: float) -> np.ndarray:
    """FACT's kinematic beats: frame indices (at 60 fps) of the speed-envelope minima over +-10 frames.

    positions: (T, J, 3) metres (J = 20 or 24). Frame i means the step from frame i-1 to i.
    """
    return _fact_beats(_at_beat_fps(positions, fps))


def beat_align_score_bailando(positions: np.ndarray, fps: float, music_beats_s) -> float:
    """Bailando's Beat Align Score in [0, 1]: mean over music beats of the Gaussian hit by the nearest kinematic beat.

    positions: (T, J, 3) metres at `fps`; music_beats_s: beat times in seconds (music_beats_librosa).
    """
    pos = _at_beat_fps(positions, fps)                   # (T60, J, 3)
    music = _music_frames_or_fail(music_beats_s, len(pos) - 1)
    return _mean_nearest_gaussian(music, _bailando_beats(pos))


def beat_align_score_fact(positions: np.ndarray, fps: float, music_beats_s) -> float:
    """FACT's beat alignment in [0, 1]: mean over kinematic beats of the Gaussian hit by the nearest music beat.

    positions: (T, J, 3) metres at `fps`; music_beats_s: beat times in seconds.
    """
    pos = _at_beat_fps(positions, fps)                   # (T60, J, 3)
    music = _music_frames_or_fail(music_beats_s, len(pos))
    return _mean_nearest_gaussian(_fact_beats(pos), music)


def music_beat_frames(music_beats_s, n_frames: int) -> np.ndarray:
    """Music beat times (seconds) -> sorted unique frame indices at 60 fps within [0, n_frames)."""
    beats = np.asarray(music_beats_s, dtype=np.float64).reshape(-1)
    if not np.isfinite(beats).all():
        raise ValueError("music beats: every beat time must be a finite number of seconds")
    frames = np.unique(np.rint(beats * BEAT_FPS).astype(np.int64))
    return frames[(frames >= 0) & (frames < n_frames)]


def _at_beat_fps(positions: np.ndarray, fps: float) -> np.ndarray:
    return at_fps(check_positions(positions, min_frames=3), check_fps(fps), BEAT_FPS)


def _bailando_beats(pos60: np.ndarray) -> np.ndarray:
    """The add-on's own implementation (numpy only), so training and Blender report the same score."""
    return core_beatalign.kinematic_beats(pos60, BEAT_FPS)


def _fact_beats(pos60: np.ndarray) -> np.ndarray:
    envelope = np.zeros(len(pos60))                                       # (T60,)
    envelope[1:] = np.linalg.norm(np.diff(pos60, axis=0), axis=-1).sum(axis=1)
    return argrelextrema(envelope, np.less, order=FACT_ORDER)[0]


def _music_frames_or_fail(music_beats_s, n_frames: int) -> np.ndarray:
    frames = music_beat_frames(music_beats_s, n_frames)
    if len(frames) == 0:
        raise ValueError(f"music beats: none falls within the dance ({n_frames / BEAT_FPS:.2f} s); "
                         "pass the beat times (seconds) of the music the dance was made for")
    return frames


def _mean_nearest_gaussian(queries: np.ndarray, targets: np.ndarray) -> float:
    """Mean over `queries` of exp(-d^2 / (2 sigma^2)), d = frame distance to the nearest target; 0 if no target."""
    if len(queries) == 0 or len(targets) == 0:
        return 0.0
    d = np.abs(queries[:, None] - targets[None, :]).min(axis=1).astype(np.float64)  # (Q,)
    return float(np.exp(-d ** 2 / (2.0 * SIGMA_FRAMES ** 2)).mean())


def music_beats_librosa(samples: np.ndarray, sr: int) -> np.ndarray:
    """Beat times in seconds: librosa's beat tracker on the percussive part (librosa.effects.hpss).

    samples: (N,) mono or (channels, N) audio, any float scale; sr: sample rate in Hz.
    """
    import librosa

    y = np.asarray(samples, dtype=np.float32)
    if y.ndim == 2:
        y = y.mean(axis=0)
    if y.ndim != 1 or y.size < sr:
        raise ValueError(f"music: expected at least one second of (N,) or (channels, N) audio at {sr} Hz, "
                         f"got shape {np.shape(samples)}")
    if not np.isfinite(y).all():
        raise ValueError("music: the audio holds non-finite samples")
    percussive = librosa.effects.percussive(y)
    _, beats = librosa.beat.beat_track(y=percussive, sr=sr, units="time")
    return np.asarray(beats, dtype=np.float64)
