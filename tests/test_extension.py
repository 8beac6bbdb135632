"""The extension enables from the source tree the way Blender installs extensions."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXT_ID = "dance_addon"
MODULE = f"bl_ext.user_default.{EXT_ID}"


@pytest.fixture
def linked_extension(bpy_module, blender_user_resources):
    """Link the source folder into the user extension repository, as Blender's fast path allows."""
    repo_dir = Path(bpy_module.utils.user_resource("EXTENSIONS", path="user_default", create=True))
    assert str(repo_dir).startswith(str(blender_user_resources))
    link = repo_dir / EXT_ID
    if not link.exists():
        os.symlink(REPO / "dance_addon", link, target_is_directory=True)
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
