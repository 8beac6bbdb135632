"""Time-warp a dance clip so that its kinematic beats land on a song's beats.

The CMU mocap has no music. To build honest music-motion pairs, each clip is re-timed onto a real
track: motion beats (local minima of joint speed) are matched in order to music beats, allowing a
motion beat or a music beat to be skipped when their spacing disagrees, and the clip is resampled
along the piecewise-linear time map through the matched pairs. The local speed change is bounded
(MAX_STRETCH), so the dance keeps its human dynamics; the measure of the result is the beat
alignment score of the pairs (training.data.pairs).
"""
from __future__ import annotations

import numpy as np

MAX_STRETCH = 1.35  # the warped motion plays at most this much faster or slower than captured


def match_beats(motion_beats: np.ndarray, music_beats: np.ndarray,
                max_stretch: float = MAX_STRETCH) -> list[tuple[float, float]]:
    """Pairs (music time, motion time), both increasing, matching beats in order.

    motion_beats and music_beats are times in seconds. From each matched pair the next one is the
    (music beat, motion beat) among the next few of each whose interval ratio is closest to 1, and
    within [1/max_stretch, max_stretch]; when none is, the music beat is skipped.
    """
    motion_beats = np.asarray(motion_beats, dtype=np.float64)
    music_beats = np.asarray(music_beats, dtype=np.float64)
    if len(motion_beats) < 2 or len(music_beats) < 2:
        return []
    pairs = [(music_beats[0], motion_beats[0])]
    i = 0                      # index of the anchor's music beat
    anchor = motion_beats[0]   # the anchor's motion time (a motion beat, or a point between beats)
    lo, hi = np.log(1.0 / max_stretch), np.log(max_stretch)
    while i < len(music_beats) - 1:
        ahead = motion_beats[motion_beats > anchor + 1e-9][:3]
        best = None
        for di in (1, 2):
            if i + di >= len(music_beats):
                continue
            d_music = music_beats[i + di] - music_beats[i]
            for dj, t_motion in enumerate(ahead):
                r = np.log((t_motion - anchor) / d_music)
                if lo <= r <= hi:
                    cost = abs(r) + 0.05 * (di + dj - 1)   # prefer not skipping beats
                    if best is None or cost < best[0]:
                        best = (cost, i + di, t_motion)
        if best is None:
            if len(ahead) == 0:
                break
            # no beat fits within the stretch bound: go on to the next music beat at the captured speed
            i, anchor = i + 1, anchor + (music_beats[i + 1] - music_beats[i])
        else:
            _, i, anchor = best
        pairs.append((music_beats[i], anchor))
    return pairs


def warp_positions(pairs: list[tuple[float, float]], n_frames: int, fps: float,
                   motion_duration: float) -> np.ndarray:
    """Motion time (seconds) to show at each music frame k (time k / fps), along the matched pairs.

    Before the first and after the last pair the clip plays at the mean rate of the matched part.
    Frames whose motion time falls outside [0, motion_duration] are NaN (no motion there).
    """
    t = np.arange(n_frames) / fps
    if len(pairs) < 2:
        out = t.copy()
    else:
        mus, mot = np.array(pairs).T
        rate = (mot[-1] - mot[0]) / (mus[-1] - mus[0])
        out = np.interp(t, mus, mot)
        out = np.where(t < mus[0], mot[0] + (t - mus[0]) * rate, out)
        out = np.where(t > mus[-1], mot[-1] + (t - mus[-1]) * rate, out)
    out[(out < 0) | (out > motion_duration)] = np.nan
    return out
