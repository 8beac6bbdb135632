"""Mocap onto the canonical skeleton by world rotations: any source skeleton's motion (a BVH's, AIST++'s)
to the canonical 20 joints, for the training data (training only: the add-on poses users' rigs with
dance_addon/core/rig/posing.py).

The idea. Each canonical joint i is driven by one source joint s(i). Take a reference pose of
the source (its rest if that is a T-pose, or a neutral standing frame) with world rotations
W(s) and body facing F (the turn about +Y from the canonical hip line to the source's). A constant
"bind offset" per canonical joint,

    O(i) = W(s(i))^-1 @ F @ C(i),

turns the source's world rotation into the canonical one at every frame t:

    G_can(i, t) = G_src(s(i), t) @ O(i).

C(i) is the rest alignment: the rotation that takes the canonical rest bones leaving joint i
(canonical T-pose, world rotations identity) onto the directions the matching source bones
have in the facing-normalised reference, F^-1 @ (p_ref(s(child)) - p_ref(s(i))). With one
bone it is the minimal rotation between the two directions (so a reference with the arms down
maps to the T-pose by pure adduction); with several (pelvis: hips and spine) it is the
least-squares fit (Kabsch). A joint with no bone below it (the head) keeps its parent's
orientation in the reference pose. Then for every bone rigidly attached to s(i),
G_can(i, t) @ c = G_src(s(i), t) @ W^-1 @ v_ref = v_src(t): the canonical bone points where the
source bone points. Unmapped source joints in between (extra spine, twist bones) are absorbed
because only world rotations are used. Local rotations follow as
L(i) = G_can(parent(i))^-1 @ G_can(i).

Several canonical joints may share a source joint (e.g. spine2 and spine3 on a source with one
chest bone); the bones between them have no source counterpart and their alignment looks
through them to the next distinct source joints.

Extended canonical tree: joints 0-19 plus four end points 20-23 (toes of the left/right ankle,
hands of the left/right wrist, at skeleton.END_OFFSETS), so a source toe or hand joint can
align the ankle's and wrist's own rotation.
"""
from __future__ import annotations

import numpy as np

from dance_addon.core.motion.rotations import align_vectors, matrix_to_rotvec
from dance_addon.core.motion.skeleton import END_OFFSETS, LEFT_RIGHT_PAIRS, NUM_JOINTS, PARENTS, REST_OFFSETS

EXT_PARENTS: tuple[int, ...] = PARENTS + tuple(END_OFFSETS)                     # (24,)
EXT_OFFSETS = np.concatenate([REST_OFFSETS, np.stack(list(END_OFFSETS.values()))])  # (24, 3) metres
NUM_EXT = len(EXT_PARENTS)
LEFT_OF: dict[int, bool] = {j: side for pair in LEFT_RIGHT_PAIRS for j, side in zip(pair, (True, False))}


def ext_rest_positions() -> np.ndarray:
    """(24, 3) canonical rest positions of the extended tree, pelvis at the origin."""
    pos = np.zeros((NUM_EXT, 3))
    for i in range(1, NUM_EXT):
        pos[i] = pos[EXT_PARENTS[i]] + EXT_OFFSETS[i]
    return pos


def fit_rotation(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Rotation R (3, 3) with R @ src_k pointing along dst_k: minimal rotation for one pair,
    least squares over unit directions (Kabsch) for several. src, dst: (K, 3)."""
    src = np.asarray(src, float).reshape(-1, 3)
    dst = np.asarray(dst, float).reshape(-1, 3)
    if len(src) == 1:
        return align_vectors(src[0], dst[0])
    a = src / np.linalg.norm(src, axis=1, keepdims=True)
    b = dst / np.linalg.norm(dst, axis=1, keepdims=True)
    u, _, vt = np.linalg.svd(b.T @ a)
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1.0, 1.0, d]) @ vt


def facing_rotation(left: np.ndarray) -> np.ndarray:
    """Rotation about +Y (3, 3) taking +Z to the body's forward, forward = left x up (Y up,
    +X left, +Z forward as in the canonical skeleton). left: (3,) e.g. left hip - right hip."""
    fwd = np.cross(np.asarray(left, float), [0.0, 1.0, 0.0])
    yaw = np.arctan2(fwd[0], fwd[2])
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def fit_axial_lateral(can_axial: np.ndarray, can_lateral: np.ndarray, src_axial: np.ndarray,
                      src_lateral: np.ndarray) -> np.ndarray:
    """Rotation (3, 3) taking the canonical axial direction exactly onto the source's, then
    turning about it to bring the lateral directions (left minus right) as close as they go."""
    first = align_vectors(can_axial, src_axial)
    a = src_axial / np.linalg.norm(src_axial)
    lat_can = first @ can_lateral
    lat_can = lat_can - a * (lat_can @ a)
    lat_src = src_lateral - a * (src_lateral @ a)
    angle = np.arctan2(np.cross(lat_can, lat_src) @ a, lat_can @ lat_src)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    twist = np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k
    return twist @ first


def measured_descendants(source_of: np.ndarray, i: int) -> list[int]:
    """Extended-tree joints d below i whose bone from i has a source counterpart: children
    driven by a different source joint, looking through children that share i's source.
    source_of: (24,) source joint index per extended canonical joint, -1 if unmapped."""
    out = []
    for c in range(NUM_EXT):
        if EXT_PARENTS[c] != i or source_of[c] < 0:
            continue
        out += [c] if source_of[c] != source_of[i] else measured_descendants(source_of, c)
    return out


def bind_offsets(source_of: np.ndarray, ref_world_rot: np.ndarray, ref_pos: np.ndarray) -> np.ndarray:
    """Per-joint bind offsets O (20, 3, 3) = W(s)^-1 @ F @ C (see the module docstring).

    source_of: (24,) source joint per extended canonical joint (ends may be -1).
    ref_world_rot: (J, 3, 3), ref_pos: (J, 3) the source's reference pose (any length unit).
    The facing F is the turn about +Y from the canonical hip line to the source's.
    """
    rest = ext_rest_positions()
    facing = (facing_rotation(ref_pos[source_of[1]] - ref_pos[source_of[2]])
              @ facing_rotation(rest[1] - rest[2]).T)
    out = np.empty((NUM_JOINTS, 3, 3))
    for i in range(NUM_JOINTS):
        desc = measured_descendants(source_of, i)
        if not desc:
            # nothing to align (the head): in the reference pose the joint keeps its parent's
            # orientation, G_can(i) = G_can(parent)
            p = PARENTS[i]
            out[i] = ref_world_rot[source_of[i]].T @ ref_world_rot[source_of[p]] @ out[p]
            continue
        can = rest[desc] - rest[i]
        src = (ref_pos[source_of[desc]] - ref_pos[source_of[i]]) @ facing   # F^-1 v, row vectors
        sides = [LEFT_OF.get(d) for d in desc]
        if len(desc) == 3 and set(sides) == {None, True, False}:
            # pelvis (hips + spine), spine3 (collars + neck): the centre bone exactly, the
            # left-right axis as well as the two skeletons' different branch angles allow
            ax, left, right = sides.index(None), sides.index(True), sides.index(False)
            fit = fit_axial_lateral(can[ax], can[left] - can[right], src[ax], src[left] - src[right])
        else:
            fit = fit_rotation(can, src)
        out[i] = ref_world_rot[source_of[i]].T @ facing @ fit
    return out


def canonical_world_rotations(source_world_rot: np.ndarray, source_of: np.ndarray,
                              offsets: np.ndarray) -> np.ndarray:
    """G_can (T, 20, 3, 3) from the source's world rotations (T, J, 3, 3) and bind offsets (20, 3, 3)."""
    return source_world_rot[:, source_of[:NUM_JOINTS]] @ offsets


def local_rotvecs(world: np.ndarray) -> np.ndarray:
    """Canonical world rotations (T, 20, 3, 3) -> local rotation vectors (T, 20, 3)."""
    local = world.copy()
    parents = np.array(PARENTS[1:])
    local[:, 1:] = np.swapaxes(world[:, parents], -1, -2) @ world[:, 1:]
    return matrix_to_rotvec(local)
