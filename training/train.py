"""Train the dance generator, resumably and deterministically.

The trainer knows nothing about where the data comes from: it takes a `PairedWindows`
(aligned frames and music arrays, z-scored with statistics of the training split, plus each
frame's foot contacts) and draws random aligned windows from it. Every recording also enters
mirrored left to right (`motion.mirror`): twice the data, and every move on both feet.

The recipe (after Motion VAEs, Ling et al. 2020, and acLSTM, Zhou et al. 2018). The first
generator (session 1) was trained on a squared error alone for 160 steps and danced one move
per song, in place, stopping on every beat: the squared error's best answer to an uncertain
future is the average pose, and fed back on itself the average is a still pose.
- A per-frame latent z: a posterior q(z | frame t-1, frame t, music code) tells the network
  which of the possible next frames the data took; the generator reads z beside its inputs;
  a KL term (`kl_weight`) keeps q near N(0, I), which is what the runtime samples. The
  network need not average the futures: z picks one.
- Scheduled sampling over long rollouts: each window starts with `warm_frames` ground-truth
  frames (the LSTM state settles), then runs frame by frame, each input being the network's
  own previous output with probability `self_fed(step)` (ramping from 0 to `self_fed_max`
  over `ramp_steps`), else the ground truth; gradients flow through the fed-back frames.
- Losses on what is seen, not only on codes: the squared error of the normalised frame, plus
  the L1 error of the joints' positions relative to the pelvis (`position_weight`, metres) and
  of their frame-to-frame velocities (`velocity_weight`), plus the horizontal speed of each
  ankle, with heading and travel integrated over the window, where the ground truth's foot is
  planted (`skate_weight`): planted feet stay put.
- The root travels: a frame carries the pelvis's body-frame velocity and height
  (`motion_code.encode_root`).

Learning rate: linear warm-up over `warmup_steps`, then cosine decay to `lr * lr_final`.

Outputs in `out_dir`: `checkpoint.pt` (model + optimizer + both configs as dicts + the
normalisation statistics + the music features' version and columns + start frames + step +
every RNG state: `training/export.py` makes the add-on's model from it alone), `loss.jsonl`
(one line per logged step with each loss term), `args.json` (the run's configs, written at start).

Paired training data on disk (`load_pairs`): a folder of `<name>.npz` files, one per
recording, each with `rotvecs` (T, 20, 3) float radians in `dance_addon.core.motion.skeleton`
order, `root_translation` (T, 3) metres, `music` (T, F) float features at the same frame rate
(`dance_addon.core.music.features`), `fps` (scalar), `features_version` (string) and
`feature_columns` (F strings); and beside each a `<name>.json` provenance record (source,
licence, ...). The record's "clip" (the source motion the pair was made from) names the
recording's style; without one, the file's name does.
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
from torch import nn
from tqdm import tqdm

from dance_addon.core.motion import motion_code
from dance_addon.core.motion.feet import contacts as foot_contacts
from dance_addon.core.motion.mirror import mirror_rotvecs, mirror_translation
from dance_addon.core.motion.motion_code import FRAME_DIM
from dance_addon.core.motion.skeleton import MOTION_DIM, NUM_JOINTS, end_positions, forward_kinematics
from training.kinematics import FEET, body_positions, world_positions
from training.model import DanceGenerator, GeneratorConfig, LSTMState


@dataclass
class TrainConfig:
    window: int = 76                    # frames per training window (2.5 s at 30 fps: 5 latents of 15 frames)
    batch_size: int = 32
    lr: float = 1e-3
    warmup_steps: int = 50
    lr_final: float = 0.05              # cosine decay to lr * lr_final at the last step
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    steps: int = 1600
    warm_frames: int = 15               # ground-truth frames at each window's start
    self_fed_max: float = 1.0           # scheduled sampling: share of own outputs fed back, at full ramp ...
    ramp_steps: int = 600               # ... reached over this many steps (linear from 0)
    kl_weight: float = 0.5              # KL(q(z | ...) || N(0, I)) per latent / (its frames x D)
    prior_steps: int = 400              # after training: steps fitting the run-time prior to the posterior
    prior_lr: float = 1e-3
    position_weight: float = 2.0        # L1 of pelvis-relative joint positions, metres
    velocity_weight: float = 20.0       # L1 of their frame-to-frame changes, metres
    skate_weight: float = 20.0          # horizontal ankle motion (m per frame) where the truth's foot is planted
    mirror: bool = True                 # also train on every recording's left-right mirror
    start_poses: int = 32               # training frames kept for the runtime's seeded first frame
    seed: int = 0
    log_every: int = 10
    checkpoint_every: int = 100


def learning_rate(step: int, cfg: TrainConfig) -> float:
    """Learning rate at `step`: linear warm-up, then cosine decay to lr * lr_final."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(1, cfg.steps - cfg.warmup_steps)
    frac = min(1.0, (step - cfg.warmup_steps) / span)
    return cfg.lr * (cfg.lr_final + (1 - cfg.lr_final) * 0.5 * (1 + math.cos(math.pi * frac)))


def self_fed(step: int, cfg: TrainConfig) -> float:
    """Probability that an input frame after the warm frames is the network's own output, at `step`."""
    if cfg.ramp_steps <= 0:
        return cfg.self_fed_max
    return cfg.self_fed_max * min(1.0, step / cfg.ramp_steps)


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
        keys = ("motion_mean", "motion_std", "music_mean", "music_std")
        return cls(**{k: np.asarray(d[k], np.float64) for k in keys})


class PairedWindows:
    """Aligned (frames, music) recordings, normalised once, sampled as random windows.

    frames: list of (T_i, FRAME_DIM) generator frames (`from_motion` makes them from rotation
    vectors and root translations); musics: list of (T_i, F) features; contacts: list of
    (T_i, 2) bool planted left / right ankles; styles: one name per recording (the source
    clip; recordings with the same name share a learned style vector), or None for one style.
    """

    def __init__(self, frames: list[np.ndarray], musics: list[np.ndarray], contacts: list[np.ndarray],
                 stats: NormStats, styles: Sequence[str] | None = None):
        if len(frames) != len(musics) or len(frames) != len(contacts) or not frames:
            raise ValueError(f"need as many frames as music tracks and contacts, at least one: got {len(frames)}, "
                             f"{len(musics)} and {len(contacts)}")
        if styles is not None and len(styles) != len(frames):
            raise ValueError(f"need one style name per recording: got {len(styles)} for {len(frames)} recordings")
        self.stats = stats
        names = ["default"] * len(frames) if styles is None else [str(s) for s in styles]
        self.style_names: tuple[str, ...] = tuple(sorted(set(names)))   # style index -> name
        self.styles = torch.tensor([self.style_names.index(n) for n in names])  # (recordings,)
        self.frames, self.musics, self.contacts = [], [], []
        for i, (fr, mu, co) in enumerate(zip(frames, musics, contacts)):
            if fr.ndim != 2 or fr.shape[1] != FRAME_DIM or mu.ndim != 2 or fr.shape[0] != mu.shape[0] \
                    or co.shape != (fr.shape[0], 2):
                raise ValueError(f"pair {i}: frames {fr.shape}, music {mu.shape} and contacts {co.shape} are not "
                                 f"aligned (T, {FRAME_DIM}) / (T, F) / (T, 2)")
            self.frames.append(torch.from_numpy(((fr - stats.motion_mean) / stats.motion_std).astype(np.float32)))
            self.musics.append(torch.from_numpy(((mu - stats.music_mean) / stats.music_std).astype(np.float32)))
            self.contacts.append(torch.from_numpy(np.asarray(co, bool)))
        self.music_dim = self.musics[0].shape[1]
        self.lengths = torch.tensor([m.shape[0] for m in self.frames], dtype=torch.float64)

    @classmethod
    def from_motion(cls, rotvecs: list[np.ndarray], roots: list[np.ndarray], musics: list[np.ndarray], fps: float,
                    styles: Sequence[str] | None = None, mirror: bool = False) -> "PairedWindows":
        """Recordings as joint rotation vectors ((T, 60) or (T, 20, 3)) and root translations
        (T, 3) -> generator frames (`motion_code.encode` + `encode_root`) and foot contacts
        (`motion.feet.contacts`), normalised with statistics computed on them; with `mirror`,
        each recording's left-right mirror too (same music, same style)."""
        frames, contacts, music_all, names = [], [], [], []
        styles = list(styles) if styles is not None else ["default"] * len(rotvecs)
        for rv, root, mu, name in zip(rotvecs, roots, musics, styles):
            rv = np.asarray(rv, np.float64).reshape(len(rv), NUM_JOINTS, 3)
            versions = [(rv, np.asarray(root, np.float64))]
            if mirror:
                versions.append((mirror_rotvecs(rv), mirror_translation(np.asarray(root, np.float64))))
            for r, t in versions:
                frames.append(np.concatenate([motion_code.encode(r), motion_code.encode_root(r, t, fps)], axis=1))
                pos = forward_kinematics(r, t)
                contacts.append(foot_contacts(pos, fps, np.stack([p for p in end_positions(r, pos).values()][:2], 1)))
                music_all.append(mu)
                names.append(name)
        return cls(frames, music_all, contacts, NormStats.compute(frames, music_all), names)

    def sample(self, batch: int, window: int, gen: torch.Generator
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Random windows, recordings drawn in proportion to their length: -> frames (B, window, D),
        music (B, window, F), both normalised, contacts (B, window, 2) bool, style indices (B,)."""
        ok = self.lengths >= window
        if not bool(ok.any()):
            raise ValueError(f"no recording is as long as the training window ({window} frames)")
        rec = torch.multinomial(self.lengths * ok, batch, replacement=True, generator=gen)
        fr, mu, co = [], [], []
        for r in rec.tolist():
            start = int(torch.randint(0, self.frames[r].shape[0] - window + 1, (1,), generator=gen))
            fr.append(self.frames[r][start:start + window])
            mu.append(self.musics[r][start:start + window])
            co.append(self.contacts[r][start:start + window])
        return torch.stack(fr), torch.stack(mu), torch.stack(co), self.styles[rec]

    def sample_frames(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """n normalised frames drawn at random from all recordings -> (n, D)."""
        frames = torch.cat(self.frames)                                  # (sum T, D)
        return frames[torch.randint(0, len(frames), (n,), generator=gen)]


@dataclass
class Pairs:
    """Paired training data read by `load_pairs`."""
    motions: list[np.ndarray]           # (T_i, 60) rotation vectors, radians
    roots: list[np.ndarray]             # (T_i, 3) root translations, metres
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
    motions, roots, musics, prov, kinds = [], [], [], [], set()
    for f in files:
        with np.load(f) as z:
            rv, mu, root = z["rotvecs"], z["music"], z["root_translation"]
            kinds.add((float(z["fps"]), str(z["features_version"]), tuple(str(c) for c in z["feature_columns"])))
        if rv.shape[1:] != (NUM_JOINTS, 3) or mu.shape[0] != rv.shape[0] or mu.ndim != 2:
            raise ValueError(f"{f}: rotvecs {rv.shape} / music {mu.shape}: expected (T, 20, 3) and (T, F)")
        motions.append(rv.reshape(len(rv), MOTION_DIM))
        roots.append(root)
        musics.append(mu)
        side = f.with_suffix(".json")
        prov.append({"file": f.name, **(json.loads(side.read_text()) if side.exists() else {})})
    if len(kinds) != 1:
        raise ValueError(f"the pairs in {folder} mix frame rates or music features: {sorted(kinds)}")
    (fps, version, columns), = kinds
    if len(columns) != musics[0].shape[1]:
        raise ValueError(f"{files[0]}: {len(columns)} feature columns but music has {musics[0].shape[1]}")
    return Pairs(motions, roots, musics, fps, version, columns, prov)


# ---------------------------------------------------------------------------------- training

def _seed_everything(seed: int) -> torch.Generator:
    """Seed every RNG and switch torch to deterministic kernels (process-wide); -> the data RNG."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    return torch.Generator().manual_seed(seed)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) summed over the last axis: (..., Z) -> (...)."""
    return 0.5 * torch.sum(mu * mu + logvar.exp() - 1.0 - logvar, dim=-1)


def window_loss(model: DanceGenerator, frames: torch.Tensor, music: torch.Tensor, contacts: torch.Tensor,
                style: torch.Tensor, eps: torch.Tensor, coin: torch.Tensor, step: int, cfg: TrainConfig,
                stats_t: tuple[torch.Tensor, torch.Tensor], fps: float) -> tuple[torch.Tensor, dict[str, float]]:
    """The loss of one batch of windows -> (loss, each term's value): frames (B, L, D) and music
    (B, L, F) normalised, contacts (B, L, 2) bool, style indices (B,); eps (B, L-1, Z) standard
    normal draws for the latents, coin (B, L-1) uniform draws deciding which inputs are the
    network's own (drawn by the caller, so a batch split over processes draws what one process
    would); stats_t: the frames' mean and std as tensors (to measure joints in metres). Every
    term is a mean over equal parts of the batch, so the mean of the parts' losses is the loss.

    Frame t (1..L-1) is predicted from the input frame t-1, the music code of frame t and the
    latent of its span: the window's frames go in spans of `latent_frames`, each with one latent
    drawn from the posterior of (the span's first input, the span's true frames). Inputs before
    `warm_frames` are the truth; after, each input is the network's own previous output with
    probability `self_fed(step)`. Spans whose inputs are all the truth go through the network
    in one call; the others frame by frame."""
    code = model.code_music(music, style)                                # (B, L, 60)
    prev, target, code_t = frames[:, :-1], frames[:, 1:], code[:, 1:]
    n, span = prev.shape[1], model.cfg.latent_frames
    p = self_fed(step, cfg)
    own = coin < p                                                       # (B, L-1): input is own output
    own[:, :cfg.warm_frames] = False
    preds, kls, state, last = [], [], None, None
    for t0 in range(0, n, span):                                         # one latent per span of frames
        t1 = min(n, t0 + span)
        x0 = prev[:, t0] if last is None else torch.where(own[:, t0, None], last, prev[:, t0])
        mu, logvar = model.posterior(x0, target[:, t0:t1], code_t[:, t0:t1])
        kls.append(kl_divergence(mu, logvar))                            # (B,)
        z = mu + eps[:, t0] * (0.5 * logvar).exp()                       # (B, Z)
        if p == 0 or not bool(own[:, t0:t1].any()):                      # ground truth in: one call
            y, state = model(prev[:, t0:t1], code_t[:, t0:t1], z[:, None].expand(-1, t1 - t0, -1), state)
            preds.append(y)
            last = y[:, -1]
            continue
        for t in range(t0, t1):
            x = torch.where(own[:, t, None], last, prev[:, t]) if last is not None else prev[:, t]  # (B, D)
            last, state = model.step(x, code_t[:, t], z, state)
            preds.append(last[:, None])
    pred = torch.cat(preds, dim=1)                                       # (B, L-1, D)
    mean, std = stats_t
    # KL per latent, spread over the frames and numbers it describes, so that kl_weight = 1 is
    # the evidence lower bound's balance against the frames' squared error
    terms = {"frame": torch.mean((pred - target) ** 2),
             "kl": torch.mean(torch.stack(kls, 1)) / (span * pred.shape[2])}
    pred_m, true_m = pred * std + mean, target * std + mean              # (B, L-1, D) in radians, metres
    if cfg.position_weight > 0 or cfg.velocity_weight > 0:
        bp, bt = body_positions(pred_m), body_positions(true_m)          # (B, L-1, 20, 3)
        terms["position"] = torch.mean(torch.abs(bp - bt))
        terms["velocity"] = torch.mean(torch.abs(bp.diff(dim=1) - bt.diff(dim=1)))
    if cfg.skate_weight > 0:
        feet = world_positions(pred_m, fps)[:, :, list(FEET)][..., [0, 2]]  # (B, L-1, 2, 2) horizontal
        moved = (feet.diff(dim=1) ** 2).sum(-1).add(1e-10).sqrt()        # (B, L-2, 2) metres per frame
        planted = (contacts[:, 1:-1] & contacts[:, 2:]).float()          # truth planted on both frames
        terms["skate"] = torch.mean(moved * planted)
    weights = {"frame": 1.0, "kl": cfg.kl_weight, "position": cfg.position_weight,
               "velocity": cfg.velocity_weight, "skate": cfg.skate_weight}
    loss = sum(weights[k] * v for k, v in terms.items())
    return loss, {k: v.item() for k, v in terms.items()}


def kl_gaussians(mu_q: torch.Tensor, logvar_q: torch.Tensor, mu_p: torch.Tensor,
                 logvar_p: torch.Tensor) -> torch.Tensor:
    """KL(N(mu_q, exp(logvar_q)) || N(mu_p, exp(logvar_p))) summed over the last axis."""
    return 0.5 * torch.sum(logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p) ** 2) / logvar_p.exp() - 1.0, dim=-1)


def prior_targets(model: DanceGenerator, frames: torch.Tensor, music: torch.Tensor, style: torch.Tensor,
                  eps: torch.Tensor, cfg: TrainConfig) -> list[tuple[LSTMState, torch.Tensor, torch.Tensor,
                                                                  torch.Tensor, torch.Tensor]]:
    """What the run-time prior must learn, from the trained network running as at the end of
    training (warm frames of truth, then its own outputs, latents from the posterior): for each
    span after the first, (LSTM state before the span, input frame, music code, posterior mean,
    posterior log-variance). No gradients."""
    out = []
    with torch.no_grad():
        code = model.code_music(music, style)
        prev, target, code_t = frames[:, :-1], frames[:, 1:], code[:, 1:]
        n, span = prev.shape[1], model.cfg.latent_frames
        state, last = None, None
        for t0 in range(0, n, span):
            t1 = min(n, t0 + span)
            x0 = prev[:, t0] if t0 < cfg.warm_frames or last is None else last
            mu, logvar = model.posterior(x0, target[:, t0:t1], code_t[:, t0:t1])
            if t0 > 0:
                out.append((state, x0, code_t[:, t0], mu, logvar))
            z = mu + eps[:, t0] * (0.5 * logvar).exp()
            for t in range(t0, t1):
                x = prev[:, t] if t < cfg.warm_frames else last
                last, state = model.step(x, code_t[:, t], z, state)
    return out


def fit_prior(model: DanceGenerator, data: "PairedWindows", cfg: TrainConfig, seed: int,
              log: Any = None, progress: bool = True) -> float:
    """Fit the run-time prior p(z | state, frame, music) to the trained network's posterior
    (KL(q || p), the rest of the network frozen), from a fresh initialisation, `cfg.prior_steps`
    steps with random numbers of their own (`seed`) -> the last mean KL in nats per latent.
    The runtime draws its latents from this prior: from N(0, I) the latents disagreed with the
    state the network was in, and the dances hardly moved (pose diversity 0.14-0.16 against the
    real clips' 0.98 at checkpoints 500 and 800 of the first run; 0.90 with the prior at 800)."""
    if cfg.window - 1 <= model.cfg.latent_frames:
        raise ValueError(f"the prior is fitted on the latents after a window's first: window {cfg.window} needs to be "
                         f"over latent_frames + 1 = {model.cfg.latent_frames + 1}")
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for layer in model.prior:
            if isinstance(layer, nn.Linear):
                layer.reset_parameters()
    opt = torch.optim.Adam(model.prior.parameters(), lr=cfg.prior_lr)
    model.eval()
    model.prior.requires_grad_(True)
    kl = float("nan")
    for step in tqdm(range(cfg.prior_steps), disable=not progress, desc="prior"):
        frames, music, _, style = data.sample(cfg.batch_size, cfg.window, gen)
        eps = torch.randn((cfg.batch_size, cfg.window - 1, model.cfg.latent_dim), generator=gen)
        targets = prior_targets(model, frames, music, style, eps, cfg)
        loss = torch.stack([kl_gaussians(mu, lv, *model.prior_dist(st, x, c)).mean()
                            for st, x, c, mu, lv in targets]).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        kl = loss.item()
        if log is not None and ((step + 1) % cfg.log_every == 0 or step + 1 == cfg.prior_steps):
            log.write(json.dumps({"prior_step": step + 1, "prior_kl": kl}) + "\n")
            log.flush()
    return kl


def _distributed() -> tuple[int, int, torch.device]:
    """(rank, world size, device) of this process: torchrun sets WORLD_SIZE, RANK, LOCAL_RANK and
    the rendezvous address; the process group is made here (NCCL, one GPU a process, when there
    are GPUs; gloo on CPU). (0, 1, cpu) alone."""
    import os

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, torch.device("cpu")
    import torch.distributed as dist

    gpu = torch.cuda.is_available()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if gpu else "gloo")
    device = torch.device("cpu")
    if gpu:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return dist.get_rank(), dist.get_world_size(), device


def train(data: PairedWindows, model_cfg: GeneratorConfig, cfg: TrainConfig, out_dir: Path, *,
          fps: float, features_version: str, feature_columns: Sequence[str], resume: bool = False,
          provenance: dict[str, Any] | None = None, progress: bool = True) -> Path:
    """Train (or resume) and return the checkpoint path. Deterministic for `cfg.seed`.

    fps, features_version, feature_columns describe the data; they go into the checkpoint
    (and from there into the exported model).

    Under `torchrun --nproc_per_node=N` the model is wrapped in DistributedDataParallel: every
    process draws the same batch of `batch_size` windows (and the same random numbers) and
    trains on its own 1/N of it; the averaged gradients are those of the whole batch, so N
    processes follow one process's run (to rounding). Rank 0 alone writes the outputs."""
    out_dir = Path(out_dir)
    rank, world, device = _distributed()
    if cfg.batch_size % world:
        raise ValueError(f"batch_size {cfg.batch_size} does not split evenly over {world} processes")
    if rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = out_dir / "checkpoint.pt"
    if model_cfg.music_dim != data.music_dim:
        raise ValueError(f"model music_dim={model_cfg.music_dim} but the data has {data.music_dim} feature columns")
    if model_cfg.styles != len(data.style_names):
        raise ValueError(f"model styles={model_cfg.styles} but the data has {len(data.style_names)} style names")
    if model_cfg.frame_dim != FRAME_DIM:
        raise ValueError(f"model frame_dim={model_cfg.frame_dim} but the frames have {FRAME_DIM} numbers")
    gen = _seed_everything(cfg.seed)
    model = DanceGenerator(model_cfg)
    model.prior.requires_grad_(False)                                    # fitted after training (fit_prior)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr,
                            weight_decay=cfg.weight_decay)
    prior_kl = None
    step = 0
    start_poses = data.sample_frames(cfg.start_poses, gen)               # (K, D) normalised
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
        prior_kl = ck.get("prior_kl") if step >= cfg.steps else None     # more steps: fitted again after them
        gen.set_state(ck["rng"]["generator"])
        torch.set_rng_state(ck["rng"]["torch"])
        np.random.set_state(ck["rng"]["numpy"])
        random.setstate(ck["rng"]["python"])
    elif rank == 0:
        (out_dir / "loss.jsonl").write_text("")
    if rank == 0:
        (out_dir / "args.json").write_text(json.dumps(
            {"model_config": model_cfg.to_dict(), "train_config": asdict(cfg), "resume": resume,
             "world_size": world, "provenance": provenance or {}}, indent=1))
    net: nn.Module = _WindowLoss(model.to(device), cfg, fps)
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    stats_t = (torch.as_tensor(data.stats.motion_mean, dtype=torch.float32, device=device),
               torch.as_tensor(data.stats.motion_std, dtype=torch.float32, device=device))
    part = slice(rank * cfg.batch_size // world, (rank + 1) * cfg.batch_size // world)

    def save() -> None:
        torch.save({
            "model": model.state_dict(), "optimizer": opt.state_dict(),
            "model_config": model_cfg.to_dict(), "train_config": asdict(cfg),
            "norm": NormStats.to_dict(data.stats), "step": step, "provenance": provenance or {},
            "fps": float(fps), "features_version": features_version, "feature_columns": list(feature_columns),
            "start_poses": start_poses, "motion_code": motion_code.MOTION_CODE,
            "style_names": list(data.style_names), "prior_kl": prior_kl,
            "rng": {"generator": gen.get_state(), "torch": torch.get_rng_state(),
                    "numpy": np.random.get_state(), "python": random.getstate()},
        }, ckpt_path)

    model.train()
    with open(out_dir / "loss.jsonl", "a") if rank == 0 else open("/dev/null", "w") as log, \
            tqdm(total=cfg.steps, initial=step, disable=not progress or rank != 0, desc="train") as bar:
        while step < cfg.steps:
            frames, music, contacts, style = data.sample(cfg.batch_size, cfg.window, gen)
            eps = torch.randn((cfg.batch_size, cfg.window - 1, model_cfg.latent_dim), generator=gen)
            coin = torch.rand((cfg.batch_size, cfg.window - 1), generator=gen)
            batch = [t[part].to(device) for t in (frames, music, contacts, style, eps, coin)]
            loss, terms = net(*batch, torch.tensor(step), *stats_t)
            if world > 1:                                                # log the whole batch's loss
                import torch.distributed as dist

                logged = torch.tensor([loss.item(), *terms.values()], device=device)
                dist.all_reduce(logged)
                logged = (logged / world).tolist()
                terms = dict(zip(terms, logged[1:]))
            else:
                logged = [loss.item()]
            for group in opt.param_groups:
                group["lr"] = learning_rate(step, cfg)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            step += 1
            bar.update(1)
            if rank == 0 and (step % cfg.log_every == 0 or step == cfg.steps):
                log.write(json.dumps({"step": step, "loss": logged[0], "lr": learning_rate(step - 1, cfg),
                                      "self_fed": self_fed(step - 1, cfg), **terms}) + "\n")
                log.flush()
                bar.set_postfix(loss=f"{logged[0]:.4f}")
            if rank == 0 and (step % cfg.checkpoint_every == 0 or step == cfg.steps):
                save()
        if rank == 0 and prior_kl is None and cfg.prior_steps > 0:
            prior_kl = fit_prior(model, data, cfg, cfg.seed + step, log, progress)
            save()
    return ckpt_path


class _WindowLoss(nn.Module):
    """`window_loss` as a module's forward, so that DistributedDataParallel sees one forward
    per step (its gradient averaging hooks on the forward) however many calls the rollout
    makes inside."""

    def __init__(self, model: DanceGenerator, cfg: TrainConfig, fps: float):
        super().__init__()
        self.model, self.cfg, self.fps = model, cfg, fps

    def forward(self, frames, music, contacts, style, eps, coin, step, mean, std):
        return window_loss(self.model, frames, music, contacts, style, eps, coin, int(step), self.cfg, (mean, std),
                           self.fps)


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
    cfg = TrainConfig(steps=a.steps, batch_size=a.batch_size, window=a.window, lr=a.lr, seed=a.seed)
    data = PairedWindows.from_motion(pairs.motions, pairs.roots, pairs.musics, pairs.fps, pairs.styles,
                                     mirror=cfg.mirror)
    train(data, GeneratorConfig(music_dim=data.music_dim, styles=len(data.style_names)), cfg, a.out, fps=pairs.fps,
          features_version=pairs.features_version, feature_columns=pairs.feature_columns, resume=a.resume,
          provenance={"pairs": str(a.pairs), "recordings": pairs.provenance})


if __name__ == "__main__":
    main()
