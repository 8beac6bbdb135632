"""`make eval`: every baseline through the same metrics on the same held-out music, one table.

    python -m training.evaluation.run [--model FOLDER ...] [--out results] [--seed 0]

What is measured (all on the held-out split of training/data/split.json):
- The held-out pairs: training.data.pairs.build_pairs("heldout", per_clip=2), each a held-out
  CMU clip warped onto a held-out track's beats (see pairs.py for how and why).
- Baselines, one table row each, every one on the same stretches of the same held-out tracks:
  "real mocap": the pairs' own motion on their own music (the ground truth of the pairs);
  "random real clips": for each pair, a held-out clip at its captured timing (not warped), from
  a seeded random start, of the same length, on the pair's music, chosen among the clips that
  were not made for that track (never the pair's own clip): real motion that ignores the music;
  one row per generator: every model folder under models/ (a folder with model.json) and every
  --model FOLDER, run as the add-on runs it: compose.lstm_dance(model, pair's music features,
  seed = --seed + the pair's index, so the pairs get different seeds and thus styles, as users
  trying seeds would), as many frames as the pair: the network's rotations and travel, the pelvis
  at the height that keeps the lowest foot on the floor (skeleton.grounded_pelvis_height), as the
  add-on's default "ground" floor does.
- Reference statistics (FID_k/FID_g, diversity, mean joint speed for the freezing windows,
  rotation ranges) come from the TRAINING pairs' motion, never from the held-out pairs, as in the
  literature (AIST++/Bailando/EDGE compare against the training set's features).
- Beat Align Score (Bailando's and FACT's recipes, training/evaluation/beats.py) against librosa
  beats of the music (Bailando's recipe for music beats). "BAS own - mismatched": per dance,
  Bailando's score on its own music minus the mean of its scores on every other held-out track
  (that track's beats from its start, over the dance's length), averaged over the dances; about 0
  for a dance that ignores the music.

Outputs in --out: eval.md (the table), eval.json (every metric, the setup and the run time), and
per baseline for the first held-out pair: beats.png (music beats and kinematic beats over time),
speed.png (mean joint speed over the whole pair) and filmstrip.png (front-view stick figures).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from dance_addon.core.choreography.lstm import load_model
from training.evaluation import long_run, plots, realism
from training.evaluation.beats import beat_align_score_bailando, music_beat_frames
from training.evaluation.evaluate import Dance, ReferenceStats, evaluate_set

REPO = Path(__file__).resolve().parents[2]
MODELS_DIR = REPO / "models"
BASELINES_DIR = REPO / "baselines"      # generator baselines (make train-baseline), not offered by the add-on
REAL = "real mocap"
RANDOM = "random real clips"

# (row key, column title, number format): the columns of the printed table, in order
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("bas_bailando", "BAS Bailando", ".3f"),
    ("bas_fact", "BAS FACT", ".3f"),
    ("bas_gap", "BAS own - mismatched", "+.3f"),
    ("fid_k", "FID_k", ".1f"),
    ("fid_g", "FID_g", ".1f"),
    ("fid_r", "FID_r", ".1f"),          # in the dance recognizer's feature space (training/recognition/judge.py)
    ("style_acc", "style acc", ".2f"),  # share read by the recognizer as the genre asked for
    ("div_k", "Div_k", ".2f"),
    ("div_g", "Div_g", ".2f"),
    ("pfc", "PFC", ".3f"),
    ("foot_skate_cm_s", "foot skate cm/s", ".1f"),
    ("jerk_m_s3", "jerk m/s^3", ".0f"),
    ("speed_ratio_min", "speed ratio min", ".2f"),
    ("speed_ratio_max", "speed ratio max", ".2f"),
    ("frozen_fraction", "frozen", ".2f"),
    ("rotation_outside", "rot. outside", ".3f"),
    ("pose_diversity", "pose div.", ".2f"),
    ("planted_skate_cm_s", "planted skate cm/s", ".1f"),
    ("travel_m_min", "travel m/min", ".1f"),
)


@dataclass(frozen=True)
class HeldoutPair:
    """One held-out music-motion pair, with what every baseline needs of it.

    rotvecs: (T, 20, 3) radians; root_translation: (T, 3) metres; music: (T, F) music features
    at fps; beats_s: music beats (seconds from the pair's frame 0) the Beat Align Score uses;
    clip, track: the source clip and track names.
    """
    name: str
    clip: str
    track: str
    rotvecs: np.ndarray
    root_translation: np.ndarray
    music: np.ndarray
    beats_s: np.ndarray
    fps: float
    f0_hz: np.ndarray | None = None     # (T,) the music's pitch track (music.pitch.f0), for the graph method

    @property
    def frames(self) -> int:
        return len(self.rotvecs)


@dataclass(frozen=True)
class HeldoutSet:
    """The held-out pairs, every held-out track's beats (seconds from the track's start), and the
    music features the pairs carry (a generator must have been trained on the same)."""
    pairs: tuple[HeldoutPair, ...]
    track_beats: dict[str, np.ndarray]
    features_version: str
    feature_columns: tuple[str, ...]


@dataclass(frozen=True)
class SourceClip:
    """A held-out clip at its captured timing: rotvecs (T, 20, 3), root_translation (T, 3), fps."""
    name: str
    rotvecs: np.ndarray
    root_translation: np.ndarray
    fps: float


@dataclass(frozen=True)
class EvalResult:
    """rows: baseline name -> metrics (evaluate_set's keys plus bas_gap); dances: baseline ->
    its dances, in the order of the held-out pairs; seconds: wall time of the evaluation."""
    rows: dict[str, dict[str, float | int | None]]
    dances: dict[str, list[Dance]]
    seconds: float


# ------------------------------------------------------------------------------ baselines

def real_dances(heldout: HeldoutSet) -> list[Dance]:
    """The held-out pairs' own motion on their own music."""
    return [Dance.from_motion(p.rotvecs, p.root_translation, p.fps, p.beats_s, name=p.name) for p in heldout.pairs]


def random_clip_dances(heldout: HeldoutSet, clips: Sequence[SourceClip], seed: int = 0) -> list[Dance]:
    """For each pair, a seeded random stretch (same length) of a clip not made for its track, on its music."""
    made_for = {(p.clip, p.track) for p in heldout.pairs}
    rng = np.random.default_rng(seed)
    out = []
    for p in heldout.pairs:
        if any(abs(c.fps - p.fps) > 1e-9 for c in clips):
            raise ValueError(f"the source clips must be at the pairs' {p.fps:g} fps")
        eligible = [c for c in clips if c.name != p.clip and (c.name, p.track) not in made_for
                    and len(c.rotvecs) >= p.frames]
        if not eligible:
            raise ValueError(f"pair '{p.name}': no held-out clip of at least {p.frames} frames that was not made "
                             f"for track '{p.track}'; add held-out clips to training/data/split.json")
        c = eligible[rng.integers(len(eligible))]
        start = int(rng.integers(len(c.rotvecs) - p.frames + 1))
        cut = slice(start, start + p.frames)
        out.append(Dance.from_motion(c.rotvecs[cut], c.root_translation[cut], p.fps, p.beats_s,
                                     name=f"{c.name}[{start}:{start + p.frames}] on {p.track}"))
    return out


def model_dances(folder: Path, heldout: HeldoutSet, seed: int = 0) -> list[Dance]:
    """The model's dance on each pair's music features (as many frames as the pair, seed + the
    pair's index), as the add-on makes it (compose.lstm_dance: its own travel, pelvis grounded)."""
    from dance_addon.core.choreography.compose import lstm_dance

    model = load_model(folder)
    fps = heldout.pairs[0].fps
    if model.features_version != heldout.features_version or model.feature_columns != heldout.feature_columns:
        raise ValueError(f"model {folder}: trained on music features '{model.features_version}', the held-out "
                         f"pairs carry '{heldout.features_version}' (or other columns); re-train or re-export it")
    if abs(model.fps - fps) > 1e-9:
        raise ValueError(f"model {folder}: makes {model.fps:g} fps motion, the held-out pairs are at {fps:g} fps")
    out = []
    for i, p in enumerate(heldout.pairs):
        d = lstm_dance(model, p.music, seed=seed + i)
        out.append(Dance.from_motion(d.rotvecs, d.root, p.fps, p.beats_s, name=f"{folder.name} on {p.name}"))
    return out


def graph_dances(folder: Path, heldout: HeldoutSet, method: str = "graph", lstm: Path | None = None,
                 seed: int = 0) -> list[Dance]:
    """The action graph's dance (method "graph", or "guided" by the LSTM model folder `lstm`) on
    each pair's music, as the add-on makes it (compose.compose, seed + the pair's index), with its
    own root translation."""
    from dance_addon.core.choreography.compose import compose
    from dance_addon.core.choreography.graph import load_graph
    from dance_addon.core.music.features import beat_times_of

    graph = load_graph(folder)
    model = load_model(lstm) if lstm is not None else None
    out = []
    for i, p in enumerate(heldout.pairs):
        if p.f0_hz is None:
            raise ValueError(f"pair '{p.name}' carries no pitch track; the graph method needs one")
        d = compose(method, p.music, p.fps, beat_times_of(p.music, p.fps), f0_hz=p.f0_hz, graph=graph, model=model,
                    seed=seed + i)
        out.append(Dance.from_motion(d.rotvecs, d.root, p.fps, p.beats_s, name=f"{method} on {p.name}"))
    return out


def lstm_styles(folder: Path, n: int, seed: int = 0) -> list[str]:
    """The style each of the n dances of model_dances(folder, ..., seed) is asked for: the training
    clip the style seed + i picks (DanceModel.pick_style) was learned from."""
    model = load_model(folder)
    return [model.style_names[model.pick_style(seed + i)] for i in range(n)]


def graph_styles(folder: Path, n: int, method: str = "graph", lstm: Path | None = None, seed: int = 0) -> list[str]:
    """What each of the n dances of graph_dances(folder, ..., method, lstm, seed) is asked for: the
    graph genre seed + i picks (compose.pick_genre), or for "guided" the LSTM style that guides it."""
    if method == "guided":
        return lstm_styles(Path(lstm), n, seed)
    from dance_addon.core.choreography.compose import pick_genre
    from dance_addon.core.choreography.graph import load_graph

    graph = load_graph(folder)
    return [pick_genre(graph, seed + i) for i in range(n)]


def locked_dances(dances: Sequence[Dance]) -> list[Dance]:
    """The dances with their planted feet held (core/motion/feet.lock_feet, as the bake's default
    "feet locked"), on their own pelvis path."""
    from dance_addon.core.motion.feet import lock_feet

    out = []
    for d in dances:
        root = d.positions[:, 0]                                          # the pelvis (SMPL joint 0)
        locked = lock_feet(d.rotvecs, root, d.fps)
        out.append(Dance.from_motion(locked.rotvecs, root, d.fps, d.music_beats_s, name=f"{d.name}, feet locked"))
    return out


def find_graphs(models_dir: Path = MODELS_DIR) -> list[Path]:
    """Every folder directly under models_dir holding an action graph (graph.json), sorted by name."""
    return sorted(p.parent for p in Path(models_dir).glob("*/graph.json"))


def find_models(models_dir: Path = MODELS_DIR) -> list[Path]:
    """Every folder directly under models_dir holding a model.json, sorted by name."""
    return sorted(p.parent for p in Path(models_dir).glob("*/model.json"))


# --------------------------------------------------------------------------------- metrics

def beat_gap(dance: Dance, own_track: str, track_beats: dict[str, np.ndarray]) -> float:
    """Bailando's Beat Align Score on the dance's own music minus its mean over the other tracks.

    The other tracks' beats are taken from their start, over the dance's length; tracks with no
    beat within the dance are skipped.
    """
    n60 = int(round((len(dance.positions) - 1) / dance.fps * 60.0))      # Bailando's beat range, 60 fps frames
    own = beat_align_score_bailando(dance.positions, dance.fps, dance.music_beats_s)
    others = [beat_align_score_bailando(dance.positions, dance.fps, beats)
              for track, beats in sorted(track_beats.items())
              if track != own_track and len(music_beat_frames(beats, n60)) > 0]
    if not others:
        raise ValueError(f"dance '{dance.name}': no other held-out track has beats within its "
                         f"{len(dance.positions) / dance.fps:.1f} s to compare against")
    return own - float(np.mean(others))


def evaluate_baselines(heldout: HeldoutSet, baselines: dict[str, list[Dance]],
                       reference: ReferenceStats) -> dict[str, dict[str, float | int | None]]:
    """evaluate_set of each baseline plus 'bas_gap' (mean of beat_gap over its dances)."""
    rows = {}
    for name, dances in baselines.items():
        if len(dances) != len(heldout.pairs):
            raise ValueError(f"baseline '{name}': {len(dances)} dances for {len(heldout.pairs)} held-out pairs")
        row = evaluate_set(dances, reference)
        row["bas_gap"] = float(np.mean([beat_gap(d, p.track, heldout.track_beats)
                                        for d, p in zip(dances, heldout.pairs)]))
        rows[name] = row
    return rows


def run_evaluation(heldout: HeldoutSet, reference: ReferenceStats, clips: Sequence[SourceClip],
                   models: Sequence[Path], out_dir: Path, seed: int = 0,
                   graphs: Sequence[tuple[str, Path, str, Path | None]] = (), judge=None) -> EvalResult:
    """Every baseline through the metrics; writes the plots to out_dir (write_results writes the table).

    graphs: (row name, graph folder, method, LSTM folder or None) of each action-graph row.
    judge: a training.recognition.judge.StyleJudge with its reference features; it adds style_acc,
    style_prob, style_n and fid_r to every row, given what each dance was asked for (`asked`)."""
    if len(heldout.pairs) < 2:
        raise ValueError(f"need at least 2 held-out pairs, got {len(heldout.pairs)}")
    started = time.perf_counter()
    baselines = {REAL: real_dances(heldout), RANDOM: random_clip_dances(heldout, clips, seed)}
    # what each dance was asked for (a clip or a graph genre): real dances and random clips their own clip
    asked = {REAL: [p.clip for p in heldout.pairs], RANDOM: [d.name.split("[")[0] for d in baselines[RANDOM]]}
    for folder in models:
        name = Path(folder).name
        if name in baselines:
            name = str(folder)
        baselines[name] = model_dances(Path(folder), heldout)
        asked[name] = lstm_styles(Path(folder), len(heldout.pairs))
    for name, folder, method, lstm in graphs:
        baselines[name] = graph_dances(Path(folder), heldout, method, lstm)
        asked[name] = graph_styles(Path(folder), len(heldout.pairs), method, lstm)
    first = {name: dances[0] for name, dances in baselines.items()}
    # every method again with its planted feet held, as the bake does by default
    for name in [n for n in baselines if n not in (REAL, RANDOM)]:
        baselines[f"{name} + feet locked"] = locked_dances(baselines[name])
        asked[f"{name} + feet locked"] = asked[name]
    rows = evaluate_baselines(heldout, baselines, reference)
    if judge is not None:
        for name, dances in baselines.items():
            rows[name].update(judge.row(dances, asked[name]))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plots.plot_beats(out_dir / "beats.png", first, heldout.pairs[0].name)
    plots.plot_speed(out_dir / "speed.png", first, reference.mean_speed, heldout.pairs[0].name)
    plots.plot_filmstrip(out_dir / "filmstrip.png", first, heldout.pairs[0].name)
    return EvalResult(rows, baselines, time.perf_counter() - started)


# ----------------------------------------------------------------------------------- table

def format_table(rows: dict[str, dict[str, float | int | None]]) -> str:
    """The rows as one markdown table (baselines down, COLUMNS across; '-' for a missing value,
    values of 10^5 and more in exponent notation)."""
    head = ["baseline", "n"] + [title for _, title, _ in COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for name, row in rows.items():
        cells = [name, str(row["n_dances"])]
        for key, _, fmt in COLUMNS:
            v = row.get(key)
            cells.append("-" if v is None else format(v, ".2e" if abs(v) >= 1e5 else fmt))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def table_notes(rows: dict[str, dict[str, float | int | None]], n_reference: int,
                real_ranges: dict | None = None) -> str:
    """What the table's numbers are measured against (printed and written under the table).

    real_ranges: realism.real_clip_ranges(), whose human ranges are then quoted too.
    """
    row = next(iter(rows.values()))
    return (f"Reference statistics (FID, diversity, speed, rotation ranges): the {n_reference} training pairs' "
            f"motion; their own diversity is Div_k {row['div_k_ref']:.2f}, Div_g {row['div_g_ref']:.2f}. "
            "BAS: Beat Align Score against librosa beats (higher is better); own - mismatched: Bailando BAS on "
            "the dance's own music minus on the other held-out tracks. FID: lower is better. PFC: EDGE's "
            "physical foot contact x 10^4 (lower is better). Speed ratio: mean joint speed per 10 s window / "
            "the training pairs' mean; frozen: share of dances with a window under 0.25. Rot. outside: share "
            "of frames with a joint rotation outside the training pairs' range. "
            "Pose div.: mean distance between a dance's 2 s window averages of its pose (the distances between "
            "every pair of the 20 joints plus the pelvis height, metres; 0 for one held pose). Planted skate: "
            "mean horizontal speed of an ankle while it is within 4 cm of its own 5th-percentile height and "
            "moving vertically slower than 0.15 m/s. Travel: horizontal path length of the pelvis, smoothed "
            "with a Gaussian of sigma 0.25 s, per minute. FID_r: FID in the dance recognizer's feature space "
            "(make recognize, baselines/dance-recognizer; same reference). Style acc: share of dances the "
            "recognizer reads as the genre asked for (real pairs and random clips: their clip's genre; LSTM and "
            "guided: the genre of the clip the seed's style was learned from; graph: the genre the seed picks)."
            + ("" if real_ranges is None else " " + realism.format_ranges(real_ranges)))


def write_results(out_dir: Path, result: EvalResult, setup: dict, command: str,
                  long_rows: dict[str, dict] | None = None, long_table: str = "",
                  real_ranges: dict | None = None) -> str:
    """Write eval.md and eval.json (with the 3-minute table and rows, when given); returns the markdown text."""
    n_ref = int(setup["reference_pairs"])
    text = (f"# Evaluation on the held-out split\n\n`{command}`, {result.seconds:.0f} s.\n\n"
            f"{format_table(result.rows)}\n\n{table_notes(result.rows, n_ref, real_ranges)}\n")
    if long_table:
        text += f"\n## Three minutes\n\n{long_table}\n"
    Path(out_dir, "eval.md").write_text(text)
    Path(out_dir, "eval.json").write_text(json.dumps(
        {"command": command, "seconds": round(result.seconds, 2), "setup": setup,
         "rows": {k: {m: _json_number(v) for m, v in r.items()} for k, r in result.rows.items()},
         "long_run": {k: {m: _json_number(v) for m, v in r.items()} for k, r in (long_rows or {}).items()},
         "dances": {k: [d.name for d in ds] for k, ds in result.dances.items()}}, indent=1))
    return text


def _json_number(v):
    return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else v


# ------------------------------------------------------------------------------- real data

# the standing dances the human ranges of pose diversity, planted skate and travel come from
# (breakdance's floor work and flips are left out: a foot on the floor there is a spin, not a step)
REAL_RANGE_GENRES = ("cmu-salsa", "cmu-modern", "cmu-indian", "cmu-charleston", "cmu-lambada")


def real_dance_clips() -> list:
    """Every clip of REAL_RANGE_GENRES (held out or not), for realism.real_clip_ranges."""
    from training.data.clips import load_clips

    return [c for c in load_clips() if c.name.split("/")[0] in REAL_RANGE_GENRES]


def track_pitch(name: str, path: Path, fps: float = 30.0) -> np.ndarray:
    """A track's pitch track (music.pitch.f0 at fps, Hz, 0 unvoiced), cached beside its features."""
    from dance_addon.core.music import features as music_mod
    from dance_addon.core.music.pitch import f0
    from training.data.pairs import MUSIC_CACHE

    cached = MUSIC_CACHE / f"{name}-pitch-{fps:g}.npy"
    if cached.exists():
        return np.load(cached)
    hz = f0(music_mod.load_audio(path), music_mod.ANALYSIS_SR, fps).hz
    cached.parent.mkdir(parents=True, exist_ok=True)
    np.save(cached, hz)
    return hz


def load_heldout_data() -> tuple[HeldoutSet, list[SourceClip], list[Dance]]:
    """Build the held-out pairs and the training pairs from the clips and tracks (cached inputs).

    Returns the held-out set, the held-out clips at captured timing, and the training pairs as
    reference dances (motion only).
    """
    from training.data.clips import FPS, load_clips, load_split
    from training.data.pairs import build_pairs, split_clips

    heldout = paired_set("heldout", per_clip=2)
    clips = [SourceClip(c.name, c.rotvecs, c.root_translation, c.fps)
             for c in split_clips(load_clips(), load_split(), "heldout")]
    train_pairs, _ = build_pairs("train")
    reference = [Dance.from_motion(p.rotvecs, p.root_translation, FPS, name=p.name) for p in train_pairs]
    return heldout, clips, reference


def paired_set(split: str, per_clip: int, pitch: bool = True) -> HeldoutSet:
    """The music-motion pairs of a split ("heldout" or "train", training.data.pairs.build_pairs
    with per_clip) with their beats and (with `pitch`) pitch tracks, as `HeldoutSet`."""
    from dance_addon.core.music import features as music_mod
    from training.data.clips import FPS
    from training.data.pairs import build_pairs

    pairs, tracks = build_pairs(split, per_clip=per_clip)
    held = []
    for p in pairs:
        track = tracks[p.provenance["track"]]
        beats = track.librosa_beats - p.music_start
        beats = beats[(beats >= 0) & (beats < len(p.rotvecs) / FPS)]
        start = int(round(p.music_start * FPS))
        f0 = track_pitch(track.name, track.path)[start:start + len(p.music)] if pitch else None
        held.append(HeldoutPair(p.name, p.provenance["clip"], track.name, p.rotvecs, p.root_translation,
                                p.music, beats, FPS, f0))
    return HeldoutSet(tuple(held), {t.name: t.librosa_beats for t in tracks.values()},
                      music_mod.FEATURES_VERSION, tuple(music_mod.FEATURE_COLUMNS))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Evaluate the baselines and every model on the held-out split.")
    parser.add_argument("--model", type=Path, action="append", default=[],
                        help="an extra model folder (with model.json) to evaluate; repeatable")
    parser.add_argument("--models-dir", type=Path, default=MODELS_DIR,
                        help="every sub-folder with a model.json is evaluated (default: models/)")
    parser.add_argument("--baselines-dir", type=Path, default=BASELINES_DIR,
                        help="generator baselines, evaluated like the models (default: baselines/)")
    parser.add_argument("--out", type=Path, default=REPO / "results", help="folder for eval.md, eval.json and plots")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random-clip baseline")
    args = parser.parse_args(argv)
    command = " ".join(["python -m training.evaluation.run", *(sys.argv[1:] if argv is None else argv)]).strip()
    started = time.perf_counter()
    found = find_models(args.models_dir) + find_models(args.baselines_dir)
    for extra in args.model:
        if not (extra / "model.json").is_file():
            parser.error(f"--model {extra}: no model.json there; pass a folder written by training/export.py")
    print(f"model folders under {args.models_dir} and {args.baselines_dir}: "
          f"{', '.join(str(f) for f in found) or 'none'}")
    heldout, clips, reference_dances = load_heldout_data()
    print(f"held-out: {len(heldout.pairs)} pairs ({sum(p.frames for p in heldout.pairs) / 30 / 60:.1f} min) "
          f"on {len(heldout.track_beats)} tracks; reference: {len(reference_dances)} training pairs")
    reference = ReferenceStats.from_dances(reference_dances)
    from training.recognition.judge import load_judge
    judge = load_judge(reference_dances)        # trains baselines/dance-recognizer first when it is missing
    models = found + list(args.model)
    graphs = []
    for g in find_graphs(args.models_dir):
        graphs.append((f"{g.name} (graph)", g, "graph", None))
        lstms = find_models(args.models_dir)
        if lstms:
            graphs.append((f"{g.name} guided by {lstms[0].name}", g, "guided", lstms[0]))
    print(f"action graphs: {', '.join(n for n, *_ in graphs) or 'none'}")
    result = run_evaluation(heldout, reference, clips, models, args.out, args.seed, graphs, judge)
    long_rows, long_table = {}, ""
    if models:
        medley = long_run.heldout_medley()
        long_rows = {Path(m).name: long_run.long_run(Path(m), medley, reference) for m in models}
        for name, folder, method, lstm in graphs:
            long_rows[name] = long_run.long_run_graph(folder, medley, reference, method, lstm)
        long_table = long_run.format_long_table(long_rows, medley)
    total = time.perf_counter() - started
    result = EvalResult(result.rows, result.dances, total)
    setup = {"heldout_pairs": [p.name for p in heldout.pairs], "heldout_tracks": sorted(heldout.track_beats),
             "reference_pairs": len(reference_dances), "models": [str(m) for m in models],
             "seed": args.seed}
    ranges = realism.real_clip_ranges(real_dance_clips())
    write_results(args.out, result, setup, command, long_rows, long_table, ranges)
    print(format_table(result.rows))
    print(table_notes(result.rows, len(reference_dances), ranges))
    if long_table:
        print(long_table)
    print(f"wrote {args.out}/eval.md, eval.json, beats.png, speed.png, filmstrip.png in {total:.0f} s")


if __name__ == "__main__":
    main()
