"""Run an exported dance generator: music features in, joint rotation vectors out.

numpy + onnxruntime only (onnxruntime is imported when a model is loaded).

A model is a folder written by `training/export.py`:

    model.json          metadata (joint names, fps, feature columns and version, z-score
                        statistics, start poses, noise std, provenance, licence, ...) and the
                        sha256 of each graph file
    music_coder.onnx    music (1, T, F), style (1, S) -> music_code (1, T, 60), the whole song
                        in one call
    step.onnx           prev_motion (1, 60), music_code (1, 60), h (L, 1, H), c (L, 1, H)
                        -> motion (1, 60), h_out, c_out: one frame, explicit LSTM state

All graph values are in normalised units (z-scores of the training split) of the motion code
(`motion_code`: rotation vectors, the root as swing + heading change). Generation:
frame t's motion comes from frame t-1's motion (plus seeded noise) and frame t's music
code; "frame -1" is a start pose drawn by the seed from the model's start poses. The seed
also picks one of the model's learned styles (one per training clip; `DanceModel.pick_style`:
consecutive seeds pick different styles until all have been used) and the noise fed back with
the motion. The same seed (and thread count) gives the same dance; different seeds give
different dances.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..motion import motion_code
from ..motion.motion_code import MOTION_CODE
from ..motion.skeleton import JOINT_NAMES, MOTION_DIM

FORMAT_VERSION = 2                # 2: the music coder takes a style vector
METADATA_KEY = "dance_addon"      # key of the metadata JSON in each graph's metadata_props
MANIFEST = "model.json"
CODER_INPUTS = ("music", "style")
STEP_INPUTS = ("prev_motion", "music_code", "h", "c")
STEP_OUTPUTS = ("motion", "h_out", "c_out")

# progress(done_frames, total_frames) -> False to cancel (None or True to go on)
ProgressFn = Callable[[int, int], "bool | None"]


class ModelError(ValueError):
    """The model folder is missing, corrupt or does not fit this add-on."""


class Cancelled(Exception):
    """Generation was cancelled by the progress callback."""


_REQUIRED = ("format_version", "model_version", "joint_names", "fps", "motion_dim", "music_dim",
             "features_version", "feature_columns", "motion_mean", "motion_std", "music_mean",
             "music_std", "start_poses", "motion_code", "style_names", "style_vectors", "feedback_noise_std",
             "lstm_layers", "lstm_hidden", "precision", "provenance", "licence", "files", "sha256")


def _fail(where: Path, what: str, todo: str = "re-export it with training/export.py or reinstall the add-on") -> ModelError:
    return ModelError(f"dance model {where}: {what}; {todo}")


def _vector(meta: dict[str, Any], key: str, shape: tuple[int, ...], where: Path, positive: bool = False) -> np.ndarray:
    try:
        a = np.asarray(meta[key], dtype=np.float64)
    except (TypeError, ValueError):
        raise _fail(where, f"'{key}' is not numeric") from None
    if a.shape != shape or not np.isfinite(a).all() or (positive and (a <= 0).any()):
        raise _fail(where, f"'{key}' should be {'positive ' if positive else ''}finite numbers of shape {shape}, "
                           f"got shape {a.shape}")
    return a


class DanceModel:
    """A loaded, validated generator. Use `load_model` to make one."""

    def __init__(self, folder: Path, meta: dict[str, Any], coder: Any, step: Any):
        self.folder = folder
        self.meta = meta
        self.fps = float(meta["fps"])
        self.music_dim = int(meta["music_dim"])
        self.feature_columns: tuple[str, ...] = tuple(meta["feature_columns"])
        self.features_version: str = meta["features_version"]
        self.motion_mean = np.asarray(meta["motion_mean"], np.float32)   # (60,)
        self.motion_std = np.asarray(meta["motion_std"], np.float32)     # (60,)
        self.music_mean = np.asarray(meta["music_mean"], np.float32)     # (F,)
        self.music_std = np.asarray(meta["music_std"], np.float32)       # (F,)
        self.start_poses = np.asarray(meta["start_poses"], np.float32)   # (K, 60), normalised
        self.style_names: tuple[str, ...] = tuple(meta["style_names"])
        self.style_vectors = np.asarray(meta["style_vectors"], np.float32)  # (N, S)
        self._style_order = np.random.default_rng(0).permutation(len(self.style_names))
        self.noise_std = float(meta["feedback_noise_std"])
        self._layers, self._hidden = int(meta["lstm_layers"]), int(meta["lstm_hidden"])
        self._coder, self._step = coder, step

    def pick_style(self, seed: int) -> int:
        """The style index `seed` dances in: seeds 0 .. N-1 pick N different styles (a fixed
        shuffle of the model's N styles), then the order repeats."""
        return int(self._style_order[seed % len(self._style_order)])

    def style_index(self, style: int | str) -> int:
        """A style given by index or name -> its index; ValueError naming the choices."""
        if isinstance(style, str):
            if style not in self.style_names:
                raise ValueError(f"unknown style {style!r}; this model has: {', '.join(self.style_names)}")
            return self.style_names.index(style)
        if not 0 <= int(style) < len(self.style_names):
            raise ValueError(f"style index {style} out of range: this model has {len(self.style_names)} styles")
        return int(style)

    def code_music(self, music: np.ndarray, style: int | str = 0) -> np.ndarray:
        """(T, F) raw music features -> (T, 60) music code in `style` (index or name), one call
        over the whole song."""
        music = np.asarray(music)
        if music.ndim != 2 or music.shape[1] != self.music_dim or len(music) == 0:
            raise ValueError(f"music features should be (T, {self.music_dim}) with T >= 1, got {music.shape}")
        if not np.isfinite(music).all():
            raise ValueError("music features contain NaN or infinite values")
        x = ((music - self.music_mean) / self.music_std).astype(np.float32)[None]  # (1, T, F)
        s = self.style_vectors[self.style_index(style)][None]                       # (1, S)
        return self._coder.run(None, {"music": x, "style": s})[0][0]               # (T, 60)

    def generate(self, music: np.ndarray, seed: int = 0, progress: ProgressFn | None = None,
                 noise_scale: float = 1.0, progress_every: int = 30, style: int | str | None = None) -> np.ndarray:
        """Music features (T, F) at `self.fps` -> rotation vectors (T, 20, 3) float32, radians,
        in `skeleton.JOINT_NAMES` order, facing +Z at the first frame. Arguments as
        `generate_code`, which this decodes."""
        code = self.generate_code(music, seed, progress, noise_scale, progress_every, style)
        return motion_code.decode(code).astype(np.float32)

    def generate_code(self, music: np.ndarray, seed: int = 0, progress: ProgressFn | None = None,
                      noise_scale: float = 1.0, progress_every: int = 30,
                      style: int | str | None = None) -> np.ndarray:
        """Music features (T, F) at `self.fps` -> the network's motion code (T, 60) float32
        (`motion_code`, not normalised).

        seed: picks the style (`pick_style`), the start pose and the noise fed back with the
        motion (same seed, same dance).
        style: a style index or name instead of the seed's (the rest still follows the seed).
        noise_scale: multiplies the model's feedback noise std (0: only the start pose varies).
        progress: called as progress(done, total) every `progress_every` frames and at the end;
        if it returns False, generation stops and `Cancelled` is raised (nothing is returned).
        Raises ValueError for music of the wrong shape or with NaN / infinite values, or an
        unknown style.
        """
        codes = self.code_music(music, self.pick_style(seed) if style is None else style)  # (T, 60)
        total = len(codes)
        rng = np.random.default_rng(seed)
        prev = np.empty((1, MOTION_DIM), np.float32)
        prev[0] = self.start_poses[rng.integers(len(self.start_poses))]
        noise = rng.standard_normal((total, MOTION_DIM), dtype=np.float32) * np.float32(self.noise_std * noise_scale)
        code_t = np.empty((1, MOTION_DIM), np.float32)
        out = np.empty((total, MOTION_DIM), np.float32)                  # normalised motion

        # Preallocated buffers bound once: each step reads (prev, code_t, h[a], c[a]) and
        # writes (motion, h[b], c[b]); the two state buffers swap roles every frame.
        import onnxruntime as ort
        shape = (self._layers, 1, self._hidden)
        hs = [np.zeros(shape, np.float32) for _ in range(2)]
        cs = [np.zeros(shape, np.float32) for _ in range(2)]
        motion = np.empty((1, MOTION_DIM), np.float32)
        ov = ort.OrtValue.ortvalue_from_numpy
        bindings = []
        for a, b in ((0, 1), (1, 0)):
            io = self._step.io_binding()
            io.bind_ortvalue_input("prev_motion", ov(prev))
            io.bind_ortvalue_input("music_code", ov(code_t))
            io.bind_ortvalue_input("h", ov(hs[a]))
            io.bind_ortvalue_input("c", ov(cs[a]))
            io.bind_ortvalue_output("motion", ov(motion))
            io.bind_ortvalue_output("h_out", ov(hs[b]))
            io.bind_ortvalue_output("c_out", ov(cs[b]))
            bindings.append(io)
        run = self._step.run_with_iobinding
        for t in range(total):
            code_t[0] = codes[t]
            run(bindings[t & 1])
            out[t] = motion[0]
            prev[0] = motion[0] + noise[t]
            done = t + 1
            if progress is not None and (done % progress_every == 0 or done == total):
                if progress(done, total) is False:
                    raise Cancelled(f"dance generation cancelled after {done} of {total} frames")
        return out * self.motion_std + self.motion_mean                   # (T, 60) motion code


def _session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def load_model(path: str | Path, features_version: str | None = None,
               feature_columns: Sequence[str] | None = None, threads: int = 2) -> DanceModel:
    """Load and validate a model folder (or its model.json). Raises `ModelError` saying what is
    wrong when the folder is missing, corrupt, for another skeleton, or made for other music
    features than `features_version` / `feature_columns` (when given)."""
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    path = Path(path)
    folder = path.parent if path.name == MANIFEST else path
    manifest = folder / MANIFEST
    if not manifest.is_file():
        raise _fail(folder, f"no {MANIFEST} found (a model is a folder with {MANIFEST}, music_coder.onnx "
                            f"and step.onnx)", "choose the model folder that training/export.py wrote")
    try:
        meta = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _fail(manifest, f"cannot be read as JSON ({e})") from None
    if not isinstance(meta, dict):
        raise _fail(manifest, "is not a JSON object")
    missing = [k for k in _REQUIRED if k not in meta]
    if missing:
        raise _fail(manifest, f"metadata lacks {', '.join(missing)}")
    if not isinstance(meta["files"], dict) or not isinstance(meta["sha256"], dict):
        raise _fail(manifest, "'files' and 'sha256' should map names to file names / checksums")
    if meta["format_version"] != FORMAT_VERSION:
        raise _fail(manifest, f"format version {meta['format_version']} but this add-on reads version "
                              f"{FORMAT_VERSION}", "use a model made for this version of the add-on")
    if list(meta["joint_names"]) != list(JOINT_NAMES):
        raise _fail(manifest, f"joints {meta['joint_names']} differ from the add-on's skeleton {list(JOINT_NAMES)}",
                    "use a model trained on the canonical 20-joint skeleton")
    if meta["motion_code"] != MOTION_CODE:
        raise _fail(manifest, f"its motion code is '{meta['motion_code']}' but this add-on reads '{MOTION_CODE}'",
                    "use a model made for this version of the add-on")
    if meta["motion_dim"] != MOTION_DIM:
        raise _fail(manifest, f"motion_dim {meta['motion_dim']}, expected {MOTION_DIM}")
    if features_version is not None and meta["features_version"] != features_version:
        raise _fail(manifest, f"made for music features version '{meta['features_version']}' but the add-on "
                              f"computes version '{features_version}'", "use a model trained on the current features")
    f = meta["music_dim"]
    if not isinstance(f, int) or f < 1 or len(meta["feature_columns"]) != f:
        raise _fail(manifest, f"music_dim {f!r} does not match its {len(meta['feature_columns'])} feature columns")
    if feature_columns is not None and list(meta["feature_columns"]) != list(feature_columns):
        raise _fail(manifest, f"feature columns {meta['feature_columns']} differ from the add-on's {list(feature_columns)}",
                    "use a model trained on the current features")
    _vector(meta, "motion_mean", (MOTION_DIM,), manifest)
    _vector(meta, "motion_std", (MOTION_DIM,), manifest, positive=True)
    _vector(meta, "music_mean", (f,), manifest)
    _vector(meta, "music_std", (f,), manifest, positive=True)
    k = len(meta["start_poses"]) if isinstance(meta["start_poses"], list) else 0
    if k < 1:
        raise _fail(manifest, "'start_poses' is empty")
    _vector(meta, "start_poses", (k, MOTION_DIM), manifest)
    n = len(meta["style_names"]) if isinstance(meta["style_names"], list) else 0
    v = meta["style_vectors"]
    if n < 1 or not isinstance(v, list) or len(v) != n or not isinstance(v[0], list) or not v[0]:
        raise _fail(manifest, "'style_names' and 'style_vectors' should list the same styles, at least one")
    _vector(meta, "style_vectors", (n, len(v[0])), manifest)

    sessions = {}
    for role in ("music_coder", "step"):
        file = folder / str(meta["files"].get(role, ""))
        if not file.is_file():
            raise _fail(folder, f"the {role} graph {file.name or '(unnamed)'} is missing")
        if hashlib.sha256(file.read_bytes()).hexdigest() != meta["sha256"].get(file.name):
            raise _fail(file, "is corrupt (its checksum differs from the one in model.json)")
        try:
            sessions[role] = _session(file, threads)
        except Exception as e:  # onnxruntime raises several unrelated types for unreadable graphs
            raise _fail(file, f"onnxruntime cannot load it ({type(e).__name__}: {e})") from None
        embedded = sessions[role].get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        own = {k: v for k, v in meta.items() if k not in ("files", "sha256")}
        if embedded is None or json.loads(embedded) != own:
            raise _fail(file, "its embedded metadata differs from model.json (files from different models?)")

    coder_in = tuple(i.name for i in sessions["music_coder"].get_inputs())
    if coder_in != CODER_INPUTS:
        raise _fail(folder, f"music coder graph has inputs {coder_in}, expected {CODER_INPUTS}")
    step = sessions["step"]
    names_in = tuple(i.name for i in step.get_inputs())
    names_out = tuple(o.name for o in step.get_outputs())
    if names_in != STEP_INPUTS or names_out != STEP_OUTPUTS:
        raise _fail(folder, f"step graph has inputs {names_in} / outputs {names_out}, expected {STEP_INPUTS} / {STEP_OUTPUTS}")
    return DanceModel(folder, meta, sessions["music_coder"], step)
