"""The "Dance" tab in the 3D Viewport's sidebar."""
from __future__ import annotations

import bpy

from ..core.rig.bonemaps import REQUIRED_JOINTS
from .bake import USES_GRAPH, USES_MODEL


class DANCE_PT_main(bpy.types.Panel):
    bl_label = "Music to Dance"
    bl_idname = "DANCE_PT_main"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Dance"

    def draw(self, context):
        s = context.scene.dance
        layout = self.layout
        layout.use_property_split = True
        layout.use_property_decorate = False
        layout.prop(s, "strip")
        layout.prop(s, "armature")
        layout.prop(s, "method")
        if s.method in USES_MODEL:
            layout.prop(s, "model")
        layout.prop(s, "seed")
        if s.method in USES_GRAPH:
            layout.prop(s, "floor_radius")
        col = layout.column(heading="Frames")
        col.prop(s, "use_strip_range")
        sub = col.column(align=True)
        sub.enabled = not s.use_strip_range
        sub.prop(s, "frame_start")
        sub.prop(s, "frame_end")
        layout.prop(s, "floor")
        layout.prop(s, "root_motion")
        layout.prop(s, "feet")
        layout.prop(s, "push_to_nla")
        layout.separator()
        layout.operator("dance.bake", icon="SEQUENCE")
        if s.last_result:
            box = layout.box()
            box.label(text="Last bake:")
            for part in s.last_result.split("; "):
                box.label(text=part)


class DANCE_PT_bone_map(bpy.types.Panel):
    bl_label = "Bone Map"
    bl_idname = "DANCE_PT_bone_map"
    bl_parent_id = "DANCE_PT_main"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Dance"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        s = context.scene.dance
        layout = self.layout
        row = layout.row(align=True)
        row.operator("dance.detect_bones", icon="BONE_DATA")
        row.operator("dance.save_bone_map", icon="FILE_TICK", text="")
        row.operator("dance.clear_bones", icon="X", text="")
        if not s.bone_map:
            layout.label(text="Detected at bake time; Detect Bones to edit it")
            return
        arm = s.armature.data if s.armature else None
        for item in s.bone_map:
            row = layout.row()
            label = item.joint + (" *" if item.joint in REQUIRED_JOINTS else "")
            if arm is not None:
                row.prop_search(item, "bone", arm, "bones", text=label)
            else:
                row.prop(item, "bone", text=label)


CLASSES = (DANCE_PT_main, DANCE_PT_bone_map)
