"""Training throughput of the paper-size generator on this CPU: frames per second of one
optimiser step (forward, backward, AdamW) at the default window and batch, teacher-forced,
phase 1 at full ramp (acLSTM cycles) and phase 2 (long free-running stretches), on synthetic
aligned windows (throughput does not depend on the data's values)."""
from __future__ import annotations

import statistics

import numpy as np
import torch

from benchmarks import timings
from dance_addon.core.motion.skeleton import MOTION_DIM
from training.model import DanceGenerator, GeneratorConfig
from training.train import PairedWindows, TrainConfig, window_loss

F = 43
REPEATS = 3


def run() -> list[dict]:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    motions = [rng.normal(size=(600, MOTION_DIM)).astype(np.float32) for _ in range(4)]
    musics = [rng.normal(size=(600, F)).astype(np.float32) for _ in range(4)]
    data = PairedWindows.from_rotvecs(motions, musics)
    model = DanceGenerator(GeneratorConfig(music_dim=F))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    gen = torch.Generator().manual_seed(0)
    cfg = TrainConfig()
    frames = cfg.batch_size * (cfg.window - 1)
    rows = []
    phase1 = f"phase 1, {cfg.gt_frames} ground truth / {cfg.self_frames} self-fed"
    phase2 = f"phase 2, {cfg.free_gt_frames} ground truth / {cfg.free_self_frames} self-fed"
    for label, step in (("teacher-forced", 0), (phase1, cfg.ramp_steps), (phase2, cfg.free_from_step)):
        def one_step():
            motion, music, style = data.sample(cfg.batch_size, cfg.window, gen)
            loss = window_loss(model, motion, music, style, step, cfg, gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        t = timings(one_step, REPEATS)
        rows.append({"what": f"training step, paper size, batch {cfg.batch_size} x {cfg.window} frames, {label}",
                     "unit": "s", "min": min(t), "median": statistics.median(t)})
        rows.append({"what": f"training throughput, {label}: {frames / statistics.median(t):.0f} frames/s"})
    return rows


if __name__ == "__main__":
    from benchmarks.__main__ import print_rows

    print_rows(run())
