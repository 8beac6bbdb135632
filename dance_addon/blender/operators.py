"""Operators: thin wrappers over bake.py, bake_job.py and bonemaps. Every failure reports one line
saying what is wrong and what to do, returns CANCELLED and leaves the file as it was."""
from __future__ import annotations

import bpy

from ..core.rig import bonemaps
from ..core.rig.posing import RigError
from . import bake, bake_job, properties, reroll, rig_io
from .preferences import user_bone_maps_folder


def request_from_settings(context) -> bake.BakeRequest:
    """The bake request described by the panel's settings (scene.dance); BakeError when a pick is
    missing or has gone."""
    scene = context.scene
    s = scene.dance
    if s.armature is None:
        raise bake.BakeError("pick the character's armature in the Dance panel")
    uses_model = s.method in bake.USES_MODEL
    req = bake.BakeRequest(armature_name=s.armature.name, strip_name=properties.picked_strip_name(scene),
                           model_dir=properties.picked_model_dir(scene) if uses_model else None, seed=s.seed,
                           method=s.method, floor_radius=s.floor_radius, bone_map=s.bone_map_dict(),
                           push_to_nla=s.push_to_nla, floor=s.floor, root_motion=s.root_motion, feet=s.feet,
                           variations=s.variations, markers=s.markers and s.method in bake.USES_GRAPH)
    if not s.use_strip_range:
        req.frame_start, req.frame_end = s.frame_start, s.frame_end + 1
    return req


def reroll_range(scene: bpy.types.Scene) -> tuple[int, int, str]:
    """The frames the panel's Re-roll changes (first, last) and where they come from: from the first
    of exactly two selected timeline markers to the frame before the second (one move, when they
    are the add-on's move markers), else the scene's preview range. BakeError when neither is set."""
    picked = sorted(m.frame for m in scene.timeline_markers if m.select)
    if len(picked) == 2 and picked[1] - picked[0] >= 2:
        return picked[0], picked[1] - 1, "between the selected markers"
    if scene.use_preview_range:
        return scene.frame_preview_start, scene.frame_preview_end, "the preview range"
    raise bake.BakeError("set a preview range (Timeline: View > Set Preview Range, Ctrl P) or select two markers "
                         "to say which frames to re-roll")


def reroll_request_from_settings(context) -> reroll.RerollRequest:
    """The re-roll the panel describes: the armature's active dance, over reroll_range, with the
    panel's re-roll seed (BakeError when a pick or the range is missing)."""
    s = context.scene.dance
    if s.armature is None:
        raise bake.BakeError("pick the character's armature in the Dance panel")
    first, last, _ = reroll_range(context.scene)
    return reroll.RerollRequest(s.armature.name, first, last, s.reroll_seed)


def start_bake(context) -> bake_job.BakeJob:
    """The interactive bake's start: read the settings and the file (BakeError), register the job as
    the one baking onto its armature, and start its worker."""
    return _start(bake_job.BakeJob(context.scene, request_from_settings(context)))


def start_reroll(context) -> bake_job.RerollJob:
    """The interactive re-roll's start, as start_bake."""
    return _start(bake_job.RerollJob(context.scene, reroll_request_from_settings(context)))


def _start(job: bake_job.BakeJob) -> bake_job.BakeJob:
    bake_job.begin(job)
    job.start()
    return job


def bake_step(job: bake_job.BakeJob, context, event) -> tuple[set[str], tuple[set[str], str] | None]:
    """One step of the running bake for an event (the modal operator's logic): Esc cancels; each
    timer tick shows the progress and, once the dance is made, applies it. Returns the operator's
    status and the report to give, if any ((level, message))."""
    if event.type == "ESC" and event.value == "PRESS":
        stop_bake(job)
        return {"CANCELLED"}, ({"WARNING"}, f"{job.kind.capitalize()} cancelled; nothing was changed")
    if event.type != "TIMER":
        return {"PASS_THROUGH"}, None
    if not job.finished.is_set():
        context.window_manager.progress_update(job.percent)
        if context.workspace is not None:
            verb = "Dancing onto" if job.kind == "bake" else "Re-rolling the dance of"
            context.workspace.status_text_set(f"{verb} {job.armature_name}: {job.stage}, {job.percent} % "
                                              "(Esc to cancel)")
        return {"RUNNING_MODAL"}, None
    bake_job.end(job)
    try:
        report = job.apply()
    except bake.BakeError as e:
        return {"CANCELLED"}, ({"ERROR"}, f"{job.kind.capitalize()} failed, nothing was changed: {e}")
    return {"FINISHED"}, ({"INFO"}, f"{job.done} {job.describe(report)}")


def stop_bake(job: bake_job.BakeJob | None) -> None:
    """Stop a running bake: its worker stops at its next progress check, the job never applies, and
    the armature is free for another bake."""
    if job is not None:
        job.cancel()
        bake_job.end(job)


def _running_refusal(cls, obj) -> bool:
    """poll's part shared by Bake and Re-roll: False (with the message) while a job runs on the rig."""
    job = bake_job.running_on(obj)
    if job is not None:
        cls.poll_message_set(f"A dance is already being baked or re-rolled on '{obj.name}' ({job.percent} %); "
                             "wait for it, or press Esc to cancel it")
        return True
    return False


class _JobOperator:
    """The interactive part of Bake and Re-roll: invoke starts a job (bake_job.py) in a worker thread,
    modal() steps it on a timer (bake_step), so the window stays responsive and Esc cancels; in
    background mode or without a window, execute runs it in one go."""
    _job: bake_job.BakeJob | None = None
    _timer = None

    def _start(self, context) -> bake_job.BakeJob:
        raise NotImplementedError

    @classmethod
    def _picked_armature(cls, context):
        """The armature picked in the Dance panel, or None (and poll's message says to pick one)."""
        s = getattr(context.scene, "dance", None)
        if s is None or s.armature is None:
            cls.poll_message_set("Pick the character's armature in the Dance panel")
            return None
        return s.armature

    def invoke(self, context, event):
        if bpy.app.background or context.window is None:
            return self.execute(context)
        try:
            self._job = self._start(context)
        except bake.BakeError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        wm = context.window_manager
        wm.progress_begin(0, 100)
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        status, message = bake_step(self._job, context, event)
        if status not in ({"RUNNING_MODAL"}, {"PASS_THROUGH"}):
            self._end_ui(context)
        if message is not None:
            self.report(*message)
        return status

    def cancel(self, context):
        """Blender ends the job itself (a file is loaded, the window closes): stop the worker and
        remove the timer and the progress."""
        stop_bake(self._job)
        self._end_ui(context)

    def _end_ui(self, context) -> None:
        wm = context.window_manager
        if self._timer is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.progress_end()
        if context.workspace is not None:
            context.workspace.status_text_set(None)


class DANCE_OT_bake(_JobOperator, bpy.types.Operator):
    """Generate a dance to the song and key it onto the armature as a new action"""
    bl_idname = "dance.bake"
    bl_label = "Bake Dance"
    # One undo step, but not REGISTER: Repeat Last would run the whole bake again through execute,
    # blocking the window (a new bake is one press of the button away).
    bl_options = {"UNDO"}

    @classmethod
    def poll(cls, context):
        armature = cls._picked_armature(context)
        return armature is not None and not _running_refusal(cls, armature)

    def execute(self, context):
        """Bake in one go (scripts, the command line, background mode)."""
        try:
            report = bake.bake(context.scene, request_from_settings(context))
        except bake.BakeError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        text = bake_job.describe(report)
        context.scene.dance.last_result = text
        self.report({"INFO"}, f"Baked by {text}")
        return {"FINISHED"}

    def _start(self, context):
        return start_bake(context)


class DANCE_OT_reroll(_JobOperator, bpy.types.Operator):
    """Re-roll the frames of the preview range (or between two selected markers) of the armature's
    dance: a new stretch of dance, joined to the frames before and after; every other key is kept"""
    bl_idname = "dance.reroll"
    bl_label = "Re-roll"
    bl_options = {"UNDO"}

    @classmethod
    def poll(cls, context):
        armature = cls._picked_armature(context)
        if armature is None:
            return False
        ad = armature.animation_data
        if ad is None or bake.recipe_of(ad.action) is None:
            cls.poll_message_set(f"'{armature.name}' has no dance as its active action; bake one, or pick one "
                                 "of its dances")
            return False
        return not _running_refusal(cls, armature)

    def execute(self, context):
        """Re-roll in one go (scripts, background mode)."""
        try:
            job = bake_job.RerollJob(context.scene, reroll_request_from_settings(context))
            job.run()
            report = job.apply()
        except bake.BakeError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Re-rolled {report.describe()}")
        return {"FINISHED"}

    def _start(self, context):
        return start_reroll(context)


class DANCE_OT_use_dance(bpy.types.Operator):
    """Make this dance the armature's active action"""
    bl_idname = "dance.use_dance"
    bl_label = "Use Dance"
    bl_options = {"REGISTER", "UNDO"}

    action: bpy.props.StringProperty(name="Action", description="The dance action to make active")

    @classmethod
    def poll(cls, context):
        s = getattr(context.scene, "dance", None)
        return s is not None and s.armature is not None and bake_job.running_on(s.armature) is None

    def execute(self, context):
        s = context.scene.dance
        try:
            found = bake.use_dance(context.scene, s.armature, bpy.data.actions.get(self.action))
        except bake.BakeError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self.report({"INFO"}, f"'{self.action}' is the active dance (beat alignment {found['beat_alignment']:.2f})")
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
        try:
            names = rig_io.rig_rest(s.armature).names
            det = bonemaps.detect(names, bonemaps.load_user_presets(user_bone_maps_folder()))
        except (RigError, bonemaps.BoneMapError) as e:
            self.report({"ERROR"}, f"armature '{s.armature.name}': {e}")
            return {"CANCELLED"}
        except OSError as e:
            self.report({"ERROR"}, f"cannot read the bone-map presets ({e}); check the folder "
                        f"{user_bone_maps_folder()}")
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
            bonemaps.validate(mapping, rig_io.rig_rest(s.armature).names)
        except (RigError, bonemaps.BoneMapError) as e:
            self.report({"ERROR"}, f"armature '{s.armature.name}': {e}")
            return {"CANCELLED"}
        try:
            path = bonemaps.save_user_preset(user_bone_maps_folder(create=True), self.name, mapping)
        except bonemaps.BoneMapError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        except OSError as e:
            self.report({"ERROR"}, f"cannot save the bone-map preset ({e.strerror or e}: {e.filename or ''}); "
                        "check that Blender's config folder can be written")
            return {"CANCELLED"}
        self.report({"INFO"}, f"Saved bone-map preset '{self.name}' to {path}")
        return {"FINISHED"}


class DANCE_OT_refresh_models(bpy.types.Operator):
    """Look for dance models again: the shipped ones and those in the preferences' models folder"""
    bl_idname = "dance.refresh_models"
    bl_label = "Refresh Models"

    def execute(self, context):
        found = properties.model_folders(context, refresh=True)
        self.report({"INFO"}, f"{len(found)} dance model{'' if len(found) == 1 else 's'} found")
        return {"FINISHED"}


CLASSES = (DANCE_OT_bake, DANCE_OT_reroll, DANCE_OT_use_dance, DANCE_OT_detect_bones, DANCE_OT_clear_bones,
           DANCE_OT_save_bone_map, DANCE_OT_refresh_models)
