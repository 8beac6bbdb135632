"""Add-on preferences: where to look for extra dance models."""
from __future__ import annotations

import bpy

# The add-on's package name, whatever Blender installed it as (e.g. bl_ext.user_default.dance_addon).
ADDON_PACKAGE = __package__.rpartition(".")[0]


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
