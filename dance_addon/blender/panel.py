"""The "Dance" tab in the 3D Viewport's sidebar."""
from __future__ import annotations

from pathlib import Path

import bpy

from ..core.choreography.model_folders import MANIFEST
from ..core.rig.bonemaps import REQUIRED_JOINTS
from . import operators
from .bake import USES_GRAPH, USES_MODEL, BakeError, recipe_of, rig_dances
from .strips import sound_strips


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
        song = layout.row()
        song.alert = bool(s.strip) and s.strip not in {st.name for st in sound_strips(context.scene)}
        song.prop(s, "strip", icon="SOUND")
        layout.prop(s, "armature")
        layout.prop(s, "method")
        if s.method in USES_MODEL:
            row = layout.row(align=True)
            row.alert = bool(s.model) and not (Path(bpy.path.abspath(s.model)) / MANIFEST).is_file()
            row.prop(s, "model")
            row.operator("dance.refresh_models", icon="FILE_REFRESH", text="")
        layout.prop(s, "seed")
        layout.prop(s, "variations")
        if s.method in USES_GRAPH:
            layout.prop(s, "floor_radius")
            layout.prop(s, "markers")
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
        self.draw_dances(context, layout)
        if s.last_result:
            box = layout.box()
            box.label(text="Last bake:")
            for part in s.last_result.split("; "):
                box.label(text=part)

    @staticmethod
    def draw_dances(context, layout) -> None:
        """The armature's dances, each with its beat alignment (Bailando's Beat Align Score against the
        song's beats, 0-1: the share of the dance's kinematic beats near a music beat), one click to
        make one active; Re-roll under them."""
        s = context.scene.dance
        dances = rig_dances(s.armature)
        if not dances:
            return
        box = layout.box()
        box.label(text="Dances (beat alignment)")
        active = s.armature.animation_data.action if s.armature.animation_data else None
        for action in dances:
            row = box.row(align=True)
            on = action == active
            op = row.operator("dance.use_dance", text=action.name, depress=on,
                              icon="RADIOBUT_ON" if on else "RADIOBUT_OFF")
            op.action = action.name
            found = recipe_of(action)
            row.label(text=f"{found['beat_alignment']:.2f}" if found else "")
        row = box.row(align=True)
        row.prop(s, "reroll_seed", text="Seed")
        row.operator("dance.reroll", icon="FILE_REFRESH")
        try:
            first, last, where = operators.reroll_range(context.scene)
            box.label(text=f"Re-roll: frames {first}-{last} ({where})")
        except BakeError:
            box.label(text="Re-roll: set a preview range or select two markers")


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
