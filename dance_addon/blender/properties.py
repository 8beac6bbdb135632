"""The add-on's state: one PropertyGroup on the scene (scene.dance), nothing else hung on Blender types."""
from __future__ import annotations

from pathlib import Path

import bpy

from ..core.choreography import compose as compose_mod
from ..core.choreography import model_folders as models_mod
from ..core.motion.skeleton import JOINT_NAMES
from . import strips
from .bake import MAX_VARIATIONS, BakeError
from .preferences import ADDON_PACKAGE

# The picks are stored by name, never by a position in a list: the song as the strip's name, the
# model as its folder's path (an armature is an object pointer, which follows renames). Adding,
# removing or renaming other strips leaves the pick alone; a pick that has gone is said so at
# bake time (picked_strip_name, picked_model_dir) and drawn in red by the panel.


def _strip_candidates(self, context, edit_text):
    """The scene's sound strips for the Song field's search: (name, file, channel and frames)."""
    for s in strips.sound_strips(self.id_data):
        file = bpy.path.basename(s.sound.filepath) if s.sound else ""
        yield s.name, f"{file}, channel {s.channel}, frames {s.frame_final_start}-{s.frame_final_end - 1}"


def picked_strip_name(scene: bpy.types.Scene) -> str:
    """The name of the song to bake: the picked strip, or the scene's only sound strip when none is
    picked. BakeError (what to do) when the pick has gone or there is nothing to pick."""
    picked = scene.dance.strip
    names = [s.name for s in strips.sound_strips(scene)]
    if picked:
        if picked not in names:
            raise BakeError(f"the song '{picked}' is gone: the scene has no sound strip of that name any more "
                            "(renamed or deleted); pick the song again in the Dance panel")
        return picked
    if len(names) == 1:
        return names[0]
    if not names:
        raise BakeError("the scene has no sound strip; add the song in the Video Sequencer (Add > Sound)")
    raise BakeError(f"the scene has {len(names)} sound strips; pick the song in the Dance panel")


def extra_models_folder(context) -> Path | None:
    addon = context.preferences.addons.get(ADDON_PACKAGE) if context else None
    folder = addon.preferences.models_folder if addon and addon.preferences else ""
    return Path(bpy.path.abspath(folder)) if folder else None


_MODEL_FOLDERS: list[Path] | None = None      # the model list, scanned once and on refresh_models


def model_folders(context, refresh: bool = False) -> list[Path]:
    """Shipped models first, then those in the folder set in the add-on preferences (scanned the
    first time and when refresh is asked for, not on every redraw)."""
    global _MODEL_FOLDERS
    if _MODEL_FOLDERS is None or refresh:
        _MODEL_FOLDERS = models_mod.shipped_model_dirs() + models_mod.model_dirs_in(extra_models_folder(context))
    return _MODEL_FOLDERS


def forget_model_folders() -> None:
    """Scan the disk again the next time the model list is asked for."""
    global _MODEL_FOLDERS
    _MODEL_FOLDERS = None


def _model_candidates(self, context, edit_text):
    """The model folders for the Model field's search: (path, folder name)."""
    for folder in model_folders(context):
        yield str(folder), folder.name


def picked_model_dir(scene: bpy.types.Scene) -> Path | None:
    """The picked model's folder (None: the shipped model). BakeError when it has gone."""
    picked = scene.dance.model
    if not picked:
        return None
    folder = Path(bpy.path.abspath(picked))
    if not (folder / models_mod.MANIFEST).is_file():
        raise BakeError(f"the model folder '{picked}' is gone or holds no model ({models_mod.MANIFEST} is missing); "
                        "pick another model in the Dance panel (Refresh updates the list)")
    return folder


# (identifier, name, description): the name is the label's part before its colon ("Action graph")
METHOD_ITEMS = [(m, compose_mod.METHOD_LABELS[m].split(":")[0], compose_mod.METHOD_LABELS[m])
                for m in compose_mod.METHODS]


def _is_armature(self, obj) -> bool:
    return obj.type == "ARMATURE"


class DANCE_PG_bone(bpy.types.PropertyGroup):
    joint: bpy.props.StringProperty(name="Joint", description="Canonical joint")
    bone: bpy.props.StringProperty(name="Bone", description="The rig's bone that plays this joint (empty: none)")


class DANCE_PG_settings(bpy.types.PropertyGroup):
    strip: bpy.props.StringProperty(name="Song", description="The sound strip to dance to, by name (empty: the "
                                    "scene's only sound strip)", search=_strip_candidates)
    armature: bpy.props.PointerProperty(name="Armature", description="The character's armature",
                                        type=bpy.types.Object, poll=_is_armature)
    method: bpy.props.EnumProperty(name="Method", description="How the dance is made", items=METHOD_ITEMS,
                                   default=compose_mod.DEFAULT_METHOD)
    model: bpy.props.StringProperty(name="Model", description="The LSTM dance generator's folder (LSTM and Guided "
                                    "methods; empty: the shipped model)", search=_model_candidates)
    seed: bpy.props.IntProperty(name="Variation", description="Seed: picks the dance's moves (and the LSTM's style) "
                                "and its variation; the same seed gives the same dance", default=0, min=0)
    variations: bpy.props.IntProperty(name="Variations", description="How many dances of the song to make in one "
                                      "pass (seeds Variation, Variation + 1, ...): each is its own action, the first "
                                      "active, the others listed below to switch to", default=1, min=1,
                                      max=MAX_VARIATIONS)
    markers: bpy.props.BoolProperty(name="Markers", default=False,
                                    description="Put a timeline marker at each move's first frame, named after its "
                                    "source clip (Action graph and Guided); a new bake replaces the add-on's markers, "
                                    "never yours. Select two of them to re-roll one move")
    reroll_seed: bpy.props.IntProperty(name="Re-roll Seed", description="The seed of the new stretch Re-roll makes; "
                                       "it moves on after each re-roll, so pressing again gives another one",
                                       default=1, min=0)
    # metres of the canonical (human-sized) dancer, scaled with the rig like the root path: not a scene length
    floor_radius: bpy.props.FloatProperty(name="Floor Radius", description="Metres: the dancer travels within "
                                          "this radius of where it starts (for a human-sized dancer; scaled with "
                                          "the rig). Action graph and Guided methods", default=compose_mod.FLOOR_RADIUS,
                                          min=0.1, soft_max=10.0, precision=2)
    use_strip_range: bpy.props.BoolProperty(name="Whole Strip", default=True,
                                            description="Dance over the frames where the strip plays")
    frame_start: bpy.props.IntProperty(name="Start", default=1)
    frame_end: bpy.props.IntProperty(name="End", default=250, description="Last frame of the dance")
    push_to_nla: bpy.props.BoolProperty(
        name="Push to NLA", default=False,
        description="Put the dance on a new NLA track and leave the active action alone")
    floor: bpy.props.EnumProperty(name="Floor", default="ground", items=[
        ("ground", "On the Ground", "Raise or lower the root so the lowest foot is on the ground on every frame"),
        ("keep", "As Danced", "Key the root at the dance's own heights, jumps and crouches as danced (the "
                              "action graph's mocap; the LSTM's dance is on the ground either way)")])
    root_motion: bpy.props.EnumProperty(name="Root", default="full", items=[
        ("full", "Move", "The root travels the floor as the dance does"),
        ("in_place", "In Place", "The root stays over where it starts; its height follows Floor"),
        ("orientation", "Orientation Only", "Only the root's turning is keyed: it neither travels nor rises "
                                            "or falls")])
    feet: bpy.props.EnumProperty(name="Feet", default="lock", items=[
        ("lock", "Feet Locked",
         "Hold each planted foot where it lands (two-bone IK on the legs), so feet do not slide"),
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
