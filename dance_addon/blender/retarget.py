"""Read an armature's rest pose for core.rig, and key a computed pose into a new action."""
from __future__ import annotations

import bpy
import numpy as np

from ..core.rig import RigPose, RigRest
from . import keying


def rig_rest(obj: bpy.types.Object) -> RigRest:
    """The armature's bones (parents first, as Blender lists them), rest matrices and object matrix."""
    if obj is None or obj.type != "ARMATURE":
        raise TypeError(f"{obj.name if obj else 'None'} is not an armature")
    bones = list(obj.data.bones)
    index = {b.name: i for i, b in enumerate(bones)}
    order = _parents_first(bones, index)
    bones = [bones[i] for i in order]
    index = {b.name: i for i, b in enumerate(bones)}
    rest = np.array([np.array(b.matrix_local) for b in bones], dtype=np.float64).reshape(-1, 4, 4)
    parents = [index[b.parent.name] if b.parent else -1 for b in bones]
    return RigRest([b.name for b in bones], parents, rest, np.array(obj.matrix_world, dtype=np.float64))


def _parents_first(bones, index) -> list[int]:
    order, seen = [], set()

    def visit(i):
        if i in seen:
            return
        parent = bones[i].parent
        if parent is not None:
            visit(index[parent.name])
        seen.add(i)
        order.append(i)

    for i in range(len(bones)):
        visit(i)
    return order


def key_pose(obj: bpy.types.Object, pose: RigPose, frames: np.ndarray, action_name: str) -> keying.ActionTarget:
    """Write the pose into a new action (not assigned: the caller decides where it goes)."""
    target = keying.new_action(action_name, obj.name)
    for bone_name, quats in pose.rotations.items():
        keying.write_bone_rotations(target, obj.pose.bones[bone_name], frames, quats)
    keying.write_bone_locations(target, obj.pose.bones[pose.root_bone], frames, pose.root_location)
    return target
