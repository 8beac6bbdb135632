"""The evaluation's pictures, one panel row per baseline, all of the same held-out pair (PNG, Agg).

- plot_beats: mean joint speed with its kinematic beats (Bailando's recipe) against the music
  beats, over the first BEATS_WINDOW_S seconds (so single beats stay visible).
- plot_speed: mean joint speed over the whole pair, its 10 s window means and the freezing and
  exploding limits relative to the reference speed (dynamics.freezing_windows).
- plot_filmstrip: front-view stick figures (camera on +Z looking back at the body, Y up, the
  body's left on the picture's right) every FILMSTRIP_STEP_S seconds, each centred on its pelvis.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from dance_addon.core.motion.skeleton import JOINT_NAMES, NUM_JOINTS, PARENTS, SMPL_INDEX

from .beats import kinematic_beats_bailando
from .dynamics import FREEZE_HIGH, FREEZE_LOW, freezing_windows, joint_speeds
from .evaluate import Dance
from .joints import LEFT_HAND, LEFT_TOE, RIGHT_HAND, RIGHT_TOE

BEATS_WINDOW_S = 10.0
FILMSTRIP_STEP_S = 1.0
FILMSTRIP_FRAMES = 10
# bones of the evaluation layout (SMPL order): the 20 skeleton bones plus wrist -> hand end, ankle -> toe
_BONES = [(SMPL_INDEX[PARENTS[i]], SMPL_INDEX[i]) for i in range(1, NUM_JOINTS)] + [
    (SMPL_INDEX[18], LEFT_HAND), (SMPL_INDEX[19], RIGHT_HAND), (SMPL_INDEX[7], LEFT_TOE), (SMPL_INDEX[8], RIGHT_TOE)]
_LEFT = {SMPL_INDEX[i] for i, n in enumerate(JOINT_NAMES) if n.startswith("left")} | {LEFT_HAND, LEFT_TOE}
_RIGHT = {SMPL_INDEX[i] for i, n in enumerate(JOINT_NAMES) if n.startswith("right")} | {RIGHT_HAND, RIGHT_TOE}


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_beats(path: Path, dances: dict[str, Dance], title: str) -> None:
    """Per baseline: joint speed (m/s) over time, kinematic beats (dots) and music beats (lines)."""
    plt = _pyplot()
    fig, axes = plt.subplots(len(dances), 1, figsize=(11, 1.9 * len(dances) + 0.6), sharex=True, squeeze=False)
    for ax, (name, d) in zip(axes[:, 0], dances.items()):
        speed = joint_speeds(d.positions, d.fps)                         # (T-1,) m/s, step t -> t+1
        t = np.arange(len(speed)) / d.fps
        keep = t <= BEATS_WINDOW_S
        ax.plot(t[keep], speed[keep], color="0.3", lw=1.0, label="mean joint speed")
        kin = kinematic_beats_bailando(d.positions, d.fps) / 60.0        # seconds
        kin = kin[kin <= BEATS_WINDOW_S]
        ax.plot(kin, np.interp(kin, t, speed), "o", color="tab:orange", ms=5, label="kinematic beats")
        for k, b in enumerate(b for b in (d.music_beats_s if d.music_beats_s is not None else [])
                              if b <= BEATS_WINDOW_S):
            ax.axvline(b, color="tab:blue", lw=1.0, alpha=0.6, label="music beats" if k == 0 else None)
        ax.set_ylabel("m/s")
        ax.set_title(name, loc="left", fontsize=10)
    axes[0, 0].legend(loc="upper right", fontsize=8, ncol=3)
    axes[-1, 0].set_xlabel("time (s)")
    fig.suptitle(f"Music beats against kinematic beats, first {BEATS_WINDOW_S:g} s of {title}", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_speed(path: Path, dances: dict[str, Dance], reference_speed: float, title: str) -> None:
    """Per baseline: joint speed over the whole pair relative to the reference, with 10 s window means."""
    plt = _pyplot()
    fig, axes = plt.subplots(len(dances), 1, figsize=(11, 1.9 * len(dances) + 0.6), sharex=True, sharey=True,
                             squeeze=False)
    for ax, (name, d) in zip(axes[:, 0], dances.items()):
        ratio = joint_speeds(d.positions, d.fps) / reference_speed      # (T-1,)
        t = np.arange(len(ratio)) / d.fps
        ax.plot(t, ratio, color="0.55", lw=0.8, label="mean joint speed / reference")
        windows = freezing_windows(d.positions, d.fps, reference_speed)
        ends = np.append(windows.starts_s[1:], t[-1])
        ax.hlines(windows.ratios, windows.starts_s, ends, color="tab:blue", lw=2.5, label="10 s window mean")
        ax.axhline(FREEZE_LOW, color="tab:red", ls="--", lw=1,
                   label=f"frozen / exploding ({FREEZE_LOW:g}, {FREEZE_HIGH:g})")
        ax.axhline(FREEZE_HIGH, color="tab:red", ls="--", lw=1)
        ax.set_ylabel("x reference")
        ax.set_title(name, loc="left", fontsize=10)
    axes[0, 0].legend(loc="upper right", fontsize=8, ncol=3)
    axes[-1, 0].set_xlabel("time (s)")
    fig.suptitle(f"Mean joint speed over the whole of {title} (reference {reference_speed:.2f} m/s: training pairs)",
                 fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_filmstrip(path: Path, dances: dict[str, Dance], title: str) -> None:
    """Per baseline: FILMSTRIP_FRAMES stick figures, one every FILMSTRIP_STEP_S seconds, front view."""
    plt = _pyplot()
    rows = len(dances)
    fig, axes = plt.subplots(rows, FILMSTRIP_FRAMES, figsize=(1.25 * FILMSTRIP_FRAMES, 2.1 * rows + 0.4),
                             squeeze=False, gridspec_kw={"wspace": 0.0, "hspace": 0.15})
    for r, (name, d) in enumerate(dances.items()):
        step = max(1, int(round(FILMSTRIP_STEP_S * d.fps)))
        ground = np.median(d.positions[:, [LEFT_TOE, RIGHT_TOE], 1].min(axis=1))
        for k, ax in enumerate(axes[r]):
            f = k * step
            ax.set_axis_off()
            ax.set_xlim(-0.65, 0.65)
            ax.set_ylim(-0.3, 2.0)
            ax.set_aspect("equal")
            if f >= len(d.positions):
                continue
            p = d.positions[f] - [d.positions[f, 0, 0], ground, 0.0]      # (24, 3), pelvis over x = 0
            for a, b in _BONES:
                ax.plot(p[[a, b], 0], p[[a, b], 1], lw=1.8,
                        color="tab:blue" if b in _LEFT else "tab:orange" if b in _RIGHT else "0.3")
            ax.axhline(0.0, color="0.6", lw=0.8)
            ax.text(0.0, -0.08, f"{f / d.fps:.0f} s", ha="center", va="top", fontsize=8)
        axes[r, 0].text(-0.6, 1.98, name, fontsize=10, va="top")
    fig.suptitle(f"Front view every {FILMSTRIP_STEP_S:g} s of {title} (blue: body's left side, on the right)",
                 fontsize=11)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=1 - 0.45 / fig.get_figheight())
    fig.savefig(path, dpi=110)
    plt.close(fig)
