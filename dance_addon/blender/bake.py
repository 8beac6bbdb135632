"""Bake a dance onto an armature: the Python API that the operator, the command line and tests call.

Three steps, so that a failure or a cancel leaves the file exactly as it was:
1. `plan_bake` reads and checks everything (method, strip, audio file, armature, bone map, the
   action graph and/or the LSTM model, whichever the method uses) and changes nothing; every
   problem raises BakeError with what is wrong and what to do.
2. `compute_bake` computes the music features (and, for the graph method, the pitch track) of the
   song's audible stretch at the method's frame rate, composes the dance (core/choreography/
   compose.py: "graph", "guided" or "lstm"), resamples it to the scene's frames and poses the
   rig, all in memory. It can run in a worker thread (no bpy access) and is cancelled through its
   progress callback (lstm.Cancelled).
3. `apply_bake` writes the result in one step: a new action named after the song, keyed in bulk;
   the rig's current action is kept (never overwritten): the new action becomes the active one
   and the previous one gets a fake user so it is not lost, or, with push_to_nla, the dance goes
   onto a new NLA track and the active action is left alone.

Methods: "graph" (real mocap moves of the action graph chosen by the music; the dancer travels:
the dance has a root translation), "guided" (the LSTM dances first, then the graph picks the
real moves closest to it) and "lstm" (the network's own frames, in place).

Facing: the dance is turned about the vertical so that on average it faces the rig's front (the
mocap and the model's start poses face wherever the dancers faced); its own turns are kept. The
root's path is turned by the same turn (`face_front`), so the dancer travels the way it faces.

Timing: scene frame f of the dance hears the strip's source at strip_span.source_time(f) (see
strips.py); the dance is made at the method's fps (the graph's or the model's) over that stretch;
its rotations are resampled to the scene's frame rate by slerp and its root path linearly.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import bpy
import numpy as np

from ..core.choreography import compose as compose_mod
from ..core.choreography.graph import ActionGraph, GraphError, load_graph
from ..core.choreography.lstm import Cancelled, DanceModel, ModelError, ProgressFn, load_model
from ..core.choreography.model_folders import shipped_graph_dirs, shipped_model_dirs
from ..core.motion import beatalign
from ..core.motion.feet import lock_feet
from ..core.motion.rotations import quat_to_rotvec, rotvec_to_quat, sample_linear, sample_quats
from ..core.motion.skeleton import NUM_JOINTS, forward_kinematics, grounded_pelvis_height
from ..core.music import features as music_mod
from ..core.music.pitch import f0 as pitch_track
from ..core.rig import bonemaps
from ..core.rig.posing import RigError, RigPose, RigRest, facing_turn, pose_rig, turn_dance
from . import keying, retarget, strips
from .preferences import user_bone_maps_folder

MIN_SECONDS = 1.0
USES_MODEL, USES_GRAPH = compose_mod.USES_MODEL, compose_mod.USES_GRAPH


class BakeError(ValueError):
    """The bake cannot run as asked; the message says what is wrong and what to do."""


@dataclass
class BakeRequest:
    """What to bake. frame_start/frame_end default to the strip's span (end exclusive).
    method: one of compose.METHODS; model_dir (the LSTM, for lstm and guided) and graph_dir (the
    action graph, for graph and guided) default to the shipped ones; floor_radius: metres the
    graph methods' dancer stays within."""
    armature_name: str
    strip_name: str
    model_dir: Path | None = None           # None: the shipped model
    seed: int = 0
    method: str = compose_mod.DEFAULT_METHOD
    graph_dir: Path | None = None           # None: the shipped action graph
    floor_radius: float = compose_mod.FLOOR_RADIUS
    frame_start: int | None = None
    frame_end: int | None = None
    bone_map: dict[str, str] | None = None  # None: detect from the bone names
    action_name: str | None = None          # None: "Dance - <strip name>"
    push_to_nla: bool = False
    floor: str = "ground"                   # "ground" or "keep"
    root_motion: str = "full"               # "full", "in_place" or "orientation"
    feet: str = "lock"                      # "lock": planted feet held (core/motion/feet.py), or "off"


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
    model: DanceModel | None                  # the LSTM (lstm and guided)
    graph: ActionGraph | None                 # the action graph (graph and guided)
    song: np.ndarray                         # the samples heard over the bake's frames (mono, analysis rate)

    @property
    def frame_count(self) -> int:
        return self.frame_end - self.frame_start

    @property
    def fps(self) -> float:
        """The frame rate the dance is made at (compose.method_fps; plan_bake checked it)."""
        return compose_mod.method_fps(self.graph, self.model)


@dataclass
class BakeResult:
    pose: RigPose
    frames: np.ndarray          # scene frame numbers, one per key
    tempo: float
    beats: int
    beat_alignment: float       # Bailando's Beat Align Score against our beat tracker's beats
    rotvecs: np.ndarray         # (N, 20, 3) canonical motion at scene frames, facing the rig's front
    style: str                  # the LSTM style that danced (lstm and guided), else ""
    method: str = ""
    summary: str = ""           # compose.Dance.summary(): the method and, for the graph methods, the moves
    root: np.ndarray | None = None           # (N, 3) canonical pelvis path at scene frames (turned as rotvecs)
    clips: tuple[tuple[str, int], ...] = ()  # graph methods: (clip, moves from it), most used first
    locked: int | None = None                # foot contacts held in place (None: feet "off")


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
    method: str = ""
    summary: str = ""                        # e.g. "graph: 91 moves from 14 clips (most from cmu-salsa/60_02)"
    clips: tuple[tuple[str, int], ...] = ()  # graph methods: (clip, moves from it), most used first
    locked: int | None = None                # foot contacts held in place (None: feet "off")


def plan_bake(scene: bpy.types.Scene, request: BakeRequest) -> BakePlan:
    """Check everything the bake needs and read it; changes nothing."""
    check_request(request)
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

    graph = _load_graph(request.graph_dir) if request.method in USES_GRAPH else None
    model = _load_model(request.model_dir) if request.method in USES_MODEL else None
    try:
        compose_mod.method_fps(graph, model)
    except compose_mod.ComposeError as e:
        raise BakeError(str(e)) from None

    try:
        samples = strips.decode_strip_audio(strip)
    except music_mod.AudioError as e:
        raise BakeError(f"sound strip '{strip.name}': {e}") from None
    song = _song_window(samples, span, start, end)
    if not np.any(np.abs(song) > 1e-4):
        raise BakeError(f"sound strip '{span.name}' is silent over frames {start}-{end - 1}; "
                        "a dance needs music: check the file, the strip's offset and the frame range")
    return BakePlan(request, span, start, end, rig, bone_map, preset, constants, extra_bones, notes, model, graph,
                    song)


def check_request(request: BakeRequest) -> None:
    """The request's method, seed and floor radius are usable (BakeError otherwise)."""
    if request.method not in compose_mod.METHODS:
        raise BakeError(f"unknown method {request.method!r}; choose one of {', '.join(compose_mod.METHODS)}")
    if int(request.seed) < 0:
        raise BakeError(f"the variation seed must be 0 or above, got {request.seed}")
    if request.feet not in ("lock", "off"):
        raise BakeError(f"feet must be 'lock' or 'off', not {request.feet!r}")
    if not float(request.floor_radius) > 0:
        raise BakeError(f"the floor radius must be more than 0 metres, got {request.floor_radius:g}")


def _load_graph(folder: Path | None) -> ActionGraph:
    if folder is None:
        found = shipped_graph_dirs()
        if not found:
            raise BakeError("no action graph ships with this copy of the add-on; reinstall it, "
                            "or choose the LSTM method")
        folder = found[0]
    try:
        return load_graph(folder)
    except GraphError as e:
        raise BakeError(str(e)) from None


def _load_model(folder: Path | None) -> DanceModel:
    if folder is None:
        found = shipped_model_dirs()
        if not found:
            raise BakeError("no dance model ships with this copy of the add-on; set a models folder in the "
                            "add-on preferences, or choose the Action graph method")
        folder = found[0]
    try:
        return load_model(folder, features_version=music_mod.FEATURES_VERSION,
                          feature_columns=music_mod.FEATURE_COLUMNS)
    except ModelError as e:
        raise BakeError(str(e)) from None


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
    """Features, composition, resampling and posing, in memory (no bpy access: safe in a thread).

    progress(done, total) is the LSTM's callback (lstm and guided); it is also asked before and
    after the dance is composed, so returning False cancels every method (lstm.Cancelled)."""
    req = plan.request
    fps = plan.fps
    _go_on(progress, 0, plan.frame_count)
    feats = music_mod.extract_features(plan.song, music_mod.ANALYSIS_SR, fps, source=plan.span.filepath)
    hz = pitch_track(plan.song, music_mod.ANALYSIS_SR, fps).hz if req.method == "graph" else None
    try:
        dance = compose_mod.compose(req.method, feats.matrix, fps, feats.beat_times, f0_hz=hz, graph=plan.graph,
                                    model=plan.model, seed=req.seed, floor_radius=req.floor_radius,
                                    progress=progress)
    except compose_mod.ComposeError as e:
        raise BakeError(str(e)) from None
    _go_on(progress, plan.frame_count, plan.frame_count)
    # dance frames -> scene frames: scene frame k (from frame_start) sits at k / scene_fps seconds
    positions = np.arange(plan.frame_count) / plan.span.scene_fps * dance.fps
    quats = sample_quats(rotvec_to_quat(np.asarray(dance.rotvecs, np.float64)), positions)
    root = sample_linear(np.asarray(dance.root, np.float64), positions)
    rotvecs, root = face_front(quat_to_rotvec(quats).reshape(-1, NUM_JOINTS, 3), root)
    locked, floor = None, req.floor
    if req.feet == "lock":
        rotvecs, root, locked = lock_for_rig(rotvecs, root, plan.span.scene_fps, req.floor, req.root_motion)
        if floor == "ground":
            floor = "given"          # grounded before locking: grounding again would lift the held feet
    try:
        pose = pose_rig(plan.rig, plan.bone_map, rotvecs, root, floor=floor,
                        root_motion=req.root_motion, extra_bones=plan.extra_bones)
    except RigError as e:
        raise BakeError(str(e)) from None
    frames = np.arange(plan.frame_start, plan.frame_end, dtype=np.float64)
    score = beatalign.beat_align_score(forward_kinematics(rotvecs, root), plan.span.scene_fps, feats.beat_times)
    return BakeResult(pose, frames, feats.tempo, len(feats.beats), score, rotvecs, dance.style, dance.method,
                      dance.summary(), root, dance.clip_counts(), locked)


def lock_for_rig(rotvecs: np.ndarray, root: np.ndarray, fps: float, floor: str,
                 root_motion: str) -> tuple[np.ndarray, np.ndarray, int]:
    """The dance with its planted feet held (core/motion/feet.py), on the root path pose_rig will
    key: fixed horizontally for "in_place", fixed altogether for "orientation", and with the
    pelvis at the height that puts the lowest foot on the floor for floor "ground" (so the held
    feet are held on the floor). Returns (rotvecs, root, number of contacts held)."""
    root = np.array(root, np.float64, copy=True)
    if root_motion in ("in_place", "orientation"):
        root[:, [0, 2]] = root[:1, [0, 2]]
    if root_motion == "orientation":
        root[:, 1] = root[0, 1]
    elif floor == "ground":
        root[:, 1] = grounded_pelvis_height(rotvecs)
    locking = lock_feet(rotvecs, root, fps)
    return locking.rotvecs, root, locking.count


def _go_on(progress: ProgressFn | None, done: int, total: int) -> None:
    if progress is not None and progress(done, total) is False:
        raise Cancelled()


def face_front(rotvecs: np.ndarray, root: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The dance turned about the vertical to face canonical forward on average (posing.facing_turn)
    with its root path (T, 3) turned by the same turn, about the origin: the dancer travels the
    way it faces. Returns (rotvecs, root)."""
    turn = facing_turn(rotvecs)
    return turn_dance(rotvecs, turn), np.asarray(root, np.float64) @ turn.T


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
                        messages=list(plan.notes), method=result.method, summary=result.summary,
                        clips=result.clips, locked=result.locked)
    if result.locked is not None:
        report.messages.append(f"feet locked: {result.locked} contacts held in place")
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
