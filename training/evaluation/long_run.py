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
  the first check with a frozen body; this one it fails. Also the mean turning rate;
- the realism measures (realism.py) over the whole song, and pose diversity per minute (its
  lowest minute: a dance that slowly collapses into a loop shows it there).
The action graph's methods dance the same medley through compose.compose (`long_run_graph`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from dance_addon.core.choreography.lstm import load_model
from dance_addon.core.motion import motion_code
from dance_addon.core.motion.skeleton import grounded_pelvis_height
from dance_addon.core.music import features as music_mod
from training.evaluation import realism
from training.evaluation.dynamics import FREEZE_HIGH, FREEZE_LOW, freezing_windows, mean_joint_speed
from training.evaluation.evaluate import Dance, ReferenceStats

MEDLEY_SECONDS = 180.0
SEEDS = (0, 1, 2)


@dataclass(frozen=True)
class Medley:
    """The held-out tracks back to back: music features (T, F) at fps, its pitch track (T,) in Hz,
    and what went in."""
    music: np.ndarray
    fps: float
    tracks: tuple[str, ...]
    seconds: float
    f0_hz: np.ndarray

    @property
    def beat_times(self) -> np.ndarray:
        """Our beat tracker's beats (seconds), from the feature matrix's beat column."""
        return music_mod.beat_times_of(self.music, self.fps)


def heldout_medley(fps: float = 30.0, seconds: float = MEDLEY_SECONDS, cache_dir: Path | None = None) -> Medley:
    """Concatenate the held-out tracks' audio (looping the list if it is shorter than `seconds`),
    cut at `seconds` and extract the add-on's music features (cached in cache_dir)."""
    from training.data.clips import load_split
    from training.data.pairs import MUSIC_CACHE, track_paths

    names = tuple(sorted(load_split().heldout_tracks))
    from dance_addon.core.music.pitch import f0

    cache = Path(cache_dir or MUSIC_CACHE) / f"heldout-medley-{seconds:g}s-{music_mod.FEATURES_VERSION}-{fps:g}-p.npz"
    if cache.exists():
        with np.load(cache) as z:
            return Medley(z["music"], fps, tuple(str(t) for t in z["tracks"]), seconds, z["f0_hz"])
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
    hz = f0(samples, music_mod.ANALYSIS_SR, fps).hz
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, music=feats.matrix, tracks=np.array(used), f0_hz=hz)
    return Medley(feats.matrix, fps, tuple(used), seconds, hz)


def long_run(folder: Path, medley: Medley, reference: ReferenceStats,
             seeds: Sequence[int] = SEEDS) -> dict[str, float | int]:
    """One LSTM generator over the medley with each seed (all seeds in one batch), as the add-on
    makes it (compose.lstm_dances: its travel, the pelvis grounded) -> one table row."""
    from dance_addon.core.choreography.compose import lstm_dances

    model = load_model(folder)
    if abs(model.fps - medley.fps) > 1e-9:
        raise ValueError(f"model {folder}: makes {model.fps:g} fps motion, the medley is at {medley.fps:g} fps")
    dances = [(d.rotvecs, d.root) for d in lstm_dances(model, medley.music, list(seeds))]
    return dances_row(dances, medley.fps, reference)


def long_run_graph(folder: Path, medley: Medley, reference: ReferenceStats, method: str = "graph",
                   lstm: Path | None = None, seeds: Sequence[int] = SEEDS) -> dict[str, float | int]:
    """The action graph's method (graph, or guided by the LSTM folder `lstm`) over the medley with
    each seed, as the add-on makes it (compose.compose) -> one table row."""
    from dance_addon.core.choreography.compose import compose
    from dance_addon.core.choreography.graph import load_graph

    graph = load_graph(folder)
    model = load_model(lstm) if lstm is not None else None
    dances = []
    for seed in seeds:
        d = compose(method, medley.music, medley.fps, medley.beat_times, f0_hz=medley.f0_hz, graph=graph,
                    model=model, seed=seed)
        dances.append((d.rotvecs, d.root))
    return dances_row(dances, medley.fps, reference)


def dances_row(dances: Sequence[tuple[np.ndarray, np.ndarray]], fps: float,
               reference: ReferenceStats) -> dict[str, float | int]:
    """The row of a method's long dances, each (rotvecs (T, 20, 3), root (T, 3))."""
    ratios, held, speeds, outside, turning, failing = [], [], [], [], [], 0
    real = {k: [] for k in ("pose_diversity", "planted_skate_cm_s", "travel_m_min")}
    minute_div = []
    for rotvecs, root in dances:
        dance = Dance.from_motion(rotvecs, root, fps)
        heading, swing = motion_code.split_heading(np.asarray(rotvecs[:, 0], np.float64))
        still = np.array(rotvecs, np.float64, copy=True)
        still[:, 0] = motion_code.join_heading(np.zeros(len(still)), swing)      # no turning
        still_root = np.zeros_like(root)
        still_root[:, 1] = grounded_pelvis_height(still)
        still_dance = Dance.from_motion(still, still_root, fps)
        ratios.append(freezing_windows(dance.positions, fps, reference.mean_speed).ratios)
        held.append(freezing_windows(still_dance.positions, fps, reference.mean_speed).ratios)
        speeds.append(mean_joint_speed(dance.positions, fps))
        failing += int(np.sum((ratios[-1] < FREEZE_LOW) | (ratios[-1] > FREEZE_HIGH)))
        turning.append(float(np.degrees(np.abs(np.diff(np.unwrap(heading))).mean()) * fps))
        if reference.rotation_range is not None:
            outside.append(reference.rotation_range.fraction_outside(rotvecs))
        for k, v in realism.realism(dance.positions, fps).items():
            real[k].append(v)
        minute = int(60 * fps)
        starts = range(0, len(rotvecs) - minute + 1, minute) if len(rotvecs) >= minute else [0]
        minute_div.append(min(realism.pose_diversity(dance.positions[a:a + minute], fps) for a in starts))
    r, h = np.concatenate(ratios), np.concatenate(held)
    return {"seeds": len(dances), "windows": int(r.size), "windows_outside": failing,
            "ratio_min": float(r.min()), "ratio_median": float(np.median(r)), "ratio_max": float(r.max()),
            "held_ratio_min": float(h.min()), "held_ratio_median": float(np.median(h)),
            "turning_deg_s": float(np.mean(turning)),
            "mean_speed_m_s": float(np.mean(speeds)), "reference_speed_m_s": reference.mean_speed,
            "rotation_outside": float(np.mean(outside)) if outside else float("nan"),
            **{k: float(np.mean(v)) for k, v in real.items()},
            "pose_diversity_worst_minute": float(np.mean(minute_div))}


def format_long_table(rows: dict[str, dict[str, float | int]], medley: Medley) -> str:
    """The rows as a markdown table, with one line saying what the medley is."""
    lines = [f"3-minute held-out medley ({' + '.join(medley.tracks)}, cut at {medley.seconds:g} s), "
             f"seeds {', '.join(str(s) for s in SEEDS)}; speed ratio = mean joint speed per 10 s window / "
             f"the training pairs' mean; the band is {FREEZE_LOW:.0%}-{FREEZE_HIGH:.0%}.", "",
             "| model | windows | outside band | ratio min | ratio median | ratio max | heading held: ratio min "
             "| heading held: median | turning deg/s | mean speed m/s | rot. outside | pose div. | pose div. worst "
             "minute | planted skate cm/s | travel m/min |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['windows']} | {r['windows_outside']} | {r['ratio_min']:.2f} | "
                     f"{r['ratio_median']:.2f} | {r['ratio_max']:.2f} | {r['held_ratio_min']:.2f} | "
                     f"{r['held_ratio_median']:.2f} | {r['turning_deg_s']:.0f} | {r['mean_speed_m_s']:.2f} | "
                     f"{r['rotation_outside']:.3f} | {r['pose_diversity']:.2f} | "
                     f"{r['pose_diversity_worst_minute']:.2f} | "
                     f"{r['planted_skate_cm_s']:.1f} | {r['travel_m_min']:.1f} |")
    return "\n".join(lines)
