"""AIST++ motion files -> canonical motion.

An AIST++ motion is a pickle of a dict with numpy arrays: `smpl_poses` (N, 72) SMPL axis-angle
rotations of 24 joints (radians, joint 0 the global orientation), `smpl_trans` (N, 3) pelvis
position in the scaled body's units, `smpl_scaling` (1,) that scale; 60 fps. The canonical
skeleton is SMPL without joints 10, 11, 22, 23, in the same axes (Y up), so the conversion is
a selection of joints, trans / scaling in metres, and resampling to the target fps.
Only open pickles you trust: unpickling can run code.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from dance_addon.core.motion.rotations import resample_linear, resample_rotvecs
from dance_addon.core.motion.skeleton import SMPL_INDEX

from .convert import CanonicalMotion

AIST_FPS = 60.0


class AistError(ValueError):
    """An AIST++ motion file that cannot be read; the message names the file and the field."""


def load_aist_motion(pkl_path: str | Path, fps: float = 30.0) -> CanonicalMotion:
    """Canonical rotvecs (T, 20, 3) and root translation (T, 3) metres at `fps` from an AIST++ .pkl."""
    path = str(pkl_path)
    try:
        with open(path, "rb") as f:
            data = pickle.load(f)
    except (OSError, pickle.UnpicklingError, EOFError) as exc:
        raise AistError(f"{path}: cannot read the pickle ({exc})") from None
    if not isinstance(data, dict):
        raise AistError(f"{path}: expected a dict with smpl_poses, smpl_trans, smpl_scaling, got {type(data).__name__}")
    missing = [k for k in ("smpl_poses", "smpl_trans", "smpl_scaling") if k not in data]
    if missing:
        raise AistError(f"{path}: missing {', '.join(missing)}")
    poses = np.asarray(data["smpl_poses"], dtype=np.float64)
    trans = np.asarray(data["smpl_trans"], dtype=np.float64)
    scaling = np.asarray(data["smpl_scaling"], dtype=np.float64).reshape(-1)
    if poses.ndim != 2 or poses.shape[1] != 72 or len(poses) == 0:
        raise AistError(f"{path}: smpl_poses must be (N, 72) with N >= 1, got {poses.shape}")
    if trans.shape != (len(poses), 3):
        raise AistError(f"{path}: smpl_trans must be ({len(poses)}, 3) like smpl_poses, got {trans.shape}")
    if scaling.shape != (1,) or not scaling[0] > 0:
        raise AistError(f"{path}: smpl_scaling must hold one positive number, got {data['smpl_scaling']!r}")
    if not (np.all(np.isfinite(poses)) and np.all(np.isfinite(trans))):
        raise AistError(f"{path}: smpl_poses or smpl_trans hold NaN or infinite values")
    rotvecs = poses.reshape(-1, 24, 3)[:, list(SMPL_INDEX)]          # (N, 20, 3)
    root = trans / scaling[0]                                         # (N, 3) metres
    return CanonicalMotion(rotvecs=resample_rotvecs(rotvecs, AIST_FPS, fps),
                           root_translation=resample_linear(root, AIST_FPS, fps), fps=fps, source=path)
