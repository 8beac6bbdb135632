"""How the generator sees a pose: the 60 numbers per frame it reads and writes.

Nineteen of the twenty joints are their local rotation vectors, as in the paper. The root
(pelvis) is not: its absolute rotation vector jumps by 2 pi whenever the dancer turns past
facing backwards (the exponential map's singularity), which a regression network cannot
follow. The root's rotation is split instead (swing-twist about the world's up axis, Y):

    R_pelvis = R_y(heading) . R_swing,   R_swing's axis horizontal

and the pelvis's three numbers are (swing_x, heading change since the previous frame in
radians, swing_z): all three continuous and bounded, whatever the number of turns. Decoding
integrates the heading from a start heading (0 = the start pose faces the canonical front, +Z).

Everything here is numpy; training encodes with it and the add-on decodes with it, so the
two cannot disagree. `MOTION_CODE` names the convention and goes into every model's metadata.
"""
from __future__ import annotations

import numpy as np

from . import rotations as rot
from .skeleton import MOTION_DIM, NUM_JOINTS

MOTION_CODE = "heading-rate-1"
ROOT = 0                    # the pelvis's index in skeleton.JOINT_NAMES
_EPS = 1e-9


def split_heading(root_rotvecs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Root rotation vectors (T, 3) -> heading angles (T,) in (-pi, pi] about +Y and swing
    rotation vectors (T, 3) with a zero Y component, so that R = R_y(heading) . R_swing."""
    q = rot.rotvec_to_quat(np.asarray(root_rotvecs, np.float64))          # (T, 4) w, x, y, z
    # The twist about Y is the quaternion's (w, y) part normalised, for R = twist . swing too
    # (the swing contributes nothing along Y to the product's vector part).
    heading = 2.0 * np.arctan2(q[:, 2], q[:, 0])
    heading = np.angle(np.exp(1j * heading))                             # wrap to (-pi, pi]
    half = heading / 2
    twist_inv = np.stack([np.cos(half), np.zeros_like(half), -np.sin(half), np.zeros_like(half)], axis=-1)
    swing = rot.quat_to_rotvec(rot.quat_multiply(twist_inv, q))          # (T, 3), y ~ 0
    swing[:, 1] = 0.0
    return heading, swing


def join_heading(heading: np.ndarray, swing: np.ndarray) -> np.ndarray:
    """Inverse of `split_heading`: headings (T,) and horizontal swings (T, 3) -> root rotvecs (T, 3)."""
    half = np.asarray(heading, np.float64) / 2
    twist = np.stack([np.cos(half), np.zeros_like(half), np.sin(half), np.zeros_like(half)], axis=-1)
    sw = np.asarray(swing, np.float64).copy()
    sw[:, 1] = 0.0
    return rot.quat_to_rotvec(rot.quat_multiply(twist, rot.rotvec_to_quat(sw)))


def encode(rotvecs: np.ndarray) -> np.ndarray:
    """Joint rotation vectors (T, 20, 3) -> the model's motion code (T, 60), float64.
    Frame 0's heading change is 0 (there is no previous frame)."""
    rv = np.asarray(rotvecs, np.float64)
    if rv.ndim != 3 or rv.shape[1:] != (NUM_JOINTS, 3):
        raise ValueError(f"rotvecs should be (T, {NUM_JOINTS}, 3), got {rv.shape}")
    heading, swing = split_heading(rv[:, ROOT])
    turn = np.zeros_like(heading)
    turn[1:] = np.angle(np.exp(1j * np.diff(heading)))                   # wrap each step to (-pi, pi]
    code = rv.copy()
    code[:, ROOT] = np.stack([swing[:, 0], turn, swing[:, 2]], axis=-1)
    return code.reshape(len(rv), MOTION_DIM)


def decode(code: np.ndarray, start_heading: float = 0.0) -> np.ndarray:
    """The model's motion code (T, 60) -> joint rotation vectors (T, 20, 3), float64; the
    heading starts at `start_heading` (radians about +Y) and follows the coded turns."""
    c = np.asarray(code, np.float64)
    if c.ndim != 2 or c.shape[1] != MOTION_DIM:
        raise ValueError(f"motion code should be (T, {MOTION_DIM}), got {c.shape}")
    rv = c.reshape(len(c), NUM_JOINTS, 3).copy()
    turn = rv[:, ROOT, 1].copy()
    turn[0] = 0.0
    heading = start_heading + np.cumsum(turn)
    swing = np.stack([rv[:, ROOT, 0], np.zeros(len(c)), rv[:, ROOT, 2]], axis=-1)
    rv[:, ROOT] = rot.rotvec_continuity(join_heading(heading, swing))
    return rv
