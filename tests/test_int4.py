"""4-bit export: the MatMulNBits packing round-trips, and a small model exported in int4
loads through the add-on's loader, runs, and stays close to its float32 export."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from dance_addon.core.choreography.lstm import load_model
from dance_addon.core.motion.motion_code import FRAME_DIM
from training.export import export_model
from training.int4 import pack_int4, unpack_int4
from training.model import DanceGenerator, GeneratorConfig, MusicCoderConfig

F = 8
COLUMNS = tuple(f"col{i}" for i in range(F))
# LSTM input 32 + hidden 64 = 96 rows: three 32-blocks; the 16-wide encoder is not quantised
SMALL = GeneratorConfig(music_dim=F, enc_hidden=(32, 32), lstm_hidden=64, dec_hidden=(32, 32),
                        coder=MusicCoderConfig(channels=8, dilations=(1, 2)))


@pytest.mark.parametrize("k, block_size", [(96, 32), (100, 32), (40, 16), (300, 128)])
def test_packing_round_trips_within_half_a_step(k, block_size):
    rng = np.random.default_rng(k)
    w = rng.normal(0.0, 0.1, (k, 24)) + rng.normal(0.0, 0.05, (1, 24))   # (K, N), off-centre columns
    w[:block_size, 3] = 0.0                                               # one all-zero block
    b, scales, zp = pack_int4(w, block_size)
    n_blocks = -(-k // block_size)
    assert b.shape == (24, n_blocks, block_size // 2) and b.dtype == np.uint8
    assert scales.shape == (24 * n_blocks,) and scales.dtype == np.float32
    assert zp.shape == (24 * -(-n_blocks // 2),) and zp.dtype == np.uint8
    back = unpack_int4(b, scales, zp, k)
    assert back.shape == w.shape
    # numpy reference of the 4-bit step: (block max - block min, both widened to 0) / 15
    pad = np.zeros((n_blocks * block_size, 24))
    pad[:k] = w
    blocks = pad.reshape(n_blocks, block_size, 24)
    step = (np.maximum(blocks.max(axis=1), 0) - np.minimum(blocks.min(axis=1), 0)) / 15   # (nb, N)
    step_per_row = np.repeat(step, block_size, axis=0)[:k]                                  # (K, N)
    err = np.abs(back - w)
    assert (err <= step_per_row / 2 * (1 + 1e-5) + 1e-7).all()
    assert np.array_equal(back[:block_size, 3], np.zeros(block_size))    # zero stays exactly zero
    assert err.max() > 0                                                  # it did quantise


def test_int4_export_loads_runs_and_stays_close_to_float32(tmp_path):
    torch.manual_seed(0)
    model = DanceGenerator(SMALL).eval()
    with torch.no_grad():                                      # trained-like scale: weights ~ U(-0.3, 0.3)
        for name, p in model.named_parameters():
            if name.startswith("lstm."):
                p.mul_(2.4)
    rng = np.random.default_rng(1)
    common = dict(fps=30.0, features_version="test", feature_columns=COLUMNS,
                  norm={"motion_mean": np.zeros(FRAME_DIM), "motion_std": np.full(FRAME_DIM, 0.3),
                        "music_mean": np.zeros(F), "music_std": np.ones(F)},
                  start_poses=rng.normal(size=(4, FRAME_DIM)),
                  provenance={"data": "random init"}, licence="MIT", model_version="test")
    f32 = load_model(export_model(model, tmp_path / "f32", precision="float32", **common).parent)
    i4_folder = export_model(model, tmp_path / "i4", precision="int4", **common).parent
    i4 = load_model(i4_folder)
    assert i4.meta["precision"] == "int4"
    body = onnx.load(str(i4_folder / "rollout.onnx")).graph.node[0].attribute[0].g      # the Scan's step
    assert [n.op_type for n in body.node if "MatMul" in n.op_type].count("MatMulNBits") == SMALL.lstm_layers

    t = np.arange(300)[:, None] / 30.0
    music = np.sin(2 * np.pi * t * np.arange(1, F + 1) / 3)                   # (300, F)
    a = f32.generate_frames(music, [2], temperature=0.0)[0]
    b = i4.generate_frames(music, [2], temperature=0.0)[0]
    assert np.isfinite(b).all() and np.abs(np.diff(b, axis=0)).max() > 1e-3   # it moves
    err = np.abs((a - b) / f32.motion_std)                                   # normalised units
    assert err.max() <= 0.02, f"int4 vs float32 max abs {err.max():.4f} (normalised units)"
    assert err.max() > 0                                                      # the weights did change
