"""Write whole animation curves at once: keyframe_points.add + foreach_set, never per-frame keyframe_insert.

Blender 4.4+ actions are slotted (action -> slot -> layer -> strip -> channelbag -> fcurves);
4.2/4.3 actions hold their F-curves directly. `new_action` hides the difference.
"""
from __future__ import annotations

from dataclasses import dataclass

import bpy
import numpy as np

from ..core.motion.rotations import matrix_to_euler, quat_continuity, quat_to_matrix, quat_to_rotvec

# Blender's Euler order 'XYZ' applies X first, so its matrix is Rz @ Ry @ Rx: our intrinsic "ZYX".
_EULER_ORDER = {"XYZ": "ZYX", "XZY": "YZX", "YXZ": "ZXY", "YZX": "XZY", "ZXY": "YXZ", "ZYX": "XYZ"}


@dataclass
class ActionTarget:
    """Where new F-curves go: the action and, on slotted actions, the slot's channelbag."""
    action: bpy.types.Action
    slot: object | None
    channelbag: object | None

    def fcurve(self, data_path: str, index: int, group: str) -> bpy.types.FCurve:
        if self.channelbag is not None:
            fc = self.channelbag.fcurves.new(data_path, index=index)
            grp = self.channelbag.groups.get(group) or self.channelbag.groups.new(group)
            fc.group = grp
            return fc
        return self.action.fcurves.new(data_path, index=index, action_group=group)


def new_action(name: str, id_name: str) -> ActionTarget:
    """A new, unassigned action ready for an object's F-curves (a slot named after the object on 4.4+)."""
    action = bpy.data.actions.new(name)
    action.use_fake_user = False
    if hasattr(action, "slots"):
        slot = action.slots.new(id_type="OBJECT", name=id_name)
        layer = action.layers.new("Layer")
        strip = layer.strips.new(type="KEYFRAME")
        return ActionTarget(action, slot, strip.channelbag(slot, ensure=True))
    return ActionTarget(action, None, None)


def write_curve(target: ActionTarget, data_path: str, index: int, group: str,
                frames: np.ndarray, values: np.ndarray) -> bpy.types.FCurve:
    """One F-curve with a key on every frame, linear-free Bezier interpolation as Blender keys by default."""
    fc = target.fcurve(data_path, index, group)
    n = len(frames)
    fc.keyframe_points.add(n)
    co = np.empty((n, 2), dtype=np.float32)
    co[:, 0] = frames
    co[:, 1] = values
    fc.keyframe_points.foreach_set("co", co.ravel())
    # handles follow the key (auto-clamped handles are recomputed by update())
    fc.keyframe_points.foreach_set("interpolation", np.full(n, _BEZIER, dtype=np.int32))
    fc.update()
    return fc


_BEZIER = bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items["BEZIER"].value


def write_bone_rotations(target: ActionTarget, pose_bone: bpy.types.PoseBone, frames: np.ndarray,
                         quats: np.ndarray) -> int:
    """Key a pose bone's rotation (T, 4) w-first quaternions in the bone's own rotation mode.

    Returns the number of F-curves written.
    """
    prop, channels = rotation_channels(pose_bone.rotation_mode, quats)
    for i, values in enumerate(channels):
        write_curve(target, f"{bone_path(pose_bone)}.{prop}", i, pose_bone.name, frames, values)
    return len(channels)


def bone_path(pose_bone: bpy.types.PoseBone) -> str:
    return f'pose.bones["{bpy.utils.escape_identifier(pose_bone.name)}"]'


def rotation_channels(mode: str, quats: np.ndarray) -> tuple[str, np.ndarray]:
    """A bone's rotation property in rotation mode `mode` and its channels (C, T) for (T, 4) w-first
    quaternions over time: quaternions made continuous in sign, Euler angles unwrapped (each frame's
    channels depend only on that frame and the ones before it)."""
    q = quat_continuity(np.asarray(quats, dtype=np.float64))
    if mode == "QUATERNION":
        channels = q.T
        prop = "rotation_quaternion"
    elif mode == "AXIS_ANGLE":
        rv = quat_to_rotvec(q)
        angle = np.linalg.norm(rv, axis=-1)
        axis = np.where(angle[:, None] > 1e-9, rv / np.maximum(angle, 1e-12)[:, None], [0.0, 1.0, 0.0])
        channels = np.concatenate([angle[:, None], axis], axis=1).T
        prop = "rotation_axis_angle"
    else:
        euler = matrix_to_euler(quat_to_matrix(q), _EULER_ORDER[mode])  # (T, 3) in our intrinsic order
        # back to Blender's X, Y, Z channel order, unwrapped over time
        ours = _EULER_ORDER[mode]
        xyz = np.stack([euler[:, ours.index(ax)] for ax in "XYZ"], axis=1)
        channels = np.unwrap(xyz, axis=0).T
        prop = "rotation_euler"
    return prop, channels


def write_bone_locations(target: ActionTarget, pose_bone: bpy.types.PoseBone, frames: np.ndarray,
                         locations: np.ndarray) -> int:
    path = f'pose.bones["{bpy.utils.escape_identifier(pose_bone.name)}"].location'
    for i in range(3):
        write_curve(target, path, i, pose_bone.name, frames, locations[:, i])
    return 3


def write_bone_property(target: ActionTarget, pose_bone: bpy.types.PoseBone, prop: str, frames: np.ndarray,
                        values: np.ndarray) -> bpy.types.FCurve:
    """Key a pose bone's custom property (e.g. a rig's IK/FK switch) at the given frames."""
    bone = bpy.utils.escape_identifier(pose_bone.name)
    path = f'pose.bones["{bone}"]["{bpy.utils.escape_identifier(prop)}"]'
    return write_curve(target, path, 0, pose_bone.name, frames, values)


def action_fcurves(action: bpy.types.Action):
    """The F-curves of an action written by new_action (its first slot's channelbag on 4.4+)."""
    if hasattr(action, "slots"):
        if not len(action.slots) or not len(action.layers) or not len(action.layers[0].strips):
            return None
        bag = action.layers[0].strips[0].channelbag(action.slots[0])
        return None if bag is None else bag.fcurves
    return action.fcurves


_CONSTANT = bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items["CONSTANT"].value


def set_key_values(fc: bpy.types.FCurve, frames: np.ndarray, values: np.ndarray, hold_last: bool = False) -> None:
    """New values for the keys of fc at `frames` (each must have a key exactly there), interpolated
    as the bake keys (Bezier), or, with hold_last, the last of them held until the next key
    (constant: for a quaternion that changes sign or an angle that changes by a whole turn to the
    next key, which Bezier would swing through between the two frames). Every other key keeps its
    frame, value and interpolation bit for bit (written back as read), and the handles are worked
    out again (auto handles follow their neighbours)."""
    n = len(fc.keyframe_points)
    co = np.empty(2 * n, dtype=np.float32)
    fc.keyframe_points.foreach_get("co", co)
    co = co.reshape(n, 2)
    at = np.searchsorted(co[:, 0], np.asarray(frames, np.float32))
    if np.any(at >= n) or np.any(co[np.minimum(at, n - 1), 0] != np.asarray(frames, np.float32)):
        raise KeyError(f"{fc.data_path}[{fc.array_index}] has no key on some of frames {int(frames[0])}-"
                       f"{int(frames[-1])}")
    co[at, 1] = values
    interpolation = np.empty(n, dtype=np.int32)
    fc.keyframe_points.foreach_get("interpolation", interpolation)
    interpolation[at] = _BEZIER
    if hold_last:
        interpolation[at[-1]] = _CONSTANT
    fc.keyframe_points.foreach_set("co", co.ravel())
    fc.keyframe_points.foreach_set("interpolation", interpolation)
    fc.update()


def key_values(fc: bpy.types.FCurve) -> np.ndarray:
    """(K, 2) the (frame, value) of every key of fc."""
    co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
    fc.keyframe_points.foreach_get("co", co)
    return co.reshape(-1, 2)


def assign_action(obj: bpy.types.Object, action: bpy.types.Action) -> None:
    """Make an action written by new_action the object's active action (with its first slot on 4.4+)."""
    ad = obj.animation_data or obj.animation_data_create()
    ad.action = action
    if hasattr(action, "slots") and len(action.slots):
        ad.action_slot = action.slots[0]


def assign(obj: bpy.types.Object, target: ActionTarget) -> None:
    """Make the action the object's active action (with its slot on 4.4+)."""
    ad = obj.animation_data or obj.animation_data_create()
    ad.action = target.action
    if target.slot is not None:
        ad.action_slot = target.slot
