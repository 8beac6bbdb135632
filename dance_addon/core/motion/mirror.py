"""Left-right mirror of canonical motion: the dance as danced by its mirror image.

The mirror plane is the body's sagittal plane in rest, X = 0 (skeleton.py: +X is the body's
left). Reflecting by M = diag(-1, 1, 1):
- positions and the root translation: x -> -x;
- each joint's local rotation R -> M R M; for a rotation vector (a pseudovector) that is
  rv -> det(M) M rv = (x, -y, -z);
- left and right joints swap (skeleton.LEFT_RIGHT_PAIRS).
SMPL's left and right rest offsets differ by a few millimetres, so the mirrored motion's joint
positions equal the reflected positions to within those millimetres, not exactly.
"""
from __future__ import annotations

import numpy as np

from .skeleton import LEFT_RIGHT_PAIRS, NUM_JOINTS, as_motion

MIRROR_ORDER = np.arange(NUM_JOINTS)
for _l, _r in LEFT_RIGHT_PAIRS:
    MIRROR_ORDER[_l], MIRROR_ORDER[_r] = _r, _l


def mirror_rotvecs(rotvecs: np.ndarray) -> np.ndarray:
    """(T, 20, 3) local rotation vectors -> those of the mirrored motion (same dtype)."""
    rv = as_motion(rotvecs).astype(np.asarray(rotvecs).dtype, copy=False)
    out = rv[:, MIRROR_ORDER].copy()
    out[..., 1:] *= -1
    return out


def mirror_translation(root_translation: np.ndarray) -> np.ndarray:
    """(T, 3) root translation (or any (..., 3) positions) -> mirrored: x -> -x."""
    out = np.array(root_translation, copy=True)
    out[..., 0] *= -1
    return out
