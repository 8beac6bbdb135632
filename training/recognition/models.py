"""The dance recognizers: the paper's two streams on skeletons, their fusions, the baselines.

Every model reads a dict of stream inputs (features.stream_inputs as tensors; each model names
the ones it reads in `inputs`) and returns class logits (B, C). It normalises its inputs itself,
with per-channel mean and std buffers set from training windows (`set_normalisation`), so a
checkpoint (its config, classes and state dict; `save_checkpoint`) is all a later script needs.

- "pose": the pose stream alone (the paper's spatial stream): a temporal CNN over the per-frame
  pose (B, T, 58), mean and max over time, a linear head.
- "motion": the motion stream alone (the paper's temporal stream, optical flow there): the same
  network over the joint velocities and accelerations (B, T, 120).
- "two-stream": learned fusion. Both trunks; their embeddings joined and mixed by a fusion layer
  (`fusion_hidden` units; its output before the ReLU is the recognizer's feature space, `embed`)
  and a head. Each trunk keeps a head of its own whose loss is added (`aux_weight`), so the
  fused head cannot lean on one stream while the other stops learning.
- `LateFusion`: the other two-stream form, not trained itself: the mean of a pose model's and a
  motion model's class probabilities (the paper's averaging of the two streams' scores).
- "3d-cnn": the paper's 3D-CNN comparison in skeleton form, one stream over the raw clip:
  2-D convolutions over joints x time of the positions in the window's frame (x, y, z the
  channels; joints in a chain order, JOINT_CHAIN, so that neighbouring rows are joined bones).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dance_addon.core.motion.skeleton import NUM_JOINTS

from .features import MOTION_DIM, POSE_DIM

KINDS = ("pose", "motion", "two-stream", "3d-cnn")
INPUT_SHAPES: dict[str, tuple[int, ...]] = {"pose": (POSE_DIM,), "motion": (MOTION_DIM,), "raw": (NUM_JOINTS, 3)}
# the joints top to bottom as chains: left leg up, right leg down, spine up, left arm out, right arm out
JOINT_CHAIN = (7, 4, 1, 0, 2, 5, 8, 3, 6, 9, 10, 13, 11, 14, 16, 18, 12, 15, 17, 19)
STD_FLOOR = 1e-3
CHECKPOINT_VERSION = 1


@dataclass(frozen=True)
class RecognizerConfig:
    kind: str                                  # one of KINDS
    n_classes: int
    channels: tuple[int, ...] = (64, 96, 128)  # temporal CNN: channels per block (stride 1, then 2, 2)
    kernel: int = 5                            # frames (after time_pool)
    time_pool: int = 3                         # frames averaged before the convolutions (30 fps -> 10 fps)
    dropout: float = 0.3                       # on the pooled embedding
    fusion_hidden: int = 64                    # two-stream: units of the fusion layer (the feature space)
    aux_weight: float = 0.5                    # two-stream: weight of each stream's own head's loss
    cnn_channels: tuple[int, ...] = (16, 32, 64)   # 3d-cnn: channels per block (joints x time)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown recognizer kind {self.kind!r}; the kinds are {', '.join(KINDS)}")
        if self.n_classes < 2:
            raise ValueError(f"a recognizer needs at least 2 classes, got {self.n_classes}")

    @classmethod
    def from_dict(cls, d: dict) -> "RecognizerConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in names})


class TemporalCNN(nn.Module):
    """(B, T, D) per-frame features -> (B, 2 * channels[-1]): frames averaged in groups of `pool`,
    Conv1d blocks (BatchNorm, ReLU; the first at stride 1, the others at stride 2), then the mean
    and the max over time."""

    def __init__(self, in_dim: int, channels: tuple[int, ...], kernel: int, pool: int = 1):
        super().__init__()
        layers, c_in = ([nn.AvgPool1d(pool)] if pool > 1 else []), in_dim
        for i, c in enumerate(channels):
            layers += [nn.Conv1d(c_in, c, kernel, stride=1 if i == 0 else 2, padding=kernel // 2),
                       nn.BatchNorm1d(c), nn.ReLU()]
            c_in = c
        self.net = nn.Sequential(*layers)
        self.out_dim = 2 * channels[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.net(x.transpose(1, 2))                                  # (B, C, T')
        return torch.cat([h.mean(dim=-1), h.amax(dim=-1)], dim=1)       # (B, 2C)


class Recognizer(nn.Module):
    """Base: normalisation buffers for the inputs it reads, cross-entropy loss; embed gives its features."""

    def __init__(self, cfg: RecognizerConfig, inputs: tuple[str, ...]):
        super().__init__()
        self.cfg = cfg
        self.inputs = inputs
        for key in self.inputs:
            self.register_buffer(f"{key}_mean", torch.zeros(INPUT_SHAPES[key]))
            self.register_buffer(f"{key}_std", torch.ones(INPUT_SHAPES[key]))

    def set_normalisation(self, batch: dict[str, np.ndarray]) -> None:
        """Per-channel mean and std of training inputs (N, T, *shape) for every input the model reads."""
        for key in self.inputs:
            x = np.asarray(batch[key], dtype=np.float64)
            getattr(self, f"{key}_mean").copy_(torch.from_numpy(x.mean(axis=(0, 1))))
            getattr(self, f"{key}_std").copy_(torch.from_numpy(np.maximum(x.std(axis=(0, 1)), STD_FLOOR)))

    def norm(self, x: dict[str, torch.Tensor], key: str) -> torch.Tensor:
        return (x[key] - getattr(self, f"{key}_mean")) / getattr(self, f"{key}_std")

    def embed(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def loss(self, x: dict[str, torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self(x), y)


class StreamClassifier(Recognizer):
    """One stream ("pose" or "motion"): trunk, dropout, linear head."""

    def __init__(self, cfg: RecognizerConfig):
        super().__init__(cfg, (cfg.kind,))
        self.trunk = TemporalCNN(INPUT_SHAPES[cfg.kind][0], cfg.channels, cfg.kernel, cfg.time_pool)
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(self.trunk.out_dim, cfg.n_classes)

    def embed(self, x):
        return self.trunk(self.norm(x, self.cfg.kind))                  # (B, E)

    def forward(self, x):
        return self.head(self.drop(self.embed(x)))                      # (B, C)


class TwoStream(Recognizer):
    """Learned fusion of the pose and motion streams (module docstring)."""

    def __init__(self, cfg: RecognizerConfig):
        super().__init__(cfg, ("pose", "motion"))
        self.pose = TemporalCNN(POSE_DIM, cfg.channels, cfg.kernel, cfg.time_pool)
        self.motion = TemporalCNN(MOTION_DIM, cfg.channels, cfg.kernel, cfg.time_pool)
        self.drop = nn.Dropout(cfg.dropout)
        self.fuse = nn.Linear(self.pose.out_dim + self.motion.out_dim, cfg.fusion_hidden)
        self.head = nn.Linear(cfg.fusion_hidden, cfg.n_classes)
        self.pose_head = nn.Linear(self.pose.out_dim, cfg.n_classes)
        self.motion_head = nn.Linear(self.motion.out_dim, cfg.n_classes)

    def _streams(self, x):
        return self.drop(self.pose(self.norm(x, "pose"))), self.drop(self.motion(self.norm(x, "motion")))

    def embed(self, x):
        """(B, fusion_hidden): the fusion layer's output before its ReLU, the recognizer's feature space."""
        p, m = self._streams(x)
        return self.fuse(torch.cat([p, m], dim=1))

    def forward(self, x):
        return self.head(self.drop(F.relu(self.embed(x))))              # (B, C)

    def loss(self, x, y):
        p, m = self._streams(x)
        fused = self.head(self.drop(F.relu(self.fuse(torch.cat([p, m], dim=1)))))
        aux = F.cross_entropy(self.pose_head(p), y) + F.cross_entropy(self.motion_head(m), y)
        return F.cross_entropy(fused, y) + self.cfg.aux_weight * aux


class Clip3DCNN(Recognizer):
    """The 3D-CNN-like baseline: frames averaged in groups of time_pool, Conv2d blocks over (joints
    in JOINT_CHAIN order) x time of the raw positions (x, y, z as channels; BatchNorm, ReLU; the
    first block at stride 1, the others at stride 2 in both), then the mean and the max over joints
    and time, dropout, a linear head."""

    def __init__(self, cfg: RecognizerConfig):
        super().__init__(cfg, ("raw",))
        layers, c_in = ([nn.AvgPool2d((1, cfg.time_pool))] if cfg.time_pool > 1 else []), 3
        for i, c in enumerate(cfg.cnn_channels):
            s = 1 if i == 0 else 2
            layers += [nn.Conv2d(c_in, c, (3, cfg.kernel), stride=(s, s), padding=(1, cfg.kernel // 2)),
                       nn.BatchNorm2d(c), nn.ReLU()]
            c_in = c
        self.net = nn.Sequential(*layers)
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(2 * cfg.cnn_channels[-1], cfg.n_classes)
        self.register_buffer("chain", torch.tensor(JOINT_CHAIN), persistent=False)

    def embed(self, x):
        raw = self.norm(x, "raw")[:, :, self.chain]                      # (B, T, 20, 3)
        h = self.net(raw.permute(0, 3, 2, 1))                            # (B, C, J', T')
        return torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)  # (B, 2C)

    def forward(self, x):
        return self.head(self.drop(self.embed(x)))


class LateFusion(nn.Module):
    """Late fusion of two trained single-stream models: log of the mean of their class
    probabilities (so softmax of the output is that mean)."""

    def __init__(self, pose: Recognizer, motion: Recognizer):
        super().__init__()
        self.pose, self.motion = pose, motion
        self.inputs = tuple(dict.fromkeys(pose.inputs + motion.inputs))

    def forward(self, x):
        probs = (F.softmax(self.pose(x), dim=1) + F.softmax(self.motion(x), dim=1)) / 2.0
        return torch.log(probs.clamp_min(1e-12))                        # (B, C)


def build_model(cfg: RecognizerConfig) -> Recognizer:
    if cfg.kind in ("pose", "motion"):
        return StreamClassifier(cfg)
    if cfg.kind == "two-stream":
        return TwoStream(cfg)
    return Clip3DCNN(cfg)


def save_checkpoint(path: Path, model: Recognizer, classes: tuple[str, ...], meta: dict) -> Path:
    """The model's config, classes, state dict and `meta` (window, fps, what it was trained on) in one file."""
    if len(classes) != model.cfg.n_classes:
        raise ValueError(f"{len(classes)} class names for a model of {model.cfg.n_classes} classes")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"version": CHECKPOINT_VERSION, "config": asdict(model.cfg), "classes": list(classes),
                "state_dict": model.state_dict(), "meta": meta}, path)
    return path


def load_checkpoint(path: Path) -> tuple[Recognizer, tuple[str, ...], dict]:
    """(model in eval mode, classes, meta) from save_checkpoint's file."""
    ck = torch.load(Path(path), map_location="cpu", weights_only=True)
    if ck.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{path}: recognizer checkpoint version {ck.get('version')}, this code reads "
                         f"{CHECKPOINT_VERSION}; retrain it with `make recognize`")
    model = build_model(RecognizerConfig.from_dict(ck["config"]))
    model.load_state_dict(ck["state_dict"])
    return model.eval(), tuple(ck["classes"]), ck["meta"]
