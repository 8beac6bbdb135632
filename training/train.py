"""Train the dance generator with auto-conditioning, resumably and deterministically.

The trainer knows nothing about where the data comes from: it takes a `PairedWindows`
(aligned motion and music arrays, z-scored with statistics of the training split) and draws
random aligned windows from it.

Against freezing and drift (acLSTM, Zhou et al. 2018): inside each training window the
motion fed back to the network alternates between `gt_frames` frames of ground truth and
`self_frames` frames of the network's own previous output (gradients flow through them), with
`self_frames` ramping up from 0 over `ramp_steps` (`self_fed_frames`, a pure function of the
step). Gaussian noise of std `input_noise_std` (normalised units) is added to every fed-back
frame, which also makes the model tolerate the seeded noise the runtime injects for variation.

Loss: mean squared error of the normalised motion code, plus `speed_weight` x a speed term: the
L1 distance between predicted and true per-joint speeds (the length of each joint's 3-number
change over 1 and over `speed_lag` frames). A squared error alone is minimised, where the
network is unsure of the timing, by the average pose, and fed back on itself that average
is a still pose: the dance freezes. A speed's best guess under the same doubt is a typical
speed, not zero, so the speed term keeps the dance moving; the second, longer lag makes
jitter (fast back and forth, small displacement) cost as much as stillness. Optionally
`velocity_weight` x the squared error of the signed frame-to-frame differences.

Two phases. Phase 1 (steps before `free_from_step`) is the acLSTM schedule above. Phase 1
alone still froze here within a few hundred steps: over 5 self-fed frames the network can
coast on what the ground truth gave it, and a dance of minutes has no ground truth at all.
Phase 2 feeds `free_gt_frames` of ground truth and then `free_self_frames` of the network's
own output, so most outputs are free running. Exact poses cannot be predicted that far from
the last ground truth, and a squared error would then pull towards the average (still) pose;
so in phase 2 the free-running outputs' squared error is weighted by `free_mse_weight`, and a
moment term (`moment_weight` x the L1 distance between predicted and true per-dimension mean
and standard deviation over the window) keeps the poses in the data's range and amplitude.
The shipped configuration uses no dropout (GeneratorConfig.dropout = 0): with dropout on, the
speed and moment terms were met by amplifying dropout's frame-to-frame noise (measured on a
phase-2 checkpoint fed back on itself: per-joint code speed 0.15 with dropout on, 0.009 with
it off, i.e. frozen at run time, where dropout is off).

Learning rate: linear warm-up over `warmup_steps`, then cosine decay to `lr * lr_final`.

Motion is fed to the network as `dance_addon.core.motion.motion_code` codes (the root as swing +
heading change), normalised; `PairedWindows.from_rotvecs` does both.

Outputs in `out_dir`: `checkpoint.pt` (model + optimizer + both configs as dicts + the
normalisation statistics + the music features' version and columns + start poses + step +
every RNG state: `training/export.py` makes the add-on's model from it alone), `loss.jsonl`
(one line per logged step), `args.json` (the run's configs, written at start).

Paired training data on disk (`load_pairs`): a folder of `<name>.npz` files, one per
recording, each with `rotvecs` (T, 20, 3) float radians in `dance_addon.core.motion.skeleton`
order, `music` (T, F) float features at the same frame rate (`dance_addon.core.music.features`),
`fps` (scalar), `features_version` (string) and `feature_columns` (F strings); and beside
each a `<name>.json` provenance record (source, licence, ...). The record's "clip" (the source
motion the pair was made from) names the recording's style; without one, the file's name does.
"""
from __future__ import annotations

import argparse
import json
import math
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from tqdm import tqdm

from dance_addon.core.motion import motion_code
from dance_addon.core.motion.skeleton import MOTION_DIM, NUM_JOINTS
from training.model import DanceGenerator, GeneratorConfig


@dataclass
class TrainConfig:
    window: int = 120                   # frames per training window (4 s at 30 fps)
    batch_size: int = 32
    lr: float = 1e-3
    warmup_steps: int = 20
    lr_final: float = 0.1               # cosine decay to lr * lr_final at the last step
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    steps: int = 160
    gt_frames: int = 5                  # auto-conditioning: ground-truth frames per cycle ...
    self_frames: int = 5                # ... then this many self-fed frames (at full ramp)
    ramp_steps: int = 30                # steps over which self_frames ramps up from 0
    free_from_step: int = 60            # phase 2 from this step on (a negative value: never) ...
    free_gt_frames: int = 10            # ... cycles of this many ground-truth frames ...
    free_self_frames: int = 50          # ... then this many self-fed frames (free running)
    free_mse_weight: float = 0.25       # ... the squared error of free-running outputs weighs this much
    moment_weight: float = 1.0          # ... plus this x the window mean / std matching term
    input_noise_std: float = 0.05       # noise on fed-back motion, normalised units (also the runtime's)
    start_poses: int = 32               # training frames kept for the runtime's seeded first frame
    velocity_weight: float = 0.0
    speed_weight: float = 2.0
    speed_lag: int = 4
    seed: int = 0
    log_every: int = 5
    checkpoint_every: int = 40


def learning_rate(step: int, cfg: TrainConfig) -> float:
    """Learning rate at `step`: linear warm-up, then cosine decay to lr * lr_final."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(1, cfg.steps - cfg.warmup_steps)
    frac = min(1.0, (step - cfg.warmup_steps) / span)
    return cfg.lr * (cfg.lr_final + (1 - cfg.lr_final) * 0.5 * (1 + math.cos(math.pi * frac)))


def joint_speeds(x: torch.Tensor, lag: int) -> torch.Tensor:
    """(B, T, 60) motion -> (B, T - lag, 20): length of each joint's 3-number change over `lag` frames."""
    d = x[:, lag:] - x[:, :-lag]
    return d.reshape(*d.shape[:2], NUM_JOINTS, 3).norm(dim=-1)


def self_fed_frames(step: int, cfg: TrainConfig) -> int:
    """Self-fed frames per auto-conditioning cycle at `step` (0 .. cfg.self_frames, linear ramp)."""
    if cfg.ramp_steps <= 0:
        return cfg.self_frames
    return int(round(cfg.self_frames * min(1.0, step / cfg.ramp_steps)))


def self_fed_mask(window: int, step: int, cfg: TrainConfig) -> list[bool]:
    """For each of the window's input positions 1..window-1, whether the fed-back frame is the
    network's own output (True) or the ground truth (False)."""
    gt, n_self = (cfg.free_gt_frames, cfg.free_self_frames) if free_running(step, cfg) \
        else (cfg.gt_frames, self_fed_frames(step, cfg))
    if gt < 1:
        raise ValueError(f"TrainConfig.gt_frames / free_gt_frames must be at least 1 (each cycle starts from "
                         f"ground truth), got {gt}")
    period = gt + n_self
    return [(i % period) >= gt for i in range(window - 1)]


def free_running(step: int, cfg: TrainConfig) -> bool:
    """Whether `step` is in phase 2 (long free-running stretches, see the module doc)."""
    return 0 <= cfg.free_from_step <= step


# ---------------------------------------------------------------------------------- data

@dataclass
class NormStats:
    """z-score statistics (computed on the training split only)."""
    motion_mean: np.ndarray  # (60,)
    motion_std: np.ndarray   # (60,)
    music_mean: np.ndarray   # (F,)
    music_std: np.ndarray    # (F,)

    MIN_STD = 1e-3           # floor: constant columns would otherwise divide by zero

    @classmethod
    def compute(cls, motions: list[np.ndarray], musics: list[np.ndarray]) -> "NormStats":
        m = np.concatenate(motions).astype(np.float64)    # (sum T, 60)
        a = np.concatenate(musics).astype(np.float64)     # (sum T, F)
        return cls(m.mean(0), np.maximum(m.std(0), cls.MIN_STD), a.mean(0), np.maximum(a.std(0), cls.MIN_STD))

    def to_dict(self) -> dict[str, list[float]]:
        return {k: np.asarray(v, np.float64).tolist() for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "NormStats":
        return cls(**{k: np.asarray(d[k], np.float64) for k in ("motion_mean", "motion_std", "music_mean", "music_std")})


class PairedWindows:
    """Aligned (motion, music) recordings, normalised once, sampled as random windows.

    motions: list of (T_i, 60) motion codes (`from_rotvecs` makes them from rotation
    vectors); musics: list of (T_i, F) features; styles: one name per recording (the source
    clip; recordings with the same name share a learned style vector), or None for one style.
    """

    def __init__(self, motions: list[np.ndarray], musics: list[np.ndarray], stats: NormStats,
                 styles: Sequence[str] | None = None):
        if len(motions) != len(musics) or not motions:
            raise ValueError(f"need as many motions as music tracks, at least one: got {len(motions)} and {len(musics)}")
        if styles is not None and len(styles) != len(motions):
            raise ValueError(f"need one style name per recording: got {len(styles)} for {len(motions)} recordings")
        self.stats = stats
        names = ["default"] * len(motions) if styles is None else [str(s) for s in styles]
        self.style_names: tuple[str, ...] = tuple(sorted(set(names)))   # style index -> name
        self.styles = torch.tensor([self.style_names.index(n) for n in names])  # (recordings,)
        self.motions, self.musics = [], []
        for i, (mo, mu) in enumerate(zip(motions, musics)):
            if mo.ndim != 2 or mo.shape[1] != MOTION_DIM or mu.ndim != 2 or mo.shape[0] != mu.shape[0]:
                raise ValueError(f"pair {i}: motion {mo.shape} and music {mu.shape} are not aligned (T, 60) / (T, F)")
            self.motions.append(torch.from_numpy(((mo - stats.motion_mean) / stats.motion_std).astype(np.float32)))
            self.musics.append(torch.from_numpy(((mu - stats.music_mean) / stats.music_std).astype(np.float32)))
        self.music_dim = self.musics[0].shape[1]
        self.lengths = torch.tensor([m.shape[0] for m in self.motions], dtype=torch.float64)

    @classmethod
    def from_rotvecs(cls, rotvecs: list[np.ndarray], musics: list[np.ndarray],
                     styles: Sequence[str] | None = None) -> "PairedWindows":
        """Recordings as joint rotation vectors ((T, 60) or (T, 20, 3)) -> motion codes
        (`dance_addon.core.motion.motion_code`), normalised with statistics computed on them."""
        codes = [motion_code.encode(np.asarray(r).reshape(len(r), NUM_JOINTS, 3)) for r in rotvecs]
        return cls(codes, musics, NormStats.compute(codes, musics), styles)

    def sample(self, batch: int, window: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Random windows, recordings drawn in proportion to their length:
        -> motion (B, window, 60), music (B, window, F), both normalised, style indices (B,)."""
        ok = self.lengths >= window
        if not bool(ok.any()):
            raise ValueError(f"no recording is as long as the training window ({window} frames)")
        rec = torch.multinomial(self.lengths * ok, batch, replacement=True, generator=gen)
        mo, mu = [], []
        for r in rec.tolist():
            start = int(torch.randint(0, self.motions[r].shape[0] - window + 1, (1,), generator=gen))
            mo.append(self.motions[r][start:start + window])
            mu.append(self.musics[r][start:start + window])
        return torch.stack(mo), torch.stack(mu), self.styles[rec]

    def sample_frames(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """n normalised motion frames drawn at random from all recordings -> (n, 60)."""
        frames = torch.cat(self.motions)                                 # (sum T, 60)
        return frames[torch.randint(0, len(frames), (n,), generator=gen)]


@dataclass
class Pairs:
    """Paired training data read by `load_pairs`."""
    motions: list[np.ndarray]           # (T_i, 60) rotation vectors, radians
    musics: list[np.ndarray]            # (T_i, F) music features
    fps: float
    features_version: str
    feature_columns: tuple[str, ...]
    provenance: list[dict[str, Any]]    # one record per recording

    @property
    def styles(self) -> list[str]:
        """Style name per recording: its source clip, else its file's name (see the module doc)."""
        return [str(p.get("clip") or Path(p["file"]).stem) for p in self.provenance]


def load_pairs(folder: Path) -> Pairs:
    """Read every `<name>.npz` (+ `<name>.json` provenance) in `folder`, see the module doc.
    All files must share fps and music features (version and columns)."""
    files = sorted(Path(folder).glob("*.npz"))
    if not files:
        raise FileNotFoundError(f"no .npz training pairs in {folder}")
    motions, musics, prov, kinds = [], [], [], set()
    for f in files:
        with np.load(f) as z:
            rv, mu = z["rotvecs"], z["music"]
            kinds.add((float(z["fps"]), str(z["features_version"]), tuple(str(c) for c in z["feature_columns"])))
        if rv.shape[1:] != (NUM_JOINTS, 3) or mu.shape[0] != rv.shape[0] or mu.ndim != 2:
            raise ValueError(f"{f}: rotvecs {rv.shape} / music {mu.shape}: expected (T, 20, 3) and (T, F)")
        motions.append(rv.reshape(len(rv), MOTION_DIM))
        musics.append(mu)
        side = f.with_suffix(".json")
        prov.append({"file": f.name, **(json.loads(side.read_text()) if side.exists() else {})})
    if len(kinds) != 1:
        raise ValueError(f"the pairs in {folder} mix frame rates or music features: {sorted(kinds)}")
    (fps, version, columns), = kinds
    if len(columns) != musics[0].shape[1]:
        raise ValueError(f"{files[0]}: {len(columns)} feature columns but music has {musics[0].shape[1]}")
    return Pairs(motions, musics, fps, version, columns, prov)


# ---------------------------------------------------------------------------------- training

def _seed_everything(seed: int) -> torch.Generator:
    """Seed every RNG and switch torch to deterministic kernels (process-wide); -> the data RNG."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    return torch.Generator().manual_seed(seed)


def window_loss(model: DanceGenerator, motion: torch.Tensor, music: torch.Tensor, style: torch.Tensor,
                step: int, cfg: TrainConfig, gen: torch.Generator) -> torch.Tensor:
    """Auto-conditioned loss over one batch of windows: motion (B, L, 60), music (B, L, F),
    style indices (B,).

    Frame t (1..L-1) is predicted from the fed-back frame t-1 and the music code of frame t.
    Runs of ground-truth inputs go through the network in one call (teacher forcing);
    self-fed frames one step at a time, each from the previous prediction."""
    code = model.code_music(music, style)                                # (B, L, 60)
    mask = self_fed_mask(motion.shape[1], step, cfg)
    noise = torch.randn(motion[:, :-1].shape, generator=gen) * cfg.input_noise_std  # (B, L-1, 60)
    state, preds, i = None, [], 0
    while i < len(mask):
        j = i
        while j < len(mask) and mask[j] == mask[i]:
            j += 1
        if not mask[i]:                                                  # ground truth for inputs i..j-1
            y, state = model(motion[:, i:j] + noise[:, i:j], code[:, i + 1:j + 1], state)  # (B, j-i, 60)
            preds.extend(y.unbind(1))
        else:
            for k in range(i, j):                                        # own output fed back
                prev = preds[-1] if preds else motion[:, 0]
                y, state = model.step(prev + noise[:, k], code[:, k + 1], state)  # (B, 60)
                preds.append(y)
        i = j
    pred = torch.stack(preds, dim=1)                                     # (B, L-1, 60)
    target = motion[:, 1:]
    free = free_running(step, cfg)
    weight = torch.ones(len(mask))                                       # (L-1,) per output frame
    if free:
        weight[torch.tensor(mask)] = cfg.free_mse_weight                 # outputs of self-fed inputs
    loss = torch.mean(weight[None, :, None] * (pred - target) ** 2)
    if free and cfg.moment_weight > 0:                                   # per window and dimension
        loss = loss + cfg.moment_weight * torch.mean(torch.abs(pred.mean(1) - target.mean(1))
                                                     + torch.abs(pred.std(1) - target.std(1)))
    if cfg.velocity_weight > 0:
        loss = loss + cfg.velocity_weight * torch.mean((pred.diff(dim=1) - target.diff(dim=1)) ** 2)
    if cfg.speed_weight > 0:
        for lag in sorted({1, cfg.speed_lag}):
            if pred.shape[1] > lag:
                loss = loss + cfg.speed_weight * torch.mean(torch.abs(joint_speeds(pred, lag) - joint_speeds(target, lag)))
    return loss


def train(data: PairedWindows, model_cfg: GeneratorConfig, cfg: TrainConfig, out_dir: Path, *,
          fps: float, features_version: str, feature_columns: Sequence[str], resume: bool = False,
          provenance: dict[str, Any] | None = None, progress: bool = True) -> Path:
    """Train (or resume) and return the checkpoint path. Deterministic for `cfg.seed`.

    fps, features_version, feature_columns describe the data; they go into the checkpoint
    (and from there into the exported model)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = out_dir / "checkpoint.pt"
    if model_cfg.music_dim != data.music_dim:
        raise ValueError(f"model music_dim={model_cfg.music_dim} but the data has {data.music_dim} feature columns")
    if model_cfg.styles != len(data.style_names):
        raise ValueError(f"model styles={model_cfg.styles} but the data has {len(data.style_names)} style names")
    gen = _seed_everything(cfg.seed)
    model = DanceGenerator(model_cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    step = 0
    start_poses = data.sample_frames(cfg.start_poses, gen)               # (K, 60) normalised
    if resume:
        ck = torch.load(ckpt_path, weights_only=False)
        same_train = {**ck["train_config"], "steps": cfg.steps} == asdict(cfg)  # steps may grow
        if ck["model_config"] != model_cfg.to_dict() or not same_train:
            raise ValueError(f"{ckpt_path} was written with other configs; resume with the same ones "
                             f"(only the number of steps may change)")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        step = ck["step"]
        start_poses = ck["start_poses"]
        gen.set_state(ck["rng"]["generator"])
        torch.set_rng_state(ck["rng"]["torch"])
        np.random.set_state(ck["rng"]["numpy"])
        random.setstate(ck["rng"]["python"])
    else:
        (out_dir / "loss.jsonl").write_text("")
    (out_dir / "args.json").write_text(json.dumps(
        {"model_config": model_cfg.to_dict(), "train_config": asdict(cfg), "resume": resume,
         "provenance": provenance or {}}, indent=1))

    def save() -> None:
        torch.save({
            "model": model.state_dict(), "optimizer": opt.state_dict(),
            "model_config": model_cfg.to_dict(), "train_config": asdict(cfg),
            "norm": NormStats.to_dict(data.stats), "step": step, "provenance": provenance or {},
            "fps": float(fps), "features_version": features_version, "feature_columns": list(feature_columns),
            "start_poses": start_poses, "motion_code": motion_code.MOTION_CODE,
            "style_names": list(data.style_names),
            "rng": {"generator": gen.get_state(), "torch": torch.get_rng_state(),
                    "numpy": np.random.get_state(), "python": random.getstate()},
        }, ckpt_path)

    model.train()
    with open(out_dir / "loss.jsonl", "a") as log, \
            tqdm(total=cfg.steps, initial=step, disable=not progress, desc="train") as bar:
        while step < cfg.steps:
            motion, music, style = data.sample(cfg.batch_size, cfg.window, gen)
            loss = window_loss(model, motion, music, style, step, cfg, gen)
            for group in opt.param_groups:
                group["lr"] = learning_rate(step, cfg)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            step += 1
            bar.update(1)
            if step % cfg.log_every == 0 or step == cfg.steps:
                log.write(json.dumps({"step": step, "loss": loss.item(), "lr": learning_rate(step - 1, cfg),
                                      "phase": 2 if free_running(step - 1, cfg) else 1,
                                      "self_fed_per_window": sum(self_fed_mask(cfg.window, step - 1, cfg))}) + "\n")
                log.flush()
                bar.set_postfix(loss=f"{loss.item():.4f}")
            if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                save()
    return ckpt_path


def load_checkpoint(path: Path) -> tuple[DanceGenerator, dict[str, Any]]:
    """Rebuild the model from a checkpoint alone -> (model in eval mode, checkpoint dict)."""
    ck = torch.load(path, weights_only=False)
    model = DanceGenerator(GeneratorConfig.from_dict(ck["model_config"]))
    model.load_state_dict(ck["model"])
    return model.eval(), ck


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Train the dance generator on a folder of paired .npz files "
                                "(see training/train.py's module doc for the format).")
    p.add_argument("pairs", type=Path, help="folder of <name>.npz (+ <name>.json) training pairs: the training "
                   "split (the normalisation statistics are computed on it)")
    p.add_argument("out", type=Path, help="output folder: checkpoint.pt, loss.jsonl, args.json")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--steps", type=int, default=TrainConfig.steps)
    p.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    p.add_argument("--window", type=int, default=TrainConfig.window)
    p.add_argument("--lr", type=float, default=TrainConfig.lr)
    p.add_argument("--seed", type=int, default=TrainConfig.seed)
    a = p.parse_args(argv)
    pairs = load_pairs(a.pairs)
    data = PairedWindows.from_rotvecs(pairs.motions, pairs.musics, pairs.styles)
    cfg = TrainConfig(steps=a.steps, batch_size=a.batch_size, window=a.window, lr=a.lr, seed=a.seed)
    train(data, GeneratorConfig(music_dim=data.music_dim, styles=len(data.style_names)), cfg, a.out, fps=pairs.fps,
          features_version=pairs.features_version, feature_columns=pairs.feature_columns, resume=a.resume,
          provenance={"pairs": str(a.pairs), "recordings": pairs.provenance})


if __name__ == "__main__":
    main()
