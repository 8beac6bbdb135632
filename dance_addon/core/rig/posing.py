"""Pose a user's rig from canonical motion: rest-pose correction, hierarchy, root path and floor.

Inputs are plain arrays read off the armature (no bpy here), so scripts and tests can call it directly.

How a rig is posed (everything is a rotation in world space unless said otherwise):
- The rig's character frame F maps canonical axes into the world: the canonical hip line (right
  hip to left hip, made horizontal) goes onto the rig's hip line, canonical +Y onto world up (+Z),
  and forward (left x up) onto the rig's forward. A rig that faces -Y, as Blender characters do,
  has F = CANONICAL_TO_BLENDER.
- Canonical joint i has world rotation G_i(t) (identity in the T-pose). The bone b mapped to it
  gets the world orientation
      W_b(t) = F G_i(t) F^T C_b R_b
  where R_b is the bone's rest orientation in the world and C_b a fixed correction that turns the
  bone's rest direction onto the canonical rest direction of joint i's bone (the shortest arc).
  Limbs are corrected this way, so A-pose, T-pose, any roll and any bone axis convention give the
  same world bone directions. Trunk bones (pelvis, spine, neck, head) are upright in every rest
  pose and are not corrected (C_b = I), which keeps the rig's own posture of its spine.
- Each keyed bone's basis rotation (what Blender stores in rotation_quaternion) follows from its
  parent's posed orientation: Basis_b = Rest_b^-1 Rest_q P_q^-1 P_b in armature space. Bones that
  are not mapped stay at rest and pass their parent's pose on, except bones that copy another
  bone's pose (RigRest.copies: a full Copy Transforms constraint in world space, as a Rigify rig's
  ORG- bones copy its controls): they take that bone's posed orientation whatever their parent.
  A mapped bone that copies another would not show its keys, so it is refused.
- The root path is the canonical pelvis translation, relative to the first frame, scaled by the
  ratio of the rig's leg length to the canonical one, and turned into the character frame.
  Vertically, the pelvis is placed so that the lowest foot point (ankle or toe end) touches the
  ground on every frame (floor="ground"), or at the dance's own height ("keep": the canonical
  floor, Y = 0, on the rig's ground, so a jump or a crouch in the dance shows as danced).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..motion import skeleton as sk
from ..motion.rotations import (
    align_vectors,
    matrix_to_quat,
    matrix_to_rotvec,
    quat_continuity,
    rotvec_continuity,
    rotvec_to_matrix,
)

# canonical (Y up, +Z forward) -> Blender (Z up, facing -Y)
CANONICAL_TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])

TRUNK_JOINTS = frozenset({"pelvis", "spine1", "spine2", "spine3", "neck", "head"})

# canonical child that gives a joint's bone direction (end joints use skeleton.END_OFFSETS)
_DIRECTION_CHILD = {i: sk.CHILDREN[i][0] for i in range(sk.NUM_JOINTS) if len(sk.CHILDREN[i]) == 1}


class RigError(ValueError):
    """The rig cannot be posed as asked (a degenerate bone, a mapped bone that is missing...)."""


@dataclass
class RigRest:
    """What the retargeting needs to know of an armature, read off Blender by the caller.

    names: bone names; parents: index of each bone's parent or -1; rest: (B, 4, 4) bone rest matrices
    in armature space (Bone.matrix_local); object_matrix: (4, 4) the armature object's matrix_world;
    copies: {bone index: index of the bone whose armature-space pose it takes}, from constraints.
    Parents and copied bones come before the bones that depend on them.
    """
    names: list[str]
    parents: list[int]
    rest: np.ndarray
    object_matrix: np.ndarray
    copies: dict[int, int] = field(default_factory=dict)

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise RigError(f"the armature has no bone '{name}'") from None

    @property
    def object_rotation(self) -> np.ndarray:
        m = self.object_matrix[:3, :3]
        u, _, vt = np.linalg.svd(m)
        return u @ vt

    @property
    def object_scale(self) -> float:
        return float(np.cbrt(abs(np.linalg.det(self.object_matrix[:3, :3]))))

    def world_heads(self) -> np.ndarray:
        heads = self.rest[:, :3, 3]
        return heads @ self.object_matrix[:3, :3].T + self.object_matrix[:3, 3]

    def world_tails_direction(self) -> np.ndarray:
        """Unit world direction of each bone (its local +Y) in rest."""
        y = self.rest[:, :3, 1]
        d = y @ self.object_matrix[:3, :3].T
        return d / np.linalg.norm(d, axis=1, keepdims=True)


@dataclass
class RigPose:
    """Per keyed bone basis rotations (T, 4) w-first quaternions, and the root bone's location (T, 3)."""
    rotations: dict[str, np.ndarray]
    root_bone: str
    root_location: np.ndarray


def _hip_frame(left: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Columns (left, up, forward) from a right-to-left hip vector made horizontal."""
    left = left - up * (left @ up)
    norm = np.linalg.norm(left)
    if norm < 1e-9:
        raise RigError("the rig's hips are level with each other vertically: cannot tell which way it faces")
    left = left / norm
    return np.stack([left, up, np.cross(left, up)], axis=1)


def character_frame(rig: RigRest, bone_map: dict[str, str]) -> np.ndarray:
    """F: canonical axes -> world axes, matching the rig's hip line to the canonical one.

    Both frames are (left, up, forward) built from the right-to-left hip vector: canonical in its
    own axes (Y up), the rig's in the world (Z up). F = rig frame @ canonical frame^T.
    """
    heads = rig.world_heads()
    left = heads[rig.index(bone_map["left_hip"])] - heads[rig.index(bone_map["right_hip"])]
    rig_frame = _hip_frame(left, np.array([0.0, 0.0, 1.0]))
    can_rest = sk.rest_positions()
    can_frame = _hip_frame(can_rest[1] - can_rest[2], np.array([0.0, 1.0, 0.0]))
    return rig_frame @ can_frame.T


def canonical_rest_direction(joint: int) -> np.ndarray:
    rest = sk.rest_positions()
    if joint in sk.END_OFFSETS:
        d = sk.END_OFFSETS[joint]
    else:
        d = rest[_DIRECTION_CHILD[joint]] - rest[joint]
    return d / np.linalg.norm(d)


def facing_turn(rotvecs: np.ndarray) -> np.ndarray:
    """(3, 3) the turn about the vertical that makes the motion face canonical forward (+Z) on
    average: minus the circular mean of the pelvis's heading over all frames (the identity for
    no frames)."""
    rotvecs = sk.as_motion(rotvecs)
    if len(rotvecs) == 0:
        return np.eye(3)
    fwd = rotvec_to_matrix(rotvecs[:, 0])[:, :, 2]                 # each frame's forward (R @ +Z)
    yaw = np.arctan2(fwd[:, 0].sum(), fwd[:, 2].sum())             # heading of the mean forward
    c, s = np.cos(-yaw), np.sin(-yaw)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])  # about +Y by -yaw


def turn_dance(rotvecs: np.ndarray, turn: np.ndarray) -> np.ndarray:
    """The motion with every frame's root rotation turned by `turn` (3, 3): R' = turn R."""
    rotvecs = np.array(sk.as_motion(rotvecs), copy=True)
    rotvecs[:, 0] = rotvec_continuity(matrix_to_rotvec(turn @ rotvec_to_matrix(rotvecs[:, 0])))
    return rotvecs


def face_forward(rotvecs: np.ndarray) -> np.ndarray:
    """The motion turned about the vertical so that on average it faces canonical forward (+Z).

    The average is the circular mean of the pelvis's heading over all frames (facing_turn). Only
    the root's rotation changes (every frame by the same turn), so the dance itself, its turns
    included, is kept; a generated dance faces the rig's front instead of wherever the mocap
    dancers faced.
    """
    return turn_dance(rotvecs, facing_turn(rotvecs))


def leg_length(rig: RigRest, bone_map: dict[str, str]) -> float:
    """World length hip -> knee -> ankle of the rig's left leg (metres in the world)."""
    heads = rig.world_heads()
    h, k, a = (heads[rig.index(bone_map[j])] for j in ("left_hip", "left_knee", "left_ankle"))
    return float(np.linalg.norm(k - h) + np.linalg.norm(a - k))


CANONICAL_LEG_LENGTH = float(np.linalg.norm(sk.REST_OFFSETS[4]) + np.linalg.norm(sk.REST_OFFSETS[7]))


def pose_rig(rig: RigRest, bone_map: dict[str, str], rotvecs: np.ndarray, root_translation: np.ndarray,
             floor: str = "ground", root_motion: str = "full",
             extra_bones: dict[str, str] | None = None) -> RigPose:
    """Basis rotations for every mapped bone and the root bone's location, per frame.

    rotvecs: (T, 20, 3) canonical local rotations; root_translation: (T, 3) canonical pelvis
    position in metres. floor: "ground" keeps the lowest foot on the ground plane on every frame,
    "keep" the pelvis heights as given (the floor at canonical Y = 0: the dance's own heights, or a
    root already grounded, e.g. by the bake's foot locking). root_motion: "full" moves the root
    along the dance's path, "in_place" keeps it over its rest spot (heights still follow the floor
    rule), "orientation" adds no translation at all (only the pelvis's rotation is keyed).
    extra_bones: {bone: joint} bones keyed besides the map, each turning with a joint like its
    mapped bone (for a rig that splits a joint over two controls, as Rigify's torso and spine_fk).

    Three steps: which joint each keyed bone plays (keyed_joints), the orientation each keyed bone
    should have in armature space (desired_orientations), then the basis rotations that give those
    orientations down the hierarchy (basis_rotations), and the root bone's location (root_location).
    """
    if floor not in ("ground", "keep"):
        raise ValueError(f"floor must be 'ground' or 'keep', not {floor!r}")
    if root_motion not in ("full", "in_place", "orientation"):
        raise ValueError(f"root_motion must be 'full', 'in_place' or 'orientation', not {root_motion!r}")
    rotvecs = np.asarray(rotvecs, dtype=np.float64).reshape(-1, sk.NUM_JOINTS, 3)
    frame = character_frame(rig, bone_map)                         # (3, 3)
    joint_of_bone = keyed_joints(rig, bone_map, extra_bones)
    desired = desired_orientations(rig, frame, joint_of_bone, rotvecs)
    rotations, posed = basis_rotations(rig, desired, joint_of_bone)
    pelvis_bone = rig.index(bone_map["pelvis"])
    root_parent = rig.parents[pelvis_bone]
    if root_parent >= 0 and posed[root_parent] is not None:
        raise RigError(f"the pelvis bone '{rig.names[pelvis_bone]}' has a parent that is being keyed; "
                       "map the top bone of the hierarchy as the pelvis")
    location = root_location(rig, bone_map, frame, rotvecs, root_translation, floor, root_motion)
    return RigPose(rotations, rig.names[pelvis_bone], location)


def keyed_joints(rig: RigRest, bone_map: dict[str, str], extra_bones: dict[str, str] | None) -> dict[int, int]:
    """{bone index: canonical joint index} of every bone to key: the mapped ones and the extra ones."""
    joint_of_bone = {rig.index(b): sk.joint_index(j) for j, b in bone_map.items() if b}
    for bone, joint in (extra_bones or {}).items():
        b = rig.index(bone)
        if b in joint_of_bone:
            raise RigError(f"bone '{bone}' is mapped to {sk.JOINT_NAMES[joint_of_bone[b]]} and listed as an "
                           f"extra bone of {joint}; each bone can play one joint")
        joint_of_bone[b] = sk.joint_index(joint)
    return joint_of_bone


def desired_orientations(rig: RigRest, frame: np.ndarray, joint_of_bone: dict[int, int],
                         rotvecs: np.ndarray) -> dict[int, np.ndarray]:
    """{bone index: (T, 3, 3)} the armature-space orientation each keyed bone takes on each frame,
    P_b = O^T F G F^T C_b O Rest_b (see the module docstring; O the object's rotation)."""
    world_can = sk.global_rotations(rotvecs)                       # (T, 20, 3, 3)
    obj_rot = rig.object_rotation
    rest_rot = rig.rest[:, :3, :3]                                 # (B, 3, 3) armature space
    rest_dirs = rig.world_tails_direction()
    desired: dict[int, np.ndarray] = {}
    for b, j in joint_of_bone.items():
        rest_world = obj_rot @ rest_rot[b]
        if sk.JOINT_NAMES[j] in TRUNK_JOINTS:
            corr = np.eye(3)
        else:
            corr = align_vectors(rest_dirs[b], frame @ canonical_rest_direction(j))
        # the constant factors on either side multiplied first: two (T, 3, 3) products, not four
        desired[b] = (obj_rot.T @ frame) @ world_can[:, j] @ (frame.T @ corr @ rest_world)   # (T, 3, 3)
    return desired


def basis_rotations(rig: RigRest, desired: dict[int, np.ndarray], joint_of_bone: dict[int, int]
                    ) -> tuple[dict[str, np.ndarray], list[np.ndarray | None]]:
    """Walk the hierarchy parents first: the basis rotation (T, 4) of each keyed bone that gives it
    its desired orientation under its posed parent, by name; and every bone's posed orientation
    (None for a bone that stays at rest under a resting parent)."""
    rest_rot = rig.rest[:, :3, :3]
    posed: list[np.ndarray | None] = [None] * len(rig.names)
    rotations: dict[str, np.ndarray] = {}
    for b, parent in enumerate(rig.parents):
        if parent >= 0 and parent >= b:
            raise RigError("bones must come after their parents")
        if b in rig.copies:
            source = rig.copies[b]
            if source >= b:
                raise RigError("bones must come after the bones they copy")
            if b in desired:
                raise RigError(f"bone '{rig.names[b]}' ({sk.JOINT_NAMES[joint_of_bone[b]]}) copies bone "
                               f"'{rig.names[source]}' through a constraint, so keys on it would not show; "
                               "map the bone that drives it (the rig's control) instead")
            if posed[source] is not None:
                posed[b] = posed[source]
            elif not np.allclose(rest_rot[source], rest_rot[b], atol=1e-6):
                posed[b] = rest_rot[source]                        # (3, 3): a resting source, another rest
            continue
        if parent >= 0 and posed[parent] is not None:
            parent_pose = posed[parent]
            rel = rest_rot[parent].T @ rest_rot[b]                 # rest of b in its parent's frame
        else:
            parent_pose = None
        if b in desired:
            posed[b] = desired[b]
            if parent_pose is None:
                basis = rest_rot[b].T @ desired[b]
            else:
                basis = np.swapaxes(parent_pose @ rel, -1, -2) @ desired[b]
            q = quat_continuity(matrix_to_quat(basis))
            rotations[rig.names[b]] = q.astype(np.float64)
        elif parent_pose is not None:
            posed[b] = parent_pose @ rel                           # unkeyed: rest basis
    return rotations, posed


def root_location(rig: RigRest, bone_map: dict[str, str], frame: np.ndarray, rotvecs: np.ndarray,
                  root_translation: np.ndarray, floor: str, root_motion: str) -> np.ndarray:
    """(T, 3) the pelvis bone's location (in its rest frame, as Blender keys it): the canonical path
    from its first frame, scaled by the rig's legs, horizontally as root_motion says and vertically
    as floor says (see pose_rig), turned into the character frame."""
    rest_rot = rig.rest[:, :3, :3]
    obj_rot = rig.object_rotation
    pelvis_bone = rig.index(bone_map["pelvis"])
    scale = leg_length(rig, bone_map) / CANONICAL_LEG_LENGTH          # world metres per canonical metre
    trans = np.asarray(root_translation, dtype=np.float64).reshape(len(rotvecs), 3)
    rel_trans = trans - trans[:1]
    if root_motion == "in_place":
        rel_trans[:, [0, 2]] = 0.0
    if floor == "ground":
        # pelvis height over the rest pelvis height so that the lowest foot point is at rest sole level
        rel_trans[:, 1] = sk.grounded_pelvis_height(rotvecs) - sk.STANDING_HEIGHT
    else:
        rel_trans[:, 1] = trans[:, 1] - sk.STANDING_HEIGHT
    if root_motion == "orientation":
        rel_trans[:] = 0.0
    world_offset = (rel_trans * scale) @ frame.T                     # (T, 3) world metres
    # into the root bone's rest frame (armature space, divided by the object's scale)
    arm_offset = world_offset @ obj_rot / rig.object_scale
    return arm_offset @ rest_rot[pelvis_bone]                        # Rest^T applied to row vectors
