"""Foot metrics: EDGE's Physical Foot Contact score and foot skating.

Both read the 24-joint layout of joints.py; each foot is two points, the ankle joint and the
toe end (SMPL joints 7 and 10 on the left, 8 and 11 on the right; the toe ends come from
skeleton.END_OFFSETS).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dance_addon.core.motion.skeleton import END_OFFSETS

from .joints import LEFT_ANKLE, LEFT_TOE, PELVIS, RIGHT_ANKLE, RIGHT_TOE, at_fps, check_fps, check_positions

PFC_FPS = 30.0      # EDGE computes PFC on 30 fps motion
PFC_SCALE = 1e4     # EDGE reports 10000 x the mean

CONTACT_HEIGHT = 0.05          # m: a foot point this close to the ground may be in contact
CONTACT_VERTICAL_SPEED = 0.10  # m/s: ... and must not be moving up or down faster than this
SKATE_SPEED = 0.10             # m/s: a foot in contact sliding faster than this skates

# Ground level of the ankle point when the toe end is on the ground with the foot flat (rest pose)
ANKLE_ABOVE_TOE = float(-END_OFFSETS[7][1])


def physical_foot_contact(positions: np.ndarray, fps: float) -> float:
    """EDGE's PFC of one dance (Tseng et al. 2023, `eval/eval_pfc.py` calc_physical_score), x 10000.

    Low is good: the body's centre may only accelerate while a foot stays put. At 30 fps (the
    motion is resampled linearly to 30 fps first), with Y up instead of EDGE's Z:
      a[t]  = |pelvis acceleration| in m/s^2 with its upward part clamped to >= 0 (a fall is free),
              divided by its maximum over the dance;
      vL[t] = min(horizontal step of the left ankle, of the left toe end) in metres per frame
              at 30 fps, vR[t] likewise; steps from frame t+1 to t+2, as in EDGE;
      PFC   = 10000 * mean_t(vL * vR * a).
    EDGE's set score is the mean of these over the dances. A dance whose pelvis never
    accelerates scores 0 (EDGE would divide by zero).
    positions: (T, 24, 3) metres at `fps`, at least 3 frames at 30 fps.
    """
    pos = at_fps(check_positions(positions, need_smpl24=True), check_fps(fps), PFC_FPS)  # (S, 24, 3)
    if len(pos) < 3:
        raise ValueError(f"PFC needs at least 0.1 s of motion (3 frames at 30 fps), got {len(pos)} frames")
    dt = 1.0 / PFC_FPS
    root_v = np.diff(pos[:, PELVIS], axis=0) / dt        # (S-1, 3)
    root_a = np.diff(root_v, axis=0) / dt                 # (S-2, 3)
    root_a[:, 1] = np.maximum(root_a[:, 1], 0.0)
    root_a = np.linalg.norm(root_a, axis=-1)              # (S-2,)
    if root_a.max() == 0.0:
        return 0.0
    root_a /= root_a.max()
    feet = pos[:, [LEFT_ANKLE, LEFT_TOE, RIGHT_ANKLE, RIGHT_TOE]][:, :, [0, 2]]  # (S, 4, 2) horizontal
    step = np.linalg.norm(feet[2:] - feet[1:-1], axis=-1)                         # (S-2, 4)
    left = np.minimum(step[:, 0], step[:, 1])
    right = np.minimum(step[:, 2], step[:, 3])
    return float(PFC_SCALE * np.mean(left * right * root_a))


@dataclass(frozen=True)
class FootSkating:
    """Foot skating of one dance.

    speed_cm_s: mean horizontal speed (cm/s) of the contact point over all (foot, frame) pairs
        in contact; 0 when no foot is ever in contact.
    skate_fraction: fraction of those pairs whose horizontal speed exceeds SKATE_SPEED.
    contact_fraction: fraction of all (foot, frame) pairs in contact.
    """
    speed_cm_s: float
    skate_fraction: float
    contact_fraction: float


def foot_skating(positions: np.ndarray, fps: float, contact_height: float = CONTACT_HEIGHT,
                 contact_vertical_speed: float = CONTACT_VERTICAL_SPEED,
                 skate_speed: float = SKATE_SPEED) -> FootSkating:
    """How fast the feet slide while they are on the ground.

    Per foot and frame the contact point is whichever of its two points is lower: the toe end, or
    the ankle counted ANKLE_ABOVE_TOE lower (its height when the foot is flat). Ground: the
    median over frames of the lower foot's contact-point height (a dancer has a foot down most
    of the time; the median ignores the odd frame of a foot dipping through the floor, which the
    lowest height would not, and matches the mocap importer's floor). The foot is in contact
    when its contact point is less than `contact_height` (m) above the ground and the
    point's vertical speed below `contact_vertical_speed` (m/s). Speeds are central differences
    at the dance's own fps (one-sided at the ends). A pivot on the ball (toe end lower) or on
    the heel (ankle lower) measures the point that stays put, so it does not count as skating.
    positions: (T, 24, 3) metres at `fps`.
    """
    pos = check_positions(positions, need_smpl24=True)
    fps = check_fps(fps)
    points = pos[:, [LEFT_TOE, LEFT_ANKLE, RIGHT_TOE, RIGHT_ANKLE]].reshape(len(pos), 2, 2, 3)  # (T, foot, point, 3)
    level = points[..., 1] - np.array([0.0, ANKLE_ABOVE_TOE])                                    # (T, 2, 2)
    vel = np.gradient(points, axis=0) * fps                                                      # (T, 2, 2, 3)
    lower = np.argmin(level, axis=-1)[..., None]                                                 # (T, 2, 1)
    h = np.take_along_axis(level, lower, axis=-1)[..., 0]                                        # (T, 2)
    h = h - np.median(h.min(axis=1))                                                             # above the ground
    v = np.take_along_axis(vel, lower[..., None], axis=2)[:, :, 0]                               # (T, 2, 3)
    contact = (h < contact_height) & (np.abs(v[..., 1]) < contact_vertical_speed)                # (T, 2)
    if not contact.any():
        return FootSkating(0.0, 0.0, 0.0)
    slide = np.linalg.norm(v[..., [0, 2]], axis=-1)[contact]                                     # (C,) m/s
    return FootSkating(speed_cm_s=float(100.0 * slide.mean()),
                       skate_fraction=float((slide > skate_speed).mean()),
                       contact_fraction=float(contact.mean()))
