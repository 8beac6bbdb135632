"""Run an exported dance generator: music features in, joint rotations and root travel out.

numpy + onnxruntime only (onnxruntime is imported when a model is loaded).

A model is a folder written by `training/export.py`:

    model.json          metadata (joint names, fps, feature columns and version, z-score
                        statistics, start poses, styles, provenance, licence, ...) and the
                        sha256 of each graph file
    music_coder.onnx    music (B, T, F), style (B, S) -> music_code (B, T, 60), whole songs
                        in one call; with model.json's "coder_shares_music" the style enters
                        after the convolutions and music (1, T, F) serves all B styles
    rollout.onnx        prev (B, D), music_code (B, N, 60), eps (B, N, Z), draw (B, N, 1),
                        h (L, B, H), c (L, B, H), z (B, Z) -> frames (B, N, D), h_out, c_out,
                        z_out: N frames of B dances in one call (an ONNX Scan over the
                        one-frame step), the LSTM state and the held latent explicit so that
                        chunks follow each other

All graph values are in normalised units (z-scores of the training split) of the generator's
frames (`motion_code`: rotation vectors with the root as swing + heading change, then the root's
body-frame velocity and height; D = FRAME_DIM). Generation: frame t comes from frame t-1, frame
t's music code and a latent z (the network was trained as a conditional VAE: z says which of the
dances the music allows it makes next); a new z is drawn at the music's beats (`latent_draws`:
a span of dance per beat, `draw_lead_frames` early, every 2 x `latent_frames` frames where there
are no beats) from the network's prior given where the dance is (its LSTM state, the last frame,
the music), mean + std x a seeded standard normal draw, and held until the next; the dance's
accents come where the spans meet, so this is where it follows the beat (a model whose spans
did not follow the beats in training, such as session 6's, is given the lead that puts its
accents on them: `training/draw_lead.py`); "frame -1" is a start pose drawn
by the seed from the model's start poses. The seed also picks one of the model's learned styles (one
per training clip; `DanceModel.pick_style`: consecutive seeds pick different styles until all
have been used) and the latents. The same seed gives the same dance; different seeds give
different dances; several seeds run together in one batch (`generate_frames`).

The frames the rollout makes are low-passed over time before they are returned, by a Gaussian
of `output_smoothing` frames (model.json; 0 or absent: none). It is not fed back: the network
sees its own frames. The exported network leaves a frame-to-frame jitter in its joints (jerk
about 3.5x the real dancers'); the filter takes it out (see the model card for the figures).
"""
from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..motion import motion_code
from ..motion.motion_code import FRAME_DIM, MOTION_CODE
from ..motion.skeleton import JOINT_NAMES, MOTION_DIM
from ..music.features import beat_frames_of

FORMAT_VERSION = 3                # 3: a latent per frame, root travel, the rollout over chunks of frames
METADATA_KEY = "dance_addon"      # key of the metadata JSON in each graph's metadata_props
MANIFEST = "model.json"
CODER_INPUTS = ("music", "style")
ROLLOUT_INPUTS = ("prev", "music_code", "eps", "draw", "h", "c", "z")
ROLLOUT_OUTPUTS = ("frames", "h_out", "c_out", "z_out")
CHUNK_FRAMES = 120                # frames per rollout call (4 s of music): progress and cancel come this often
SPLIT_BELOW_UNITS = 512           # LSTMs narrower than this run a batch in parts, one thread each (load_model)

# progress(done_frames, total_frames) -> False to cancel (None or True to go on)
ProgressFn = Callable[[int, int], "bool | None"]


class ModelError(ValueError):
    """The model folder is missing, corrupt or does not fit this add-on."""


class Cancelled(Exception):
    """Generation was cancelled by the progress callback."""


_REQUIRED = ("format_version", "model_version", "joint_names", "fps", "frame_dim", "latent_dim", "latent_frames",
             "music_dim", "features_version", "feature_columns", "motion_mean", "motion_std", "music_mean",
             "music_std", "start_poses", "motion_code", "style_names", "style_vectors",
             "lstm_layers", "lstm_hidden", "precision", "provenance", "licence", "files", "sha256")


def _fail(where: Path, what: str,
          todo: str = "re-export it with training/export.py or reinstall the add-on") -> ModelError:
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

    def __init__(self, folder: Path, meta: dict[str, Any], coder: Any, rollouts: Sequence[Any]):
        self.folder = folder
        self.meta = meta
        self.fps = float(meta["fps"])
        self.music_dim = int(meta["music_dim"])
        self.latent_dim = int(meta["latent_dim"])
        self.latent_frames = int(meta["latent_frames"])
        self.feature_columns: tuple[str, ...] = tuple(meta["feature_columns"])
        self.features_version: str = meta["features_version"]
        self.motion_mean = np.asarray(meta["motion_mean"], np.float32)   # (D,)
        self.motion_std = np.asarray(meta["motion_std"], np.float32)     # (D,)
        self.music_mean = np.asarray(meta["music_mean"], np.float32)     # (F,)
        self.music_std = np.asarray(meta["music_std"], np.float32)       # (F,)
        self.start_poses = np.asarray(meta["start_poses"], np.float32)   # (K, D), normalised
        self.style_names: tuple[str, ...] = tuple(meta["style_names"])
        self.style_vectors = np.asarray(meta["style_vectors"], np.float32)  # (N, S)
        self._style_order = np.random.default_rng(0).permutation(len(self.style_names))
        self._layers, self._hidden = int(meta["lstm_layers"]), int(meta["lstm_hidden"])
        self.output_smoothing = float(meta.get("output_smoothing", 0.0))  # Gaussian sigma, frames
        self.draw_lead = int(meta.get("draw_lead_frames", 0))     # latents drawn this many frames before beats
        self.coder_shares_music = bool(meta.get("coder_shares_music", False))  # one coding of a song for all styles
        self._coder, self._rollouts = coder, list(rollouts)

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

    def _normalised_music(self, music: np.ndarray) -> np.ndarray:
        music = np.asarray(music)
        if music.ndim != 2 or music.shape[1] != self.music_dim or len(music) == 0:
            raise ValueError(f"music features should be (T, {self.music_dim}) with T >= 1, got {music.shape}")
        if not np.isfinite(music).all():
            raise ValueError("music features contain NaN or infinite values")
        return ((music - self.music_mean) / self.music_std).astype(np.float32)      # (T, F)

    def code_music(self, music: np.ndarray, style: int | str | Sequence[int | str] = 0) -> np.ndarray:
        """(T, F) raw music features -> (T, 60) music code in `style` (index or name), or
        (B, T, 60) for a list of B styles; one call over the whole song."""
        x = self._normalised_music(music)
        many = isinstance(style, (list, tuple))
        styles = list(style) if many else [style]
        s = self.style_vectors[[self.style_index(st) for st in styles]]             # (B, S)
        x = x[None] if self.coder_shares_music else np.repeat(x[None], len(styles), 0)  # (1 or B, T, F)
        code = self._coder.run(None, {"music": x, "style": s})[0]
        return code if many else code[0]                                            # (B, T, 60) / (T, 60)

    def generate(self, music: np.ndarray, seed: int = 0, progress: ProgressFn | None = None,
                 temperature: float = 1.0, style: int | str | None = None) -> np.ndarray:
        """Music features (T, F) at `self.fps` -> rotation vectors (T, 20, 3) float32, radians,
        in `skeleton.JOINT_NAMES` order, facing +Z at the first frame. Arguments as
        `generate_frames` for one seed."""
        frames = self.generate_frames(music, [seed], progress, temperature, None if style is None else [style])[0]
        return motion_code.decode(frames[:, :MOTION_DIM]).astype(np.float32)

    def generate_frames(self, music: np.ndarray, seeds: Sequence[int] = (0,), progress: ProgressFn | None = None,
                        temperature: float = 1.0, styles: Sequence[int | str] | None = None,
                        chunk: int = CHUNK_FRAMES) -> np.ndarray:
        """Music features (T, F) at `self.fps` -> B = len(seeds) dances of the song, the network's
        frames (B, T, D) float32 (`motion_code` frames, not normalised; `decode_frames` turns
        one into rotations and root positions). The B dances run together, one batch.

        seeds: each picks its dance's style (`pick_style`), start pose and latents (same seed,
        same dance, whatever the other seeds; in 8 bits to within rounding, ~0.003 normalised
        units, because dynamic quantization scales the activations of a batch together).
        styles: a style index or name per dance instead of the seeds' (the rest still follows
        the seeds).
        temperature: scales the latents' draws around the prior's mean (0: the prior's mean
        every time).
        progress: called as progress(done, total) after every chunk of `chunk` frames; if it
        returns False, generation stops and `Cancelled` is raised (nothing is returned).
        Raises ValueError for music of the wrong shape or with NaN / infinite values, an
        unknown style, no seeds, or a negative temperature.
        """
        seeds = [int(s) for s in seeds]
        if not seeds:
            raise ValueError("no seeds: give at least one")
        if not temperature >= 0:
            raise ValueError(f"temperature should be 0 or more, got {temperature}")
        if styles is not None and len(styles) != len(seeds):
            raise ValueError(f"{len(styles)} styles for {len(seeds)} seeds: give one per seed")
        styles = [self.pick_style(s) for s in seeds] if styles is None else list(styles)
        codes = np.ascontiguousarray(self.code_music(music, styles), np.float32)    # (B, T, 60)
        b, total = codes.shape[:2]
        rngs = [np.random.default_rng(s) for s in seeds]
        prev = np.stack([self.start_poses[r.integers(len(self.start_poses))] for r in rngs])  # (B, D)
        eps = np.stack([r.standard_normal((total, self.latent_dim), dtype=np.float32) for r in rngs])
        eps *= np.float32(temperature)                                              # (B, T, Z)
        draw = np.zeros((b, total, 1), np.float32)
        draw[:, latent_draws(self.beat_frames(music), total, self.latent_frames, self.draw_lead)] = 1.0
        # the batch in as many parts as there are rollout sessions (one thread each), run side by side
        parts = [p for p in np.array_split(np.arange(b), len(self._rollouts)) if len(p)]
        states = [{"prev": prev[p], "h": np.zeros((self._layers, len(p), self._hidden), np.float32),
                   "c": np.zeros((self._layers, len(p), self._hidden), np.float32),
                   "z": np.zeros((len(p), self.latent_dim), np.float32)} for p in parts]
        out = np.empty((b, total, len(self.motion_mean)), np.float32)               # normalised

        def run(k: int, start: int, end: int) -> None:
            p, st = parts[k], states[k]
            frames, st["h"], st["c"], st["z"] = self._rollouts[k].run(
                None, {**st, "music_code": codes[p, start:end], "eps": eps[p, start:end], "draw": draw[p, start:end]})
            out[p, start:end] = frames
            st["prev"] = frames[:, -1]

        pool = ThreadPoolExecutor(len(parts)) if len(parts) > 1 else None
        try:
            for start in range(0, total, chunk):
                end = min(total, start + chunk)
                if pool is None:
                    run(0, start, end)
                else:
                    list(pool.map(run, range(len(parts)), [start] * len(parts), [end] * len(parts)))
                if progress is not None and progress(end, total) is False:
                    raise Cancelled(f"dance generation cancelled after {end} of {total} frames")
        finally:
            if pool is not None:
                pool.shutdown()
        return smooth_frames(out, self.output_smoothing) * self.motion_std + self.motion_mean  # (B, T, D)

    def beat_frames(self, music: np.ndarray) -> np.ndarray:
        """The beat frames marked in raw music features (T, F) (their 'beat' column; none when the
        model's features have no such column) -> (K,) int64."""
        if "beat" not in self.feature_columns:
            return np.zeros(0, np.int64)
        return beat_frames_of(music, self.feature_columns.index("beat"))


def latent_draws(beat_frames: Sequence[int] | np.ndarray, total: int, span: int, lead: int = 0) -> np.ndarray:
    """The frames of a dance of `total` frames where a new latent is drawn -> (total,) bool.

    The spans follow the music's beats (the beat-span training recipe cuts the real dances the
    same way, so that a span is the move of one beat): frame 0, then `lead` frames before each beat (`beat_frames`,
    frame indices) that comes at least span // 2 frames after the last draw, and wherever
    2 x span frames pass without one (music with no beats found: a span of about a second).
    span: the model's `latent_frames`; lead: the model's `draw_lead_frames` (0 for a model
    trained on beat spans)."""
    if total < 1 or span < 1 or lead < 0:
        raise ValueError(f"latent_draws needs total >= 1, span >= 1 and lead >= 0, got {total}, {span}, {lead}")
    starts = np.zeros(total, bool)
    at = np.asarray(beat_frames, np.int64) - lead
    starts[at[(at > 0) & (at < total)]] = True
    draws = np.zeros(total, bool)
    last = 0
    draws[0] = True
    for t in range(1, total):
        gap = t - last
        if (starts[t] and gap >= span // 2) or gap >= 2 * span:
            draws[t] = True
            last = t
    return draws


def smooth_frames(frames: np.ndarray, sigma: float) -> np.ndarray:
    """(B, T, D) frames low-passed along T by a Gaussian of `sigma` frames (cut at 3 sigma; the
    ends repeat the first and last frame); sigma 0 returns them unchanged."""
    if sigma <= 0 or frames.shape[1] < 2:
        return frames
    radius = int(np.ceil(3 * sigma))
    x = np.arange(-radius, radius + 1)
    w = np.exp(-0.5 * (x / sigma) ** 2)
    w = (w / w.sum()).astype(frames.dtype)
    padded = np.concatenate([np.repeat(frames[:, :1], radius, 1), frames, np.repeat(frames[:, -1:], radius, 1)], 1)
    out = np.zeros_like(frames)
    for i, wi in enumerate(w):
        out += wi * padded[:, i:i + frames.shape[1]]
    return out


def decode_frames(frames: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """The generator's frames (T, D) -> rotation vectors (T, 20, 3) and pelvis positions (T, 3)
    in metres (the danced travel from over the origin, the danced height), facing +Z at frame 0."""
    rotvecs = motion_code.decode(frames[:, :MOTION_DIM])
    root = motion_code.decode_root(frames[:, MOTION_DIM:], motion_code.headings(frames), fps)
    return rotvecs.astype(np.float32), root.astype(np.float32)


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
    features than `features_version` / `feature_columns` (when given).

    threads: the CPU threads the model may use. The music coder runs on all of them; the
    rollout of a network narrower than `SPLIT_BELOW_UNITS` as `threads` one-thread sessions,
    each dancing its part of a batch of variations side by side (one dance: one thread), and of
    a wider one as one session of `threads` threads."""
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    path = Path(path)
    folder = path.parent if path.name == MANIFEST else path
    manifest = folder / MANIFEST
    if not manifest.is_file():
        raise _fail(folder, f"no {MANIFEST} found (a model is a folder with {MANIFEST}, music_coder.onnx "
                            f"and rollout.onnx)", "choose the model folder that training/export.py wrote")
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
    if meta["frame_dim"] != FRAME_DIM:
        raise _fail(manifest, f"frame_dim {meta['frame_dim']}, expected {FRAME_DIM}")
    for key in ("latent_dim", "latent_frames"):
        if not isinstance(meta[key], int) or meta[key] < 1:
            raise _fail(manifest, f"{key} {meta[key]!r} should be a positive integer")
    if features_version is not None and meta["features_version"] != features_version:
        raise _fail(manifest, f"made for music features version '{meta['features_version']}' but the add-on "
                              f"computes version '{features_version}'", "use a model trained on the current features")
    f = meta["music_dim"]
    if not isinstance(f, int) or f < 1 or len(meta["feature_columns"]) != f:
        raise _fail(manifest, f"music_dim {f!r} does not match its {len(meta['feature_columns'])} feature columns")
    if feature_columns is not None and list(meta["feature_columns"]) != list(feature_columns):
        raise _fail(manifest, f"feature columns {meta['feature_columns']} differ from the add-on's "
                              f"{list(feature_columns)}",
                    "use a model trained on the current features")
    _vector(meta, "motion_mean", (FRAME_DIM,), manifest)
    _vector(meta, "motion_std", (FRAME_DIM,), manifest, positive=True)
    _vector(meta, "music_mean", (f,), manifest)
    _vector(meta, "music_std", (f,), manifest, positive=True)
    k = len(meta["start_poses"]) if isinstance(meta["start_poses"], list) else 0
    if k < 1:
        raise _fail(manifest, "'start_poses' is empty")
    _vector(meta, "start_poses", (k, FRAME_DIM), manifest)
    n = len(meta["style_names"]) if isinstance(meta["style_names"], list) else 0
    v = meta["style_vectors"]
    if n < 1 or not isinstance(v, list) or len(v) != n or not isinstance(v[0], list) or not v[0]:
        raise _fail(manifest, "'style_names' and 'style_vectors' should list the same styles, at least one")
    _vector(meta, "style_vectors", (n, len(v[0])), manifest)
    smoothing = _vector({"s": meta.get("output_smoothing", 0.0)}, "s", (), manifest)
    if not 0 <= smoothing <= 10:
        raise _fail(manifest, f"'output_smoothing' should be 0 to 10 frames, got {float(smoothing)}")
    lead = meta.get("draw_lead_frames", 0)
    if not isinstance(lead, int) or isinstance(lead, bool) or not 0 <= lead <= meta["latent_frames"]:
        raise _fail(manifest, f"'draw_lead_frames' should be a whole number from 0 to latent_frames, got {lead!r}")
    if not isinstance(meta.get("coder_shares_music", False), bool):
        raise _fail(manifest, "'coder_shares_music' should be true or false")

    # a small network's step (a few hundred units) runs fastest on one thread (measured on an Intel
    # Xeon and an AMD EPYC, README's bench): its rollout gets one session of one thread per thread,
    # each running a part of a batch; a big one (the paper's 1024 units) one session of all threads
    split = meta["lstm_hidden"] < SPLIT_BELOW_UNITS
    sessions = {}
    for role in ("music_coder", "rollout"):
        file = folder / str(meta["files"].get(role, ""))
        if not file.is_file():
            raise _fail(folder, f"the {role} graph {file.name or '(unnamed)'} is missing")
        if hashlib.sha256(file.read_bytes()).hexdigest() != meta["sha256"].get(file.name):
            raise _fail(file, "is corrupt (its checksum differs from the one in model.json)")
        try:
            sessions[role] = _session(file, threads if role == "music_coder" or not split else 1)
        except Exception as e:  # onnxruntime raises several unrelated types for unreadable graphs
            raise _fail(file, f"onnxruntime cannot load it ({type(e).__name__}: {e})") from None
        embedded = sessions[role].get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        own = {k: v for k, v in meta.items() if k not in ("files", "sha256")}
        if embedded is None or json.loads(embedded) != own:
            raise _fail(file, "its embedded metadata differs from model.json (files from different models?)")

    coder_in = tuple(i.name for i in sessions["music_coder"].get_inputs())
    if coder_in != CODER_INPUTS:
        raise _fail(folder, f"music coder graph has inputs {coder_in}, expected {CODER_INPUTS}")
    rollout = sessions["rollout"]
    names_in = tuple(i.name for i in rollout.get_inputs())
    names_out = tuple(o.name for o in rollout.get_outputs())
    if set(names_in) != set(ROLLOUT_INPUTS) or names_out != ROLLOUT_OUTPUTS:
        raise _fail(folder, f"rollout graph has inputs {names_in} / outputs {names_out}, expected "
                            f"{ROLLOUT_INPUTS} / {ROLLOUT_OUTPUTS}")
    more = threads - 1 if split else 0
    rollouts = [rollout] + [_session(folder / str(meta["files"]["rollout"]), 1) for _ in range(more)]
    return DanceModel(folder, meta, sessions["music_coder"], rollouts)
