"""Keying a dance into Blender: bulk F-curve writes (ours) against per-frame keyframe_insert.

In headless bpy (user resources in a temporary folder), onto the code-built canonical dancer
(20 quaternion bones + root location):
- 300 frames: blender.keying (keyframe_points.add + foreach_set) vs pose_bone.keyframe_insert
  on every bone and frame, the usual script.
- 5400 frames (3 minutes at 30 fps): bulk keying alone (per-frame insertion would take minutes).
"""
from __future__ import annotations

import os
import statistics
import tempfile

import numpy as np

from benchmarks import timings

REPEATS = 5


def _setup():
    os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="dance-bench-"))
    import bpy

    from dance_addon.blender import character

    bpy.ops.wm.read_factory_settings(use_empty=True)
    return bpy, character.build_armature("Dancer")


def _motion(n: int, seed: int = 0) -> np.ndarray:
    from dance_addon.core.motion.rotations import rotvec_to_quat

    rv = np.cumsum(np.random.default_rng(seed).normal(scale=0.05, size=(n, 20, 3)), axis=0)
    return rotvec_to_quat(rv)  # (n, 20, 4)


def _bulk(bpy, obj, quats) -> None:
    from dance_addon.blender import keying

    frames = np.arange(1, len(quats) + 1, dtype=np.float64)
    target = keying.new_action("bench", obj.name)
    for j, pb in enumerate(obj.pose.bones):
        keying.write_bone_rotations(target, pb, frames, quats[:, j])
    keying.write_bone_locations(target, obj.pose.bones[0], frames, np.zeros((len(quats), 3)))
    bpy.data.actions.remove(target.action)


def _per_frame(bpy, obj, quats) -> None:
    obj.animation_data_clear()
    bones = list(obj.pose.bones)
    for f, q in enumerate(quats, start=1):
        for j, pb in enumerate(bones):
            pb.rotation_quaternion = q[j]
            pb.keyframe_insert("rotation_quaternion", frame=f)
        bones[0].keyframe_insert("location", frame=f)
    action = obj.animation_data.action
    obj.animation_data_clear()
    bpy.data.actions.remove(action)


def run() -> list[dict]:
    bpy, obj = _setup()
    q300, q5400 = _motion(300), _motion(5400)
    bulk = timings(lambda: _bulk(bpy, obj, q300), REPEATS)
    slow = timings(lambda: _per_frame(bpy, obj, q300), 2, warmup=False)
    song = timings(lambda: _bulk(bpy, obj, q5400), REPEATS)
    rows = [
        {"what": "keying 300 frames x 20 bones: bulk foreach_set", "unit": "s", "min": min(bulk),
         "median": statistics.median(bulk), "compare_to": "per-frame keyframe_insert",
         "ratio": min(bulk) / min(slow)},
        {"what": "keying 300 frames x 20 bones: per-frame keyframe_insert", "unit": "s", "min": min(slow),
         "median": statistics.median(slow)},
        {"what": "keying 5400 frames (3 min) x 20 bones: bulk", "unit": "s", "min": min(song),
         "median": statistics.median(song)},
    ]
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
