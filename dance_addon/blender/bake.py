"""Bake a dance onto an armature: the Python API that the operator, the command line and tests call.

Three steps, so that a failure or a cancel leaves the file exactly as it was:
1. `plan_bake` reads and checks everything (strip, audio file, armature, bone map, model) and
   changes nothing; every problem raises BakeError with what is wrong and what to do.
2. `compute_bake` decodes the song's audible stretch, computes the music features at the model's
   frame rate, generates the dance, resamples it to the scene's frames and poses the rig, all in
   memory. It can run in a worker thread (no bpy access) and is cancelled through its progress
   callback (generator.Cancelled).
3. `apply_bake` writes the result in one step: a new action named after the song, keyed in bulk;
   the rig's current action is kept (never overwritten): the new action becomes the active one
   and the previous one gets a fake user so it is not lost, or, with push_to_nla, the dance goes
   onto a new NLA track and the active action is left alone.

Facing: the dance is turned about the vertical so that on average it faces the rig's front (the
model's start poses face wherever the mocap dancers faced); its own turns are kept.

Timing: scene frame f of the dance hears the strip's source at strip_span.source_time(f) (see
strips.py); the model runs at its own fps over that stretch and its motion is resampled to the
scene's frame rate by slerp.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import bpy
import numpy as np

from ..core.motion import beatalign
from ..core.rig import bonemaps
from ..core.music import features as music_mod
from ..core.choreography.lstm import DanceModel, ModelError, ProgressFn, load_model
from ..core.rig.posing import RigError, RigPose, RigRest, face_forward, pose_rig
from ..core.motion.rotations import quat_to_rotvec, rotvec_to_quat, sample_quats
from ..core.motion.skeleton import NUM_JOINTS, STANDING_HEIGHT, forward_kinematics
from . import keying, retarget, strips
from .preferences import user_bone_maps_folder

MIN_SECONDS = 1.0


class BakeError(ValueError):
    """The bake cannot run as asked; the message says what is wrong and what to do."""


@dataclass
class BakeRequest:
    """What to bake. frame_start/frame_end default to the strip's span (end exclusive)."""
    armature_name: str
    strip_name: str
    model_dir: Path
    seed: int = 0
    frame_start: int | None = None
    frame_end: int | None = None
    bone_map: dict[str, str] | None = None  # None: detect from the bone names
    action_name: str | None = None          # None: "Dance - <strip name>"
    push_to_nla: bool = False
    floor: str = "ground"                   # "ground" or "keep"
    root_motion: str = "full"               # "full", "in_place" or "orientation"


@dataclass
class BakePlan:
    request: BakeRequest
    span: strips.StripSpan
    frame_start: int
    frame_end: int
    rig: RigRest
    bone_map: dict[str, str]
    preset: str
    constants: tuple[bonemaps.Constant, ...]  # rig settings keyed into the dance's action
    extra_bones: dict[str, str]               # {bone: joint} keyed besides the map
    notes: list[str]                          # what the bake will do beyond keying the map
    model: DanceModel
    song: np.ndarray                         # the samples heard over the bake's frames (mono, analysis rate)

    @property
    def frame_count(self) -> int:
        return self.frame_end - self.frame_start


@dataclass
class BakeResult:
    pose: RigPose
    frames: np.ndarray          # scene frame numbers, one per key
    tempo: float
    beats: int
    beat_alignment: float       # Bailando's Beat Align Score against our beat tracker's beats
    rotvecs: np.ndarray         # (N, 20, 3) canonical motion at scene frames
    style: str                  # the model's style the seed picked


@dataclass
class BakeReport:
    action: str
    frames: tuple[int, int]
    bones: int
    tempo: float
    beats: int
    beat_alignment: float
    preset: str
    style: str = ""
    previous_action: str | None = None
    messages: list[str] = field(default_factory=list)


def plan_bake(scene: bpy.types.Scene, request: BakeRequest) -> BakePlan:
    """Check everything the bake needs and read it; changes nothing."""
    obj = bpy.data.objects.get(request.armature_name)
    if obj is None or obj.type != "ARMATURE":
        raise BakeError(f"'{request.armature_name}' is not an armature object; pick the character's armature")
    if obj.library is not None or obj.data.library is not None:
        raise BakeError(f"armature '{obj.name}' is linked from a library and cannot be animated here; "
                        "make a library override of it (Object > Library Override) and bake onto that")
    if obj.mode == "EDIT" or obj.data.is_editmode:
        raise BakeError(f"armature '{obj.name}' is in Edit Mode; go back to Object or Pose Mode to bake")
    se = scene.sequence_editor
    strip = None
    if se is not None:
        strip = next((s for s in strips.sound_strips(scene) if s.name == request.strip_name), None)
    if strip is None:
        raise BakeError("the scene has no sound strip named "
                        f"'{request.strip_name}'; add the song in the Video Sequencer (Add > Sound)"
                        if request.strip_name else "pick a sound strip; add the song in the Video Sequencer (Add > Sound)")
    try:
        span = strips.strip_span(scene, strip)
    except strips.StripError as e:
        raise BakeError(str(e)) from None
    start = span.first_frame if request.frame_start is None else int(request.frame_start)
    end = span.end_frame if request.frame_end is None else int(request.frame_end)
    if end - start < MIN_SECONDS * span.scene_fps:
        raise BakeError(f"the frame range {start}-{end - 1} is shorter than {MIN_SECONDS:g} s; widen it")

    try:
        rig = retarget.rig_rest(obj)
    except RigError as e:
        raise BakeError(f"armature '{obj.name}': {e}") from None
    user_presets = bonemaps.load_user_presets(user_bone_maps_folder())
    try:
        if request.bone_map:
            bonemaps.validate(request.bone_map, rig.names)
            bone_map, preset = dict(request.bone_map), _preset_of_map(request.bone_map, rig.names, user_presets)
        else:
            det = bonemaps.detect(rig.names, user_presets)
            bone_map, preset = det.bone_map, det.preset
    except bonemaps.BoneMapError as e:
        raise BakeError(f"armature '{obj.name}': {e}") from None
    constants, extra_bones, notes = _rig_settings(obj, bonemaps.PRESETS.get(preset))

    try:
        model = load_model(request.model_dir, features_version=music_mod.FEATURES_VERSION,
                           feature_columns=music_mod.FEATURE_COLUMNS)
    except ModelError as e:
        raise BakeError(str(e)) from None

    try:
        samples = strips.decode_strip_audio(strip)
    except music_mod.AudioError as e:
        raise BakeError(f"sound strip '{strip.name}': {e}") from None
    song = _song_window(samples, span, start, end)
    if not np.any(np.abs(song) > 1e-4):
        raise BakeError(f"sound strip '{span.name}' is silent over frames {start}-{end - 1}; "
                        "a dance needs music: check the file, the strip's offset and the frame range")
    return BakePlan(request, span, start, end, rig, bone_map, preset, constants, extra_bones, notes, model, song)


def _preset_of_map(bone_map: dict[str, str], names: list[str], user_presets: dict) -> str:
    """The detected preset when an edited map keeps its bones for every required joint, else "custom"
    (so the preset's rig settings still apply to a map that was detected and then touched up)."""
    try:
        det = bonemaps.detect(names, user_presets)
    except bonemaps.BoneMapError:
        return "custom"
    same = all(bone_map.get(j) == det.bone_map.get(j) for j in bonemaps.REQUIRED_JOINTS)
    return det.preset if same else "custom"


def _rig_settings(obj: bpy.types.Object, preset: bonemaps.Preset | None
                  ) -> tuple[tuple[bonemaps.Constant, ...], dict[str, str], list[str]]:
    """The preset's constants and extra bones that this armature has, and notes saying what they do
    (and what it lacks, which is left out rather than refused: the map itself is complete)."""
    if preset is None:
        return (), {}, []
    bones = obj.pose.bones
    constants = tuple(c for c in preset.constants if c.bone in bones and c.prop in bones[c.bone])
    extra = {b: j for b, j in preset.extra_bones.items() if b in bones}
    notes = []
    if constants:
        groups: dict[tuple[str, float], list[str]] = {}
        for c in constants:
            groups.setdefault((c.prop, c.value), []).append(c.bone)
        held = "; ".join(f"{prop} = {value:g} on {', '.join(bs)}" for (prop, value), bs in groups.items())
        notes.append(f"held in the dance's action (the rig's own settings are unchanged): {held}")
    lacking = [f"{c.bone}[\"{c.prop}\"]" for c in preset.constants if c not in constants]
    lacking += [b for b in preset.extra_bones if b not in extra]
    if lacking:
        notes.append(f"the {preset.label} preset expects {', '.join(lacking)}, which this armature lacks; "
                     "left out")
    if extra:
        notes.append("also keyed: " + ", ".join(f"{b} (with the {j})" for b, j in extra.items()))
    return constants, extra, notes


def _song_window(samples: np.ndarray, span: strips.StripSpan, start: int, end: int) -> np.ndarray:
    """The samples heard over scene frames [start, end) (silence where the strip plays nothing)."""
    sr = music_mod.ANALYSIS_SR
    n = int(round((end - start) / span.scene_fps * sr))
    first = int(round(span.source_time(start) * sr))
    out = np.zeros(n, dtype=np.float32)
    lo, hi = max(first, 0), min(first + n, len(samples))
    if hi > lo:
        out[lo - first:hi - first] = samples[lo:hi]
    return out


def compute_bake(plan: BakePlan, progress: ProgressFn | None = None) -> BakeResult:
    """Features, generation, resampling and posing, in memory (no bpy access: safe in a thread)."""
    feats = music_mod.extract_features(plan.song, music_mod.ANALYSIS_SR, plan.model.fps,
                                       source=plan.span.filepath)
    style = plan.model.pick_style(plan.request.seed)
    rotvecs_model = plan.model.generate(feats.matrix, seed=plan.request.seed, progress=progress,
                                        style=style)                                # (T, 20, 3)
    # model frames -> scene frames: scene frame k (from frame_start) sits at k / scene_fps seconds
    positions = np.arange(plan.frame_count) / plan.span.scene_fps * plan.model.fps
    quats = sample_quats(rotvec_to_quat(rotvecs_model.astype(np.float64)), positions)
    rotvecs = face_forward(quat_to_rotvec(quats).reshape(-1, NUM_JOINTS, 3))   # facing the rig's front
    root = np.zeros((len(rotvecs), 3))
    root[:, 1] = STANDING_HEIGHT       # the model dances in place; the floor rule sets the height
    try:
        pose = pose_rig(plan.rig, plan.bone_map, rotvecs, root, floor=plan.request.floor,
                        root_motion=plan.request.root_motion, extra_bones=plan.extra_bones)
    except RigError as e:
        raise BakeError(str(e)) from None
    frames = np.arange(plan.frame_start, plan.frame_end, dtype=np.float64)
    score = beatalign.beat_align_score(forward_kinematics(rotvecs), plan.span.scene_fps, feats.beat_times)
    return BakeResult(pose, frames, feats.tempo, len(feats.beats), score, rotvecs, plan.model.style_names[style])


def apply_bake(plan: BakePlan, result: BakeResult) -> BakeReport:
    """Write the dance into the file in one step (see the module docstring)."""
    obj = bpy.data.objects[plan.request.armature_name]
    name = plan.request.action_name or f"Dance - {plan.span.name}"
    target = retarget.key_pose(obj, result.pose, result.frames, name, plan.constants)
    target.action.use_fake_user = True
    ad = obj.animation_data or obj.animation_data_create()
    previous = ad.action
    report = BakeReport(target.action.name, (plan.frame_start, plan.frame_end - 1), len(result.pose.rotations),
                        result.tempo, result.beats, result.beat_alignment, plan.preset, result.style,
                        messages=list(plan.notes))
    if plan.request.push_to_nla:
        track = ad.nla_tracks.new()
        track.name = target.action.name
        strip = track.strips.new(target.action.name, plan.frame_start, target.action)
        if target.slot is not None and hasattr(strip, "action_slot"):
            strip.action_slot = target.slot
        report.messages.append(f"pushed onto NLA track '{track.name}'")
    else:
        if previous is not None:
            previous.use_fake_user = True
            report.previous_action = previous.name
            report.messages.append(f"previous action '{previous.name}' kept (fake user)")
        keying.assign(obj, target)
    return report


def bake(scene: bpy.types.Scene, request: BakeRequest, progress: ProgressFn | None = None) -> BakeReport:
    """plan, compute and apply in one call (for scripts and the command line)."""
    plan = plan_bake(scene, request)
    return apply_bake(plan, compute_bake(plan, progress))
