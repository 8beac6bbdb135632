"""Rotation maths on numpy arrays, shared by training and the add-on.

Conventions (the only place they are written down for rotations):
- Quaternions are (w, x, y, z), Hamilton product, as Blender stores them.
- Rotation vectors (axis-angle) are axis * angle in radians, angle in [0, pi].
- Matrices rotate column vectors: v' = R @ v.
- Every function takes arrays with any leading batch shape: (..., 3), (..., 4)
  or (..., 3, 3).
"""
from __future__ import annotations

import numpy as np

_EPS = 1e-8


def _as_float(a) -> np.ndarray:
    a = np.asarray(a)
    return a if a.dtype in (np.float32, np.float64) else a.astype(np.float64)


def quat_normalize(q) -> np.ndarray:
    q = _as_float(q)
    return q / np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), _EPS)


def quat_conjugate(q) -> np.ndarray:
    q = _as_float(q)
    return q * np.array([1.0, -1.0, -1.0, -1.0], dtype=q.dtype)


def quat_multiply(a, b) -> np.ndarray:
    """Hamilton product a * b (apply b first, then a)."""
    a, b = _as_float(a), _as_float(b)
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack([
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    ], axis=-1)


def quat_apply(q, v) -> np.ndarray:
    """Rotate vectors v (..., 3) by unit quaternions q (..., 4)."""
    q, v = _as_float(q), _as_float(v)
    w = q[..., :1]
    u = q[..., 1:]
    t = 2.0 * np.cross(u, v)
    return v + w * t + np.cross(u, t)


def rotvec_to_quat(rv) -> np.ndarray:
    rv = _as_float(rv)
    angle = np.linalg.norm(rv, axis=-1, keepdims=True)
    half = 0.5 * angle
    # sin(half)/angle, with its Taylor series near zero
    small = angle < 1e-6
    safe = np.where(small, 1.0, angle)
    k = np.where(small, 0.5 - angle ** 2 / 48.0, np.sin(half) / safe)
    return np.concatenate([np.cos(half), rv * k], axis=-1)


def quat_to_rotvec(q) -> np.ndarray:
    """Unit quaternion to rotation vector with angle in [0, pi]."""
    q = quat_normalize(q)
    q = np.where(q[..., :1] < 0, -q, q)  # w >= 0 gives angle <= pi
    w = np.clip(q[..., :1], -1.0, 1.0)
    xyz = q[..., 1:]
    s = np.linalg.norm(xyz, axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(s, w)
    small = s < 1e-6
    safe = np.where(small, 1.0, s)
    k = np.where(small, 2.0 / np.maximum(w, _EPS) * (1.0 - s ** 2 / (3.0 * np.maximum(w, _EPS) ** 2)),
                 angle / safe)
    return xyz * k


def quat_to_matrix(q) -> np.ndarray:
    q = quat_normalize(q)
    w, x, y, z = np.moveaxis(q, -1, 0)
    m = np.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], axis=-1)
    return m.reshape(q.shape[:-1] + (3, 3))


def matrix_to_quat(m) -> np.ndarray:
    """Rotation matrix to unit quaternion with w >= 0 (Shepperd's method)."""
    m = _as_float(m)
    shape = m.shape[:-2]
    m = m.reshape(-1, 3, 3)
    m00, m11, m22 = m[:, 0, 0], m[:, 1, 1], m[:, 2, 2]
    trace = m00 + m11 + m22
    # candidates built from each of the four largest diagonal terms
    cands = np.stack([
        np.stack([1 + trace, m[:, 2, 1] - m[:, 1, 2], m[:, 0, 2] - m[:, 2, 0], m[:, 1, 0] - m[:, 0, 1]], -1),
        np.stack([m[:, 2, 1] - m[:, 1, 2], 1 + m00 - m11 - m22, m[:, 0, 1] + m[:, 1, 0], m[:, 0, 2] + m[:, 2, 0]], -1),
        np.stack([m[:, 0, 2] - m[:, 2, 0], m[:, 0, 1] + m[:, 1, 0], 1 - m00 + m11 - m22, m[:, 1, 2] + m[:, 2, 1]], -1),
        np.stack([m[:, 1, 0] - m[:, 0, 1], m[:, 0, 2] + m[:, 2, 0], m[:, 1, 2] + m[:, 2, 1], 1 - m00 - m11 + m22], -1),
    ], axis=1)  # (N, 4 candidates, 4)
    best = np.argmax(np.stack([trace, m00, m11, m22], -1), axis=-1)
    q = cands[np.arange(len(m)), best]
    q = quat_normalize(q)
    q = np.where(q[:, :1] < 0, -q, q)
    return q.reshape(shape + (4,))


def rotvec_to_matrix(rv) -> np.ndarray:
    return quat_to_matrix(rotvec_to_quat(rv))


def matrix_to_rotvec(m) -> np.ndarray:
    return quat_to_rotvec(matrix_to_quat(m))


def align_vectors(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Minimal rotation (..., 3, 3) taking direction a (..., 3) to direction b (..., 3).

    For opposite directions the axis is any one perpendicular to a (the rotation is 180 deg).
    """
    a = np.asarray(a, float) / np.linalg.norm(a, axis=-1, keepdims=True)
    b = np.asarray(b, float) / np.linalg.norm(b, axis=-1, keepdims=True)
    v = np.cross(a, b)
    c = np.sum(a * b, axis=-1)[..., None, None]
    vx = np.zeros(v.shape + (3,))
    vx[..., 0, 1], vx[..., 0, 2], vx[..., 1, 2] = -v[..., 2], v[..., 1], -v[..., 0]
    vx[..., 1, 0], vx[..., 2, 0], vx[..., 2, 1] = v[..., 2], -v[..., 1], v[..., 0]
    near_opposite = c[..., 0, 0] < -1.0 + 1e-9
    r = np.eye(3) + vx + vx @ vx / np.maximum(1.0 + c, 1e-12)
    if np.any(near_opposite):
        # 180 degrees about an axis perpendicular to a
        helper = np.where(np.abs(a[..., :1]) < 0.9, np.array([1.0, 0, 0]), np.array([0, 1.0, 0]))
        axis = np.cross(a, helper)
        axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
        flip = 2.0 * axis[..., :, None] * axis[..., None, :] - np.eye(3)
        r = np.where(near_opposite[..., None, None], flip, r)
    return r


def quat_continuity(q, axis: int = 0) -> np.ndarray:
    """Flip signs along `axis` (time) so consecutive quaternions have a positive dot product."""
    q = np.array(_as_float(q), copy=True)
    q = np.moveaxis(q, axis, 0)
    if len(q) > 1:
        dots = np.sum(q[1:] * q[:-1], axis=-1)
        flips = np.cumprod(np.where(dots < 0, -1.0, 1.0), axis=0)
        q[1:] *= flips[..., None]
    return np.moveaxis(q, 0, axis)


def quat_slerp(q0, q1, t) -> np.ndarray:
    """Spherical interpolation between unit quaternions along the shorter arc; t broadcasts."""
    q0, q1 = quat_normalize(q0), quat_normalize(q1)
    t = np.asarray(t, dtype=q0.dtype)[..., None]
    dot = np.sum(q0 * q1, axis=-1, keepdims=True)
    q1 = np.where(dot < 0, -q1, q1)
    dot = np.abs(dot)
    theta = np.arccos(np.clip(dot, -1.0, 1.0))
    sin_theta = np.sin(theta)
    near = sin_theta < 1e-6
    safe = np.where(near, 1.0, sin_theta)
    w0 = np.where(near, 1.0 - t, np.sin((1.0 - t) * theta) / safe)
    w1 = np.where(near, t, np.sin(t * theta) / safe)
    return quat_normalize(w0 * q0 + w1 * q1)


def resample_times(n_frames: int, src_fps: float, dst_fps: float) -> np.ndarray:
    """Source-frame positions (float) of every destination frame covering the same duration.

    Destination frame k sits at time k / dst_fps; the last one is at or before the
    source's last frame time (n_frames - 1) / src_fps.
    """
    if n_frames < 1:
        raise ValueError("cannot resample an empty motion")
    duration = (n_frames - 1) / float(src_fps)
    n_out = int(np.floor(duration * dst_fps + 1e-6)) + 1
    return np.arange(n_out) * (float(src_fps) / float(dst_fps))


def sample_quats(q, positions) -> np.ndarray:
    """(T, ..., 4) quaternions sampled at fractional frame positions (N,) by slerp between neighbours.

    Positions are clamped to [0, T - 1].
    """
    q = quat_continuity(q, axis=0)
    pos = np.clip(np.asarray(positions, dtype=np.float64), 0.0, len(q) - 1)
    i0 = np.floor(pos).astype(int)
    i1 = np.minimum(i0 + 1, len(q) - 1)
    frac = (pos - i0).reshape((-1,) + (1,) * (q.ndim - 2))
    frac = np.broadcast_to(frac, q[i0].shape[:-1])
    return quat_continuity(quat_slerp(q[i0], q[i1], frac), axis=0)


def sample_linear(x, positions) -> np.ndarray:
    """(T, ...) values sampled at fractional frame positions (N,) by linear interpolation, clamped."""
    x = _as_float(x)
    pos = np.clip(np.asarray(positions, dtype=np.float64), 0.0, len(x) - 1)
    i0 = np.floor(pos).astype(int)
    i1 = np.minimum(i0 + 1, len(x) - 1)
    frac = (pos - i0).reshape((-1,) + (1,) * (x.ndim - 1))
    return x[i0] * (1.0 - frac) + x[i1] * frac


def resample_quats(q, src_fps: float, dst_fps: float) -> np.ndarray:
    """Resample (T, ..., 4) quaternions from src_fps to dst_fps by slerp between neighbours."""
    return sample_quats(q, resample_times(len(q), src_fps, dst_fps))


def resample_linear(x, src_fps: float, dst_fps: float) -> np.ndarray:
    """Resample (T, ...) values (e.g. root translation) by linear interpolation."""
    return sample_linear(x, resample_times(len(x), src_fps, dst_fps))


def rotvec_continuity(rv, axis: int = 0) -> np.ndarray:
    """Rotation vectors made continuous along `axis` (time): each frame takes, among the vectors
    r + 2*pi*k*r/|r| (any whole k: the same rotation), the one closest to the previous frame's.

    A body that keeps turning then has a smooth trajectory (norms grow past pi) instead of
    jumping across the pi boundary at every half turn.
    """
    rv = np.moveaxis(np.array(_as_float(rv), copy=True), axis, 0)
    if len(rv) < 2:
        return np.moveaxis(rv, 0, axis)
    flat = rv.reshape(len(rv), -1, 3)
    # Only series with a step longer than pi / 2 can cross the pi boundary; the others already
    # are their own closest family members (k = 0 every frame) and are left as they are.
    steps = np.linalg.norm(np.diff(flat, axis=0), axis=-1).max(axis=0)
    for j in np.flatnonzero(steps > np.pi / 2):
        flat[:, j] = _continuity_one(flat[:, j])
    return np.moveaxis(flat.reshape(rv.shape), 0, axis)


def _continuity_one(series: np.ndarray) -> np.ndarray:
    """rotvec_continuity of one (T, 3) series. Where the raw series steps by less than pi / 2 and
    its axis turns by less than 60 degrees, the family member k stays the same from frame to frame
    (the raw series and its correction are both continuous there), so k is worked out only at the
    frames after a longer step or a sharper turn of the axis and applied to the run up to the next."""
    out = np.array(series, dtype=np.float64, copy=True)
    norm = np.linalg.norm(out, axis=-1, keepdims=True)
    unit = out / np.maximum(norm, _EPS)
    steps = np.linalg.norm(np.diff(out, axis=0), axis=-1)
    flips = np.sum(unit[1:] * unit[:-1], axis=-1) < 0.5        # the axis turns (the path passes near 0)
    starts = np.flatnonzero((steps > np.pi / 2) | flips) + 1
    bounds = np.concatenate([starts, [len(out)]])
    k = 0.0
    for a, b in zip(bounds[:-1], bounds[1:]):
        prev = out[a - 1]
        k = np.round((prev @ unit[a] - norm[a, 0]) / (2 * np.pi))
        if k:
            out[a:b] += 2 * np.pi * k * unit[a:b]
    return out.astype(series.dtype)


def resample_rotvecs(rv, src_fps: float, dst_fps: float) -> np.ndarray:
    """Resample (T, J, 3) rotation vectors between frame rates by slerp."""
    return quat_to_rotvec(resample_quats(rotvec_to_quat(rv), src_fps, dst_fps)).astype(np.asarray(rv).dtype)


_AXES = {"X": np.array([1.0, 0.0, 0.0]), "Y": np.array([0.0, 1.0, 0.0]), "Z": np.array([0.0, 0.0, 1.0])}


def axis_angle_matrix(axis: str, angle) -> np.ndarray:
    """Matrices (..., 3, 3) for rotations by `angle` radians about the named axis X, Y or Z."""
    angle = _as_float(angle)
    return rotvec_to_matrix(angle[..., None] * _AXES[axis.upper()])


def euler_to_matrix(angles, order: str) -> np.ndarray:
    """Intrinsic Euler angles (..., len(order)) in radians, applied in `order` (e.g. "ZXY" as in BVH).

    The BVH convention: channels Zrotation Xrotation Yrotation mean R = Rz @ Rx @ Ry.
    """
    angles = _as_float(angles)
    m = None
    for i, ax in enumerate(order):
        r = axis_angle_matrix(ax, angles[..., i])
        m = r if m is None else m @ r
    return m


def matrix_to_euler(m, order: str) -> np.ndarray:
    """Inverse of euler_to_matrix for a 3-letter order of distinct axes (Tait-Bryan)."""
    m = _as_float(m)
    idx = {"X": 0, "Y": 1, "Z": 2}
    i, j, k = (idx[c] for c in order.upper())
    # sign of the permutation (i, j, k)
    sign = 1.0 if (j - i) % 3 == 1 else -1.0
    # R = R_i(a) R_j(b) R_k(c):  m[i, k] = sign * sin(b)
    b = np.arcsin(np.clip(sign * m[..., i, k], -1.0, 1.0))
    cb = np.cos(b)
    gimbal = np.abs(cb) < 1e-6
    a = np.arctan2(-sign * m[..., j, k], m[..., k, k])
    c = np.arctan2(-sign * m[..., i, j], m[..., i, i])
    # at gimbal lock put all of the rotation into the first angle
    a_g = np.arctan2(sign * m[..., k, j], m[..., j, j])
    a = np.where(gimbal, a_g, a)
    c = np.where(gimbal, 0.0, c)
    return np.stack([a, b, c], axis=-1)
