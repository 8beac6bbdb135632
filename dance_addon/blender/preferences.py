"""Add-on preferences: where to look for extra dance models."""
from __future__ import annotations

from pathlib import Path

import bpy

# The add-on's package name, whatever Blender installed it as (e.g. bl_ext.user_default.dance_addon).
ADDON_PACKAGE = __package__.rpartition(".")[0]


def user_bone_maps_folder(create: bool = False) -> Path:
    """Where the user's bone-map presets live: the extension's user folder (kept across updates),
    or Blender's config folder when the add-on runs as a plain module (command line).

    create: make the folder if it is missing; OSError when it cannot be (Blender's own helpers
    would return "" then, which is the current directory)."""
    if ADDON_PACKAGE.startswith("bl_ext."):
        folder = Path(bpy.utils.extension_path_user(ADDON_PACKAGE, path="bone_maps"))
    else:
        folder = Path(bpy.utils.user_resource("CONFIG", path="dance_addon/bone_maps"))
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    return folder


def _models_folder_changed(self, context) -> None:
    from .properties import forget_model_folders  # properties imports this module

    forget_model_folders()


class DANCE_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_PACKAGE

    models_folder: bpy.props.StringProperty(
        name="Extra models folder",
        description="A folder of dance models (.onnx) to offer beside the shipped ones",
        subtype="DIR_PATH",
        default="",
        update=_models_folder_changed,
    )

    def draw(self, context):
        self.layout.prop(self, "models_folder")


CLASSES = (DANCE_AP_preferences,)
