"""The extension enables from the source tree the way Blender installs extensions."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from dance_addon.core.choreography.model_folders import shipped_model_dirs
from tools.build_extension import EXT_ID, link_source

MODULE = f"bl_ext.user_default.{EXT_ID}"


@pytest.fixture
def linked_extension(bpy_module, blender_user_resources):
    """Link the source tree into the user extension repository, as Blender's fast path allows:
    the package's files and the manifest from the top of the repository, side by side."""
    repo_dir = Path(bpy_module.utils.user_resource("EXTENSIONS", path="user_default", create=True))
    assert str(repo_dir).startswith(str(blender_user_resources))
    link_source(repo_dir)
    bpy_module.ops.extensions.repo_refresh_all()
    yield bpy_module
    import addon_utils

    if MODULE in bpy_module.context.preferences.addons:
        addon_utils.disable(MODULE)


def _registered(bpy, classes=()):
    """Names of our classes that Blender holds registered: by name in bpy.types and by the class objects."""
    names = {name for name in dir(bpy.types) if name.startswith("DANCE_")}
    names |= {cls.__name__ for cls in classes if cls.is_registered}
    return sorted(names)


def test_enable_disable_twice_leaves_nothing_registered(linked_extension):
    bpy = linked_extension
    import addon_utils

    assert _registered(bpy) == []
    for _ in range(2):
        addon_utils.enable(MODULE, default_set=True, handle_error=None)
        assert MODULE in bpy.context.preferences.addons
        assert MODULE in sys.modules
        classes = tuple(sys.modules[f"{MODULE}.blender"]._classes())
        assert len(classes) >= 1
        assert _registered(bpy, classes) == sorted(cls.__name__ for cls in classes)
        prefs = bpy.context.preferences.addons[MODULE].preferences
        assert prefs is not None and hasattr(prefs, "models_folder")
        addon_utils.disable(MODULE, default_set=True, handle_error=None)
        assert MODULE not in bpy.context.preferences.addons
        assert _registered(bpy, classes) == []
        assert not hasattr(bpy.types.Scene, "dance")


def test_panel_settings_and_operators_bake(linked_extension, music_tracks, tmp_path, blender_user_resources):
    """The operators as a user drives them: detect the bones, edit the map, bake, read the result."""
    bpy = linked_extension
    import addon_utils

    from test_bake import tiny_model_dir

    addon_utils.enable(MODULE, default_set=True, handle_error=None)
    character = importlib.import_module(f"{MODULE}.blender.character")
    scene = bpy.context.scene
    scene.sequence_editor_create().strips.new_sound("song", str(music_tracks[1]), channel=1, frame_start=1)
    arm, _ = character.build_dancer("Dancer")
    s = scene.dance
    assert s.strip == ""                            # nothing picked: the scene's only sound strip is baked
    assert not bpy.ops.dance.bake.poll()            # no armature picked yet
    s.armature = arm
    model = tiny_model_dir(tmp_path)
    bpy.context.preferences.addons[MODULE].preferences.models_folder = str(model.parent)
    properties = importlib.import_module(f"{MODULE}.blender.properties")
    offered = properties.model_folders(bpy.context)
    assert offered[0] == shipped_model_dirs()[0]          # the shipped model comes first ...
    assert model in offered                               # ... the user's folder is offered too
    assert s.model == ""                                  # nothing picked: the shipped model
    s.model = str(model)
    assert s.method == "graph"                             # the default method; this test bakes the LSTM
    s.method = "lstm"
    assert bpy.ops.dance.detect_bones() == {"FINISHED"}
    assert {i.joint: i.bone for i in s.bone_map}["left_elbow"] == "left_elbow"
    # the user unmaps an optional bone: it is not keyed
    next(i for i in s.bone_map if i.joint == "left_collar").bone = ""
    assert bpy.ops.dance.bake() == {"FINISHED"}
    action = arm.animation_data.action
    assert action.name == "Dance - song"
    paths = {fc.data_path for fc in action.layers[0].strips[0].channelbag(action.slots[0]).fcurves}
    assert 'pose.bones["left_collar"].rotation_quaternion' not in paths
    assert 'pose.bones["left_elbow"].rotation_quaternion' in paths
    assert "Dance - song" in s.last_result and "BPM" in s.last_result and "beat alignment" in s.last_result
    assert "style style 0" in s.last_result                 # the tiny model has one style, named by default
    # the edited map saved as a preset is found again by detection
    assert bpy.ops.dance.save_bone_map(name="No collar") == {"FINISHED"}
    bonemaps = importlib.import_module(f"{MODULE}.core.rig.bonemaps")
    prefs = importlib.import_module(f"{MODULE}.blender.preferences")
    presets = bonemaps.load_user_presets(prefs.user_bone_maps_folder())
    assert presets["user:No collar"].candidates["left_collar"] == ()
    assert str(prefs.user_bone_maps_folder()).startswith(str(blender_user_resources))
    for saved in prefs.user_bone_maps_folder().glob("*.json"):
        saved.unlink()                              # keep other tests' detection as it was
    # a bad edit is refused with the bone named, and nothing changes
    next(i for i in s.bone_map if i.joint == "head").bone = "nope"
    with pytest.raises(RuntimeError, match="head -> 'nope'"):
        bpy.ops.dance.bake()
    assert len(bpy.data.actions) == 1
