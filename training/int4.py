"""4-bit block-quantised weights for the step graph: onnxruntime's `com.microsoft.MatMulNBits`.

`pack_int4` quantises a float weight matrix the way the MatMulNBits contrib op reads it
(onnxruntime docs, ContribOperators.md, "com.microsoft.MatMulNBits"; bits=4):

    Y (M, N) = A (M, K) @ dequant(B)           dequant(B)[k, n] = (q[n, k] - zp[n, b]) * scale[n, b]
                                               for k in block b = k // block_size

    B            uint8 (N, n_blocks, block_size / 2)   per output column n, the column's K
                 weights in blocks of block_size; two 4-bit values a byte, the even k in the
                 low nibble, the odd k in the high nibble; K is zero-padded to n_blocks * block_size
    scales       float32 (N * n_blocks,)               column-major over blocks: index n * n_blocks + b
    zero_points  uint8 (N * ceil(n_blocks / 2),)       per column, two blocks a byte (even block
                 in the low nibble), the column's row padded to whole bytes

The quantisation is asymmetric per block (min and max of the block, widened to hold 0, map to
0 and 15), so a block's error is at most half a step, scale / 2. `quantize_matmuls_int4`
rewrites a float32 graph's MatMul nodes with a constant 2-D weight into MatMulNBits nodes.

Measured on the shipped model (benchmarks/bench_inference.py; 2-core AMD EPYC Zen 1, AVX2
without VNNI, 8 MiB L3): with the LSTM weights in 4 bits (block 32, accuracy_level 4) the step
is no faster than the 8-bit one (onnxruntime's 4-bit kernel is compute-bound there, ~8 G MAC/s
a core, not memory-bound), but it stays closer to float32 (mean joint angle drift over 1800
self-fed frames 0.05 deg vs 0.42 deg for int8). 4 bits in the small encoder/decoder matrices
too cost accuracy (mean drift 1.5 deg) for no speed, so export.py quantises the LSTM only.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

MS_DOMAIN = "com.microsoft"


def pack_int4(w: np.ndarray, block_size: int = 32) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quantise the weight (K, N) of `x @ w` to 4 bits -> (B, scales, zero_points) in the
    MatMulNBits layout of the module docstring. block_size: a power of two >= 16."""
    if w.ndim != 2:
        raise ValueError(f"weight should be 2-D (K, N), got shape {w.shape}")
    if block_size < 16 or block_size & (block_size - 1):
        raise ValueError(f"block_size should be a power of two >= 16, got {block_size}")
    k, n = w.shape
    n_blocks = -(-k // block_size)
    cols = np.zeros((n, n_blocks * block_size), np.float64)
    cols[:, :k] = w.T                                                    # (N, K) zero-padded
    blocks = cols.reshape(n, n_blocks, block_size)                       # (N, nb, bs)
    lo = np.minimum(blocks.min(axis=2), 0.0)                             # (N, nb)
    hi = np.maximum(blocks.max(axis=2), 0.0)
    scale = (hi - lo) / 15.0
    scale[scale == 0] = 1.0                                              # all-zero block
    zp = np.clip(np.round(-lo / scale), 0, 15).astype(np.uint8)          # (N, nb)
    q = np.clip(np.round(blocks / scale[..., None]) + zp[..., None], 0, 15).astype(np.uint8)
    b = q[..., 0::2] | (q[..., 1::2] << 4)                               # (N, nb, bs / 2)
    zp_even = np.zeros((n, n_blocks + n_blocks % 2), np.uint8)
    zp_even[:, :n_blocks] = zp
    zp_packed = zp_even[:, 0::2] | (zp_even[:, 1::2] << 4)               # (N, ceil(nb / 2))
    return b, scale.astype(np.float32).reshape(-1), zp_packed.reshape(-1)


def unpack_int4(b: np.ndarray, scales: np.ndarray, zero_points: np.ndarray, k: int) -> np.ndarray:
    """The dequantised weight (K, N) float32 of `pack_int4`'s output (what MatMulNBits multiplies by)."""
    n, n_blocks, half = b.shape
    q = np.empty((n, n_blocks, 2 * half), np.float32)
    q[..., 0::2] = b & 0x0F
    q[..., 1::2] = b >> 4
    zp2 = zero_points.reshape(n, -1)
    zp = np.stack([zp2 & 0x0F, zp2 >> 4], axis=2).reshape(n, -1)[:, :n_blocks]   # (N, nb)
    w = (q - zp[..., None]) * scales.reshape(n, n_blocks)[..., None]
    return w.reshape(n, -1)[:, :k].T.copy()                              # (K, N)


def quantize_matmuls_int4(src: Path, dst: Path, weight_prefix: str = "", block_size: int = 32,
                          accuracy_level: int = 4) -> list[str]:
    """Rewrite every MatMul of `src` whose second input is a 2-D float32 initializer named
    `weight_prefix`... (used by no other node) as MatMulNBits (4 bits), save to `dst`, return
    the names of the weights quantised.

    accuracy_level 4: onnxruntime quantises the activations to 8 bits per block and multiplies
    in integers (on this AVX2 CPU ~5x faster than 0/1, which dequantise and multiply in float32,
    and as accurate on the shipped model).
    """
    model = onnx.load(str(src))
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    users: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            users[name] = users.get(name, 0) + 1
    done, nodes = [], []
    for node in graph.node:
        w = inits.get(node.input[1]) if node.op_type == "MatMul" else None
        if (w is None or len(w.dims) != 2 or w.data_type != onnx.TensorProto.FLOAT
                or users[w.name] != 1 or not w.name.startswith(weight_prefix)):
            nodes.append(node)
            continue
        wa = numpy_helper.to_array(w)
        b, scales, zp = pack_int4(wa, block_size)
        names = [f"{w.name}_q4", f"{w.name}_scales", f"{w.name}_zp"]
        graph.initializer.extend(numpy_helper.from_array(a, n) for a, n in zip((b, scales, zp), names))
        graph.initializer.remove(w)
        nodes.append(helper.make_node(
            "MatMulNBits", [node.input[0], *names], list(node.output), name=f"{node.name}_q4",
            domain=MS_DOMAIN, K=wa.shape[0], N=wa.shape[1], bits=4, block_size=block_size,
            accuracy_level=accuracy_level))
        done.append(w.name)
    del graph.node[:]
    graph.node.extend(nodes)
    if not any(o.domain == MS_DOMAIN for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))
    onnx.save(model, str(dst))
    return done
