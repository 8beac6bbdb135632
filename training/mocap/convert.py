"""BVH dataset files -> canonical motion (rotation vectors + pelvis translation) at a target fps.

Root translation: the source pelvis position in metres, its height taken above the floor (the
median over frames of the lower toe end, since a dancer has a foot down most of the time) and
the whole path scaled by STANDING_HEIGHT / the source's pelvis-over-toes height in its reference
pose, so steps keep their length relative to the legs. With mapping.canonical_floor the height
is then shifted so that our own skeleton's lower toe end has that median on the floor (for
sources whose feet or reference stance differ from SMPL's, see mappings.py).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from dance_addon.core.motion.bvh import BvhError, BvhMotion, read_bvh
from dance_addon.core.motion.rotations import resample_linear, resample_rotvecs
from dance_addon.core.motion.skeleton import (
    JOINT_NAMES,
    NUM_JOINTS,
    PARENTS,
    STANDING_HEIGHT,
    end_positions,
    forward_kinematics,
    global_rotations,
)

from . import canonical as rt
from .mappings import ENDS, SourceMapping

EXT_NAMES = JOINT_NAMES + tuple(f"{j}_end" for j in ENDS)  # names of the extended tree's 24 joints


@dataclass(frozen=True)
class CanonicalMotion:
    """rotvecs (T, 20, 3) local axis-angle; root_translation (T, 3) pelvis in metres; fps."""

    rotvecs: np.ndarray
    root_translation: np.ndarray
    fps: float
    source: str


def read_source(path: str | Path, mapping: SourceMapping) -> BvhMotion:
    """One file of the mapping's dataset in metres, from its first frame used (mapping.first_frames)."""
    motion = read_bvh(path, scale=mapping.scale)
    first = mapping.first_frames.get(Path(path).name, 0)
    if not 0 <= first < motion.num_frames:
        raise BvhError(f"{motion.path}: first frame {first} is outside the file's {motion.num_frames} frames")
    return replace(motion, frames=motion.frames[first:]) if first else motion


def source_indices(motion: BvhMotion, mapping: SourceMapping) -> np.ndarray:
    """(24,) source joint index per extended canonical joint; a BvhError names any missing joint."""
    names = [mapping.joints[j] for j in JOINT_NAMES] + [mapping.ends.get(j) for j in ENDS]
    return np.array([-1 if n is None else motion.joint_index(n) for n in names])


def load_reference(mapping: SourceMapping, data_dir: Path) -> BvhMotion | None:
    """The mapping's reference frame as a one-frame motion (None: each file's rest pose)."""
    if mapping.reference_file is None:
        return None
    motion = read_bvh(Path(data_dir) / mapping.folder / mapping.reference_file, scale=mapping.scale)
    k = mapping.reference_frame
    if not 0 <= k < motion.num_frames:
        raise BvhError(f"{motion.path}: reference frame {k} is outside the file's {motion.num_frames} frames")
    return replace(motion, frames=motion.frames[k:k + 1])


def file_reference(motion: BvhMotion, mapping: SourceMapping, reference: BvhMotion | None) -> BvhMotion | None:
    """The reference of this file (motion as read_source returns it): its own frame when
    mapping.reference_frames names the file, else the dataset's `reference` (see load_reference)."""
    k = mapping.reference_frames.get(Path(motion.path).name)
    if k is None or (reference is not None and reference.path == motion.path):
        return reference                                   # the dataset's, or already this file's own
    if not 0 <= k < motion.num_frames:
        raise BvhError(f"{motion.path}: reference frame {k} is outside the file's {motion.num_frames} frames")
    return replace(motion, frames=motion.frames[k:k + 1])


def coincident_joints(idx: np.ndarray, ref_pos: np.ndarray) -> list[int]:
    """Canonical joints whose source joint sits on their canonical parent's source joint (a source
    bone of zero length, e.g. CMU ASF's lowerback, which starts at the root): the canonical bone
    between them has no source direction to follow."""
    return [i for i in range(1, NUM_JOINTS)
            if idx[i] != idx[PARENTS[i]] and np.linalg.norm(ref_pos[idx[i]] - ref_pos[idx[PARENTS[i]]]) < 1e-6]


def bind_offsets(idx: np.ndarray, ref_rot: np.ndarray, ref_pos: np.ndarray) -> np.ndarray:
    """canonical.bind_offsets, with coincident joints (see coincident_joints) aligned as if they shared
    their parent's source joint (looking through them to the next source bone), then re-based onto
    their own source joint's reference rotation, which drives them."""
    coincident = coincident_joints(idx, ref_pos)
    bind_idx = idx.copy()
    for i in coincident:
        bind_idx[i] = bind_idx[PARENTS[i]]
    offsets = rt.bind_offsets(bind_idx, ref_rot, ref_pos)
    for i in coincident:
        offsets[i] = ref_rot[idx[i]].T @ ref_rot[bind_idx[i]] @ offsets[i]
    return offsets


def reference_pose(motion: BvhMotion, reference: BvhMotion | None) -> BvhMotion:
    """The one-frame pose aligned with the canonical T-pose: `reference`, or the file's rest pose."""
    if reference is None:
        return replace(motion, frames=np.zeros((1, motion.frames.shape[1])))
    if reference.names != motion.names or not np.allclose(reference.offsets, motion.offsets):
        raise BvhError(f"{motion.path}: its skeleton differs from the reference file {reference.path}")
    return reference


def retarget_motion(motion: BvhMotion, mapping: SourceMapping, reference: BvhMotion | None,
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Canonical motion at the source's frame rate (reference: see load_reference).

    Returns rotvecs (N, 20, 3), root translation (N, 3) metres, and the source world positions
    (N, J, 3) metres (for checks).
    """
    idx = source_indices(motion, mapping)
    world_rot, pos = motion.world_transforms()                     # (N, J, 3, 3), (N, J, 3)
    reference = file_reference(motion, mapping, reference)
    ref_rot, ref_pos = (x[0] for x in reference_pose(motion, reference).world_transforms())
    offsets = bind_offsets(idx, ref_rot, ref_pos)
    rotvecs = rt.local_rotvecs(rt.canonical_world_rotations(world_rot, idx, offsets))

    toes = idx[[NUM_JOINTS + k for k in range(2)]]
    src_height = ref_pos[idx[0], 1] - ref_pos[toes, 1].min()
    floor = np.median(pos[:, toes, 1].min(axis=1))
    root = (pos[:, idx[0]] - np.array([0.0, floor, 0.0])) * (STANDING_HEIGHT / src_height)
    if mapping.canonical_floor:
        root[:, 1] -= canonical_floor(rotvecs, root)
    return rotvecs, root, pos


def canonical_floor(rotvecs: np.ndarray, root: np.ndarray) -> float:
    """Height of the floor under our skeleton: the median over frames of its lower toe end (SMPL's
    proportions, skeleton.END_OFFSETS), as the source's floor is the median of its lower toe."""
    pos = forward_kinematics(rotvecs, root)
    ends = end_positions(rotvecs, pos)
    return float(np.median(np.minimum(ends[7][:, 1], ends[8][:, 1])))


def convert_bvh(path: str | Path, mapping: SourceMapping, reference: BvhMotion | None,
                fps: float = 30.0) -> CanonicalMotion:
    """Read a BVH file of the mapping's dataset and return canonical motion at `fps`."""
    motion = read_source(path, mapping)
    rotvecs, root, _ = retarget_motion(motion, mapping, reference)
    src_fps = mapping.fps or motion.fps
    return CanonicalMotion(rotvecs=resample_rotvecs(rotvecs, src_fps, fps),
                           root_translation=resample_linear(root, src_fps, fps), fps=fps, source=str(path))


def source_proportions(rotvecs_ref: np.ndarray, ref_pos: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """(24, 3) extended-tree offsets with the SOURCE's bone vectors, in each parent's canonical frame.

    Offset i = G_ref(parent)^-1 (p_ref(s(i)) - p_ref(s(parent))), with G_ref the canonical world
    rotations of the converted reference pose (rotvecs_ref (1, 20, 3)). Our forward kinematics with
    these offsets draws the source's own proportions, so every bone can be compared with the source,
    including those leaving the pelvis and the chest, whose rest directions differ between SMPL and
    the source. Bones whose two ends share a source joint get length zero.
    """
    world = global_rotations(rotvecs_ref)[0]                          # (20, 3, 3)
    out = np.zeros((rt.NUM_EXT, 3))
    for i in range(1, rt.NUM_EXT):
        p = rt.EXT_PARENTS[i]
        if idx[i] < 0 or idx[p] < 0 or idx[i] == idx[p]:
            continue
        out[i] = world[p].T @ (ref_pos[idx[i]] - ref_pos[idx[p]])
    return out


def ext_forward_kinematics(rotvecs: np.ndarray, offsets: np.ndarray | None = None) -> np.ndarray:
    """(N, 24, 3) positions of the extended tree (20 joints + toe and hand ends), pelvis at the origin.

    offsets: (24, 3) per-joint offsets; None uses the canonical SMPL ones (skeleton.REST_OFFSETS and
    END_OFFSETS)."""
    if offsets is None:
        pos = forward_kinematics(rotvecs)
        ends = end_positions(rotvecs, pos)
        return np.concatenate([pos, np.stack([ends[j] for j in sorted(ends)], axis=1)], axis=1)
    world = global_rotations(rotvecs)                                  # (N, 20, 3, 3)
    pos = np.zeros((len(world), rt.NUM_EXT, 3))
    for i in range(1, rt.NUM_EXT):
        p = rt.EXT_PARENTS[i]
        pos[:, i] = pos[:, p] + world[:, p] @ offsets[i]
    return pos


def bone_cosines(rotvecs: np.ndarray, source_pos: np.ndarray, idx: np.ndarray,
                 offsets: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per measured bone, the cosine per frame (N,) between the canonical bone's world direction
    (our forward kinematics, on SMPL proportions or on `offsets`) and the source bone's (its two
    mapped joints). Bones whose ends share a source joint, or whose source joints coincide (a
    source bone of zero length), have no source counterpart and are left out."""
    ext = ext_forward_kinematics(rotvecs, offsets)                     # (N, 24, 3)
    out = {}
    for i in range(1, rt.NUM_EXT):
        p = rt.EXT_PARENTS[i]
        if idx[i] < 0 or idx[p] < 0 or idx[i] == idx[p]:
            continue
        a = ext[:, i] - ext[:, p]
        b = source_pos[:, idx[i]] - source_pos[:, idx[p]]
        if np.all(np.linalg.norm(b, axis=1) < 1e-6):
            continue
        cos = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        out[f"{EXT_NAMES[p]}->{EXT_NAMES[i]}"] = cos
    return out


@dataclass(frozen=True)
class BoneCheck:
    """One bone of one file: cosine per frame on SMPL proportions, its value in the reference pose
    (the constant part where the two rest geometries differ), and per frame on the source's proportions."""

    smpl: np.ndarray
    reference: float
    source: np.ndarray


def file_cosines(motion: BvhMotion, mapping: SourceMapping, reference: BvhMotion | None) -> dict[str, BoneCheck]:
    """The per-bone check of a whole file (see BoneCheck)."""
    idx = source_indices(motion, mapping)
    reference = file_reference(motion, mapping, reference)
    rotvecs, _, pos = retarget_motion(motion, mapping, reference)
    ref = reference_pose(motion, reference)
    ref_rotvecs, _, ref_pos = retarget_motion(ref, mapping, reference)
    ref_cos = bone_cosines(ref_rotvecs, ref_pos, idx)
    own = bone_cosines(rotvecs, pos, idx, source_proportions(ref_rotvecs, ref_pos[0], idx))
    return {name: BoneCheck(cos, float(ref_cos[name][0]), own[name])
            for name, cos in bone_cosines(rotvecs, pos, idx).items()}
