"""A generated Rigify rig dances through its FK controls: what deforms the mesh (its DEF- bones)
points the same ways as our own rig baked with the same motion, and the switches the dance needs
(limbs in FK, neck and head following the chest) live in the dance's action, not in the rig."""
from __future__ import annotations

import numpy as np
import pytest

from dance_addon.core.rig import bonemaps
from dance_addon.core.rig.posing import TRUNK_JOINTS, RigError, pose_rig
from rig_helpers import bake_motion, rest_directions, smooth_motion, world_directions, world_turns

IK_FK_BONES = ("upper_arm_parent.L", "upper_arm_parent.R", "thigh_parent.L", "thigh_parent.R")


@pytest.fixture(scope="module")
def rigify_blend(tmp_path_factory):
    """A .blend holding the rig that Rigify generates from Blender's human metarig (made once: ~10 s)."""
    import bpy  # noqa: I001  (bpy must come first)
    import addon_utils  # importable once bpy is

    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon_utils.enable("rigify", default_set=True)
    bpy.ops.object.armature_human_metarig_add()
    bpy.ops.pose.rigify_generate()
    bpy.data.objects.remove(bpy.data.objects["metarig"])
    path = tmp_path_factory.mktemp("rigify") / "rigify.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    return path


def _open(bpy, path):
    """Open the saved rig. Rigify's versioning handler, left registered after the factory reset,
    prints a harmless AttributeError traceback on load."""
    bpy.ops.wm.open_mainfile(filepath=str(path))
    return bpy.data.objects["rig"]


def test_rigify_controls_dance_like_our_rig(bpy_module, rigify_blend):
    bpy = bpy_module
    from dance_addon.blender import character

    rig = _open(bpy, rigify_blend)
    names = [b.name for b in rig.data.bones]
    assert bonemaps.detect(names).preset == "rigify"
    own_settings = {b: rig.pose.bones[b]["IK_FK"] for b in IK_FK_BONES}

    rv, trans = smooth_motion()
    ours = character.build_armature("Dancer")
    map_ours = bake_motion(bpy, ours, rv, trans)
    bake_motion(bpy, rig, rv, trans)
    # the dance's action holds the limbs in FK; the rig's own switches are untouched
    fcurves = _fcurves(rig)
    for b in IK_FK_BONES:
        fc = fcurves.find(f'pose.bones["{b}"]["IK_FK"]')
        assert fc is not None, b
        assert [k.co[1] for k in fc.keyframe_points] == [1.0, 1.0]
        assert rig.pose.bones[b]["IK_FK"] == own_settings[b] == 0.0

    # What moves the mesh must point the same ways as our rig. Limbs are turned onto the canonical
    # directions whatever the rest pose, so they are compared directly; the trunk keeps each rig's
    # own posture (Rigify's neck leans 16 degrees forward at rest, ours 30), so it is compared as
    # the turn from rest: our bone's world turn applied to Rigify's rest direction.
    deform = bonemaps.apply_preset(bonemaps.PRESETS["rigify_def"], names).bone_map
    rest = rest_directions(rig, deform)
    direct, from_rest, pelvis = {}, {}, []
    for f in range(1, len(rv) + 1, 3):
        d1, _ = world_directions(bpy, ours, map_ours, f)
        d2, _ = world_directions(bpy, rig, deform, f)
        turns_ours, turns_rig = world_turns(ours, map_ours), world_turns(rig, deform)
        for j in d1:
            direct.setdefault(j, []).append(float(d1[j] @ d2[j]))
            from_rest.setdefault(j, []).append(float((turns_ours[j] @ rest[j]) @ d2[j]))
        # the pelvis (no single direction: it has three children) turns as ours does
        pelvis.append((np.trace(turns_ours["pelvis"].T @ turns_rig["pelvis"]) - 1) / 2)
    direct = {j: float(np.mean(c)) for j, c in direct.items()}
    from_rest = {j: float(np.mean(c)) for j, c in from_rest.items() if j in TRUNK_JOINTS}
    print("\ndirect", {j: round(m, 4) for j, m in direct.items()})
    print("from rest", {j: round(m, 4) for j, m in from_rest.items()}, "pelvis", round(float(np.mean(pelvis)), 5))
    limbs = {j: m for j, m in direct.items() if j not in TRUNK_JOINTS}
    worst = min(limbs, key=limbs.get)
    assert limbs[worst] >= 0.98, (worst, limbs[worst])
    worst = min(from_rest, key=from_rest.get)
    assert from_rest[worst] >= 0.98, (worst, from_rest[worst])
    assert np.mean(pelvis) >= 0.98
    # the IK/FK switch took effect: the limbs' deform bones really follow the FK keys
    for j in ("left_elbow", "right_knee", "left_shoulder", "right_wrist"):
        assert limbs[j] > 0.999, (j, limbs[j])


def test_deform_bones_are_refused_on_a_generated_rig(bpy_module, rigify_blend):
    """Keys on DEF- bones would not show (they copy the controls): the map is refused, saying why."""
    from dance_addon.blender import rig_io

    rig = _open(bpy_module, rigify_blend)
    rest = rig_io.rig_rest(rig)
    deform = bonemaps.apply_preset(bonemaps.PRESETS["rigify_def"], rest.names).bone_map
    rv, trans = smooth_motion(n=3)
    with pytest.raises(RigError, match="copies bone .* map the bone that drives it"):
        pose_rig(rest, deform, rv, trans)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from test_bake import tiny_model_dir

    return tiny_model_dir(tmp_path_factory.mktemp("model"))


def test_bake_holds_the_limbs_in_fk_in_its_own_action(bpy_module, rigify_blend, model_dir, music_tracks):
    from dance_addon.blender import bake

    bpy = bpy_module
    rig = _open(bpy, rigify_blend)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 24, 1.0
    scene.sequence_editor_create().strips.new_sound("song", str(music_tracks[0]), channel=1, frame_start=1)
    request = bake.BakeRequest("rig", "song", model_dir, frame_start=1, frame_end=25)
    report = bake.bake(scene, request)
    assert report.preset == "rigify"
    assert any("IK_FK = 1 on upper_arm_parent.L" in m for m in report.messages), report.messages
    assert all(rig.pose.bones[b]["IK_FK"] == 0.0 for b in IK_FK_BONES)   # the rig's own switches
    fcurves = _fcurves(rig)
    for b in IK_FK_BONES:
        assert [k.co[1] for k in fcurves.find(f'pose.bones["{b}"]["IK_FK"]').keyframe_points] == [1.0, 1.0]
    assert fcurves.find('pose.bones["spine_fk"].rotation_quaternion', index=0) is not None   # the extra bone
    assert fcurves.find('pose.bones["DEF-spine"].rotation_quaternion', index=0) is None

    # a detected map touched up in the panel (an optional joint cleared) keeps the preset's settings
    edited = {j: b for j, b in bonemaps.detect([b.name for b in rig.data.bones]).bone_map.items() if j != "neck"}
    report = bake.bake(scene, bake.BakeRequest("rig", "song", model_dir, frame_start=1, frame_end=25,
                                               bone_map=edited, action_name="Touched up"))
    assert report.preset == "rigify"
    assert _fcurves(rig).find('pose.bones["thigh_parent.R"]["IK_FK"]') is not None


def _fcurves(obj):
    ad = obj.animation_data
    return ad.action.layers[0].strips[0].channelbag(ad.action_slot).fcurves
