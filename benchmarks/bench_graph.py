"""Composing a 3-minute dance with the action graph, after the music features (goal: under 0.3 s),
and locking its feet (goal: at most 0.1 s).

Input: the held-out medley of training/evaluation/long_run.py (the six held-out tracks back to
back, cut at 180 s: 5,400 frames at 30 fps), its music features and pitch track computed once,
untimed. Timed, each REPEATS times after a warm-up: the traversal (training-free search over the
beats), the synthesis (time warp, placement, inertialization) and both together as
compose.compose_graph runs them, with the shipped graph (models/dance-graph). Also the graph's
load time and size, and the pitch tracker on the same song (it runs before composing, beside the
music features).
"""
from __future__ import annotations

import statistics
import time

import numpy as np

from benchmarks import timings

REPEATS = 5


def run() -> list[dict]:
    from dance_addon.core.choreography.compose import compose_graph
    from dance_addon.core.choreography.graph import load_graph
    from dance_addon.core.choreography.model_folders import shipped_graph_dirs
    from dance_addon.core.music import features as music_mod
    from dance_addon.core.music.pitch import f0
    from training.data.pairs import track_paths
    from training.evaluation.long_run import heldout_medley

    folders = shipped_graph_dirs()
    if not folders:
        return [{"what": "graph: no action graph ships (models/dance-graph); "
                         "build it with python -m training.graph.build"}]
    t0 = time.perf_counter()
    graph = load_graph(folders[0])
    load_s = time.perf_counter() - t0
    medley = heldout_medley()
    # the medley's audio, for the pitch tracker (the features are cached by long_run)
    paths = track_paths()
    audio = np.concatenate([music_mod.load_audio(paths[t]) for t in medley.tracks])
    audio = audio[:int(medley.seconds * music_mod.ANALYSIS_SR)]
    pitch_times = timings(lambda: f0(audio, music_mod.ANALYSIS_SR, medley.fps), 3)
    hz, beats = medley.f0_hz, medley.beat_times                  # the medley's own (cached) pitch and beats

    from dance_addon.core.choreography.compose import graph_data_cost
    from dance_addon.core.choreography.synthesis import synthesize
    from dance_addon.core.choreography.traversal import beat_grid, traverse

    n = len(medley.music)
    duration = (n - 1) / medley.fps
    grid = beat_grid(beats, duration)
    data_cost = graph_data_cost(graph, medley.music, hz, grid, medley.fps)
    path = traverse(graph, grid, duration, data_cost, seed=0)
    trav = timings(lambda: traverse(graph, grid, duration, data_cost, seed=0), REPEATS)
    synth = timings(lambda: synthesize(graph, path, grid, n, medley.fps), REPEATS)
    whole = timings(lambda: compose_graph(graph, medley.music, hz, beats, medley.fps, seed=0), REPEATS)
    size = sum(p.stat().st_size for p in folders[0].iterdir()) / 2 ** 20
    # foot locking of the 3-minute graph dance (the bake's default; goal 0.1 s)
    from dance_addon.core.motion.feet import lock_feet
    dance = compose_graph(graph, medley.music, hz, beats, medley.fps, seed=0)
    lock = timings(lambda: lock_feet(dance.rotvecs, dance.root, medley.fps), REPEATS)
    # the paper's motion features of 15,000 segments of 60 frames of a 40,000-frame motion (the build's load)
    from dance_addon.core.motion.features import segment_features_batch
    rng = np.random.default_rng(0)
    motion = np.cumsum(rng.normal(0.0, 0.005, (40_000, 20, 3)), axis=0)
    starts = rng.integers(0, len(motion) - 60, 15_000)
    feats = timings(lambda: segment_features_batch(motion, 30.0, np.stack([starts, starts + 60], 1)), 3)

    def row(what, ts, compare=None, ref=None):
        r = {"what": what, "min": min(ts), "median": statistics.median(ts), "unit": "s"}
        if compare:
            r["compare_to"], r["ratio"] = compare, statistics.median(ts) / statistics.median(ref)
        return r

    return [
        row("graph: motion features of 15,000 segments x 60 frames (the build's load)", feats),
        row("graph: pitch track (YIN) of a 180 s song", pitch_times),
        row("graph: traversal of a 180 s song (beam search over the beats)", trav),
        row("graph: synthesis of a 180 s song (warp, placement, inertialization)", synth),
        row("graph: compose a 180 s song after the music features (goal 0.3 s)", whole,
            "the goal, 0.3 s", [0.3]),
        row("feet: lock the feet of a 180 s dance (graph; goal 0.1 s)", lock, "the goal, 0.1 s", [0.1]),
        {"what": f"graph: {folders[0].name} loads in {load_s:.2f} s; {graph.n_segments} segments, "
                 f"{graph.edge_count()} edges, {size:.1f} MiB on disk; the 180 s dance has "
                 f"{len(path.segments)} moves"},
    ]
