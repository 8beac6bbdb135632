"""Add-on preferences: where to look for extra dance models."""
from __future__ import annotations

from pathlib import Path

import bpy

# The add-on's package name, whatever Blender installed it as (e.g. bl_ext.user_default.dance_addon).
ADDON_PACKAGE = __package__.rpartition(".")[0]


def user_bone_maps_folder(create: bool = False) -> Path:
    """Where the user's bone-map presets live: the extension's user folder (kept across updates),
    or Blender's config folder when the add-on runs as a plain module (command line)."""
    if ADDON_PACKAGE.startswith("bl_ext."):
        return Path(bpy.utils.extension_path_user(ADDON_PACKAGE, path="bone_maps", create=create))
    return Path(bpy.utils.user_resource("CONFIG", path="dance_addon/bone_maps", create=create))


class DANCE_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_PACKAGE

    models_folder: bpy.props.StringProperty(
        name="Extra models folder",
        description="A folder of dance models (.onnx) to offer beside the shipped ones",
        subtype="DIR_PATH",
        default="",
    )

    def draw(self, context):
        self.layout.prop(self, "models_folder")


CLASSES = (DANCE_AP_preferences,)
