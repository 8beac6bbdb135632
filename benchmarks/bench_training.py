"""Training throughput of the shipped generator's recipe on this CPU: frames per second of one
optimiser step (forward, backward, AdamW) at the default window and batch, teacher-forced and
with every input after the warm frames the network's own (scheduled sampling at full ramp), on
synthetic aligned windows (throughput does not depend on the data's values)."""
from __future__ import annotations

import statistics

import numpy as np
import torch

from benchmarks import timings
from dance_addon.core.motion.motion_code import FRAME_DIM
from training.model import DanceGenerator, GeneratorConfig
from training.train import NormStats, PairedWindows, TrainConfig, window_loss

F = 43
REPEATS = 3


def run() -> list[dict]:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    frames_ = [rng.normal(size=(600, FRAME_DIM)).astype(np.float32) for _ in range(4)]
    musics = [rng.normal(size=(600, F)).astype(np.float32) for _ in range(4)]
    for m in musics:                                                    # column 0: a beat every 15 frames
        m[:, 0] = 0.0
        m[::15, 0] = 1.0
    contacts = [rng.uniform(size=(600, 2)) < 0.5 for _ in range(4)]
    data = PairedWindows(frames_, musics, contacts, NormStats.compute(frames_, musics), beat_column=0)
    model = DanceGenerator(GeneratorConfig(music_dim=F))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    gen = torch.Generator().manual_seed(0)
    cfg = TrainConfig()
    stats = (torch.as_tensor(data.stats.motion_mean, dtype=torch.float32),
             torch.as_tensor(data.stats.motion_std, dtype=torch.float32))
    frames = cfg.batch_size * (cfg.window - 1)
    free = torch.zeros(cfg.batch_size, dtype=torch.bool)               # every free_every-th window free, as train()
    if cfg.free_every:
        free[cfg.free_every - 1::cfg.free_every] = True
    rows = []
    for label, step in (("teacher-forced", 0), ("own outputs fed back (full ramp)", cfg.ramp_steps)):
        def one_step():
            fr, music, co, style, beats = data.sample(cfg.batch_size, cfg.window, gen)
            eps = torch.randn(cfg.batch_size, cfg.window - 1, model.cfg.latent_dim, generator=gen)
            coin = torch.rand(cfg.batch_size, cfg.window - 1, generator=gen)
            loss, _ = window_loss(model, fr, music, co, style, beats, eps, coin, free, step, cfg, stats, 30.0)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        t = timings(one_step, REPEATS)
        rows.append({"what": f"training step, {model.cfg.lstm_layers} x {model.cfg.lstm_hidden} LSTM, batch "
                             f"{cfg.batch_size} x {cfg.window} frames, {label}",
                     "unit": "s", "min": min(t), "median": statistics.median(t)})
        rows.append({"what": f"training throughput, {label}: {frames / statistics.median(t):.0f} frames/s"})
    return rows


if __name__ == "__main__":
    from benchmarks.__main__ import print_rows

    print_rows(run())
