"""The dance generator: a music coder and the paper's action generation sub-network.

Conventions
- Motion: `FRAME_DIM` numbers per frame, the motion code of `dance_addon.core.motion.motion_code`
  (not raw rotation vectors: the pelvis as its swing and heading change, and the root's travel),
  z-scored with the training split's statistics.
- Music: per-frame feature rows (F columns of `dance_addon.core.music.features.FEATURE_COLUMNS`),
  z-scored the same way, at the motion's frame rate.
- Batch-first tensors: (B, T, C).

Architecture
- `MusicCoder` (ours): a stack of non-causal dilated 1D convolutions over the whole song,
  (Bm, T, F) music + style vectors (B, S) -> (B, T, 60), Bm = 1 or B. It looks ahead and
  behind by `MusicCoderConfig.receptive_field` frames in total (default 1 + 2 * (1+2+4+8+16)
  * 2 = 125 frames, ~4 s at 30 fps), so the code at a frame knows the beat that is coming.
  Zero padding at the song's ends. Each residual block is followed by a per-frame LayerNorm
  over channels: without it the blocks' ReLU outputs only add up, and in training the code
  grew to ~5600 in 80 steps, which saturated the LSTM's gates and froze the dance.
- Style: a learned vector per training recording group (`GeneratorConfig.styles` of them, one
  per source mocap clip in the shipped model), joined to every frame's music features at the
  coder's input, or (`style_film`) scaling and shifting the coder's channels after its
  convolutions, so that the convolutions read a song once for any number of styles (the
  add-on's variations pay one coding of the song, not one each). The training pairs put each clip on
  several songs and each song under several clips, so music alone cannot say which of those
  dances to make; a model without the style learns their average and every seed made the
  same dance (seeds 0 and 1 differed by 0.0009 rad on average). With it, the runtime's seed
  picks a style.
- `DanceGenerator` (the paper's ERD-style sub-network): input = previous frame's motion (60)
  + the music code of the current frame (60); encoder of two fully connected layers with a
  ReLU after the first; a 2-layer LSTM (the paper's 1024 units; `lstm_hidden`, see README for
  the size the add-on ships); decoder of three fully connected
  layers (ReLU between them) to the current frame's 60-dim motion.
- The decoder outputs the current frame directly, not a delta added to the previous frame:
  a residual decoder integrates its own errors and, fed back on itself, tends to freeze
  (a zero delta is the easy answer); a direct decoder with auto-conditioning (acLSTM,
  Zhou et al. 2018) keeps generating over minutes. See `training/train.py`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from dance_addon.core.motion.motion_code import FRAME_DIM
from dance_addon.core.music.features import FEATURE_COLUMNS

LSTMState = tuple[torch.Tensor, torch.Tensor]  # h, c: each (layers, B, hidden)


@dataclass
class MusicCoderConfig:
    channels: int = 128                 # width of the convolution stack
    kernel_size: int = 3                # odd: the convolutions are centred (non-causal)
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 1, 2, 4, 8, 16)
    dropout: float = 0.0

    @property
    def receptive_field(self) -> int:
        """Frames of music that one code frame sees (centred on it)."""
        return 1 + (self.kernel_size - 1) * sum(self.dilations)


@dataclass
class GeneratorConfig:
    frame_dim: int = FRAME_DIM          # 20 joints x rotation (the root as swing + turn) + root travel (3)
    music_dim: int = len(FEATURE_COLUMNS)  # F: number of music feature columns (core.music.features)
    music_code_dim: int = 60
    styles: int = 1                     # learned style vectors (one per source clip in training)
    style_dim: int = 16
    latent_dim: int = 32                # Z: the latent the runtime draws from the prior ...
    latent_frames: int = 15             # ... per span of this many frames in training (0.5 s at 30 fps), held over
    #                                     it; the runtime draws at the beats (`lstm.latent_draws`, about as often)
    enc_hidden: tuple[int, int] = (256, 256)  # encoder: FC -> ReLU -> FC
    lstm_hidden: int = 256
    lstm_layers: int = 2
    dec_hidden: tuple[int, int] = (256, 256)  # decoder: FC -> ReLU -> FC -> ReLU -> FC
    posterior_hidden: int = 256         # the training-only posterior q(z | input frame, the frames of its span)
    prior_hidden: int = 256             # the run-time prior p(z | LSTM state, input frame, music code),
    #                                     trained with the network (train.py's KL term)
    dropout: float = 0.0                # between the LSTM layers and before the decoder (see train.py)
    beat_spans: bool = False            # latent spans start at the music's beats in training (train.window_loss;
    #                                     the posterior sees up to max_span frames); False: every latent_frames
    style_film: bool = False            # the style scales and shifts the coder's output channels (FiLM: a batch
    #                                     of styles reads the song once); False: it joins the music at the input
    coder: MusicCoderConfig = field(default_factory=MusicCoderConfig)

    @property
    def max_span(self) -> int:
        """The longest span one latent is held over in training: 2 x latent_frames with beat
        spans (`lstm.latent_draws`), else latent_frames."""
        return 2 * self.latent_frames if self.beat_spans else self.latent_frames

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "GeneratorConfig":
        """Inverse of `to_dict` (JSON turns tuples into lists; turn them back)."""
        d = dict(d)
        coder = dict(d.pop("coder", {}))
        if "dilations" in coder:
            coder["dilations"] = tuple(coder["dilations"])
        for k in ("enc_hidden", "dec_hidden"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**d, coder=MusicCoderConfig(**coder))


class MusicCoder(nn.Module):
    """Per-frame music features (Bm, T, F) + style vectors (B, S) -> per-frame music code (B, T,
    code_dim). With `film`, the convolutions read the music alone and the style then scales and
    shifts their output channels (FiLM, Perez et al. 2018) before the last 1x1 layer, so N
    dances of one song in N styles read the song once (Bm = 1) and pay only the cheap last layer
    N times; without, the style joins the music at the input (Bm = B, or 1 repeated)."""

    def __init__(self, music_dim: int, style_dim: int, code_dim: int, cfg: MusicCoderConfig, film: bool = False):
        super().__init__()
        if cfg.kernel_size % 2 != 1:
            raise ValueError(f"MusicCoderConfig.kernel_size must be odd (centred convolutions), got {cfg.kernel_size}")
        self.inp = nn.Conv1d(music_dim + (0 if film else style_dim), cfg.channels, 1)
        self.convs = nn.ModuleList(
            nn.Conv1d(cfg.channels, cfg.channels, cfg.kernel_size, dilation=d, padding=d * (cfg.kernel_size - 1) // 2)
            for d in cfg.dilations
        )
        self.norms = nn.ModuleList(nn.LayerNorm(cfg.channels) for _ in cfg.dilations)
        self.drop = nn.Dropout(cfg.dropout)
        self.film = nn.Linear(style_dim, 2 * cfg.channels) if film else None
        self.out = nn.Conv1d(cfg.channels, code_dim, 1)

    def forward(self, music: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        x = music.transpose(1, 2)                                  # (Bm, F, T)
        if self.film is None:
            x = torch.cat([x.expand(style.shape[0], -1, -1), style[:, :, None].expand(-1, -1, x.shape[2])], dim=1)
        x = self.inp(x)                                            # (Bm or B, C, T)
        for conv, norm in zip(self.convs, self.norms):
            x = x + self.drop(torch.relu(conv(x)))     # residual dilated block ...
            x = norm(x.transpose(1, 2)).transpose(1, 2)  # ... normalised per frame over channels
        if self.film is not None:
            scale, shift = self.film(style)[:, :, None].chunk(2, dim=1)  # (B, C, 1) each
            x = x * (1.0 + scale) + shift
        return self.out(x).transpose(1, 2)             # (B, T, code_dim)


class DanceGenerator(nn.Module):
    """Music coder + encoder / 2-layer LSTM / decoder, one motion frame per time step, with a
    latent z held over a span of frames (a conditional VAE over the next stretch of dance, after
    Motion VAEs, Ling et al. 2020, whose latent is per frame: ours spans `latent_frames` frames,
    or a beat of the music with `beat_spans`, because one frame ahead is nearly determined by the frames
    before it and a per-frame latent carried nothing, KL ~0.02 nats, in a first run)."""

    def __init__(self, cfg: GeneratorConfig):
        super().__init__()
        self.cfg = cfg
        if cfg.styles < 1:
            raise ValueError(f"GeneratorConfig.styles must be at least 1, got {cfg.styles}")
        d, z = cfg.frame_dim, cfg.latent_dim
        self.style = nn.Embedding(cfg.styles, cfg.style_dim)
        self.coder = MusicCoder(cfg.music_dim, cfg.style_dim, cfg.music_code_dim, cfg.coder, cfg.style_film)
        e1, e2 = cfg.enc_hidden
        self.enc1 = nn.Linear(d + cfg.music_code_dim + z, e1)
        self.enc2 = nn.Linear(e1, e2)
        self.lstm = nn.LSTM(e2, cfg.lstm_hidden, cfg.lstm_layers, batch_first=True, dropout=cfg.dropout)
        d1, d2 = cfg.dec_hidden
        self.drop = nn.Dropout(cfg.dropout)
        self.dec1 = nn.Linear(cfg.lstm_hidden + z, d1)
        self.dec2 = nn.Linear(d1, d2)
        self.dec3 = nn.Linear(d2, d)
        p = cfg.posterior_hidden
        self.post = nn.Sequential(nn.Linear((1 + cfg.max_span) * d + cfg.music_code_dim, p), nn.ELU(),
                                  nn.Linear(p, p), nn.ELU(), nn.Linear(p, 2 * z))
        q = cfg.prior_hidden
        self.prior = nn.Sequential(nn.Linear(cfg.lstm_hidden + d + cfg.music_code_dim, q), nn.ELU(),
                                   nn.Linear(q, q), nn.ELU(), nn.Linear(q, 2 * z))

    def zero_state(self, batch: int) -> LSTMState:
        shape = (self.cfg.lstm_layers, batch, self.cfg.lstm_hidden)
        p = self.dec3.weight
        return torch.zeros(shape, dtype=p.dtype, device=p.device), torch.zeros(shape, dtype=p.dtype, device=p.device)

    def code_music(self, music: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """(B, T, F) normalised music features, (B,) style indices -> (B, T, 60) music code."""
        return self.coder(music, self.style(style))

    def posterior(self, prev: torch.Tensor, targets: torch.Tensor,
                  music_code: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z | input frame, the frames of its span, their music): prev (B, D), targets (B, n, D)
        with n <= max_span (zero-padded to it: frames past a span's end must be zeros), music_code
        (B, 60) the span's mean music code -> mean, log-variance (B, Z)."""
        n = targets.shape[1]
        pad = self.cfg.max_span - n
        if pad:
            targets = torch.cat([targets, targets.new_zeros(targets.shape[0], pad, targets.shape[2])], dim=1)
        x = torch.cat([prev, targets.flatten(1), music_code], dim=-1)
        mu, logvar = self.post(x).chunk(2, dim=-1)
        return mu, logvar.clamp(-8.0, 4.0)

    def prior_dist(self, state: LSTMState | None, prev: torch.Tensor,
                   music_code: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """p(z | the LSTM's top-layer state before the frame, the input frame, the frame's music
        code): state h/c (layers, B, hidden) or None, prev (B, D), music_code (B, 60) -> mean,
        log-variance (B, Z). What the runtime draws a latent from at the start of each span."""
        h = self.zero_state(prev.shape[0])[0] if state is None else state[0]
        mu, logvar = self.prior(torch.cat([h[-1], prev, music_code], dim=-1)).chunk(2, dim=-1)
        return mu, logvar.clamp(-8.0, 4.0)

    def forward(self, prev: torch.Tensor, music_code: torch.Tensor, z: torch.Tensor,
                state: LSTMState | None = None) -> tuple[torch.Tensor, LSTMState]:
        """Frames t given frames t-1, the music code of frames t and the latents of frames t.

        prev (B, T, D), music_code (B, T, 60), z (B, T, Z), state h/c (layers, B, hidden) or None
        for zeros -> frames (B, T, D), new state. T may be 1 (one autoregressive step).
        """
        if state is None:
            state = self.zero_state(prev.shape[0])
        x = torch.cat([prev, music_code, z], dim=-1)           # (B, T, D + 60 + Z)
        x = self.enc2(torch.relu(self.enc1(x)))              # (B, T, e2)
        y, state = self.lstm(x, state)                       # (B, T, hidden)
        y = self.drop(y)
        y = torch.relu(self.dec1(torch.cat([y, z], dim=-1)))  # (B, T, d1)
        y = torch.relu(self.dec2(y))                         # (B, T, d2)
        return self.dec3(y), state                           # (B, T, D)

    def step(self, prev: torch.Tensor, music_code: torch.Tensor, z: torch.Tensor,
             state: LSTMState | None = None) -> tuple[torch.Tensor, LSTMState]:
        """One frame: prev (B, D), music_code (B, 60), z (B, Z) -> frame (B, D), state."""
        y, state = self.forward(prev[:, None], music_code[:, None], z[:, None], state)
        return y[:, 0], state                                # (B, D)


def count_step_macs(cfg: GeneratorConfig) -> int:
    """Multiply-adds of one autoregressive step (encoder + LSTM + decoder, not the music coder)."""
    e1, e2 = cfg.enc_hidden
    d1, d2 = cfg.dec_hidden
    h = cfg.lstm_hidden
    lstm = 4 * h * (e2 + h) + (cfg.lstm_layers - 1) * 4 * h * (2 * h)
    return ((cfg.frame_dim + cfg.music_code_dim + cfg.latent_dim) * e1 + e1 * e2 + lstm
            + (h + cfg.latent_dim) * d1 + d1 * d2 + d2 * cfg.frame_dim)
