"""Training and inference of a recognizer; the trainer knows nothing about the model.

`train_model(model, sampler, fps, cfg)`: the model's input normalisation from `norm_windows`
random training windows, then `steps` AdamW steps on class-balanced random windows
(data.WindowSampler, time-stretched within 1 +- `stretch`, mirrored when `mirror`), calling
`model.loss(inputs, labels)`; learning rate: linear warm-up, then cosine decay to
lr * lr_final (`lr_at`). `predict` and `embed` run a trained model over windows in batches.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from .data import WindowSampler
from .features import stream_inputs

MAX_THREADS = 2          # the machine is shared: never more than two
# One thread by default: on a busy 2-core machine two threads spin against the other jobs (a
# training step of the pose stream took 544 ms with two threads and 46 ms with one).
DEFAULT_THREADS = 1


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 300
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup_steps: int = 20
    lr_final: float = 0.05
    stretch: float = 0.1            # tempo scaled by a factor within 1 +- stretch
    mirror: bool = True             # left-right mirrored windows (off for the salsa role: a lead's hold is sided)
    norm_windows: int = 1024        # random training windows the input normalisation is measured on
    seed: int = 0


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate at `step`: linear warm-up over warmup_steps, then cosine from lr to lr * lr_final."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = (step - cfg.warmup_steps) / max(cfg.steps - cfg.warmup_steps, 1)
    return cfg.lr * (cfg.lr_final + (1.0 - cfg.lr_final) * 0.5 * (1.0 + math.cos(math.pi * min(t, 1.0))))


def set_threads(threads: int = DEFAULT_THREADS) -> None:
    torch.set_num_threads(max(1, min(threads, MAX_THREADS)))


def to_tensors(inputs: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in inputs.items()}


def train_model(model, sampler: WindowSampler, fps: float, cfg: TrainConfig) -> dict:
    """Train `model` in place; returns {"seconds", "losses" (per step), "steps"}."""
    started = time.perf_counter()
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    windows, _ = sampler.sample(rng, cfg.norm_windows, cfg.stretch, cfg.mirror)
    model.set_normalisation(stream_inputs(windows, fps, model.inputs))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    model.train()
    losses = []
    for step in range(cfg.steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        windows, labels = sampler.sample(rng, cfg.batch_size, cfg.stretch, cfg.mirror)
        loss = model.loss(to_tensors(stream_inputs(windows, fps, model.inputs)), torch.from_numpy(labels))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    return {"seconds": time.perf_counter() - started, "losses": losses, "steps": cfg.steps}


@torch.no_grad()
def predict(model, windows: np.ndarray, fps: float, batch: int = 256) -> np.ndarray:
    """(N, C) class probabilities of windows (N, T, 20, 3)."""
    model.eval()
    out = [torch.softmax(model(to_tensors(stream_inputs(windows[i:i + batch], fps, model.inputs))), dim=1).numpy()
           for i in range(0, len(windows), batch)]
    return np.concatenate(out)


@torch.no_grad()
def embed(model, windows: np.ndarray, fps: float, batch: int = 256) -> np.ndarray:
    """(N, D) the model's features (model.embed) of windows (N, T, 20, 3)."""
    model.eval()
    out = [model.embed(to_tensors(stream_inputs(windows[i:i + batch], fps, model.inputs))).numpy()
           for i in range(0, len(windows), batch)]
    return np.concatenate(out)
