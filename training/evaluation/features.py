"""Kinetic and geometric motion features for FID_k / FID_g, after the AIST++ API.

Both run on the 24-joint layout of joints.py (SMPL order; the toe and hand ends that our
20-joint skeleton drops are rebuilt from skeleton.END_OFFSETS), resampled linearly to 60 fps,
the rate the reference code assumes. With the ends rebuilt, the dimensions are those of the
reference: 72 kinetic, 32 geometric.

Kinetic (AIST++ / Bailando `features/kinetic.py`, from fairmotion): per joint, over frames
i = 1..T-1, the velocity averaged over a window of +-2 frames and the acceleration averaged the
same way; features = [mean horizontal (X, Z) squared speed, mean vertical (Y) squared speed,
mean acceleration magnitude] per joint, joint-major -> (72,). Units m^2/s^2, m^2/s^2, m/s^2.

Geometric (AIST++ `features/manual.py`, Mueller et al. 2005 boolean relational features, from
fairmotion): 32 booleans per frame (i = 1..T-1) averaged over time -> (32,) fractions in [0, 1].
Thresholds scale with the humerus length, shoulder width and hip width, taken from our rest
pose (they equal the SMPL constants the reference hard-codes). Two reference details are kept
so the numbers match the reference on the same positions:
- its velocities divide the 60 fps frame step by 1/120 s, so the "moving"/"fast" thresholds
  are compared against twice the true speed;
- its `f_move(j1, j2, j3, j4)` measures the velocity of j3 (not j4) relative to j1.
"""
from __future__ import annotations

import numpy as np

from dance_addon.core.motion.skeleton import joint_index, rest_positions

from .joints import at_fps, check_fps, check_positions

FEATURE_FPS = 60.0
KINETIC_WINDOW = 2                # frames each side, at 60 fps
_REFERENCE_TIME_PER_FRAME = 1.0 / 120.0   # what the reference divides a 60 fps frame step by

# SMPL joint indices under the names the reference uses
_J = {name: i for i, name in enumerate((
    "root", "lhip", "rhip", "belly", "lknee", "rknee", "spine", "lankle", "rankle", "chest",
    "ltoes", "rtoes", "neck", "linshoulder", "rinshoulder", "head", "lshoulder", "rshoulder",
    "lelbow", "relbow", "lwrist", "rwrist", "lhand", "rhand"))}

_REST = rest_positions()
HUMERUS = float(np.linalg.norm(_REST[joint_index("left_elbow")] - _REST[joint_index("left_shoulder")]))
SHOULDER_WIDTH = float(np.linalg.norm(_REST[joint_index("left_shoulder")] - _REST[joint_index("right_shoulder")]))
HIP_WIDTH = float(np.linalg.norm(_REST[joint_index("left_hip")] - _REST[joint_index("right_hip")]))
_HL, _SW, _HW = HUMERUS, SHOULDER_WIDTH, HIP_WIDTH

# (kind, points, threshold): the reference's 32 features in its order
GEOMETRIC_FEATURES: tuple[tuple[str, tuple[str, ...], float | tuple[float, float]], ...] = (
    ("nmove", ("neck", "rhip", "lhip", "rwrist"), 1.8 * _HL),
    ("nmove", ("neck", "lhip", "rhip", "lwrist"), 1.8 * _HL),
    ("nplane", ("chest", "neck", "neck", "rwrist"), 0.2 * _HL),
    ("nplane", ("chest", "neck", "neck", "lwrist"), 0.2 * _HL),
    ("move", ("belly", "chest", "chest", "rwrist"), 1.8 * _HL),
    ("move", ("belly", "chest", "chest", "lwrist"), 1.8 * _HL),
    ("angle", ("relbow", "rshoulder", "relbow", "rwrist"), (0.0, 110.0)),
    ("angle", ("lelbow", "lshoulder", "lelbow", "lwrist"), (0.0, 110.0)),
    ("nplane", ("lshoulder", "rshoulder", "lwrist", "rwrist"), 2.5 * _SW),
    ("move", ("lwrist", "rwrist", "rwrist", "lwrist"), 1.4 * _HL),
    ("move", ("rwrist", "root", "lwrist", "root"), 1.4 * _HL),
    ("move", ("lwrist", "root", "rwrist", "root"), 1.4 * _HL),
    ("fast", ("rwrist",), 2.5 * _HL),
    ("fast", ("lwrist",), 2.5 * _HL),
    ("plane", ("root", "lhip", "ltoes", "rankle"), 0.38 * _HL),
    ("plane", ("root", "rhip", "rtoes", "lankle"), 0.38 * _HL),
    ("nplane", ("zero", "y_unit", "y_min", "rankle"), 1.2 * _HL),
    ("nplane", ("zero", "y_unit", "y_min", "lankle"), 1.2 * _HL),
    ("nplane", ("lhip", "rhip", "lankle", "rankle"), 2.1 * _HW),
    ("angle", ("rknee", "rhip", "rknee", "rankle"), (0.0, 110.0)),
    ("angle", ("lknee", "lhip", "lknee", "lankle"), (0.0, 110.0)),
    ("fast", ("rankle",), 2.5 * _HL),
    ("fast", ("lankle",), 2.5 * _HL),
    ("angle", ("neck", "root", "rshoulder", "relbow"), (25.0, 180.0)),
    ("angle", ("neck", "root", "lshoulder", "lelbow"), (25.0, 180.0)),
    ("angle", ("neck", "root", "rhip", "rknee"), (50.0, 180.0)),
    ("angle", ("neck", "root", "lhip", "lknee"), (50.0, 180.0)),
    ("plane", ("rankle", "neck", "lankle", "root"), 0.5 * _HL),
    ("angle", ("neck", "root", "zero", "y_unit"), (70.0, 110.0)),
    ("nplane", ("zero", "minus_y_unit", "y_min", "rwrist"), -1.2 * _HL),
    ("nplane", ("zero", "minus_y_unit", "y_min", "lwrist"), -1.2 * _HL),
    ("fast", ("root",), 2.3 * _HL),
)
KINETIC_DIM = 72
GEOMETRIC_DIM = len(GEOMETRIC_FEATURES)


def kinetic_features(positions: np.ndarray, fps: float) -> np.ndarray:
    """(72,) kinetic features of one dance; positions (T, 24, 3) metres at `fps`, >= 4 frames at 60 fps."""
    pos = at_fps(check_positions(positions, need_smpl24=True), check_fps(fps), FEATURE_FPS)  # (T, 24, 3)
    t = len(pos)
    if t < 4:
        raise ValueError(f"kinetic features need at least 4 frames at 60 fps, got {t}")
    dt = 1.0 / FEATURE_FPS
    i = np.arange(1, t)                                            # frames the reference visits
    w = KINETIC_WINDOW
    # windowed mean velocity: steps k -> from k-1 to k, k in [max(1, i-w), min(t-1, i+w)]
    lo, hi = np.maximum(1, i - w), np.minimum(t - 1, i + w)
    vel = (pos[hi] - pos[lo - 1]) / ((hi - lo + 1) * dt)[:, None, None]            # (t-1, 24, 3)
    # windowed mean acceleration: k in [max(1, i-w), min(t-2, i+w)], sum telescopes
    lo, hi = np.maximum(1, i - w), np.minimum(t - 2, i + w)
    acc_sum = (pos[hi + 1] - pos[hi]) - (pos[lo] - pos[lo - 1])                    # (t-1, 24, 3)
    acc = acc_sum / ((hi - lo + 1) * dt * dt)[:, None, None]
    horizontal = (vel[..., 0] ** 2 + vel[..., 2] ** 2).mean(axis=0)                # (24,)
    vertical = (vel[..., 1] ** 2).mean(axis=0)                                     # (24,)
    expenditure = np.linalg.norm(acc, axis=-1).mean(axis=0)                        # (24,)
    return np.stack([horizontal, vertical, expenditure], axis=1).reshape(-1)       # (72,)


def geometric_features(positions: np.ndarray, fps: float) -> np.ndarray:
    """(32,) geometric features of one dance: the fraction of frames each boolean relation holds.

    positions: (T, 24, 3) metres at `fps`, >= 2 frames at 60 fps.
    """
    pos = at_fps(check_positions(positions, need_smpl24=True), check_fps(fps), FEATURE_FPS)  # (T, 24, 3)
    if len(pos) < 2:
        raise ValueError(f"geometric features need at least 2 frames at 60 fps, got {len(pos)}")
    cur, prev = pos[1:], pos[:-1]                                   # (N, 24, 3) each
    n = len(cur)
    y_min = np.zeros((n, 3))
    y_min[:, 1] = cur[..., 1].min(axis=1)
    fixed = {"zero": np.zeros((n, 3)), "y_unit": np.tile([0.0, 1.0, 0.0], (n, 1)),
             "minus_y_unit": np.tile([0.0, -1.0, 0.0], (n, 1)), "y_min": y_min}

    def at(name: str, frames: np.ndarray = cur) -> np.ndarray:      # (N, 3)
        return fixed[name] if name in fixed else frames[:, _J[name]]

    out = np.empty((n, GEOMETRIC_DIM), dtype=bool)
    # degenerate directions -> False, as in the reference
    with np.errstate(invalid="ignore", divide="ignore"):
        for f, (kind, names, thr) in enumerate(GEOMETRIC_FEATURES):
            if kind == "fast":
                speed = np.linalg.norm(at(names[0]) - at(names[0], prev), axis=-1) / _REFERENCE_TIME_PER_FRAME
                out[:, f] = speed > thr
            elif kind in ("move", "nmove"):
                j1, j2, j3, j4 = names
                mover = j3 if kind == "move" else j4
                vel = ((at(mover) - at(j1)) - (at(mover, prev) - at(j1, prev))) / _REFERENCE_TIME_PER_FRAME
                direction = at(j2) - at(j1) if kind == "move" else np.cross(at(j3) - at(j1), at(j2) - at(j1))
                out[:, f] = _along(vel, direction) > thr
            elif kind == "plane":
                a, b, c, p = (at(x) for x in names)
                out[:, f] = _along(p - a, np.cross(c - a, b - a)) > thr
            elif kind == "nplane":
                n1, n2, a, p = (at(x) for x in names)
                out[:, f] = _along(p - a, n2 - n1) > thr
            else:  # angle
                j1, j2, k1, k2 = (at(x) for x in names)
                u, v = j2 - j1, k2 - k1
                cos = np.sum(u * v, axis=-1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1))
                angle = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
                out[:, f] = (angle > thr[0]) & (angle < thr[1])
    return out.mean(axis=0)


def _along(vectors: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """(N,) signed length of each vector along its direction (nan where the direction is zero)."""
    return np.sum(vectors * direction, axis=-1) / np.linalg.norm(direction, axis=-1)
