"""Re-roll: a stretch of one dance replaced by the same stretch of another dance of the same song,
joined so that the cuts do not show.

`splice(old_rotvecs, old_root, new_rotvecs, new_root, start, stop, fps)` returns the old dance
with its frames [start, stop) taken from the new one. Both dances are canonical motion on the
same frames of the same song (so the new stretch is danced to the same music: the beats stay
where they were). Three steps:
1. Placement: the new stretch is turned about the vertical and moved so that at `start` its
   pelvis heading and horizontal place are the old dance's there (as synthesis places a move).
2. The far end: the old dance resumes at `stop` where it was, so the new stretch is turned and
   moved there gradually, by a smoothstep over the stretch (no added speed at either end): by the
   difference between the two dances' headings at `stop`, then by the horizontal gap that is
   left. The turn is the shorter way round, or the other way when that costs at most
   MAX_EXTRA_TURN more and the shorter one would bring the pelvis's quaternion path to `stop`
   with the other sign than the old dance's own (a rig's quaternion keys would then change sign
   between the last new frame and the first kept one: exact at whole frames, but Blender's
   per-channel interpolation turns the pelvis the wrong way between them).
3. Inertialization (inertialize.py) at both joins, of every joint's rotation and the pelvis
   position: at `start` the difference between the old dance's frame and velocity and the new
   stretch's becomes an offset that decays forward with a critically damped spring; at `stop`,
   the difference to the old dance's frame `stop` and its velocity decays backward from there.
   The two offsets are weighed by a smoothstep over the stretch, so the first new frame is the
   old dance's frame `start` and the stretch arrives at the old dance's frame `stop` with its
   velocity, however short the stretch.
Frames outside [start, stop) are the old dance's, bit for bit.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..motion.rotations import (
    quat_continuity,
    quat_multiply,
    quat_to_matrix,
    quat_to_rotvec,
    rotvec_continuity,
    rotvec_to_quat,
)
from .inertialize import apply_rotation_offset, decay_spring_damper, rotation_offset

MIN_FRAMES = 4          # the shortest stretch that can be re-rolled
HALFLIFE = 0.2          # seconds: longer than synthesis's 0.12, as a re-roll joins two unrelated poses
MAX_EXTRA_TURN = np.pi / 2     # radians: how much further than the shorter way round the far end may turn


@dataclass(frozen=True)
class Splice:
    """rotvecs (T, 20, 3) and root (T, 3): the old dance with the new stretch; turn: the extra turn
    (radians about +Y) that step 2 spread over the stretch."""
    rotvecs: np.ndarray
    root: np.ndarray
    turn: float


def headings(quats: np.ndarray) -> np.ndarray:
    """(...) heading about +Y (radians) of pelvis quaternions (..., 4): the way its forward axis
    (+Z) points, 0 along +Z, pi / 2 along +X."""
    fwd = quat_to_matrix(quats)[..., :, 2]
    return np.arctan2(fwd[..., 0], fwd[..., 2])


def _yaw(angle: np.ndarray) -> np.ndarray:
    """Quaternions (..., 4) of turns about +Y by `angle` (...)."""
    a = np.asarray(angle, np.float64)
    return np.stack([np.cos(a / 2), np.zeros_like(a), np.sin(a / 2), np.zeros_like(a)], axis=-1)


def _turn_xz(v: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Horizontal vectors (..., 2) as (x, z) turned about +Y by angle (... or scalar)."""
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([c * v[..., 0] + s * v[..., 1], -s * v[..., 0] + c * v[..., 1]], axis=-1)


def smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def splice(old_rotvecs: np.ndarray, old_root: np.ndarray, new_rotvecs: np.ndarray, new_root: np.ndarray,
           start: int, stop: int, fps: float, halflife: float = HALFLIFE) -> Splice:
    """The old dance (T, 20, 3) rotation vectors and (T, 3) pelvis positions with frames
    [start, stop) from the new dance of the same frames (see the module docstring)."""
    old_rv = np.asarray(old_rotvecs, np.float64)
    old_root = np.asarray(old_root, np.float64)
    new_rv = np.asarray(new_rotvecs, np.float64)
    new_root = np.asarray(new_root, np.float64)
    n = len(old_rv)
    if new_rv.shape != old_rv.shape or old_root.shape != (n, 3) or new_root.shape != (n, 3):
        raise ValueError(f"the dances must have the same frames: rotations {old_rv.shape} and {new_rv.shape}, "
                         f"roots {old_root.shape} and {new_root.shape}")
    if not (0 <= start and start + MIN_FRAMES <= stop <= n):
        raise ValueError(f"frames [{start}, {stop}) are not a stretch of at least {MIN_FRAMES} frames of a "
                         f"dance of {n}")
    length = stop - start
    resumes = stop < n                      # the old dance goes on after the stretch
    # the new stretch, with the new dance's frame `stop` (where it would go on) when the old resumes
    q = rotvec_to_quat(new_rv[start:stop + resumes])                        # (K, 20, 4)
    r = new_root[start:stop + resumes].copy()                                # (K, 3)
    old_q = {f: rotvec_to_quat(old_rv[f]) for f in {start - 1, start, stop - 1, stop, stop + 1} if 0 <= f < n}

    # 1. placement: the old dance's heading and horizontal place at `start`
    yaw0 = headings(old_q[start][0]) - headings(q[0, 0])
    q[:, 0] = quat_multiply(_yaw(yaw0), q[:, 0])
    r[:, [0, 2]] = _turn_xz(r[:, [0, 2]] - r[0, [0, 2]], yaw0) + old_root[start, [0, 2]]
    if not resumes:
        q, r = _inertialize(q, r, old_q, old_root, start, stop, n, fps, halflife)
        return _result(old_rv, old_root, q, r, start, stop, 0.0)

    # 2. the far end: the heading gap at `stop`, the shorter way round unless the other way
    # costs at most MAX_EXTRA_TURN more and keeps the pelvis's quaternion sign
    s = smoothstep(np.arange(length + 1) / length)                          # 0 at start, 1 at stop
    gap = float(np.angle(np.exp(1j * (headings(old_q[stop][0]) - headings(q[length, 0])))))
    other = gap - 2 * np.pi * np.sign(gap or 1.0)
    tq, tr = _inertialize(*_turn_towards(q, r, s, gap, old_root[stop]), old_q, old_root, start, stop, n, fps,
                          halflife)
    turn = gap
    if abs(other) - abs(gap) <= MAX_EXTRA_TURN and not _same_sign_at_stop(old_rv, tq, start, stop):
        tq, tr = _inertialize(*_turn_towards(q, r, s, other, old_root[stop]), old_q, old_root, start, stop, n,
                              fps, halflife)
        turn = other
    return _result(old_rv, old_root, tq[:length], tr[:length], start, stop, turn)


def _turn_towards(q: np.ndarray, r: np.ndarray, s: np.ndarray, turn: float, goal: np.ndarray):
    """The stretch turned by s * turn about +Y frame by frame (its pelvis, and each step of its
    path, so it travels the way it faces), then moved by s * the horizontal gap left to `goal`."""
    q, r = q.copy(), r.copy()
    angle = s * turn
    q[:, 0] = quat_multiply(_yaw(angle), q[:, 0])
    steps = _turn_xz(np.diff(r[:, [0, 2]], axis=0), angle[1:])
    r[1:, [0, 2]] = r[0, [0, 2]] + np.cumsum(steps, axis=0)
    r[:, [0, 2]] += s[:, None] * (goal[[0, 2]] - r[-1, [0, 2]])
    return q, r


def _inertialize(q, r, old_q, old_root, start, stop, n, fps, halflife):
    """The stretch (K, 20, 4) quaternions and (K, 3) root, its last frame the virtual one at `stop`
    when the old dance resumes there, with both joins' offsets: at `start` the difference between
    the old dance's frame (and velocity) and the stretch's first frame, decaying forward; at `stop`
    the difference to the old dance's frame there, decaying backward. Where both are, they are
    weighed by a smoothstep over the stretch (the start's at its start, the stop's at its end, and
    with no added speed at either), so each join is met exactly however short the stretch."""
    k = np.arange(len(q))
    parts = []
    if start > 0:
        x_rot = rotation_offset(old_q[start], q[0])                                      # (20, 3)
        v_rot = offset_velocity(x_rot, rotation_offset(old_q[start], old_q[start - 1]) * fps,
                                rotation_offset(q[1], q[0]) * fps)
        x_root = old_root[start] - r[0]
        v_root = ((old_root[start] - old_root[start - 1]) - (r[1] - r[0])) * fps
        t = k / fps
        parts.append((decay_spring_damper(x_rot, v_rot, halflife, t)[0],
                      decay_spring_damper(x_root, v_root, halflife, t)[0]))
    if stop < n:
        after, before = (stop + 1, stop) if stop + 1 < n else (stop, stop - 1)
        x_rot = rotation_offset(old_q[stop], q[-1])
        v_rot = offset_velocity(x_rot, rotation_offset(old_q[after], old_q[before]) * fps,
                                rotation_offset(q[-1], q[-2]) * fps)
        x_root = old_root[stop] - r[-1]
        v_root = ((old_root[after] - old_root[before]) - (r[-1] - r[-2])) * fps
        tau = (len(q) - 1 - k) / fps                                     # seconds before `stop`
        parts.append((decay_spring_damper(x_rot, -v_rot, halflife, tau)[0],
                      decay_spring_damper(x_root, -v_root, halflife, tau)[0]))
    if not parts:
        return q, r
    if len(parts) == 1:
        off_rot, off_root = parts[0]
    else:
        w = smoothstep(k / (len(q) - 1))
        off_rot = (1 - w)[:, None, None] * parts[0][0] + w[:, None, None] * parts[1][0]
        off_root = (1 - w)[:, None] * parts[0][1] + w[:, None] * parts[1][1]
    return apply_rotation_offset(off_rot, q), r + off_root


def offset_velocity(offset: np.ndarray, target: np.ndarray, moving: np.ndarray) -> np.ndarray:
    """(..., 3) the rate of change of a rotation offset o (a rotation vector) that gives exp(o) q the
    angular velocity `target` where q turns at `moving` (angular velocities as rotation vectors per
    second, in the frame rotations are applied in, as rotation_offset(q[t + 1], q[t]) * fps):
        target = J(o) o' + R(o) moving,  so  o' = J(o)^-1 (target - R(o) moving)
    with R(o) the rotation and J(o) the left Jacobian of the exponential map. For a small offset
    this is target - moving (what synthesis's joins use); for the large offsets of a re-roll's
    joins the offset turns q's own velocity, and ignoring that leaves a kink at the join."""
    o = np.asarray(offset, np.float64)
    theta = np.linalg.norm(o, axis=-1, keepdims=True)
    small = theta < 1e-6
    safe = np.where(small, 1.0, theta)
    axis = np.where(small, 0.0, o / safe)
    c, s = np.cos(safe), np.sin(safe)

    # R(o) v by Rodrigues
    moving = np.asarray(moving, np.float64)
    turned = moving * c + np.cross(axis, moving) * s + axis * np.sum(axis * moving, -1, keepdims=True) * (1 - c)
    turned = np.where(small, moving, turned)
    d = np.asarray(target, np.float64) - turned
    # J^-1 d = d - 1/2 o x d + (1/theta^2 - (1 + cos theta) / (2 theta sin theta)) o x (o x d)
    coef = np.where(small, 1.0 / 12.0, 1.0 / safe ** 2 - (1 + c) / (2 * safe * np.maximum(s, 1e-9)))
    return d - 0.5 * np.cross(o, d) + coef * np.cross(o, np.cross(o, d))


def _same_sign_at_stop(old_rv: np.ndarray, q: np.ndarray, start: int, stop: int) -> bool:
    """Whether the pelvis's quaternion path through the new stretch arrives at the old dance's
    frame `stop` with the sign the old dance's own path has there (both lifted from the frame
    before the stretch, or from the stretch's first frame when it starts the dance)."""
    first = max(start - 1, 0)
    old = quat_continuity(rotvec_to_quat(old_rv[first:stop + 1, 0]))
    head = old[:1] if start > 0 else q[:1, 0]
    new = quat_continuity(np.concatenate([head, q[:-1, 0]]))                # to the stretch's last frame
    return float(np.dot(new[-1], old[-1])) > 0


def _result(old_rv, old_root, q, r, start, stop, turn) -> Splice:
    rv, root = old_rv.copy(), old_root.copy()
    stretch = quat_to_rotvec(quat_continuity(q, axis=0))
    if start > 0:                      # continuous with the frame before, as the rest of the dance is
        stretch = rotvec_continuity(np.concatenate([old_rv[start - 1:start], stretch]))[1:]
    rv[start:stop] = stretch
    root[start:stop] = r
    return Splice(rv, root, float(turn))
