"""The three-minute check: does a generator keep dancing over a whole song?

The held-out tracks are about 30 s each, so the "song" is the six held-out tracks of
training/data/split.json played back to back (sorted by name) and cut at 180 s: one
audio signal, analysed once, as the add-on would analyse a 3-minute song. Each generator
dances to it with several seeds, run as the add-on runs it (`load_model(folder).generate`),
pelvis grounded; per dance:

- mean joint speed per 10-second window / the training pairs' mean joint speed (the issue's
  25 %-200 % band: below is freezing, above is exploding);
- the share of frames with a local joint rotation outside the ranges of the training pairs;
- the same speed ratios with the heading held still (the pelvis's turning removed, every other
  rotation kept): turning on the spot moves every joint, so a dancer that only spins would pass
  the first check with a frozen body; this one it fails. Also the mean turning rate.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from dance_addon.core.motion import motion_code
from dance_addon.core.music import features as music_mod
from dance_addon.core.choreography.lstm import load_model
from training.evaluation.dynamics import FREEZE_HIGH, FREEZE_LOW, freezing_windows, mean_joint_speed
from training.evaluation.evaluate import Dance, ReferenceStats

MEDLEY_SECONDS = 180.0
SEEDS = (0, 1, 2)


@dataclass(frozen=True)
class Medley:
    """The held-out tracks back to back: music features (T, F) at fps, and what went in."""
    music: np.ndarray
    fps: float
    tracks: tuple[str, ...]
    seconds: float


def heldout_medley(fps: float = 30.0, seconds: float = MEDLEY_SECONDS, cache_dir: Path | None = None) -> Medley:
    """Concatenate the held-out tracks' audio (looping the list if it is shorter than `seconds`),
    cut at `seconds` and extract the add-on's music features (cached in cache_dir)."""
    from training.data.clips import load_split
    from training.data.pairs import MUSIC_CACHE, track_paths

    names = tuple(sorted(load_split().heldout_tracks))
    cache = Path(cache_dir or MUSIC_CACHE) / f"heldout-medley-{seconds:g}s-{music_mod.FEATURES_VERSION}-{fps:g}.npz"
    if cache.exists():
        with np.load(cache) as z:
            return Medley(z["music"], fps, tuple(str(t) for t in z["tracks"]), seconds)
    paths = track_paths()
    need = int(round(seconds * music_mod.ANALYSIS_SR))
    parts, used, total, i = [], [], 0, 0
    while total < need:
        name = names[i % len(names)]
        audio = music_mod.load_audio(paths[name])                # mono at ANALYSIS_SR
        parts.append(audio)
        used.append(name)
        total += len(audio)
        i += 1
    samples = np.concatenate(parts)[:need]
    feats = music_mod.extract_features(samples, music_mod.ANALYSIS_SR, fps, source="held-out medley")
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, music=feats.matrix, tracks=np.array(used))
    return Medley(feats.matrix, fps, tuple(used), seconds)


def long_run(folder: Path, medley: Medley, reference: ReferenceStats,
             seeds: Sequence[int] = SEEDS) -> dict[str, float | int]:
    """One generator over the medley with each seed -> one table row."""
    model = load_model(folder)
    if abs(model.fps - medley.fps) > 1e-9:
        raise ValueError(f"model {folder}: makes {model.fps:g} fps motion, the medley is at {medley.fps:g} fps")
    ratios, held, speeds, outside, turning, failing = [], [], [], [], [], 0
    for seed in seeds:
        code = model.generate_code(medley.music, seed=seed)              # (T, 60)
        rotvecs = motion_code.decode(code)                                # (T, 20, 3), as generate()
        still = code.copy()
        still[:, 3 * motion_code.ROOT + 1] = 0.0                          # no heading change
        dance = Dance.grounded(rotvecs, medley.fps, name=f"{Path(folder).name} seed {seed}")
        still_dance = Dance.grounded(motion_code.decode(still), medley.fps)
        ratios.append(freezing_windows(dance.positions, dance.fps, reference.mean_speed).ratios)
        held.append(freezing_windows(still_dance.positions, dance.fps, reference.mean_speed).ratios)
        speeds.append(mean_joint_speed(dance.positions, dance.fps))
        failing += int(np.sum((ratios[-1] < FREEZE_LOW) | (ratios[-1] > FREEZE_HIGH)))
        turning.append(float(np.degrees(np.abs(code[1:, 3 * motion_code.ROOT + 1]).mean()) * medley.fps))
        if reference.rotation_range is not None:
            outside.append(reference.rotation_range.fraction_outside(rotvecs))
    r, h = np.concatenate(ratios), np.concatenate(held)
    return {"seeds": len(seeds), "windows": int(r.size), "windows_outside": failing,
            "ratio_min": float(r.min()), "ratio_median": float(np.median(r)), "ratio_max": float(r.max()),
            "held_ratio_min": float(h.min()), "held_ratio_median": float(np.median(h)),
            "turning_deg_s": float(np.mean(turning)),
            "mean_speed_m_s": float(np.mean(speeds)), "reference_speed_m_s": reference.mean_speed,
            "rotation_outside": float(np.mean(outside)) if outside else float("nan")}


def format_long_table(rows: dict[str, dict[str, float | int]], medley: Medley) -> str:
    """The rows as a markdown table, with one line saying what the medley is."""
    lines = [f"3-minute held-out medley ({' + '.join(medley.tracks)}, cut at {medley.seconds:g} s), "
             f"seeds {', '.join(str(s) for s in SEEDS)}; speed ratio = mean joint speed per 10 s window / "
             f"the training pairs' mean; the band is {FREEZE_LOW:.0%}-{FREEZE_HIGH:.0%}.", "",
             "| model | windows | outside band | ratio min | ratio median | ratio max | heading held: ratio min "
             "| heading held: median | turning deg/s | mean speed m/s | rot. outside |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['windows']} | {r['windows_outside']} | {r['ratio_min']:.2f} | "
                     f"{r['ratio_median']:.2f} | {r['ratio_max']:.2f} | {r['held_ratio_min']:.2f} | "
                     f"{r['held_ratio_median']:.2f} | {r['turning_deg_s']:.0f} | {r['mean_speed_m_s']:.2f} | "
                     f"{r['rotation_outside']:.3f} |")
    return "\n".join(lines)
