"""The add-on's state: one PropertyGroup on the scene (scene.dance), nothing else hung on Blender types."""
from __future__ import annotations

from pathlib import Path

import bpy

from ..core.choreography import compose as compose_mod
from ..core.choreography import model_folders as models_mod
from ..core.motion.skeleton import JOINT_NAMES
from . import strips
from .preferences import ADDON_PACKAGE

# Blender keeps only pointers into the strings of dynamic enum items: keep them alive here.
_ENUM_CACHE: dict[str, list] = {}


def _strip_items(self, context):
    scene = context.scene if context else None
    items = [(s.name, s.name, f"{bpy.path.basename(s.sound.filepath) if s.sound else ''}, channel {s.channel}, "
              f"frames {s.frame_final_start}-{s.frame_final_end - 1}")
             for s in (strips.sound_strips(scene) if scene else [])]
    _ENUM_CACHE["strips"] = items or [("", "(no sound strips)", "Add a song in the Video Sequencer: Add > Sound")]
    return _ENUM_CACHE["strips"]


def extra_models_folder(context) -> Path | None:
    addon = context.preferences.addons.get(ADDON_PACKAGE) if context else None
    folder = addon.preferences.models_folder if addon and addon.preferences else ""
    return Path(bpy.path.abspath(folder)) if folder else None


def model_folders(context) -> list[Path]:
    """Shipped models first, then those in the folder set in the add-on preferences."""
    return models_mod.shipped_model_dirs() + models_mod.model_dirs_in(extra_models_folder(context))


def _model_items(self, context):
    items = [(str(p), p.name, str(p)) for p in model_folders(context)]
    _ENUM_CACHE["models"] = items or [("", "(no models)", "No model found: set a models folder in the preferences")]
    return _ENUM_CACHE["models"]


# (identifier, name, description): the name is the label's part before its colon ("Action graph")
METHOD_ITEMS = [(m, compose_mod.METHOD_LABELS[m].split(":")[0], compose_mod.METHOD_LABELS[m])
                for m in compose_mod.METHODS]


def _is_armature(self, obj) -> bool:
    return obj.type == "ARMATURE"


class DANCE_PG_bone(bpy.types.PropertyGroup):
    joint: bpy.props.StringProperty(name="Joint", description="Canonical joint")
    bone: bpy.props.StringProperty(name="Bone", description="The rig's bone that plays this joint (empty: none)")


class DANCE_PG_settings(bpy.types.PropertyGroup):
    strip: bpy.props.EnumProperty(name="Song", description="The sound strip to dance to", items=_strip_items)
    armature: bpy.props.PointerProperty(name="Armature", description="The character's armature",
                                        type=bpy.types.Object, poll=_is_armature)
    method: bpy.props.EnumProperty(name="Method", description="How the dance is made", items=METHOD_ITEMS,
                                   default=compose_mod.DEFAULT_METHOD)
    model: bpy.props.EnumProperty(name="Model", description="The LSTM dance generator (LSTM and Guided methods)",
                                  items=_model_items)
    seed: bpy.props.IntProperty(name="Variation", description="Seed: picks the dance's moves (and the LSTM's style) "
                                "and its variation; the same seed gives the same dance", default=0, min=0)
    # metres of the canonical (human-sized) dancer, scaled with the rig like the root path: not a scene length
    floor_radius: bpy.props.FloatProperty(name="Floor Radius", description="Metres: the dancer travels within "
                                          "this radius of where it starts (for a human-sized dancer; scaled with "
                                          "the rig). Action graph and Guided methods", default=compose_mod.FLOOR_RADIUS,
                                          min=0.1, soft_max=10.0, precision=2)
    use_strip_range: bpy.props.BoolProperty(name="Whole Strip", default=True,
                                            description="Dance over the frames where the strip plays")
    frame_start: bpy.props.IntProperty(name="Start", default=1)
    frame_end: bpy.props.IntProperty(name="End", default=250, description="Last frame of the dance")
    push_to_nla: bpy.props.BoolProperty(name="Push to NLA", default=False,
                                        description="Put the dance on a new NLA track and leave the active action alone")
    floor: bpy.props.EnumProperty(name="Floor", default="ground", items=[
        ("ground", "On the Ground", "Keep the lowest foot on the ground plane"),
        ("keep", "As Generated", "Use the generated heights")])
    root_motion: bpy.props.EnumProperty(name="Root", default="full", items=[
        ("full", "Move", "Move the root with the dance"),
        ("in_place", "In Place", "Dance on the spot (heights still follow the floor)"),
        ("orientation", "Orientation Only", "Turn the root but never move it")])
    feet: bpy.props.EnumProperty(name="Feet", default="lock", items=[
        ("lock", "Feet Locked", "Hold each planted foot where it lands (two-bone IK on the legs), so feet do not slide"),
        ("off", "Off", "Key the legs as the dance makes them")])
    bone_map: bpy.props.CollectionProperty(type=DANCE_PG_bone)
    show_bone_map: bpy.props.BoolProperty(name="Bone Map", default=False)
    last_result: bpy.props.StringProperty(name="Last Bake", default="")

    def bone_map_dict(self) -> dict[str, str] | None:
        """The edited map, or None when it is empty (the bake then detects it)."""
        mapping = {item.joint: item.bone for item in self.bone_map if item.bone}
        return mapping or None

    def fill_bone_map(self, mapping: dict[str, str]) -> None:
        self.bone_map.clear()
        for joint in JOINT_NAMES:
            item = self.bone_map.add()
            item.joint = joint
            item.bone = mapping.get(joint, "")


CLASSES = (DANCE_PG_bone, DANCE_PG_settings)


def register_properties() -> None:
    bpy.types.Scene.dance = bpy.props.PointerProperty(type=DANCE_PG_settings)


def unregister_properties() -> None:
    del bpy.types.Scene.dance
