"""Train the dance generator, resumably and deterministically.

The trainer knows nothing about where the data comes from: it takes a `PairedWindows`
(aligned frames and music arrays, z-scored with statistics of the training split, plus each
frame's foot contacts) and draws random aligned windows from it. Every recording also enters
mirrored left to right (`motion.mirror`): twice the data, and every move on both feet.

The recipe (after Motion VAEs, Ling et al. 2020, and acLSTM, Zhou et al. 2018). The first
generator (session 1) was trained on a squared error alone for 160 steps and danced one move
per song, in place, stopping on every beat: the squared error's best answer to an uncertain
future is the average pose, and fed back on itself the average is a still pose.
- A latent z per span of `latent_frames` frames (model.py; or, with the model's `beat_spans`, a
  span per beat of the music, as the runtime draws them: `lstm.latent_draws`): a posterior
  q(z | the span's input frame, its true frames, their music) tells the network which of the possible next moves the
  data took, so it need not average them. The run-time prior p(z | LSTM state, input frame,
  music code) is trained with the network: the KL term (`kl_weight`) is KL(q || p), so the
  prior learns what the posterior would say in the states the network itself reaches. (Session
  5's model took its KL against N(0, I) and fitted the prior after training; it moved at
  0.2-0.6 of the real dancers' speed.)
- Free windows (`free_every`): some windows of every batch draw their latents from the prior,
  as the runtime does, and are held only to window-level statistics of the truth, not its
  poses (`window_terms`): each joint's mean speed and reach, the travel and turning speeds,
  and the timing of the body's speed (its rises and falls, which in the pairs sit on the
  beats). The rest of the recipe says what a frame should be given the posterior's latent;
  this says what the dance the runtime makes should look like.
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
- Fine-tuning (`init_from`): the shipped model is the beat-span recipe fine-tuned twice (the
  Makefile's `train`): on 5 s windows with heavier per-joint speed and acceleration terms, then
  with the pose-drift term (`drift_weight`: how far the body's mean pose moves from a window's
  first half to its second, against the truth's), which keeps its poses changing over minutes
  where without it they settle into a few.

Learning rate: linear warm-up over `warmup_steps`, then cosine decay to `lr * lr_final`.

Outputs in `out_dir`: `checkpoint.pt` (model + optimizer + both configs as dicts + the
normalisation statistics + the music features' version and columns + start frames + step +
the training's wall-clock seconds summed over its resumes + every RNG state:
`training/export.py` makes the add-on's model from it alone), `loss.jsonl` (one line per logged
step with each loss term), `args.json` (the run's configs, written at start).

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
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from dance_addon.core.choreography.lstm import latent_draws
from dance_addon.core.motion import motion_code
from dance_addon.core.motion.feet import contacts as foot_contacts
from dance_addon.core.motion.mirror import mirror_rotvecs, mirror_translation
from dance_addon.core.motion.motion_code import FRAME_DIM
from dance_addon.core.motion.skeleton import MOTION_DIM, NUM_JOINTS, end_positions, forward_kinematics
from dance_addon.core.music.features import beat_frames_of
from training.kinematics import FEET, ROOT_TURN, TRAVEL, body_positions, world_positions
from training.model import DanceGenerator, GeneratorConfig


@dataclass
class TrainConfig:
    window: int = 76                    # frames per training window (2.5 s at 30 fps: 5 latents of 15 frames)
    batch_size: int = 32
    lr: float = 1e-3
    warmup_steps: int = 50
    lr_final: float = 0.05              # cosine decay to lr * lr_final at the last step
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    steps: int = 3000
    warm_frames: int = 15               # ground-truth frames at each window's start
    self_fed_max: float = 1.0           # scheduled sampling: share of own outputs fed back, at full ramp ...
    ramp_steps: int = 600               # ... reached over this many steps (linear from 0)
    kl_weight: float = 0.5              # KL(q(z | ...) || p(z | ...)) per latent / (its frames x D)
    free_every: int = 2                 # every free_every-th window draws its latents from the prior, as the
    #                                     runtime does ("free" windows: only the window-level terms); 0: none
    position_weight: float = 2.0        # L1 of pelvis-relative joint positions, metres
    velocity_weight: float = 20.0       # L1 of their frame-to-frame changes, metres
    skate_weight: float = 20.0          # horizontal ankle motion (m per frame) where the truth's foot is planted
    energy_weight: float = 20.0         # L1 of each joint's mean speed over the window (m per frame), all windows
    travel_weight: float = 1.0          # L1 of the pelvis's mean horizontal speed over the window (m/s), all windows
    turn_weight: float = 0.5            # L1 of its mean turning speed over the window (rad/s), all windows
    spread_weight: float = 4.0          # L1 of each joint's spread about its mean place over the window (m), all
    envelope_weight: float = 0.2        # 1 - correlation of the body's speed over the window with the truth's
    drift_weight: float = 0.0           # L1 of how far the body's mean pose moves from the window's first half
    #                                     to its second (m), all windows: a dance that holds one set of poses
    #                                     while the truth moves on pays it
    accel_weight: float = 0.0           # L1 of each joint's mean acceleration over the window (m per frame^2), all
    #                                     (the beat-span recipe's 20: against the jolt where a new latent is drawn)
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
    clip; recordings with the same name share a learned style vector), or None for one style;
    beat_column: the music column marking beats (`music.features.beat_frames_of`), or None for
    music with no beats. Only a model with `beat_spans` reads the beats (its spans start at
    them; without beats every span lasts 2 x latent_frames, as `lstm.latent_draws` makes them
    for a song with no beats found); the default recipe's spans last latent_frames whatever
    the beats.
    """

    def __init__(self, frames: list[np.ndarray], musics: list[np.ndarray], contacts: list[np.ndarray],
                 stats: NormStats, styles: Sequence[str] | None = None, beat_column: int | None = None):
        if len(frames) != len(musics) or len(frames) != len(contacts) or not frames:
            raise ValueError(f"need as many frames as music tracks and contacts, at least one: got {len(frames)}, "
                             f"{len(musics)} and {len(contacts)}")
        if styles is not None and len(styles) != len(frames):
            raise ValueError(f"need one style name per recording: got {len(styles)} for {len(frames)} recordings")
        self.stats = stats
        names = ["default"] * len(frames) if styles is None else [str(s) for s in styles]
        self.style_names: tuple[str, ...] = tuple(sorted(set(names)))   # style index -> name
        self.styles = torch.tensor([self.style_names.index(n) for n in names])  # (recordings,)
        self.frames, self.musics, self.contacts, self.beats = [], [], [], []
        for i, (fr, mu, co) in enumerate(zip(frames, musics, contacts)):
            if fr.ndim != 2 or fr.shape[1] != FRAME_DIM or mu.ndim != 2 or fr.shape[0] != mu.shape[0] \
                    or co.shape != (fr.shape[0], 2):
                raise ValueError(f"pair {i}: frames {fr.shape}, music {mu.shape} and contacts {co.shape} are not "
                                 f"aligned (T, {FRAME_DIM}) / (T, F) / (T, 2)")
            self.frames.append(torch.from_numpy(((fr - stats.motion_mean) / stats.motion_std).astype(np.float32)))
            self.musics.append(torch.from_numpy(((mu - stats.music_mean) / stats.music_std).astype(np.float32)))
            self.contacts.append(torch.from_numpy(np.asarray(co, bool)))
            beats = np.zeros(len(mu), bool)
            if beat_column is not None:
                beats[beat_frames_of(mu, beat_column)] = True
            self.beats.append(torch.from_numpy(beats))
        self.music_dim = self.musics[0].shape[1]
        self.lengths = torch.tensor([m.shape[0] for m in self.frames], dtype=torch.float64)

    @classmethod
    def from_motion(cls, rotvecs: list[np.ndarray], roots: list[np.ndarray], musics: list[np.ndarray], fps: float,
                    styles: Sequence[str] | None = None, mirror: bool = False,
                    beat_column: int | None = None) -> "PairedWindows":
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
        return cls(frames, music_all, contacts, NormStats.compute(frames, music_all), names, beat_column)

    def sample(self, batch: int, window: int, gen: torch.Generator
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Random windows, recordings drawn in proportion to their length: -> frames (B, window, D),
        music (B, window, F), both normalised, contacts (B, window, 2) bool, style indices (B,),
        beats (B, window) bool."""
        ok = self.lengths >= window
        if not bool(ok.any()):
            raise ValueError(f"no recording is as long as the training window ({window} frames)")
        rec = torch.multinomial(self.lengths * ok, batch, replacement=True, generator=gen)
        fr, mu, co, be = [], [], [], []
        for r in rec.tolist():
            start = int(torch.randint(0, self.frames[r].shape[0] - window + 1, (1,), generator=gen))
            fr.append(self.frames[r][start:start + window])
            mu.append(self.musics[r][start:start + window])
            co.append(self.contacts[r][start:start + window])
            be.append(self.beats[r][start:start + window])
        return torch.stack(fr), torch.stack(mu), torch.stack(co), self.styles[rec], torch.stack(be)

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
    def beat_column(self) -> int | None:
        """The index of the music's 'beat' column (`PairedWindows`' beat_column), None without one."""
        return self.feature_columns.index("beat") if "beat" in self.feature_columns else None

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


def window_loss(model: DanceGenerator, frames: torch.Tensor, music: torch.Tensor, contacts: torch.Tensor,
                style: torch.Tensor, beats: torch.Tensor, eps: torch.Tensor, coin: torch.Tensor, free: torch.Tensor,
                step: int, cfg: TrainConfig, stats_t: tuple[torch.Tensor, torch.Tensor], fps: float
                ) -> tuple[torch.Tensor, dict[str, float]]:
    """The loss of one batch of windows -> (loss, each term's value): frames (B, L, D) and music
    (B, L, F) normalised, contacts (B, L, 2) and beats (B, L) bool, style indices (B,); eps
    (B, L-1, Z) standard normal draws for the latents, coin (B, L-1) uniform draws deciding which
    inputs are the network's own, free (B,) bool: the windows whose latents come from the prior
    (drawn or set by the caller, so a batch split over processes draws what one process would);
    stats_t: the frames' mean and std as tensors (to measure joints in metres). Every term is a
    mean over equal parts of the batch (the caller splits the free windows evenly), so the mean
    of the parts' losses is the loss.

    Frame t (1..L-1) is predicted from the input frame t-1, the music code of frame t and the
    latent of its span: every `latent_frames` frames from frame 1, or with the model's
    `beat_spans` those the runtime draws latents over (`lstm.latent_draws` on the window's
    beats, lead 0): a span starts at frame 1 and at the music's beats, so that a latent says
    what the dance does over one beat. In a window that is not
    free, the latent is drawn from the posterior of (the span's first input, the span's true
    frames, their mean music code), and every term applies: the frames, the KL term, joints,
    velocities, planted feet. In a free window it is drawn from the prior, as at run time, and
    the dance it makes need not be the truth's: only the window-level terms apply, which ask
    for the truth's amount of motion per joint (`energy`), its travel (`travel`) and the timing
    of its speed's rises and falls (`envelope`: on the music's beats in the pairs), not its poses.
    Inputs before `warm_frames` are the truth; after, each input is the network's own previous
    output with probability `self_fed(step)`. The rollout stops only at the frames where a span
    starts or an input is the network's own; the frames between run in one call."""
    code = model.code_music(music, style)                                # (B, L, 60)
    prev, target, code_t = frames[:, :-1], frames[:, 1:], code[:, 1:]
    (b, n, d), smax = prev.shape, model.cfg.max_span
    if model.cfg.beat_spans:                                             # (B, n) where spans start
        draws_np = np.stack([latent_draws(np.flatnonzero(row), n, model.cfg.latent_frames)
                             for row in beats[:, 1:].cpu().numpy()])
    else:
        draws_np = np.zeros((b, n), bool)
        draws_np[:, ::model.cfg.latent_frames] = True
    nxt = np.full((b, n), n)                                             # the next span's start after t
    for t in range(n - 2, -1, -1):
        nxt[:, t] = np.where(draws_np[:, t + 1], t + 1, nxt[:, t + 1])
    draws = torch.from_numpy(draws_np).to(prev.device)
    length = torch.from_numpy(np.minimum(nxt - np.arange(n), smax)).to(prev.device)  # (B, n) span frames
    inside = torch.arange(smax, device=prev.device)[None, None] < length[:, :, None]  # (B, n, smax)
    pad = torch.cat([target, target.new_zeros(b, smax, d)], 1).unfold(1, smax, 1)[:, :n]  # (B, n, D, smax)
    code_pad = torch.cat([code_t, code_t.new_zeros(b, smax, code_t.shape[2])], 1).unfold(1, smax, 1)[:, :n]
    p = self_fed(step, cfg)
    own = coin < p                                                       # (B, L-1): input is own output
    own[:, :cfg.warm_frames] = False
    preds, kls, state, last = [], [], None, None
    z = eps.new_zeros(b, eps.shape[2])
    # the frames where the rollout must stop: a span starts in some window, or some window's input
    # is its own last output; from one to the next every input is the truth and every latent held,
    # so the LSTM runs them in one call (all of a teacher-forced span, the warm frames)
    stops = np.flatnonzero(draws_np.any(0) | own.any(0).cpu().numpy())
    stops = np.union1d(stops, [0])
    for t, end in zip(stops, [*stops[1:], n]):
        x = prev[:, t] if last is None else torch.where(own[:, t, None], last, prev[:, t])  # (B, D)
        rows = torch.nonzero(draws[:, t]).squeeze(1)                    # the windows whose span starts here
        if len(rows):
            mask = inside[rows, t].to(prev.dtype)                        # (R, smax) the span's frames
            span_frames = pad[rows, t].transpose(1, 2) * mask[:, :, None]  # (R, smax, D), zeros after the span
            span_code = (code_pad[rows, t] * mask[:, None]).sum(2) / mask.sum(1, keepdim=True)  # (R, 60)
            mu, logvar = model.posterior(x[rows], span_frames, span_code)
            sub = None if state is None else (state[0][:, rows], state[1][:, rows])
            mu_p, logvar_p = model.prior_dist(sub, x[rows], code_t[rows, t])  # what the runtime draws from
            # held windows: the posterior and the prior meet; free ones: the prior learns what the
            # posterior says in the states the free rollout reaches, and draws the latent, but the
            # window-level terms do not move it (they would pull every draw to one generic move)
            f = free[rows]
            kls.append(torch.where(f, kl_gaussians(mu.detach(), logvar.detach(), mu_p, logvar_p),
                                   kl_gaussians(mu, logvar, mu_p, logvar_p)).sum())  # summed over the R
            mu, logvar = (torch.where(f[:, None], mu_p.detach(), mu),
                          torch.where(f[:, None], logvar_p.detach(), logvar))
            z = z.index_put((rows,), mu + eps[rows, t] * (0.5 * logvar).exp())  # (B, Z)
        inputs = torch.cat([x[:, None], prev[:, t + 1:end]], dim=1)     # (B, end - t, D)
        out, state = model(inputs, code_t[:, t:end], z[:, None].expand(-1, end - t, -1), state)
        last = out[:, -1]
        preds.append(out)
    pred = torch.cat(preds, dim=1)                                       # (B, L-1, D)
    mean, std = stats_t
    fixed = (~free).to(pred.dtype)                                       # (B,) windows held to the truth

    def held(x: torch.Tensor) -> torch.Tensor:
        """Mean over the windows held to the truth of x (B, ...) (0 when there are none)."""
        per_window = x.flatten(1).mean(1) if x.dim() > 1 else x
        return (per_window * fixed).sum() / fixed.sum().clamp(min=1.0)

    # KL of every latent, spread over the frames and numbers they describe, so that kl_weight = 1
    # is the evidence lower bound's balance against the frames' squared error
    terms = {"frame": held((pred - target) ** 2),
             "kl": torch.stack(kls).sum() / (b * n * d)}
    pred_m, true_m = pred * std + mean, target * std + mean              # (B, L-1, D) in radians, metres
    windowed = (cfg.energy_weight > 0 or cfg.envelope_weight > 0 or cfg.spread_weight > 0 or cfg.accel_weight > 0
                or cfg.drift_weight > 0)
    if cfg.position_weight > 0 or cfg.velocity_weight > 0 or windowed:
        bp, bt = body_positions(pred_m), body_positions(true_m)          # (B, L-1, 20, 3)
        terms["position"] = held(torch.abs(bp - bt))
        terms["velocity"] = held(torch.abs(bp.diff(dim=1) - bt.diff(dim=1)))
    if cfg.skate_weight > 0:
        feet = world_positions(pred_m, fps)[:, :, list(FEET)][..., [0, 2]]  # (B, L-1, 2, 2) horizontal
        moved = (feet.diff(dim=1) ** 2).sum(-1).add(1e-10).sqrt()        # (B, L-2, 2) metres per frame
        planted = (contacts[:, 1:-1] & contacts[:, 2:]).float()          # truth planted on both frames
        terms["skate"] = held(moved * planted)
    if windowed or cfg.travel_weight > 0 or cfg.turn_weight > 0:
        terms.update(window_terms(pred_m, true_m, bp if windowed else None, bt if windowed else None,
                                  cfg.warm_frames, fps))
    weights = {"frame": 1.0, "kl": cfg.kl_weight, "position": cfg.position_weight,
               "velocity": cfg.velocity_weight, "skate": cfg.skate_weight, "energy": cfg.energy_weight,
               "envelope": cfg.envelope_weight, "travel": cfg.travel_weight, "turn": cfg.turn_weight,
               "spread": cfg.spread_weight, "accel": cfg.accel_weight, "drift": cfg.drift_weight}
    loss = sum(weights[k] * v for k, v in terms.items())
    return loss, {k: v.item() for k, v in terms.items()}


def window_terms(pred: torch.Tensor, true: torch.Tensor, pred_body: torch.Tensor | None,
                 true_body: torch.Tensor | None, warm: int, fps: float) -> dict[str, torch.Tensor]:
    """The window-level terms, over the frames after the first `warm`, of made frames against
    the truth's: pred, true (B, T, FRAME_DIM) in radians and metres; pred_body, true_body
    (B, T, 20, 3) their body_positions (None: no joint terms) -> (each a mean over the batch)
    "energy": L1 of each joint's mean speed (m per frame); "accel": L1 of each joint's mean
    acceleration (m per frame^2: a jolt or jitter the truth does not have); "spread": L1 of each joint's
    root-mean-square distance from its mean place (m: how far the moves reach, which fast
    small jitter does not); "drift": L1 of how far the body's mean pose moves from the first
    half of the frames to the second (RMS over joints, m: a dance that keeps to one set of
    poses while the truth moves on to others); "envelope": 1 - the correlation of the body's speed (mean over
    joints) over time with the truth's; "travel": L1 of the pelvis's mean horizontal speed
    (m/s); "turn": L1 of its mean turning speed (rad/s). None of them asks for the truth's
    poses or phase: a dance of other moves with as much motion, reach, travel and turning
    and the same rises and falls of speed scores 0. Empty when fewer than 3 frames follow
    the warm ones."""
    if pred.shape[1] - warm < 3:
        return {}
    after = slice(warm, None)
    out = {}
    if pred_body is not None:
        sp = (pred_body.diff(dim=1) ** 2).sum(-1).add(1e-10).sqrt()[:, after]  # (B, T', 20) m per frame
        st = (true_body.diff(dim=1) ** 2).sum(-1).add(1e-10).sqrt()[:, after]
        out["energy"] = torch.mean(torch.abs(sp.mean(1) - st.mean(1)))
        ap = (pred_body.diff(n=2, dim=1) ** 2).sum(-1).add(1e-10).sqrt()[:, after]  # (B, T'-1, 20) m per frame^2
        at = (true_body.diff(n=2, dim=1) ** 2).sum(-1).add(1e-10).sqrt()[:, after]
        out["accel"] = torch.mean(torch.abs(ap.mean(1) - at.mean(1)))
        pb, tb = pred_body[:, after], true_body[:, after]               # (B, T', 20, 3)
        rp = ((pb - pb.mean(1, keepdim=True)) ** 2).sum(-1).mean(1).add(1e-10).sqrt()  # (B, 20) m
        rt = ((tb - tb.mean(1, keepdim=True)) ** 2).sum(-1).mean(1).add(1e-10).sqrt()
        out["spread"] = torch.mean(torch.abs(rp - rt))
        half = pb.shape[1] // 2                                          # RMS over joints of the mean pose's move
        dp = ((pb[:, half:].mean(1) - pb[:, :half].mean(1)) ** 2).sum(-1).mean(-1).add(1e-10).sqrt()  # (B,) m
        dt = ((tb[:, half:].mean(1) - tb[:, :half].mean(1)) ** 2).sum(-1).mean(-1).add(1e-10).sqrt()
        out["drift"] = torch.mean(torch.abs(dp - dt))
        ep, et = sp.mean(-1), st.mean(-1)                                # (B, T') the body's speed
        ep, et = ep - ep.mean(1, keepdim=True), et - et.mean(1, keepdim=True)
        corr = (ep * et).sum(1) / (ep.norm(dim=1) * et.norm(dim=1) + 1e-8)
        out["envelope"] = torch.mean(1.0 - corr)
    vp = (pred[:, after, TRAVEL] ** 2).sum(-1).add(1e-10).sqrt()         # (B, T') horizontal speed, m/s
    vt = (true[:, after, TRAVEL] ** 2).sum(-1).add(1e-10).sqrt()
    out["travel"] = torch.mean(torch.abs(vp.mean(1) - vt.mean(1)))
    turn_p, turn_t = pred[:, after, ROOT_TURN].abs().mean(1) * fps, true[:, after, ROOT_TURN].abs().mean(1) * fps
    out["turn"] = torch.mean(torch.abs(turn_p - turn_t))
    return out


def kl_gaussians(mu_q: torch.Tensor, logvar_q: torch.Tensor, mu_p: torch.Tensor,
                 logvar_p: torch.Tensor) -> torch.Tensor:
    """KL(N(mu_q, exp(logvar_q)) || N(mu_p, exp(logvar_p))) summed over the last axis."""
    return 0.5 * torch.sum(logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p) ** 2) / logvar_p.exp() - 1.0, dim=-1)


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
          init_from: Path | None = None, provenance: dict[str, Any] | None = None, progress: bool = True) -> Path:
    """Train (or resume) and return the checkpoint path. Deterministic for `cfg.seed`.

    init_from: a checkpoint of the same architecture whose weights and start poses a new run
    starts from (fine-tuning, e.g. on longer windows); the optimiser and step count start afresh.

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
    if cfg.free_every and (cfg.batch_size // world) % cfg.free_every:
        raise ValueError(f"each process's {cfg.batch_size // world} windows do not hold whole groups of "
                         f"free_every={cfg.free_every}; pick a batch_size that does")
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
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr,
                            weight_decay=cfg.weight_decay)
    step, seconds_before = 0, 0.0                                         # training time of earlier sessions
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
        seconds_before = float(ck.get("train_seconds", 0.0))
        start_poses = ck["start_poses"]
        gen.set_state(ck["rng"]["generator"])
        torch.set_rng_state(ck["rng"]["torch"])
        np.random.set_state(ck["rng"]["numpy"])
        random.setstate(ck["rng"]["python"])
    else:
        if init_from is not None:
            ck = torch.load(init_from, weights_only=False)
            if ck["model_config"] != model_cfg.to_dict():
                raise ValueError(f"{init_from} holds another architecture than this run's; fine-tune it with "
                                 f"its own model configuration")
            model.load_state_dict(ck["model"])
            start_poses = ck["start_poses"]
            provenance = {**(provenance or {}), "init_from": str(init_from), "init_steps": int(ck["step"])}
        if rank == 0:
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
    free = torch.zeros(cfg.batch_size, dtype=torch.bool)                 # windows drawing from the prior:
    if cfg.free_every:                                                   # as many in each process's part
        free[cfg.free_every - 1::cfg.free_every] = True

    def save() -> None:
        torch.save({
            "model": model.state_dict(), "optimizer": opt.state_dict(),
            "model_config": model_cfg.to_dict(), "train_config": asdict(cfg),
            "norm": NormStats.to_dict(data.stats), "step": step, "provenance": provenance or {},
            "fps": float(fps), "features_version": features_version, "feature_columns": list(feature_columns),
            "start_poses": start_poses, "motion_code": motion_code.MOTION_CODE,
            "style_names": list(data.style_names),
            "train_seconds": seconds_before + time.perf_counter() - started,
            "rng": {"generator": gen.get_state(), "torch": torch.get_rng_state(),
                    "numpy": np.random.get_state(), "python": random.getstate()},
        }, ckpt_path)

    model.train()
    started = time.perf_counter()
    with open(out_dir / "loss.jsonl", "a") if rank == 0 else open("/dev/null", "w") as log, \
            tqdm(total=cfg.steps, initial=step, disable=not progress or rank != 0, desc="train") as bar:
        while step < cfg.steps:
            frames, music, contacts, style, beats = data.sample(cfg.batch_size, cfg.window, gen)
            eps = torch.randn((cfg.batch_size, cfg.window - 1, model_cfg.latent_dim), generator=gen)
            coin = torch.rand((cfg.batch_size, cfg.window - 1), generator=gen)
            batch = [t[part].to(device) for t in (frames, music, contacts, style, beats, eps, coin, free)]
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
    return ckpt_path


class _WindowLoss(nn.Module):
    """`window_loss` as a module's forward, so that DistributedDataParallel sees one forward
    per step (its gradient averaging hooks on the forward) however many calls the rollout
    makes inside."""

    def __init__(self, model: DanceGenerator, cfg: TrainConfig, fps: float):
        super().__init__()
        self.model, self.cfg, self.fps = model, cfg, fps

    def forward(self, frames, music, contacts, style, beats, eps, coin, free, step, mean, std):
        return window_loss(self.model, frames, music, contacts, style, beats, eps, coin, free, int(step), self.cfg,
                           (mean, std), self.fps)


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
                                     mirror=cfg.mirror, beat_column=pairs.beat_column)
    train(data, GeneratorConfig(music_dim=data.music_dim, styles=len(data.style_names)), cfg, a.out, fps=pairs.fps,
          features_version=pairs.features_version, feature_columns=pairs.feature_columns, resume=a.resume,
          provenance={"pairs": str(a.pairs), "recordings": pairs.provenance})


if __name__ == "__main__":
    main()
