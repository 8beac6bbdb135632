"""How the generator sees a pose: the 60 numbers per frame it reads and writes.

Nineteen of the twenty joints are their local rotation vectors, as in the paper. The root
(pelvis) is not: its absolute rotation vector jumps by 2 pi whenever the dancer turns past
facing backwards (the exponential map's singularity), which a regression network cannot
follow. The root's rotation is split instead (swing-twist about the world's up axis, Y):

    R_pelvis = R_y(heading) . R_swing,   R_swing's axis horizontal

and the pelvis's three numbers are (swing_x, heading change since the previous frame in
radians, swing_z): all three continuous and bounded, whatever the number of turns. Decoding
integrates the heading from a start heading (0 = the start pose faces the canonical front, +Z).

The root's travel is three more numbers per frame (`encode_root` / `decode_root`): the pelvis's
horizontal velocity in the dancer's own heading frame (metres per second, sideways and forwards:
the same step reads the same whichever way the dancer faces) and the pelvis's height in metres.
A frame of the generator is the 60 numbers above followed by these 3 (`FRAME_DIM`).

Everything here is numpy; training encodes with it and the add-on decodes with it, so the
two cannot disagree. `MOTION_CODE` names the convention and goes into every model's metadata.
"""
from __future__ import annotations

import numpy as np

from . import rotations as rot
from .skeleton import MOTION_DIM, NUM_JOINTS

MOTION_CODE = "heading-rate-root-2"
ROOT = 0                    # the pelvis's index in skeleton.JOINT_NAMES
ROOT_DIM = 3                # body-frame velocity x, z (m/s) and height (m) of the pelvis
FRAME_DIM = MOTION_DIM + ROOT_DIM
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


def headings(code: np.ndarray, start_heading: float = 0.0) -> np.ndarray:
    """The heading (T,) in radians about +Y that a motion code (T, >= 60) turns through."""
    turn = np.asarray(code, np.float64)[:, ROOT * 3 + 1].copy()
    turn[0] = 0.0
    return start_heading + np.cumsum(turn)


def encode_root(rotvecs: np.ndarray, root_translation: np.ndarray, fps: float) -> np.ndarray:
    """Joint rotation vectors (T, 20, 3) and pelvis positions (T, 3) in metres, Y up -> (T, 3):
    the pelvis's horizontal velocity in its own heading frame (x sideways, z forwards, m/s;
    frame 0 takes frame 1's) and its height in metres."""
    rv = np.asarray(rotvecs, np.float64).reshape(len(rotvecs), NUM_JOINTS, 3)
    root = np.asarray(root_translation, np.float64)
    if root.shape != (len(rv), 3):
        raise ValueError(f"root_translation should be ({len(rv)}, 3), got {root.shape}")
    heading, _ = split_heading(rv[:, ROOT])
    vel = np.zeros((len(rv), 2))
    if len(rv) > 1:
        vel[1:] = np.diff(root[:, [0, 2]], axis=0) * fps                  # world (x, z) per second
        vel[0] = vel[1]
    c, s = np.cos(heading), np.sin(heading)                              # world = R_y(h) . body
    body_x = c * vel[:, 0] - s * vel[:, 1]
    body_z = s * vel[:, 0] + c * vel[:, 1]
    return np.stack([body_x, body_z, root[:, 1]], axis=-1)


def decode_root(root_code: np.ndarray, heading: np.ndarray, fps: float,
                start: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Inverse of `encode_root`: (T, 3) root code and the headings (T,) (`headings`) -> pelvis
    positions (T, 3) in metres, starting over `start` (x, z)."""
    rc = np.asarray(root_code, np.float64)
    c, s = np.cos(heading), np.sin(heading)
    world_x = c * rc[:, 0] + s * rc[:, 1]
    world_z = -s * rc[:, 0] + c * rc[:, 1]
    step = np.stack([world_x, world_z], axis=-1) / fps
    step[0] = 0.0
    xz = np.asarray(start, np.float64) + np.cumsum(step, axis=0)
    return np.stack([xz[:, 0], rc[:, 2], xz[:, 1]], axis=-1)
