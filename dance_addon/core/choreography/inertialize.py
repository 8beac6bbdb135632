"""Inertialization: joining two motions without a cross-fade.

At a switch from motion A to motion B (Bollo 2016; Holden's Motion-Matching code, `spring.h`
and `inertialize_pose_transition`), the difference between where A would have been and where B
is, and between their velocities, becomes an offset added to B that decays to zero with a
critically damped spring. B plays from its first frame at full weight (no blending of two poses,
no foot-sliding average of two strides); the offset only hides the jump.

Two small pure functions, vectorised over any leading shape:
- `decay_spring_damper(x0, v0, halflife, t)`: the offset and its velocity t seconds after a
  switch that left offset x0 and offset velocity v0 (critically damped: no overshoot past 0
  beyond the first zero crossing that a velocity kick can cause).
- `rotation_offset` / `apply_rotation_offset`: the offset between two rotations as a rotation
  vector, and that offset put back onto a rotation.
"""
from __future__ import annotations

import numpy as np

from ..motion.rotations import quat_conjugate, quat_multiply, quat_to_rotvec, rotvec_to_quat

LN2 = float(np.log(2.0))


def halflife_to_damping(halflife: float) -> float:
    """The damping y of x(t) = (x0 + (v0 + x0 y) t) e^(-y t) that halves a still offset in `halflife` s."""
    return 4.0 * LN2 / (halflife + 1e-8) / 2.0


def decay_spring_damper(x0: np.ndarray, v0: np.ndarray, halflife: float,
                        t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Offset and offset velocity at times t (seconds, shape (N,)) after a switch.

    x0, v0: (...) offset and its velocity at t = 0. Returns two arrays of shape (N, ...):
        j = v0 + x0 y;  x(t) = e^(-y t) (x0 + j t);  v(t) = e^(-y t) (v0 - j y t)
    with y = halflife_to_damping(halflife) (exact: the same for any frame rate).
    """
    x0, v0 = np.asarray(x0, np.float64), np.asarray(v0, np.float64)
    t = np.asarray(t, np.float64).reshape((-1,) + (1,) * x0.ndim)
    y = halflife_to_damping(halflife)
    j = v0 + x0 * y
    e = np.exp(-y * t)
    return e * (x0 + j * t), e * (v0 - j * y * t)


def rotation_offset(q_from: np.ndarray, q_to: np.ndarray) -> np.ndarray:
    """Rotation vectors (..., 3) of the offset o with q_from = exp(o) q_to (quaternions w, x, y, z)."""
    return quat_to_rotvec(quat_multiply(q_from, quat_conjugate(q_to)))


def apply_rotation_offset(offset: np.ndarray, q: np.ndarray) -> np.ndarray:
    """exp(offset) q: the rotation offset (..., 3) put onto quaternions (..., 4)."""
    return quat_multiply(rotvec_to_quat(offset), q)
