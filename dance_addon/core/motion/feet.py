"""Feet on the floor: foot contacts with hysteresis, and foot locking by two-bone IK.

Everything works on canonical motion (skeleton.py: 20 local rotation vectors, the root
translation in metres, Y up), so it serves every way of making a dance and every rig.

Contacts (`contacts`): per ankle and frame, on the ground when the ankle is low and not rising or
falling. With hysteresis, so contacts do not flicker: a contact starts when the ankle is within
ENTER_HEIGHT of its floor level and moves up or down slower than ENTER_SPEED, and lasts until it
rises above EXIT_HEIGHT or moves vertically faster than EXIT_SPEED (horizontal speed does not
count: a low foot that slides is exactly what locking must stop); contacts shorter than MIN_FRAMES are
dropped. The floor level of an ankle is its own 5th-percentile height over the dance (a dancer has a
foot down most of the time).

Locking (`lock_feet`): while a foot is in contact its ankle is held where the contact began, and
the leg is solved again with an analytic two-bone IK:
- hip and ankle known, the knee is placed on the circle where the thigh and shin lengths meet,
  on the side the kneecap points to in the original pose (the knee's own forward axis, which
  stays defined when the leg is straight, so a nearly straight leg does not flip);
- a target beyond reach is pulled in smoothly (`soft_reach`), so a straightening leg slows
  into full extension instead of popping;
- the thigh and shin turn by the rotations taking their old (bone, kneecap) frames to the new
  ones; the foot keeps its world orientation.
A hold also ends where the body moves so far from the held place that the leg could reach it
only straight (beyond HOLD_REACH of its length): holding on would lock the knee. The foot is let
go there and, if it is still on the ground after the release, planted again where it is then.
And on every frame the place asked of the ankle is kept within HOLD_REACH of the leg's length
from the hip, or within what the dance itself stretches the leg to on that frame if more.
When the contact ends, the hold is released over RELEASE_SECONDS (smoothstep from the held place
to where the dance puts the ankle), so the foot does not jump.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .rotations import matrix_to_rotvec, rotvec_continuity
from .skeleton import END_OFFSETS, PARENTS, REST_OFFSETS, as_motion, kinematics

FOOT_CHAINS = ((1, 4, 7), (2, 5, 8))     # (hip, knee, ankle) joints, left then right
ENTER_HEIGHT = 0.04       # m above the ankle's floor level
EXIT_HEIGHT = 0.06
ENTER_SPEED = 0.15        # m/s, vertical ankle speed (a foot sliding on the floor is in contact: it is what skates)
EXIT_SPEED = 0.35
MIN_FRAMES = 3
ANKLE_ABOVE_SOLE = float(-END_OFFSETS[7][1])   # the ankle's height over the toe end, foot flat in rest
RELEASE_SECONDS = 0.2
HOLD_REACH = 0.92         # a hold ends where the held place is farther from the hip than this share of the leg
REACH = 0.985             # share of the full leg length where the soft reach starts


@dataclass(frozen=True)
class Locking:
    """The result of lock_feet: rotvecs (T, 20, 3), the contacts (T, 2) bool that were locked,
    and how many contacts (runs of frames) there were per foot."""
    rotvecs: np.ndarray
    contacts: np.ndarray
    count: int


def contacts(positions: np.ndarray, fps: float, toes: np.ndarray | None = None) -> np.ndarray:
    """(T, 2) bool: left and right foot on the ground (see the module docstring).
    positions: (T, 20, 3) metres (forward_kinematics with the root translation); toes: (T, 2, 3)
    the toe ends (skeleton.end_positions of the ankles), when known: a foot's height is then its
    lowest point, the sole under the ankle or the toe end (a foot flat, on its toes or on its
    heel), rather than the ankle's."""
    pos = np.asarray(positions, np.float64)
    ankles = pos[:, [7, 8]]                                                # (T, 2, 3)
    low = ankles[..., 1]
    if toes is not None:
        low = np.minimum(low - ANKLE_ABOVE_SOLE, np.asarray(toes, np.float64)[..., 1])
    height = low - np.percentile(low, 5, axis=0)                           # (T, 2) above the floor level
    speed = np.abs(np.gradient(low, axis=0)) * fps                          # (T, 2) vertical
    enter = (height < ENTER_HEIGHT) & (speed < ENTER_SPEED)
    stay = (height < EXIT_HEIGHT) & (speed < EXIT_SPEED)
    out = np.zeros_like(enter)
    for f in range(2):
        # on[t] = enter[t] or (on[t - 1] and stay[t]): inside each run of `stay` (enter implies
        # stay), on from the run's first `enter` frame to its end
        s = stay[:, f] | enter[:, f]
        for a, b in _runs(s):
            first = np.flatnonzero(enter[a:b, f])
            if len(first):
                out[a + first[0]:b, f] = True
        out[:, f] = _drop_short(out[:, f], MIN_FRAMES)
    return out


def _runs(mask: np.ndarray) -> np.ndarray:
    """(K, 2) [start, stop) of the runs of True in a 1-D bool array."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return edges.reshape(-1, 2)


def _drop_short(mask: np.ndarray, min_frames: int) -> np.ndarray:
    out = mask.copy()
    for a, b in _runs(mask):
        if b - a < min_frames:
            out[a:b] = False
    return out


def soft_reach(d: np.ndarray, full: float) -> np.ndarray:
    """Distances d pulled in smoothly below the full leg length: unchanged up to REACH * full, then
    easing towards (never reaching) full with a continuous slope."""
    start = REACH * full
    room = full - start
    over = np.maximum(d - start, 0.0)
    return np.where(d > start, start + room * np.tanh(over / room), d)


def _frame(direction: np.ndarray, pole: np.ndarray) -> np.ndarray:
    """(..., 3, 3) orthonormal frames with columns (direction, pole made perpendicular, their cross)."""
    a = direction / np.linalg.norm(direction, axis=-1, keepdims=True)
    b = pole - a * np.sum(pole * a, axis=-1, keepdims=True)
    b /= np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), 1e-12)
    return np.stack([a, b, np.cross(a, b)], axis=-1)


def two_bone_ik(hip: np.ndarray, target: np.ndarray, pole: np.ndarray, thigh: float, shin: float) -> np.ndarray:
    """(N, 3) knee positions that put the ankle at `target` from `hip` with the given bone lengths,
    the knee on the side of `pole` (N, 3) (any direction not along hip -> target); targets out of
    reach are pulled in by soft_reach."""
    axis = target - hip
    d = np.linalg.norm(axis, axis=-1, keepdims=True)
    u = axis / np.maximum(d, 1e-12)
    d = np.clip(soft_reach(d, thigh + shin), abs(thigh - shin) + 1e-6, None)
    a = (thigh ** 2 - shin ** 2 + d ** 2) / (2 * d)                        # along the axis to the knee's foot
    h = np.sqrt(np.maximum(thigh ** 2 - a ** 2, 0.0))                        # off the axis
    p = pole - u * np.sum(pole * u, axis=-1, keepdims=True)
    p /= np.maximum(np.linalg.norm(p, axis=-1, keepdims=True), 1e-12)
    return hip + u * a + p * h


LEG_JOINTS = (0, 1, 2, 4, 5, 7, 8)        # the pelvis and both legs: all that locking reads


def lock_feet(rotvecs: np.ndarray, root: np.ndarray, fps: float, contact: np.ndarray | None = None) -> Locking:
    """The motion with each foot held where its contacts began (see the module docstring).

    rotvecs (T, 20, 3) local rotations, root (T, 3) pelvis positions in metres at fps; contact:
    (T, 2) bool, default contacts(forward kinematics). Only the hips', knees' and ankles' local
    rotations change; the root is left as it is.
    """
    rv = as_motion(rotvecs).copy()
    root = np.asarray(root, np.float64)
    world, pos = kinematics(rv, root, LEG_JOINTS)                         # only the pelvis and legs
    if contact is None:
        toes = np.stack([pos[:, a] + world[:, a] @ END_OFFSETS[a] for a in (7, 8)], axis=1)
        contact = contacts(pos, fps, toes)
    else:
        contact = np.array(contact, bool)
    release = max(int(round(RELEASE_SECONDS * fps)), 1)
    count = 0
    for f, (hip_j, knee_j, ankle_j) in enumerate(FOOT_CHAINS):
        # where the ankle should be: held over each contact, eased back to the dance after it
        target = pos[:, ankle_j].copy()
        weight = np.zeros(len(rv))
        leg = float(np.linalg.norm(REST_OFFSETS[knee_j]) + np.linalg.norm(REST_OFFSETS[ankle_j]))
        runs = [tuple(r) for r in _runs(contact[:, f])]
        while runs:
            a, b = runs.pop(0)
            if b - a < MIN_FRAMES:
                contact[a:b, f] = False
                continue
            count += 1
            # the body moves away from the held foot (a step, a slide of the whole body): let go
            # before the leg would have to stretch straight to reach it, and plant the foot again
            # where it is once it has been let go (if it is still on the ground)
            reach = np.linalg.norm(pos[a:b, hip_j] - pos[a, ankle_j], axis=-1)
            far = np.flatnonzero(reach > HOLD_REACH * leg)
            if len(far):
                stop = b
                b = a + max(int(far[0]), 1)
                contact[b:min(b + release, stop), f] = False
                if b + release < stop:
                    runs.insert(0, (b + release, stop))
            target[a:b] = pos[a, ankle_j]
            weight[a:b] = 1.0
            end = min(b + release, len(rv))
            if end > b:
                s = (np.arange(b, end) - b + 1) / (release + 1)
                w = 1.0 - s * s * (3 - 2 * s)                                  # smoothstep down
                target[b:end] = pos[a, ankle_j]
                weight[b:end] = np.maximum(weight[b:end], w)
        sel = np.flatnonzero(weight > 0)
        if not len(sel):
            continue
        goal = weight[sel, None] * target[sel] + (1 - weight[sel, None]) * pos[sel, ankle_j]
        # never ask the leg to stretch further than HOLD_REACH of its length or than the dance
        # itself stretches it on that frame: the held foot gives way a little rather than the
        # knee locking straight and snapping back
        hip = pos[sel, hip_j]
        limit = np.maximum(HOLD_REACH * leg, np.linalg.norm(pos[sel, ankle_j] - hip, axis=-1))[:, None]
        off = goal - hip
        dist = np.linalg.norm(off, axis=-1, keepdims=True)
        goal = np.where(dist > limit, hip + off * (limit / np.maximum(dist, 1e-12)), goal)
        thigh = float(np.linalg.norm(REST_OFFSETS[knee_j]))
        shin = float(np.linalg.norm(REST_OFFSETS[ankle_j]))
        knee, ankle = pos[sel, knee_j], pos[sel, ankle_j]
        kneecap = world[sel, knee_j][:, :, 2]                                  # the knee's forward axis
        new_knee = two_bone_ik(hip, goal, kneecap, thigh, shin)
        turn_thigh = _frame(new_knee - hip, kneecap) @ np.swapaxes(_frame(knee - hip, kneecap), -1, -2)
        turn_shin = _frame(goal - new_knee, kneecap) @ np.swapaxes(_frame(ankle - knee, kneecap), -1, -2)
        w_hip = turn_thigh @ world[sel, hip_j]
        w_knee = turn_shin @ world[sel, knee_j]
        w_ankle = world[sel, ankle_j]                                          # the foot keeps its orientation
        w_parent = world[sel, PARENTS[hip_j]]
        rv[sel, hip_j] = matrix_to_rotvec(np.swapaxes(w_parent, -1, -2) @ w_hip)
        rv[sel, knee_j] = matrix_to_rotvec(np.swapaxes(w_hip, -1, -2) @ w_knee)
        rv[sel, ankle_j] = matrix_to_rotvec(np.swapaxes(w_knee, -1, -2) @ w_ankle)
    for j in (1, 2, 4, 5, 7, 8):
        rv[:, j] = rotvec_continuity(rv[:, j])
    return Locking(rv.astype(np.asarray(rotvecs).dtype), contact, count)
