"""Operators: thin wrappers over bake.py and bonemaps. Every failure reports and returns CANCELLED."""
from __future__ import annotations

import threading
from pathlib import Path

import bpy

from ..core.rig import bonemaps
from ..core.choreography.lstm import Cancelled
from . import bake, retarget
from .preferences import user_bone_maps_folder


def request_from_settings(context) -> bake.BakeRequest:
    """The bake request described by the panel's settings (scene.dance)."""
    s = context.scene.dance
    if s.armature is None:
        raise bake.BakeError("pick the character's armature in the Dance panel")
    uses_model = s.method in bake.USES_MODEL
    if uses_model and not s.model:
        raise bake.BakeError("no dance model found: set a models folder in the add-on preferences, "
                             "or choose the Action graph method")
    req = bake.BakeRequest(armature_name=s.armature.name, strip_name=s.strip,
                           model_dir=Path(s.model) if uses_model else None, seed=s.seed, method=s.method,
                           floor_radius=s.floor_radius, bone_map=s.bone_map_dict(), push_to_nla=s.push_to_nla,
                           floor=s.floor, root_motion=s.root_motion, feet=s.feet)
    if not s.use_strip_range:
        req.frame_start, req.frame_end = s.frame_start, s.frame_end + 1
    return req


def _describe(report: bake.BakeReport) -> str:
    """The report as "; "-separated parts (the panel shows one a line): the method and what made the
    dance first, then the action, the clips the moves came from, and the notes."""
    text = (f"'{report.action}': frames {report.frames[0]}-{report.frames[1]}, {report.bones} bones "
            f"({report.preset} bones), {report.tempo:.0f} BPM, {report.beats} beats, "
            f"beat alignment {report.beat_alignment:.2f}")
    parts = [report.summary or report.method, text]
    if report.clips:
        parts.append(clips_line(report.clips))
    return "; ".join([*parts, *report.messages])


def clips_line(clips: tuple[tuple[str, int], ...], top: int = 3) -> str:
    """"moves from cmu-salsa/60_02 (23), cmu-salsa/61_01 (12), cmu-modern/005_14 (9) and 11 more clips"."""
    shown = ", ".join(f"{clip} ({n})" for clip, n in clips[:top])
    rest = len(clips) - top
    return f"moves from {shown}" + (f" and {rest} more clip{'s' if rest > 1 else ''}" if rest > 0 else "")


class DANCE_OT_bake(bpy.types.Operator):
    """Generate a dance to the song and key it onto the armature as a new action"""
    bl_idname = "dance.bake"
    bl_label = "Bake Dance"
    bl_options = {"REGISTER", "UNDO"}

    _timer = None
    _thread: threading.Thread | None = None

    @classmethod
    def poll(cls, context):
        s = getattr(context.scene, "dance", None)
        return s is not None and s.armature is not None

    def execute(self, context):
        """Bake in one go (scripts, the command line, background mode)."""
        try:
            report = bake.bake(context.scene, request_from_settings(context))
        except bake.BakeError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        return self._done(context, report)

    def invoke(self, context, event):
        if bpy.app.background or context.window is None:
            return self.execute(context)
        try:
            self._plan = bake.plan_bake(context.scene, request_from_settings(context))
        except bake.BakeError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self._cancel = False
        self._progress = (0, self._plan.frame_count)
        self._outcome: dict = {}
        self._thread = threading.Thread(target=self._compute, daemon=True)
        self._thread.start()
        wm = context.window_manager
        wm.progress_begin(0, 100)
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def _compute(self) -> None:
        """Worker thread: no bpy access here, only the plan's arrays."""
        def progress(done, total):
            self._progress = (done, total)
            return not self._cancel
        try:
            self._outcome["result"] = bake.compute_bake(self._plan, progress)
        except Cancelled:
            self._outcome["cancelled"] = True
        except Exception as e:  # reported in the main thread; nothing in the file was changed
            self._outcome["error"] = e

    def modal(self, context, event):
        if event.type == "ESC":
            self._cancel = True
            return {"RUNNING_MODAL"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        done, total = self._progress
        context.window_manager.progress_update(int(100 * done / max(total, 1)))
        context.workspace.status_text_set(f"Dancing: {int(100 * done / max(total, 1))} % (Esc to cancel)")
        if self._thread.is_alive():
            return {"RUNNING_MODAL"}
        self._cleanup(context)
        if self._outcome.get("cancelled"):
            self.report({"WARNING"}, "Bake cancelled; nothing was changed")
            return {"CANCELLED"}
        if "error" in self._outcome:
            self.report({"ERROR"}, f"Bake failed, nothing was changed: {self._outcome['error']}")
            return {"CANCELLED"}
        return self._done(context, bake.apply_bake(self._plan, self._outcome["result"]))

    def _cleanup(self, context) -> None:
        wm = context.window_manager
        wm.event_timer_remove(self._timer)
        wm.progress_end()
        context.workspace.status_text_set(None)

    def _done(self, context, report: bake.BakeReport):
        text = _describe(report)
        context.scene.dance.last_result = text
        self.report({"INFO"}, f"Baked by {text}")
        return {"FINISHED"}


class DANCE_OT_detect_bones(bpy.types.Operator):
    """Fill the bone map from the armature's bone names (a preset is detected)"""
    bl_idname = "dance.detect_bones"
    bl_label = "Detect Bones"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        s = getattr(context.scene, "dance", None)
        return s is not None and s.armature is not None

    def execute(self, context):
        s = context.scene.dance
        names = retarget.rig_rest(s.armature).names
        try:
            det = bonemaps.detect(names, bonemaps.load_user_presets(user_bone_maps_folder()))
        except bonemaps.BoneMapError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        s.fill_bone_map(det.bone_map)
        s.show_bone_map = True
        missing = [j for j in bonemaps.OPTIONAL_JOINTS if j not in det.bone_map]
        note = f"; not mapped (optional): {', '.join(missing)}" if missing else ""
        label = bonemaps.PRESETS[det.preset].label if det.preset in bonemaps.PRESETS else det.preset
        self.report({"INFO"}, f"Bone map: {label}{note}")
        return {"FINISHED"}


class DANCE_OT_clear_bones(bpy.types.Operator):
    """Forget the edited bone map: the bake detects the bones again"""
    bl_idname = "dance.clear_bones"
    bl_label = "Clear Bone Map"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        context.scene.dance.bone_map.clear()
        return {"FINISHED"}


class DANCE_OT_save_bone_map(bpy.types.Operator):
    """Save the edited bone map as a preset: rigs with these bone names are then detected"""
    bl_idname = "dance.save_bone_map"
    bl_label = "Save Bone Map Preset"

    name: bpy.props.StringProperty(name="Preset Name", default="My Rig")

    @classmethod
    def poll(cls, context):
        s = getattr(context.scene, "dance", None)
        return s is not None and s.armature is not None and len(s.bone_map) > 0

    def invoke(self, context, event):
        return context.window_manager.invoke_props_dialog(self)

    def execute(self, context):
        s = context.scene.dance
        mapping = s.bone_map_dict() or {}
        try:
            bonemaps.validate(mapping, retarget.rig_rest(s.armature).names)
            path = bonemaps.save_user_preset(user_bone_maps_folder(create=True), self.name, mapping)
        except bonemaps.BoneMapError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Saved bone-map preset '{self.name}' to {path}")
        return {"FINISHED"}


CLASSES = (DANCE_OT_bake, DANCE_OT_detect_bones, DANCE_OT_clear_bones, DANCE_OT_save_bone_map)
