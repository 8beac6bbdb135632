"""BVH dataset files -> canonical motion (rotation vectors + pelvis translation) at a target fps.

Root translation: the source pelvis position in metres, its height taken above the floor (the
median over frames of the lower toe end, since a dancer has a foot down most of the time) and
the whole path scaled by STANDING_HEIGHT / the source's pelvis-over-toes height in its reference
pose, so steps keep their length relative to the legs.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from dance_addon.core import retarget as rt
from dance_addon.core.bvh import BvhError, BvhMotion, read_bvh
from dance_addon.core.rotations import resample_linear, resample_rotvecs
from dance_addon.core.skeleton import JOINT_NAMES, NUM_JOINTS, STANDING_HEIGHT, end_positions, forward_kinematics

from .mappings import ENDS, SourceMapping

EXT_NAMES = JOINT_NAMES + tuple(f"{j}_end" for j in ENDS)  # names of the extended tree's 24 joints


@dataclass(frozen=True)
class CanonicalMotion:
    """rotvecs (T, 20, 3) local axis-angle; root_translation (T, 3) pelvis in metres; fps."""

    rotvecs: np.ndarray
    root_translation: np.ndarray
    fps: float
    source: str


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
    ref_rot, ref_pos = (x[0] for x in reference_pose(motion, reference).world_transforms())
    offsets = rt.bind_offsets(idx, ref_rot, ref_pos)
    rotvecs = rt.local_rotvecs(rt.canonical_world_rotations(world_rot, idx, offsets))

    toes = idx[[NUM_JOINTS + k for k in range(2)]]
    src_height = ref_pos[idx[0], 1] - ref_pos[toes, 1].min()
    floor = np.median(pos[:, toes, 1].min(axis=1))
    root = pos[:, idx[0]] - np.array([0.0, floor, 0.0])
    return rotvecs, root * (STANDING_HEIGHT / src_height), pos


def convert_bvh(path: str | Path, mapping: SourceMapping, reference: BvhMotion | None,
                fps: float = 30.0) -> CanonicalMotion:
    """Read a BVH file of the mapping's dataset and return canonical motion at `fps`."""
    motion = read_bvh(path, scale=mapping.scale)
    rotvecs, root, _ = retarget_motion(motion, mapping, reference)
    src_fps = mapping.fps or motion.fps
    return CanonicalMotion(rotvecs=resample_rotvecs(rotvecs, src_fps, fps),
                           root_translation=resample_linear(root, src_fps, fps), fps=fps, source=str(path))


def bone_cosines(rotvecs: np.ndarray, source_pos: np.ndarray, idx: np.ndarray) -> dict[str, np.ndarray]:
    """Per measured bone, the cosine per frame (N,) between the canonical bone's world direction
    (our forward kinematics) and the source bone's (its two mapped joints). Bones whose ends share
    a source joint have no source counterpart and are left out."""
    pos = forward_kinematics(rotvecs)
    ends = end_positions(rotvecs, pos)
    ext = np.concatenate([pos, np.stack([ends[j] for j in sorted(ends)], axis=1)], axis=1)  # (N, 24, 3)
    out = {}
    for i in range(1, rt.NUM_EXT):
        p = rt.EXT_PARENTS[i]
        if idx[i] < 0 or idx[p] < 0 or idx[i] == idx[p]:
            continue
        a = ext[:, i] - ext[:, p]
        b = source_pos[:, idx[i]] - source_pos[:, idx[p]]
        cos = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        out[f"{EXT_NAMES[p]}->{EXT_NAMES[i]}"] = cos
    return out


def file_cosines(motion: BvhMotion, mapping: SourceMapping, reference: BvhMotion | None,
                 ) -> dict[str, tuple[np.ndarray, float]]:
    """bone_cosines of a whole file, each with its value in the reference pose (the constant
    part: where the two skeletons' rest geometry differs)."""
    idx = source_indices(motion, mapping)
    rotvecs, _, pos = retarget_motion(motion, mapping, reference)
    ref = reference_pose(motion, reference)
    ref_rotvecs, _, ref_pos = retarget_motion(ref, mapping, reference)
    ref_cos = bone_cosines(ref_rotvecs, ref_pos, idx)
    return {name: (cos, float(ref_cos[name][0])) for name, cos in bone_cosines(rotvecs, pos, idx).items()}
