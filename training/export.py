"""Export a trained generator to the ONNX model folder the add-on loads.

Layout of a model folder (format `FORMAT_VERSION`, read by `dance_addon.core.choreography.lstm`):

    model.json          metadata (below) + the sha256 of each graph file
    music_coder.onnx    music (B, T, F) normalised features, style (B, S) style vectors
                        -> code (B, T, 60); B and T dynamic, one call for the whole song (with
                        coder_shares_music, music (1, T, F): the convolutions once for all B)
    rollout.onnx        a chunk of N frames of B dances in one call: prev (B, D), music_code
                        (B, N, 60), eps (B, N, Z) standard normal draws, draw (B, N, 1) 1 where
                        a latent span starts, h (L, B, H), c (L, B, H), z (B, Z) the held latent
                        -> frames (B, N, D), h_out, c_out, z_out (all normalised units;
                        D = FRAME_DIM; float32, 8-bit or 4-bit weights, see `precision`)

The rollout is an ONNX Scan over the chunk's frames whose body is the one-frame step: the
frames of a chunk run inside onnxruntime with no Python call per frame, and the LSTM state
carries from one chunk to the next, so the caller can report progress and cancel between
chunks. B dances (variations of one song) run in one call: one step streams the weights once
for all of them.

Each .onnx carries the same metadata JSON in its `metadata_props` under the key
`dance_addon`, so a graph file that travels alone still says what it is.

Metadata keys: format_version, model_version, joint_names, fps, frame_dim, latent_dim, latent_frames,
music_dim, features_version, feature_columns, motion_mean/std (D), music_mean/std (F),
start_poses (K, D, normalised), style_names (N) and style_vectors (N, S: the learned styles the
seed picks from), lstm_layers, lstm_hidden, precision, output_smoothing (the runtime's low-pass
of the frames), draw_lead_frames (latents drawn this many frames before the beats),
coder_shares_music (true: music of batch 1 serves every style), provenance (free-form dict:
data sets, checkpoint, step), licence, generator_config.

The step does not use the ONNX LSTM op: the LSTM cell is written out as one MatMul of
[x, h] against the stacked input and recurrent weights per layer, plus the gate arithmetic.
This is what lets dynamic 8-bit quantisation reach the LSTM weights (onnxruntime's
quantizer turns MatMul into DynamicQuantizeMatMul; it leaves a native LSTM op in float32),
and it halves the number of matrix products per step. The parity test checks it against
PyTorch's own `nn.LSTM`.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import warnings
from pathlib import Path
from typing import Any, Sequence

import onnx
import torch
from torch import nn

from dance_addon.core.choreography.lstm import CODER_INPUTS, FORMAT_VERSION, MANIFEST, METADATA_KEY
from dance_addon.core.motion.motion_code import MOTION_CODE
from dance_addon.core.motion.skeleton import JOINT_NAMES
from training.int4 import quantize_matmuls_int4
from training.model import DanceGenerator
from training.train import load_checkpoint

OPSET = 17
PRECISIONS = ("int8", "int4", "float32")


class _UnrolledStep(nn.Module):
    """The generator's one-frame step with a hand-written LSTM cell (same maths as nn.LSTM)."""

    def __init__(self, model: DanceGenerator):
        super().__init__()
        m = model
        self.layers = m.cfg.lstm_layers
        self.hidden = m.cfg.lstm_hidden

        def t(w: torch.Tensor) -> nn.Parameter:
            return nn.Parameter(w.detach().t().contiguous().clone(), requires_grad=False)

        def b(v: torch.Tensor) -> nn.Parameter:
            return nn.Parameter(v.detach().clone(), requires_grad=False)

        self.enc1_w, self.enc1_b = t(m.enc1.weight), b(m.enc1.bias)      # (120, e1), (e1,)
        self.enc2_w, self.enc2_b = t(m.enc2.weight), b(m.enc2.bias)      # (e1, e2)
        # per layer: [W_ih; W_hh] stacked along the input axis -> (in + hidden, 4 * hidden)
        self.lstm_w = nn.ParameterList(
            t(torch.cat([getattr(m.lstm, f"weight_ih_l{k}"), getattr(m.lstm, f"weight_hh_l{k}")], dim=1))
            for k in range(self.layers))
        self.lstm_b = nn.ParameterList(
            b(getattr(m.lstm, f"bias_ih_l{k}") + getattr(m.lstm, f"bias_hh_l{k}")) for k in range(self.layers))
        self.dec1_w, self.dec1_b = t(m.dec1.weight), b(m.dec1.bias)
        self.dec2_w, self.dec2_b = t(m.dec2.weight), b(m.dec2.bias)
        self.dec3_w, self.dec3_b = t(m.dec3.weight), b(m.dec3.bias)
        self.prior = m.prior                                               # small: left to the exporter

    def forward(self, prev: torch.Tensor, h: torch.Tensor, c: torch.Tensor, z_held: torch.Tensor,
                music_code: torch.Tensor, eps: torch.Tensor, draw: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """prev (B, D), h and c (L, B, H), z_held (B, Z) the span's latent so far, music_code
        (B, 60), eps (B, Z) standard normal draws, draw (B, 1) 1 where a span starts, else 0
        -> the frame (B, D), h_out, c_out, the latent used (B, Z), the frame again (the Scan's
        carried state, then its per-frame output). Where a span starts the latent is drawn from
        the prior, mean + std * eps; elsewhere it is held."""
        mu, logvar = self.prior(torch.cat([h[-1], prev, music_code], dim=1)).chunk(2, dim=1)
        drawn = mu + torch.exp(0.5 * logvar.clamp(-8.0, 4.0)) * eps
        z = draw * drawn + (1.0 - draw) * z_held                           # (B, Z)
        x = torch.cat([prev, music_code, z], dim=1)                        # (B, D + 60 + Z)
        x = torch.relu(x @ self.enc1_w + self.enc1_b) @ self.enc2_w + self.enc2_b  # (B, e2)
        hs, cs = [], []
        for k in range(self.layers):
            gates = torch.cat([x, h[k]], dim=1) @ self.lstm_w[k] + self.lstm_b[k]  # (B, 4H)
            i, f, g, o = gates.split(self.hidden, dim=1)                   # each (B, H), nn.LSTM order
            c_k = torch.sigmoid(f) * c[k] + torch.sigmoid(i) * torch.tanh(g)
            x = torch.sigmoid(o) * torch.tanh(c_k)                         # (B, H)
            hs.append(x)
            cs.append(c_k)
        y = torch.relu(torch.cat([x, z], dim=1) @ self.dec1_w + self.dec1_b)
        y = torch.relu(y @ self.dec2_w + self.dec2_b)
        frame = y @ self.dec3_w + self.dec3_b                              # (B, D)
        return frame, torch.stack(hs), torch.stack(cs), z, frame + 0.0    # (B, D), (L, B, H) x 2, (B, Z), (B, D)


class _Coder(nn.Module):
    def __init__(self, model: DanceGenerator):
        super().__init__()
        self.coder = model.coder

    def forward(self, music: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return self.coder(music, style)                                    # (B, T, 60)


def _onnx_export(module: nn.Module, args: tuple[torch.Tensor, ...], path: Path, **kw: Any) -> None:
    """The legacy TorchScript exporter (weights embedded in the one file), quietly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)   # "legacy exporter": chosen on purpose
        torch.onnx.export(module, args, str(path), dynamo=False, opset_version=OPSET, **kw)


def export_music_coder(model: DanceGenerator, path: Path) -> None:
    """Write the music coder graph (dynamic B and T) to `path`, float32: music (B, T, F), style
    (B, S) -> (B, T, 60); with the model's `style_film`, music (1, T, F) serves every style and
    the convolutions run once."""
    model = model.eval()
    songs = 1 if model.cfg.style_film else 2
    example = torch.zeros(songs, 64, model.cfg.music_dim), torch.zeros(2, model.cfg.style_dim)
    _onnx_export(_Coder(model), example, path, input_names=list(CODER_INPUTS), output_names=["music_code"],
                 dynamic_axes={"music": {0: "Bm", 1: "T"}, "style": {0: "B"}, "music_code": {0: "B", 1: "T"}})


STEP_BODY_INPUTS = ("prev", "h", "c", "z", "code_t", "eps_t", "draw_t")
STEP_BODY_OUTPUTS = ("prev_next", "h_next", "c_next", "z_next", "frame_t")


def export_step(model: DanceGenerator, path: Path) -> None:
    """Write the one-frame step graph (hand-unrolled LSTM, float32, dynamic batch) to `path`:
    the Scan body of the rollout, inputs `STEP_BODY_INPUTS`, outputs `STEP_BODY_OUTPUTS`."""
    cfg = model.eval().cfg
    step = _UnrolledStep(model).eval()
    state = torch.zeros(cfg.lstm_layers, 2, cfg.lstm_hidden)
    z = torch.zeros(2, cfg.latent_dim)
    args = (torch.zeros(2, cfg.frame_dim), state, state, z, torch.zeros(2, cfg.music_code_dim), z, torch.ones(2, 1))
    batch = {"prev": {0: "B"}, "h": {1: "B"}, "c": {1: "B"}, "z": {0: "B"}, "code_t": {0: "B"}, "eps_t": {0: "B"},
             "draw_t": {0: "B"}, "prev_next": {0: "B"}, "h_next": {1: "B"}, "c_next": {1: "B"}, "z_next": {0: "B"},
             "frame_t": {0: "B"}}
    _onnx_export(step, args, path, input_names=list(STEP_BODY_INPUTS), output_names=list(STEP_BODY_OUTPUTS),
                 dynamic_axes=batch)


def wrap_in_scan(step_path: Path, path: Path) -> None:
    """The rollout graph: a Scan over axis 1 of music_code (B, N, 60), eps (B, N, Z) and draw
    (B, N, 1) whose body is the step graph at `step_path` (float or quantised), the frame, h, c
    and the held latent carried as state."""
    from onnx import helper

    step = onnx.load(str(step_path))
    body = step.graph
    body.name = "step"
    ins = {i.name: i for i in body.input}
    outs = {o.name: o for o in body.output}
    body_inputs = [ins[n] for n in STEP_BODY_INPUTS]
    del body.input[:]
    body.input.extend(body_inputs)
    body_outputs = [outs[n] for n in STEP_BODY_OUTPUTS]
    del body.output[:]
    body.output.extend(body_outputs)
    scan = helper.make_node("Scan", ["prev", "h", "c", "z", "music_code", "eps", "draw"],
                            ["last", "h_out", "c_out", "z_out", "frames"], name="rollout", body=body,
                            num_scan_inputs=3, scan_input_axes=[1, 1, 1], scan_output_axes=[1])
    f32 = onnx.TensorProto.FLOAT
    graph = helper.make_graph(
        [scan], "rollout",
        [helper.make_tensor_value_info("prev", f32, ["B", "D"]),
         helper.make_tensor_value_info("music_code", f32, ["B", "N", "C"]),
         helper.make_tensor_value_info("eps", f32, ["B", "N", "Z"]),
         helper.make_tensor_value_info("draw", f32, ["B", "N", 1]),
         helper.make_tensor_value_info("h", f32, ["L", "B", "H"]),
         helper.make_tensor_value_info("c", f32, ["L", "B", "H"]),
         helper.make_tensor_value_info("z", f32, ["B", "Z"])],
        [helper.make_tensor_value_info("frames", f32, ["B", "N", "D"]),
         helper.make_tensor_value_info("h_out", f32, ["L", "B", "H"]),
         helper.make_tensor_value_info("c_out", f32, ["L", "B", "H"]),
         helper.make_tensor_value_info("z_out", f32, ["B", "Z"])])
    model = helper.make_model(graph, opset_imports=list(step.opset_import), producer_name="dance_addon")
    model.ir_version = step.ir_version
    onnx.save(model, str(path))


def quantize_step(src: Path, dst: Path) -> None:
    """Dynamic 8-bit quantisation of every MatMul weight (per output column, unsigned
    activations, weights in 7 bits: on AVX2 CPUs without VNNI, full-range u8 x s8 products
    can saturate)."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    # the quantiser logs advice to pre-process (shape inference) on the root logger: our step
    # graph is plain MatMul/elementwise, so the advice does not apply
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(str(src), str(dst), op_types_to_quantize=["MatMul"], per_channel=True,
                         reduce_range=True, weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)


def _tolist(a: Any) -> list:
    return torch.as_tensor(a, dtype=torch.float64).tolist()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _embed_metadata(path: Path, meta_json: str) -> None:
    m = onnx.load(str(path))
    del m.metadata_props[:]
    m.metadata_props.add(key=METADATA_KEY, value=meta_json)
    onnx.save(m, str(path))


def export_model(model: DanceGenerator, out_dir: Path, *, fps: float, features_version: str,
                 feature_columns: Sequence[str], norm: dict[str, Any], start_poses: Any,
                 provenance: dict[str, Any], licence: str,
                 model_version: str, precision: str = "int8", style_names: Sequence[str] | None = None,
                 output_smoothing: float = 0.0, draw_lead: int = 0) -> Path:
    """Export `model` to the folder `out_dir` (created) and return the path of model.json.

    norm: motion_mean/motion_std (D,), music_mean/music_std (F,) as arrays or lists.
    start_poses: (K, D) normalised frames the runtime picks a first frame from by seed.
    precision: "int8" (shipped: ~4x smaller and faster), "int4" (the LSTM weights in 4 bits,
    `training.int4`; the rest float32) or "float32" (reference, parity).
    style_names: a name for each of the model's learned styles (default "style 0", ...).
    output_smoothing: the Gaussian (sigma in frames) the runtime low-passes the rollout's frames
    by (`dance_addon.core.choreography.lstm.smooth_frames`); 0: none.
    draw_lead: how many frames before each beat the runtime draws a latent (`lstm.latent_draws`;
    0 for a model trained on beat spans; `training.draw_lead` measures it).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    cfg = model.cfg
    if len(feature_columns) != cfg.music_dim:
        raise ValueError(f"{len(feature_columns)} feature columns but the model takes music_dim={cfg.music_dim}")
    style_names = [f"style {i}" for i in range(cfg.styles)] if style_names is None else list(style_names)
    if len(style_names) != cfg.styles:
        raise ValueError(f"{len(style_names)} style names but the model has {cfg.styles} styles")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "model_version": model_version,
        "joint_names": list(JOINT_NAMES),
        "fps": float(fps),
        "frame_dim": cfg.frame_dim,
        "latent_dim": cfg.latent_dim,
        "latent_frames": cfg.latent_frames,
        "music_dim": cfg.music_dim,
        "features_version": features_version,
        "feature_columns": list(feature_columns),
        "motion_mean": _tolist(norm["motion_mean"]),
        "motion_std": _tolist(norm["motion_std"]),
        "music_mean": _tolist(norm["music_mean"]),
        "music_std": _tolist(norm["music_std"]),
        "start_poses": _tolist(start_poses),
        "motion_code": MOTION_CODE,
        "style_names": style_names,
        "style_vectors": _tolist(model.style.weight),
        "lstm_layers": cfg.lstm_layers,
        "lstm_hidden": cfg.lstm_hidden,
        "precision": precision,
        "output_smoothing": float(output_smoothing),
        "draw_lead_frames": int(draw_lead),
        "coder_shares_music": bool(cfg.style_film),
        "provenance": provenance,
        "licence": licence,
        "generator_config": cfg.to_dict(),
    }
    coder_path, step_path = out_dir / "music_coder.onnx", out_dir / "rollout.onnx"
    export_music_coder(model, coder_path)
    with tempfile.TemporaryDirectory() as tmp:
        f32, body = Path(tmp) / "step_f32.onnx", Path(tmp) / "step.onnx"
        export_step(model, f32)
        if precision == "float32":
            body = f32
        elif precision == "int8":
            quantize_step(f32, body)
        else:
            quantize_matmuls_int4(f32, body, weight_prefix="lstm_w.")    # the LSTM's [W_ih; W_hh]
        wrap_in_scan(body, step_path)
    return _write_manifest(out_dir, meta, {"music_coder": coder_path.name, "rollout": step_path.name})


def _write_manifest(folder: Path, meta: dict[str, Any], files: dict[str, str]) -> Path:
    """Embed `meta` in each graph of `files` (role -> file name in folder) and write model.json
    with the graphs' checksums -> its path."""
    meta_json = json.dumps(meta)
    for name in files.values():
        _embed_metadata(folder / name, meta_json)
    sha = {name: _sha256(folder / name) for name in files.values()}
    manifest = folder / MANIFEST
    manifest.write_text(json.dumps({**meta, "files": files, "sha256": sha}, indent=1))
    return manifest


def update_metadata(folder: Path, **changes: Any) -> Path:
    """Change metadata keys of an exported model folder (model.json and the copy each graph
    carries, with new checksums), the graphs otherwise untouched -> model.json's path."""
    manifest = Path(folder) / MANIFEST
    meta = json.loads(manifest.read_text())
    files = meta.pop("files")
    meta.pop("sha256")
    meta.update(changes)
    return _write_manifest(Path(folder), meta, files)


def export_checkpoint(checkpoint: Path, out_dir: Path, *, licence: str, model_version: str,
                      precision: str = "int8", output_smoothing: float = 0.0, draw_lead: int = 0) -> Path:
    """Export a `training/train.py` checkpoint: everything but the licence and version comes
    from it (statistics, features, start poses, styles)."""
    model, ck = load_checkpoint(checkpoint)
    if ck.get("motion_code") != MOTION_CODE:
        raise ValueError(f"{checkpoint} was trained on motion code {ck.get('motion_code')!r}, but the add-on "
                         f"reads {MOTION_CODE!r} (dance_addon/core/motion/motion_code.py); retrain it")
    provenance = {**ck["provenance"], "checkpoint": Path(checkpoint).name, "training_step": ck["step"],
                  "train_config": ck["train_config"]}
    if "train_seconds" in ck:                                  # checkpoints before session 9 lack it
        provenance["training_seconds"] = round(float(ck["train_seconds"]), 1)
    return export_model(model, out_dir, fps=ck["fps"], features_version=ck["features_version"],
                        feature_columns=ck["feature_columns"], norm=ck["norm"], start_poses=ck["start_poses"],
                        provenance=provenance,
                        licence=licence, model_version=model_version, precision=precision,
                        style_names=ck["style_names"], output_smoothing=output_smoothing, draw_lead=draw_lead)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Export a training checkpoint to the add-on's model folder.")
    p.add_argument("checkpoint", type=Path, help="checkpoint.pt written by training/train.py")
    p.add_argument("out", type=Path, help="model folder to write (model.json, music_coder.onnx, rollout.onnx)")
    p.add_argument("--licence", required=True, help="licence of the weights (follows the training data's)")
    p.add_argument("--model-version", required=True)
    p.add_argument("--precision", choices=PRECISIONS, default="int8")
    a = p.parse_args(argv)
    print(export_checkpoint(a.checkpoint, a.out, licence=a.licence, model_version=a.model_version,
                            precision=a.precision))


if __name__ == "__main__":
    main()
