"""The joint layout every metric here reads: SMPL's 24 joints, rebuilt from our 20-joint skeleton.

The published recipes (AIST++ features, Bailando, FACT, EDGE) all run on SMPL's 24 joint
positions. Our canonical skeleton (dance_addon.core.motion.skeleton) drops SMPL's two toe joints and
two hand-end joints; they carry no rotation, so their positions follow exactly from the ankle
and wrist world rotations and skeleton.END_OFFSETS. `evaluation_positions` puts them back and
returns positions in SMPL's order, so the recipes keep their joint indices and dimensions
(72 kinetic features, EDGE's foot indices 7, 10, 8, 11).

Conventions: metres, Y up, +Z forward (skeleton.py). Arrays are (T, 24, 3), frame t at time
t / fps. Metrics that only need "the joints" (speeds, jerk, beats) also accept the 20
canonical joints (T, 20, 3); the foot and feature metrics need the 24-joint layout.
"""
from __future__ import annotations

import numpy as np

from dance_addon.core.motion.rotations import resample_linear
from dance_addon.core.motion.skeleton import NUM_JOINTS, SMPL_INDEX, end_positions, forward_kinematics

NUM_SMPL_JOINTS = 24

# SMPL indices of the joints the metrics name
PELVIS = 0
LEFT_ANKLE, RIGHT_ANKLE = 7, 8
LEFT_TOE, RIGHT_TOE = 10, 11     # SMPL "left_foot"/"right_foot": the toe ends (END_OFFSETS of ankles)
LEFT_HAND, RIGHT_HAND = 22, 23   # SMPL hand ends (END_OFFSETS of wrists)

# SMPL index of each end joint, keyed by the canonical parent joint that END_OFFSETS uses
_END_SMPL_INDEX: dict[int, int] = {7: LEFT_TOE, 8: RIGHT_TOE, 18: LEFT_HAND, 19: RIGHT_HAND}


def evaluation_positions(rotvecs: np.ndarray, root_translation: np.ndarray | None = None) -> np.ndarray:
    """(T, 24, 3) joint positions in metres, SMPL's joint order, from our motion.

    rotvecs: (T, 20, 3) or (T, 60) local axis-angle rotations in skeleton.JOINT_NAMES order.
    root_translation: (T, 3) pelvis position in metres (None: pelvis at the origin).
    SMPL joints 10, 11 (toes) and 22, 23 (hand ends) are the rigid end points of the ankles
    and wrists given by skeleton.END_OFFSETS.
    """
    pos20 = forward_kinematics(rotvecs, root_translation)           # (T, 20, 3)
    out = np.empty((len(pos20), NUM_SMPL_JOINTS, 3))
    out[:, list(SMPL_INDEX)] = pos20
    for parent, end in end_positions(rotvecs, pos20).items():        # (T, 3) each
        out[:, _END_SMPL_INDEX[parent]] = end
    return out


def check_positions(positions, what: str = "positions", need_smpl24: bool = False,
                    min_frames: int = 2) -> np.ndarray:
    """(T, J, 3) joint positions as float64, validated; a ValueError says what is wrong.

    J must be 24 (evaluation_positions) or, unless need_smpl24, 20 (forward_kinematics).
    """
    pos = np.asarray(positions, dtype=np.float64)
    allowed = (NUM_SMPL_JOINTS,) if need_smpl24 else (NUM_JOINTS, NUM_SMPL_JOINTS)
    if pos.ndim != 3 or pos.shape[2] != 3 or pos.shape[1] not in allowed:
        joints = " or ".join(str(j) for j in allowed)
        hint = " (build them with training.evaluation.joints.evaluation_positions)" if need_smpl24 else ""
        raise ValueError(f"{what}: expected joint positions of shape (T, {joints}, 3){hint}, got {pos.shape}")
    if len(pos) < min_frames:
        raise ValueError(f"{what}: needs at least {min_frames} frames, got {len(pos)}")
    if not np.isfinite(pos).all():
        bad = np.argwhere(~np.isfinite(pos))[0]
        raise ValueError(f"{what}: non-finite value at frame {bad[0]}, joint {bad[1]}")
    return pos


def check_fps(fps: float, what: str = "fps") -> float:
    fps = float(fps)
    if not np.isfinite(fps) or fps <= 0:
        raise ValueError(f"{what} must be a positive number of frames per second, got {fps}")
    return fps


def at_fps(positions: np.ndarray, fps: float, target_fps: float) -> np.ndarray:
    """Positions (T, J, 3) resampled linearly from fps to target_fps (unchanged if equal).

    Used where a recipe is defined in frames of a fixed rate (60 fps for AIST++/Bailando/FACT,
    30 fps for EDGE's PFC): the motion is brought to that rate and the recipe runs unchanged.
    """
    if abs(fps - target_fps) < 1e-9:
        return positions
    return resample_linear(positions, fps, target_fps)
