"""Rig I/O: read an armature's rest pose for core/rig/posing.py (rig_rest), and key a posed dance into
a new action (key_pose). The retargeting itself, canonical motion onto a rig, is core/rig/posing.py."""
from __future__ import annotations

import bpy
import numpy as np

from ..core.rig.bonemaps import Constant
from ..core.rig.posing import RigError, RigPose, RigRest
from . import keying


def rig_rest(obj: bpy.types.Object) -> RigRest:
    """The armature's bones (parents and copied bones first), rest matrices, object matrix and copies."""
    if obj is None or obj.type != "ARMATURE":
        raise TypeError(f"{obj.name if obj else 'None'} is not an armature")
    bones = list(obj.data.bones)
    index = {b.name: i for i, b in enumerate(bones)}
    sources = {index[name]: index[src] for name, src in _copied_bones(obj).items()}
    order = _dependencies_first(bones, index, sources)
    bones = [bones[i] for i in order]
    new_index = {old: new for new, old in enumerate(order)}
    index = {b.name: i for i, b in enumerate(bones)}
    rest = np.array([np.array(b.matrix_local) for b in bones], dtype=np.float64).reshape(-1, 4, 4)
    parents = [index[b.parent.name] if b.parent else -1 for b in bones]
    copies = {new_index[b]: new_index[src] for b, src in sources.items()}
    return RigRest([b.name for b in bones], parents, rest, np.array(obj.matrix_world, dtype=np.float64), copies)


def _copied_bones(obj: bpy.types.Object) -> dict[str, str]:
    """{bone: bone whose pose it copies}: bones with a Copy Transforms constraint from a bone of the
    same armature, world space to world space, replacing, at full and undriven influence (the last
    one if several). Other constraints are not modelled; driven influences (e.g. a Rigify limb's
    IK/FK blend) depend on the rig's settings, which a preset's constants fix for the dance.
    """
    driven = set()
    if obj.animation_data is not None:
        driven = {d.data_path for d in obj.animation_data.drivers}
    out: dict[str, str] = {}
    esc = bpy.utils.escape_identifier
    for pb in obj.pose.bones:
        for c in pb.constraints:
            influence_path = f'pose.bones["{esc(pb.name)}"].constraints["{esc(c.name)}"].influence'
            if (c.type == "COPY_TRANSFORMS" and c.enabled and c.influence == 1.0 and c.target == obj
                    and c.subtarget in obj.pose.bones and c.subtarget != pb.name
                    and c.owner_space == "WORLD" and c.target_space == "WORLD" and c.mix_mode == "REPLACE"
                    and influence_path not in driven):
                out[pb.name] = c.subtarget
    return out


def _dependencies_first(bones, index, sources: dict[int, int]) -> list[int]:
    """Bone indices ordered so that each bone's parent and copied bone come before it."""
    order, done, visiting = [], set(), set()

    def visit(i):
        if i in done:
            return
        if i in visiting:
            raise RigError(f"bone '{bones[i].name}' depends on itself through its constraints; "
                           "fix the dependency cycle in the rig")
        visiting.add(i)
        parent = bones[i].parent
        if parent is not None:
            visit(index[parent.name])
        if i in sources:
            visit(sources[i])
        visiting.discard(i)
        done.add(i)
        order.append(i)

    for i in range(len(bones)):
        visit(i)
    return order


def key_pose(obj: bpy.types.Object, pose: RigPose, frames: np.ndarray, action_name: str,
             constants: tuple[Constant, ...] = ()) -> keying.ActionTarget:
    """Write the pose, and the bone properties the dance needs held (constants), into a new action
    (not assigned: the caller decides where it goes)."""
    target = keying.new_action(action_name, obj.name)
    for bone_name, quats in pose.rotations.items():
        keying.write_bone_rotations(target, obj.pose.bones[bone_name], frames, quats)
    keying.write_bone_locations(target, obj.pose.bones[pose.root_bone], frames, pose.root_location)
    for c in constants:
        keying.write_bone_property(target, obj.pose.bones[c.bone], c.prop, frames[[0, -1]],
                                   np.full(2, c.value))
    return target
