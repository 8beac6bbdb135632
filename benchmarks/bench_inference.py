"""Per-frame cost of the shipped generator: torch eager vs onnxruntime float32 vs 8-bit vs
4-bit (LSTM weights only, `training.int4`), at 1 and 2 threads; N variations in one batch
against one; the paper-size (2 x 1024) network for comparison; and how far the 8-bit and 4-bit
motion strays from float32.

The model is the shipped one's training checkpoint, runs/dance-lstm/checkpoint.pt (`make
train` writes it; runs/ is not in git, and the shipped model folder holds only the 8-bit graph,
so the float32 reference cannot come from it), or the checkpoint given. Without one, a randomly
initialised model of the shipped architecture (models/dance-lstm/model.json's generator_config,
seed 0) stands in, with a printed note: the cost does not depend on the weights' values, but the
quality figures only mean something on trained weights. With a checkpoint, the quality check
dances to the first minute of the held-out medley (`training.evaluation.long_run.heldout_medley`);
otherwise to random features.

Each timing is `RUNS` runs of `STEPS` frames (`TORCH_RUNS` for slow torch eager); min and median
per frame are reported. N variations against one are timed in `PAIRED_RUNS` interleaved pairs
(one dance, then the batch) and the ratio is the median of the pairs' ratios, so that a slow
spell of a shared machine lands on both sides of the ratio rather than on one. With 2 threads, a
model of the shipped size runs its rollout as two one-thread sessions, each dancing half of a
batch (`load_model`; one dance runs on one). The onnxruntime figures go through
`DanceModel.generate_frames` (the add-on's own path: the music coding, ~1 ms in all, and a
rollout call per chunk of `CHUNK_FRAMES` frames), so they include the per-call overhead the add-on
pays. Goals: at most 0.25 ms/frame at 2 threads for the shipped model, and 8 variations for at
most 2x the time of one.

Run: `python -m benchmarks.bench_inference [--checkpoint runs/dance-lstm/checkpoint.pt]`
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from benchmarks import timings
from dance_addon.core.choreography.lstm import DanceModel, load_model
from dance_addon.core.motion.motion_code import FRAME_DIM
from dance_addon.core.motion.rotations import quat_conjugate, quat_multiply, quat_to_rotvec, rotvec_to_quat
from dance_addon.core.motion.skeleton import MOTION_DIM
from training.evaluation.dynamics import mean_joint_speed
from training.evaluation.joints import evaluation_positions
from training.export import export_model
from training.model import DanceGenerator, GeneratorConfig, count_step_macs
from training.train import load_checkpoint

F = 32                 # music feature columns of the stand-in model when there is no shipped model.json
STEPS = 900
RUNS = 5
VARIATIONS = 8
TORCH_RUNS = 3
PAIRED_RUNS = 9
THREADS = (1, 2)
SONG_FRAMES = 5400     # 3 minutes at 30 fps
PRECISIONS = ("float32", "int8", "int4")
QUALITY_FRAMES = 1800  # one minute at 30 fps
REPO = Path(__file__).resolve().parent.parent
SHIPPED_CHECKPOINT = REPO / "runs" / "dance-lstm" / "checkpoint.pt"
SHIPPED_MODEL = REPO / "models" / "dance-lstm" / "model.json"


def shipped_config() -> GeneratorConfig:
    """The shipped model's architecture (its model.json), or the default one without it."""
    if SHIPPED_MODEL.is_file():
        return GeneratorConfig.from_dict(json.loads(SHIPPED_MODEL.read_text())["generator_config"])
    return GeneratorConfig(music_dim=F)


def paired_timings(one: Callable[[], object], many: Callable[[], object], runs: int) -> tuple[list[float], list[float]]:
    """Wall-clock seconds of `runs` interleaved pairs of calls (one, then many), after a warm-up of each."""
    one(), many()
    a, b = [], []
    for _ in range(runs):
        a += timings(one, 1, warmup=False)
        b += timings(many, 1, warmup=False)
    return a, b


def _row(what: str, threads: int, times: list[float], frames: int, ref_ms: float | None = None) -> dict[str, Any]:
    ms = [t / frames * 1e3 for t in times]
    med = statistics.median(ms)
    return {"what": f"{what}, {threads} thread{'s' if threads > 1 else ''}", "min": min(ms), "median": med,
            "unit": "ms/frame",
            "compare_to": f"torch eager, {threads} thread{'s' if threads > 1 else ''}" if ref_ms else None,
            "ratio": med / ref_ms if ref_ms else None}


def _torch_steps(model: DanceGenerator, codes: torch.Tensor, start: torch.Tensor) -> np.ndarray:
    z = torch.zeros(1, model.cfg.latent_dim)
    with torch.no_grad():
        prev, state, out = start[None], None, []
        for t in range(len(codes)):
            prev, state = model.step(prev, codes[t][None], z, state)
            out.append(prev[0])
    return torch.stack(out).numpy()                          # (T, D) normalised


def _angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-frame, per-joint rotation angle between rotation vectors a and b: (T, 20, 3) -> (T, 20)."""
    d = quat_multiply(quat_conjugate(rotvec_to_quat(a.astype(np.float64))), rotvec_to_quat(b.astype(np.float64)))
    return np.degrees(np.linalg.norm(quat_to_rotvec(d), axis=-1))


def _normalised(dm: DanceModel, rotvecs: np.ndarray) -> np.ndarray:
    return (rotvecs.reshape(len(rotvecs), MOTION_DIM) - dm.motion_mean[:MOTION_DIM]) / dm.motion_std[:MOTION_DIM]


def _info(what: str) -> dict[str, Any]:
    """A row that is a note, not a timing."""
    return {"what": what}


def _export(model: DanceGenerator, folder: Path, precision: str, norm: dict[str, Any],
            rng: np.random.Generator) -> Path:
    f = model.cfg.music_dim
    return export_model(model, folder, fps=30.0, features_version="bench",
                        feature_columns=[f"f{i}" for i in range(f)], norm=norm,
                        start_poses=rng.standard_normal((4, FRAME_DIM)),
                        provenance={"weights": "benchmark"}, licence="MIT", model_version="bench",
                        precision=precision).parent


def run(checkpoint: Path | None = None) -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    notes = []
    if checkpoint is None and SHIPPED_CHECKPOINT.exists():
        checkpoint = SHIPPED_CHECKPOINT
    elif checkpoint is None:
        notes.append(_info(f"no {SHIPPED_CHECKPOINT} (run `make train`): random-init weights, so the "
                           "int8/int4 quality rows say little about the shipped model"))
    if checkpoint is None:
        model = DanceGenerator(shipped_config()).eval()                        # the shipped architecture
        f = model.cfg.music_dim
        norm = {"motion_mean": np.zeros(FRAME_DIM), "motion_std": np.full(FRAME_DIM, 0.3),
                "music_mean": np.zeros(f), "music_std": np.ones(f)}
    else:
        model, ck = load_checkpoint(checkpoint)
        norm = ck["norm"]
    cfg = model.cfg
    music = rng.standard_normal((STEPS, cfg.music_dim))
    weights = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("coder"))
    rows = [_info(f"step of {'random-init' if checkpoint is None else checkpoint} model: "
                  f"{count_step_macs(cfg) / 1e6:.1f} M MACs, {weights * 4 / 2**20:.1f} MiB float32 weights"), *notes]
    with tempfile.TemporaryDirectory() as tmp:
        folders = {}
        for precision in PRECISIONS:
            folders[precision] = _export(model, Path(tmp) / precision, precision, norm, rng)
            size = sum(f.stat().st_size for f in folders[precision].iterdir()) / 2**20
            rows.append(_info(f"model folder size, {precision}: {size:.1f} MiB"))

        for threads in THREADS:
            torch.set_num_threads(threads)
            dm = load_model(folders["float32"], threads=threads)
            codes = torch.from_numpy(dm.code_music(music))
            start = torch.from_numpy(dm.start_poses[0])
            ref = _row("torch eager (nn.LSTM), one step per call", threads,
                       timings(lambda: _torch_steps(model, codes, start), TORCH_RUNS), STEPS)
            rows.append(ref)
            for precision in PRECISIONS:
                dm = load_model(folders[precision], threads=threads)
                rows.append(_row(f"onnxruntime {precision}, DanceModel.generate_frames", threads,
                                 timings(lambda: dm.generate_frames(music, [0]), RUNS), STEPS, ref["median"]))
        for precision in PRECISIONS:
            dm = load_model(folders[precision], threads=2)
            t_one, t_many = paired_timings(lambda: dm.generate_frames(music, [0]),
                                           lambda: dm.generate_frames(music, list(range(VARIATIONS))), PAIRED_RUNS)
            one = _row(f"onnxruntime {precision}, 1 dance", 2, t_one, STEPS)
            many = _row(f"onnxruntime {precision}, {VARIATIONS} variations in one batch", 2, t_many, STEPS)
            many.update(compare_to=f"1 dance, {precision} (median of {PAIRED_RUNS} paired ratios)",
                        ratio=statistics.median(m / o for o, m in zip(t_one, t_many)))
            rows += [one, many]
        paper = DanceGenerator(replace(cfg, lstm_hidden=1024)).eval()
        dm = load_model(_export(paper, Path(tmp) / "paper", "int8", norm, rng), threads=2)
        macs = count_step_macs(paper.cfg) / 1e6
        rows.append(_row(f"onnxruntime int8, paper-size LSTM (1024 units, {macs:.1f} M MACs)", 2,
                         timings(lambda: dm.generate_frames(music, [0]), RUNS), STEPS))
        dm = load_model(folders["int8"], threads=2)
        song = rng.standard_normal((SONG_FRAMES, cfg.music_dim))
        rows.append(_row(f"onnxruntime int8, whole 3-min song ({SONG_FRAMES} frames, music coding included)", 2,
                         timings(lambda: dm.generate_frames(song, [0]), 2), SONG_FRAMES))

        # quality: the same seed, latents at zero, 8-bit and 4-bit vs float32 over the frames
        if checkpoint is None:
            long_music = rng.standard_normal((QUALITY_FRAMES, cfg.music_dim))
        else:
            from training.evaluation.long_run import heldout_medley
            long_music = heldout_medley().music[:QUALITY_FRAMES]
        f32 = load_model(folders["float32"])
        a = f32.generate(long_music, seed=0, temperature=0.0)
        speed = mean_joint_speed(evaluation_positions(a), f32.fps)
        for precision in PRECISIONS[1:]:
            q = load_model(folders[precision])
            b = q.generate(long_music, seed=0, temperature=0.0)
            diff = np.abs(_normalised(f32, a) - _normalised(q, b))              # (T, 60)
            ang = _angle_deg(a, b)                                              # (T, 20)
            ratio = mean_joint_speed(evaluation_positions(b), q.fps) / speed
            for n in (300, QUALITY_FRAMES):
                rows.append(_info(f"{precision} vs float32 after {n} autoregressive steps: "
                                  f"max abs {diff[:n].max():.4f}, mean abs {diff[:n].mean():.5f} (normalised units); "
                                  f"joint angle mean {ang[:n].mean():.3f} deg, max {ang[:n].max():.3f} deg, "
                                  f"at step {n}: mean {ang[n - 1].mean():.3f} deg"
                                  + (f"; mean joint speed {precision}/float32 {ratio:.3f}"
                                     if n == QUALITY_FRAMES else "")))
    torch.set_num_threads(max(THREADS))
    return rows


def main() -> None:
    from benchmarks.__main__ import print_rows

    p = argparse.ArgumentParser(description="Per-frame inference cost and 8-/4-bit quality of the generator.")
    p.add_argument("--checkpoint", type=Path, help=f"a training checkpoint (default: {SHIPPED_CHECKPOINT} if it "
                                                   "exists, else a random-init model of the shipped size)")
    print_rows(run(p.parse_args().checkpoint))


if __name__ == "__main__":
    main()
