"""Train the tiny generator of tests/test_generator.py for a few steps, alone or as one of the
processes of `torchrun --nproc_per_node=N`: `python tests/ddp_probe.py OUT`. Used by
tests/test_generator.py::test_two_gloo_processes_train_as_one."""
from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_generator import COLUMNS, TINY, VERSION, _data  # noqa: E402
from training.train import TrainConfig, train  # noqa: E402

if __name__ == "__main__":
    torch.set_num_threads(1)
    cfg = TrainConfig(window=16, batch_size=4, steps=3, ramp_steps=2, warm_frames=3, log_every=1, checkpoint_every=100)
    train(_data(), TINY, cfg, Path(sys.argv[1]), fps=30.0, features_version=VERSION, feature_columns=COLUMNS,
          progress=False)
