"""The whole bake of a 3-minute song in headless Blender, step by step, and its memory.

The song: 180 s of immich-memories-music tracks concatenated and written to a WAV, placed as a
sound strip at frame 1 of a 30 fps scene; the rig: the code-built canonical dancer (20 mapped
bones). Each method is baked: `graph` (the shipped action graph, models/dance-graph; the
default) and `lstm` (a randomly initialised paper-size generator exported in 8 bits: the cost
does not depend on the weights' values). Steps as bake.py runs them: plan (decode with aud,
model or graph load, checks), features, composing (the LSTM's generation, or the graph's pitch
track, traversal and synthesis), resampling and rig posing, keying. Peak memory is measured in
a fresh process: its maximum resident size after one bake (of the default method), above what
it held once bpy was imported and the scene built (Blender's own). Each step's min and median
over REPEATS bakes.

Variations: the whole bake of VARIATIONS dances of the song in one pass (bake.BakeRequest's
variations: the song analysed once, the LSTM's dances as one batch, each dance posed and keyed as
its own action) against the bake of one, per method; the issue's goal is a ratio of at most 2.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPEATS = 3
SECONDS = 180
VARIATIONS = 4


def _song(path: Path) -> None:
    import immich_memories_music
    import soundfile

    root = Path(immich_memories_music.__file__).parent / "tracks"
    parts, total = [], 0
    for p in sorted(root.rglob("*.opus"), key=lambda p: p.name):
        data, rate = soundfile.read(str(p), dtype="float32", always_2d=True)
        parts.append(data)
        total += len(data)
        if total >= SECONDS * rate:
            break
    soundfile.write(str(path), np.concatenate(parts)[: SECONDS * rate], rate)


def _model(folder: Path) -> Path:
    import torch

    from dance_addon.core.motion.motion_code import FRAME_DIM
    from dance_addon.core.music import features as music
    from training.export import export_model
    from training.model import DanceGenerator, GeneratorConfig

    torch.manual_seed(0)
    f = len(music.FEATURE_COLUMNS)
    rng = np.random.default_rng(0)
    norm = {"motion_mean": np.zeros(FRAME_DIM), "motion_std": np.full(FRAME_DIM, 0.3),
            "music_mean": np.zeros(f), "music_std": np.ones(f)}
    return export_model(DanceGenerator(GeneratorConfig(music_dim=f)).eval(), folder, fps=30.0,
                        features_version=music.FEATURES_VERSION, feature_columns=music.FEATURE_COLUMNS,
                        norm=norm, start_poses=rng.normal(size=(4, FRAME_DIM)),
                        provenance={"weights": "random init, benchmark"}, licence="MIT",
                        model_version="bench", precision="int8").parent


def _status_mib(field: str) -> float:
    """VmRSS (now) or VmHWM (peak since the last reset) of this process, in MiB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"/proc/self/status has no {field}")


def _reset_peak() -> None:
    """Make the kernel's peak resident size (VmHWM) start again from the current size."""
    Path("/proc/self/clear_refs").write_text("5")


def _scene(bpy, song: Path):
    from dance_addon.blender import character

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    scene.sequence_editor_create().strips.new_sound("song", str(song), channel=1, frame_start=1)
    character.build_dancer("Dancer")
    return scene


def _one_bake_memory(song: str, model: str) -> dict:
    """In this (fresh) process: resident memory once Blender and the scene are up, and after a bake."""
    os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="dance-bench-"))
    import bpy

    from dance_addon.blender import bake

    scene = _scene(bpy, Path(song))
    _reset_peak()
    before = _status_mib("VmRSS")
    bake.bake(scene, bake.BakeRequest("Dancer", "song", Path(model), seed=0))
    return {"before": before, "after": _status_mib("VmHWM")}


def run() -> list[dict]:
    os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="dance-bench-"))
    import bpy

    from dance_addon.blender import bake

    tmp = Path(tempfile.mkdtemp(prefix="dance-bench-bake-"))
    _song(tmp / "song.wav")
    model = _model(tmp / "model")
    rows = []
    for method in ("graph", "lstm"):
        steps: dict[str, list[float]] = {k: [] for k in ("plan", "features+composing+posing", "keying", "total")}
        many = []
        for _ in range(REPEATS):              # one and VARIATIONS in turn, so a busy moment hits both alike
            scene = _scene(bpy, tmp / "song.wav")
            t0 = time.perf_counter()
            plan = bake.plan_bake(scene, bake.BakeRequest("Dancer", "song", model, seed=0, method=method))
            t1 = time.perf_counter()
            result = bake.compute_bake(plan)
            t2 = time.perf_counter()
            bake.apply_bake(plan, result)
            t3 = time.perf_counter()
            steps["plan"].append(t1 - t0)
            steps["features+composing+posing"].append(t2 - t1)
            steps["keying"].append(t3 - t2)
            steps["total"].append(t3 - t0)
            scene = _scene(bpy, tmp / "song.wav")
            t0 = time.perf_counter()
            bake.bake(scene, bake.BakeRequest("Dancer", "song", model, seed=0, method=method, variations=VARIATIONS))
            many.append(time.perf_counter() - t0)
        frames = plan.frame_count
        rows += [{"what": f"bake ({method}) of a {SECONDS} s song ({frames} frames, 20 bones), {name}", "unit": "s",
                  "min": min(v), "median": statistics.median(v)} for name, v in steps.items()]
        rows.append({"what": f"bake ({method}) of a {SECONDS} s song, {VARIATIONS} variations in one pass (goal: "
                             f"<= 2 x one)", "unit": "s", "min": min(many), "median": statistics.median(many),
                     "compare_to": "one variation (total above)",
                     "ratio": statistics.median(many) / statistics.median(steps["total"])})
    child = subprocess.run([sys.executable, "-m", "benchmarks.bench_bake", "--memory", str(tmp / "song.wav"),
                            str(model)], capture_output=True, text=True, check=True)
    mem = json.loads(child.stdout.strip().splitlines()[-1])
    rows.append({"what": f"bake: peak resident memory {mem['after'] - mem['before']:.0f} MiB above Blender's own "
                         f"({mem['before']:.0f} MiB with the scene loaded; one bake in a fresh process)"})
    return rows


if __name__ == "__main__":
    if sys.argv[1:2] == ["--memory"]:
        print(json.dumps(_one_bake_memory(*sys.argv[2:4])))
    else:
        from benchmarks.__main__ import print_rows

        print_rows(run())
