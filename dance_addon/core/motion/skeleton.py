"""The canonical 20-joint skeleton that training, the model and the add-on share.

This module is the one place where the joint order and the motion conventions are written down.

Joints: the SMPL body as used by AIST++, minus SMPL's two toe joints (10 left_foot,
11 right_foot) and two hand-end joints (22 left_hand, 23 right_hand). The remaining 20
keep SMPL's relative order, so index i here is SMPL joint SMPL_INDEX[i].

Conventions
- Units: metres. Axes: Y up, +Z forward (the way the body faces in rest), +X the body's left,
  exactly as in SMPL/AIST++.
- Rest pose: SMPL's T-pose (arms straight out along +-X, legs straight down). REST_OFFSETS[i] is
  joint i's position relative to its parent in rest; the pelvis offset is zero and the pelvis
  sits at root_translation (AIST++ `smpl_trans / smpl_scaling`), about 0.93 m above the soles
  when the body stands.
- Motion vector: 60 numbers per frame = 20 joints x axis-angle rotation vector (radians), in
  JOINT_NAMES order, joint 0 carrying the global orientation. Each is the joint's local
  rotation relative to its parent, applied to the rest offsets of its children:
      world_rot[i] = world_rot[parent[i]] @ R(rotvec[i])
      pos[i]       = pos[parent[i]] + world_rot[parent[i]] @ REST_OFFSETS[i]
  A zero vector for every joint is the T-pose.
"""
from __future__ import annotations

import numpy as np

from .rotations import rotvec_to_matrix

JOINT_NAMES: tuple[str, ...] = (
    "pelvis",          # 0  (global orientation)
    "left_hip",        # 1
    "right_hip",       # 2
    "spine1",          # 3
    "left_knee",       # 4
    "right_knee",      # 5
    "spine2",          # 6
    "left_ankle",      # 7
    "right_ankle",     # 8
    "spine3",          # 9
    "neck",            # 10
    "left_collar",     # 11
    "right_collar",    # 12
    "head",            # 13
    "left_shoulder",   # 14
    "right_shoulder",  # 15
    "left_elbow",      # 16
    "right_elbow",     # 17
    "left_wrist",      # 18
    "right_wrist",     # 19
)
NUM_JOINTS = len(JOINT_NAMES)
MOTION_DIM = NUM_JOINTS * 3

# index in SMPL's 24 joints of each canonical joint
SMPL_INDEX: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21)

PARENTS: tuple[int, ...] = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 9, 9, 9, 10, 11, 12, 14, 15, 16, 17)

# SMPL neutral body's rest offsets (metres, relative to the parent), as used by AIST++ tools.
REST_OFFSETS = np.array([
    [0.0, 0.0, 0.0],                              # pelvis
    [0.05858135, -0.08228004, -0.01766408],       # left_hip
    [-0.06030973, -0.09051332, -0.01354254],      # right_hip
    [0.00443945, 0.12440352, -0.03838522],        # spine1
    [0.04345142, -0.38646945, 0.008037],          # left_knee
    [-0.04325663, -0.38368791, -0.00484304],      # right_knee
    [0.00448844, 0.1379564, 0.02682033],          # spine2
    [-0.01479032, -0.42687458, -0.037428],        # left_ankle
    [0.01905555, -0.4200455, -0.03456167],        # right_ankle
    [-0.00226458, 0.05603239, 0.00285505],        # spine3
    [-0.0133902, 0.21163553, -0.03346758],        # neck
    [0.07170245, 0.11399969, -0.01889817],        # left_collar
    [-0.08295366, 0.11247234, -0.02370739],       # right_collar
    [0.01011321, 0.08893734, 0.05040987],         # head
    [0.12292141, 0.04520509, -0.019046],          # left_shoulder
    [-0.11322832, 0.04685326, -0.00847207],       # right_shoulder
    [0.2553319, -0.01564902, -0.02294649],        # left_elbow
    [-0.26012748, -0.01436928, -0.03126873],      # right_elbow
    [0.26570925, 0.01269811, -0.00737473],        # left_wrist
    [-0.26910836, 0.00679372, -0.00602676],       # right_wrist
], dtype=np.float64)

# Where the dropped SMPL end joints sit relative to their parents in rest. They carry no
# rotation of their own but give the ankles and wrists a bone direction (for retargeting,
# foot contact and drawing).
END_OFFSETS: dict[int, np.ndarray] = {
    7: np.array([0.04105436, -0.06028581, 0.12204243]),    # left_ankle -> SMPL left_foot (toes)
    8: np.array([-0.03483987, -0.06210566, 0.13032329]),   # right_ankle -> SMPL right_foot
    18: np.array([0.08669055, -0.01063603, -0.01559429]),  # left_wrist -> SMPL left_hand
    19: np.array([-0.0887537, -0.00865157, -0.01010708]),  # right_wrist -> SMPL right_hand
}

CHILDREN: tuple[tuple[int, ...], ...] = tuple(
    tuple(j for j, p in enumerate(PARENTS) if p == i) for i in range(NUM_JOINTS)
)

# Pelvis height above the soles in rest: from the pelvis down to the lower of the two toe ends.
STANDING_HEIGHT = float(-min(
    (REST_OFFSETS[[1, 4, 7]].sum(0) + END_OFFSETS[7])[1],
    (REST_OFFSETS[[2, 5, 8]].sum(0) + END_OFFSETS[8])[1],
))

LEFT_RIGHT_PAIRS: tuple[tuple[int, int], ...] = ((1, 2), (4, 5), (7, 8), (11, 12), (14, 15), (16, 17), (18, 19))
FOOT_JOINTS: tuple[int, int] = (7, 8)


def joint_index(name: str) -> int:
    try:
        return JOINT_NAMES.index(name)
    except ValueError:
        raise KeyError(f"'{name}' is not a canonical joint; the joints are: {', '.join(JOINT_NAMES)}") from None


def rest_positions(offsets: np.ndarray = REST_OFFSETS) -> np.ndarray:
    """(20, 3) joint positions in the rest (T-) pose with the pelvis at the origin."""
    pos = np.zeros((NUM_JOINTS, 3))
    for i in range(1, NUM_JOINTS):
        pos[i] = pos[PARENTS[i]] + offsets[i]
    return pos


def global_rotations(rotvecs: np.ndarray) -> np.ndarray:
    """(T, 20, 3) local rotation vectors -> (T, 20, 3, 3) world rotation matrices."""
    rotvecs = as_motion(rotvecs)
    local = rotvec_to_matrix(rotvecs)
    world = np.empty_like(local)
    world[:, 0] = local[:, 0]
    for i in range(1, NUM_JOINTS):
        world[:, i] = world[:, PARENTS[i]] @ local[:, i]
    return world


def forward_kinematics(rotvecs: np.ndarray, root_translation: np.ndarray | None = None,
                       offsets: np.ndarray = REST_OFFSETS) -> np.ndarray:
    """Joint positions in metres.

    rotvecs: (T, 20, 3) or (T, 60) local axis-angle rotations in JOINT_NAMES order.
    root_translation: (T, 3) pelvis position in metres; None keeps the pelvis at the origin.
    Returns (T, 20, 3).
    """
    return kinematics(rotvecs, root_translation, offsets=offsets)[1]


def kinematics(rotvecs: np.ndarray, root_translation: np.ndarray | None = None, joints: tuple[int, ...] | None = None,
               offsets: np.ndarray = REST_OFFSETS) -> tuple[np.ndarray, np.ndarray]:
    """World rotations (T, 20, 3, 3) and joint positions (T, 20, 3) in metres, of every joint or only
    of `joints` (in hierarchy order, each joint's parent among them: the other entries are left
    unset), arguments as forward_kinematics."""
    rotvecs = as_motion(rotvecs)
    n = len(rotvecs)
    joints = tuple(range(NUM_JOINTS)) if joints is None else tuple(joints)
    local = rotvec_to_matrix(rotvecs[:, list(joints)])                       # (T, J, 3, 3)
    world = np.empty((n, NUM_JOINTS, 3, 3))
    pos = np.zeros((n, NUM_JOINTS, 3)) if len(joints) == NUM_JOINTS else np.empty((n, NUM_JOINTS, 3))
    for k, i in enumerate(joints):
        if i == 0:
            world[:, 0] = local[:, k]
            pos[:, 0] = 0.0
            if root_translation is not None:
                root_translation = np.asarray(root_translation, dtype=np.float64)
                if root_translation.shape != (n, 3):
                    raise ValueError(f"root_translation must be ({n}, 3) to match the rotations, "
                                     f"got {root_translation.shape}")
                pos[:, 0] = root_translation
        else:
            p = PARENTS[i]
            world[:, i] = world[:, p] @ local[:, k]
            pos[:, i] = pos[:, p] + world[:, p] @ offsets[i]
    return world, pos


def end_positions(rotvecs: np.ndarray, positions: np.ndarray) -> dict[int, np.ndarray]:
    """World positions (T, 3) of the toe and hand ends, keyed by their parent joint (7, 8, 18, 19)."""
    world = global_rotations(rotvecs)
    return {j: positions[:, j] + world[:, j] @ off for j, off in END_OFFSETS.items()}


def grounded_pelvis_height(rotvecs: np.ndarray) -> np.ndarray:
    """(T,) pelvis height in metres that puts each frame's lowest foot point on the floor (Y = 0).

    The foot points are the two toe ends (END_OFFSETS) and the two sole points straight below
    the ankles (at the ankles' rest height above the soles). The rest pose gives STANDING_HEIGHT.
    rotvecs: (T, 20, 3) or (T, 60) local rotations.
    """
    rotvecs = as_motion(rotvecs)
    world, pos = kinematics(rotvecs, joints=(0, 1, 2, 4, 5, 7, 8))     # the pelvis and legs, pelvis at 0
    toes = {j: pos[:, j] + world[:, j] @ END_OFFSETS[j] for j in (7, 8)}
    ankle_above_sole = rest_positions()[[7, 8], 1] + STANDING_HEIGHT    # (2,)
    lowest = np.min(np.stack([
        pos[:, 7, 1] - ankle_above_sole[0], pos[:, 8, 1] - ankle_above_sole[1], toes[7][:, 1], toes[8][:, 1],
    ]), axis=0)
    return -lowest


def as_motion(rotvecs) -> np.ndarray:
    """(T, 20, 3) float64 view of a motion given as (T, 20, 3) or (T, 60); ValueError otherwise."""
    rotvecs = np.asarray(rotvecs, dtype=np.float64)
    if rotvecs.ndim == 2 and rotvecs.shape[1] == MOTION_DIM:
        rotvecs = rotvecs.reshape(-1, NUM_JOINTS, 3)
    if rotvecs.ndim != 3 or rotvecs.shape[1:] != (NUM_JOINTS, 3):
        raise ValueError(f"expected motion of shape (T, {NUM_JOINTS}, 3) or (T, {MOTION_DIM}), got {rotvecs.shape}")
    return rotvecs
