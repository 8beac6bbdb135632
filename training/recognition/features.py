"""What the recognizer's streams see of a window of dance (numpy only).

Input everywhere: joint positions (..., T, 20, 3) in metres, skeleton.py's joints and axes (Y up),
any leading batch axes; fps frames per second.

- Pose stream, the skeleton form of the paper's spatial stream (what one frame shows):
  per frame, the 19 joints other than the pelvis relative to the pelvis, turned about the
  vertical so that the body faces +Z (core/motion/features.body_heading, from the hips), and
  the pelvis height above the floor: (..., T, 58) metres. Where on the floor the dancer is and
  which way they face are gone; the pose and how high the body is stay.
- Motion stream, the skeleton form of optical flow (what moves between frames): the velocities
  and accelerations of all 20 joints, central finite differences (features.joint_velocity,
  applied once and twice, one-sided at the window's ends), of the window's positions turned
  about the vertical by the window's mean heading (the circular mean of the per-frame
  headings): (..., T, 120), m/s then m/s^2. Travel and turning inside the window stay.
- Raw (the 3D-CNN-like baseline's one input): the positions themselves relative to the
  pelvis's mean horizontal position over the window, turned by the window's mean heading:
  (..., T, 20, 3) metres.

All three are unchanged when the whole dance is turned about the vertical or moved across the
floor (tests/test_recognition.py turns and moves a clip).
"""
from __future__ import annotations

import numpy as np

from dance_addon.core.motion.features import body_heading, joint_velocity
from dance_addon.core.motion.mirror import MIRROR_ORDER
from dance_addon.core.motion.skeleton import NUM_JOINTS

POSE_DIM = (NUM_JOINTS - 1) * 3 + 1        # 58
MOTION_DIM = NUM_JOINTS * 3 * 2            # 120


def turn_about_y(v: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Vectors v (..., 3) turned by -angle about +Y, angle broadcasting against v[..., 0].

    A body whose forward is (sin h, 0, cos h) (body_heading h) faces +Z after turn_about_y(v, h).
    """
    c, s = np.cos(angle), np.sin(angle)
    x, z = v[..., 0], v[..., 2]
    return np.stack([x * c - z * s, v[..., 1], x * s + z * c], axis=-1)


def mean_heading(positions: np.ndarray) -> np.ndarray:
    """(...,) the circular mean over the window's frames of body_heading, radians."""
    h = body_heading(positions)                                               # (..., T)
    return np.arctan2(np.sin(h).mean(axis=-1), np.cos(h).mean(axis=-1))


def pose_features(positions: np.ndarray) -> np.ndarray:
    """(..., T, 58): per frame, joints 1..19 minus the pelvis turned to face +Z, then the pelvis height."""
    p = np.asarray(positions, dtype=np.float64)
    h = body_heading(p)                                                       # (..., T)
    rel = turn_about_y(p[..., 1:, :] - p[..., :1, :], h[..., None])          # (..., T, 19, 3)
    return np.concatenate([rel.reshape(*rel.shape[:-2], -1), p[..., 0, 1:2]], axis=-1)


def window_frame(positions: np.ndarray) -> np.ndarray:
    """(..., T, 20, 3) the window turned about the vertical by its mean heading (no translation)."""
    p = np.asarray(positions, dtype=np.float64)
    return turn_about_y(p, mean_heading(p)[..., None, None])


def motion_features(positions: np.ndarray, fps: float) -> np.ndarray:
    """(..., T, 120): joint velocities (m/s) then accelerations (m/s^2) in the window's frame."""
    q = window_frame(positions)                                               # (..., T, 20, 3)
    vel = joint_velocity(q, fps)                                              # (..., T, 20, 3)
    acc = joint_velocity(vel, fps)
    return np.concatenate([vel.reshape(*vel.shape[:-2], -1), acc.reshape(*acc.shape[:-2], -1)], axis=-1)


def raw_features(positions: np.ndarray) -> np.ndarray:
    """(..., T, 20, 3): the window's positions about the pelvis's mean floor position, in its frame."""
    p = np.asarray(positions, dtype=np.float64)
    centre = p[..., :, :1, :].mean(axis=-3, keepdims=True).copy()            # (..., 1, 1, 3)
    centre[..., 1] = 0.0                                                      # keep heights above the floor
    return window_frame(p - centre)


STREAMS: tuple[str, ...] = ("pose", "motion", "raw")


def stream_inputs(positions: np.ndarray, fps: float, keys: tuple[str, ...] = STREAMS) -> dict[str, np.ndarray]:
    """The inputs `keys` of windows (N, T, 20, 3), float32: "pose" (N, T, 58), "motion" (N, T, 120),
    "raw" (N, T, 20, 3)."""
    make = {"pose": pose_features, "motion": lambda p: motion_features(p, fps), "raw": raw_features}
    unknown = [k for k in keys if k not in make]
    if unknown:
        raise ValueError(f"unknown stream input(s) {unknown}; the streams are {', '.join(STREAMS)}")
    return {k: make[k](positions).astype(np.float32) for k in keys}


def mirror_positions(positions: np.ndarray) -> np.ndarray:
    """(..., T, 20, 3) the dance as danced by its mirror image: x -> -x, left and right joints swapped."""
    out = np.asarray(positions)[..., MIRROR_ORDER, :].copy()
    out[..., 0] *= -1
    return out
