"""Bake a dance onto an armature: the Python API that the operator, the command line and tests call.

Three steps, so that a failure or a cancel leaves the file exactly as it was:
1. `plan_bake` reads and checks everything (method, strip, audio file, armature, bone map, the
   action graph and/or the LSTM model, whichever the method uses) and changes nothing; every
   problem raises BakeError with what is wrong and what to do. It is two halves: `read_bake`
   reads the file (bpy, Blender's main thread, quick) and `load_plan` decodes the song and loads
   the graph and the model (no bpy: the interactive bake runs it in its worker, bake_job.py).
2. `compute_bake` computes the music features (and, for the graph method, the pitch track) of the
   song's audible stretch at the method's frame rate, composes the dance (core/choreography/
   compose.py: "graph", "guided" or "lstm"), resamples it to the scene's frames and poses the
   rig, all in memory. It can run in a worker thread (no bpy access) and is cancelled through its
   progress callback (lstm.Cancelled).
3. `apply_bake` checks the armature is still the one planned for, then writes the result in one
   step: a new action named after the song, keyed in bulk;
   the rig's current action is kept (never overwritten): the new action becomes the active one
   and the previous one gets a fake user so it is not lost, or, with push_to_nla, the dance goes
   onto a new NLA track and the active action is left alone.

Variations: `variations` N > 1 makes N dances of the song in one pass (seeds seed .. seed + N - 1;
compose.compose_many: one analysis of the song, the LSTM's dances as one batch), each keyed as its
own action "Dance - <song> #k"; the first becomes the active one (or goes onto the NLA track), the
others are kept (fake user). Every dance action carries its recipe (RECIPE_KEY: what made it, as
JSON: method, seed, style, song strip and where it played, graph and model, options, bone map, the
moves, its beat alignment, the re-rolls since), which reroll.py reads to make it again, and the
armature lists its dances (DANCES_KEY: the actions themselves, so renames follow), which the panel
shows (rig_dances) and use_dance switches between.

Markers (`markers`, graph methods): a timeline marker at each move's first frame, named
MARKER_PREFIX + its source clip; a bake with markers replaces the add-on's markers (by that prefix),
never the user's.

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

import json
from dataclasses import dataclass, field, replace
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
from . import keying, rig_io, strips
from .preferences import user_bone_maps_folder

MIN_SECONDS = 1.0
MAX_VARIATIONS = 16
CUT_SHORT_SECONDS = 0.5      # a file that decodes this much shorter than its strip plays is cut short
MARKER_PREFIX = "dance: "    # the add-on's timeline markers: "dance: cmu-salsa/60_02"
RECIPE_KEY = "dance_addon"             # an action's custom property: what made the dance (JSON)
DANCES_KEY = "dance_addon_dances"      # an armature's custom property: its dance actions
RECIPE_VERSION = 1
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
    variations: int = 1                     # dances made in one pass (seeds seed .. seed + variations - 1)
    markers: bool = False                   # a timeline marker at each move (graph methods)


@dataclass
class BakeSource:
    """What the bake reads off the file (read_bake, on Blender's main thread): plain values and
    arrays, no bpy objects, so the rest of the bake can run in a worker thread."""
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
    audio: strips.StripAudio                  # where the song's samples come from (decoded by load_plan)
    scene_name: str                           # the scene the bake reads and writes (its markers)

    @property
    def frame_count(self) -> int:
        return self.frame_end - self.frame_start


@dataclass
class BakePlan(BakeSource):
    """The source with what load_plan loaded: the choreographers and the song's samples."""
    model: DanceModel | None = None           # the LSTM (lstm and guided)
    graph: ActionGraph | None = None          # the action graph (graph and guided)
    song: np.ndarray | None = None            # the samples heard over the bake's frames (mono, analysis rate)
    audio_note: str | None = None             # said when the file decodes shorter than its strip (cut short)

    @property
    def fps(self) -> float:
        """The frame rate the dance is made at (compose.method_fps; load_plan checked it)."""
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
    seed: int = 0
    moves: tuple[tuple[int, str], ...] = ()  # graph methods: (scene frame where a move starts, its clip)
    batch: tuple[int, ...] = ()              # the seeds made in the same pass (the variations)
    others: tuple["BakeResult", ...] = ()    # the other variations, in seed order


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
    variations: tuple[tuple[str, float], ...] = ()  # (action, beat alignment) of every dance made, first active
    markers: int = 0                         # timeline markers put at the moves
    audio_note: str | None = None            # the song's file decodes shorter than its strip (cut short)


def plan_bake(scene: bpy.types.Scene, request: BakeRequest) -> BakePlan:
    """Check everything the bake needs and read it; changes nothing (read_bake, then load_plan)."""
    return load_plan(read_bake(scene, request))


def read_bake(scene: bpy.types.Scene, request: BakeRequest) -> BakeSource:
    """The first half of plan_bake, which reads bpy (so Blender's main thread): the request, the
    strip's span and sound source, the armature and its bone map. Quick; changes nothing."""
    check_request(request)
    obj = _armature(request.armature_name)
    se = scene.sequence_editor
    strip = None
    if se is not None:
        strip = next((s for s in strips.sound_strips(scene) if s.name == request.strip_name), None)
    if strip is None:
        raise BakeError(f"the scene has no sound strip named '{request.strip_name}'; pick the song again, or add "
                        "it in the Video Sequencer (Add > Sound)" if request.strip_name else
                        "pick a sound strip; add the song in the Video Sequencer (Add > Sound)")
    try:
        span = strips.strip_span(scene, strip)
    except strips.StripError as e:
        raise BakeError(str(e)) from None
    start = span.first_frame if request.frame_start is None else int(request.frame_start)
    end = span.end_frame if request.frame_end is None else int(request.frame_end)
    if end - start < MIN_SECONDS * span.scene_fps:
        if span.frame_count < MIN_SECONDS * span.scene_fps:
            # Blender gives a strip whose file it cannot read a frame or two: say that, not the range
            audio = strips.strip_audio(strip)
            try:
                strips.decode_audio(audio)
            except music_mod.AudioError as e:
                raise undecodable(audio, e) from None
        raise BakeError(f"the frame range {start}-{end - 1} is shorter than {MIN_SECONDS:g} s; widen it")

    rig = _rig_rest(obj)
    try:
        user_presets = bonemaps.load_user_presets(user_bone_maps_folder())
    except bonemaps.BoneMapError as e:
        raise BakeError(f"the saved bone-map presets: {e}") from None
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
    return BakeSource(request, span, start, end, rig, bone_map, preset, constants, extra_bones, notes,
                      strips.strip_audio(strip), scene.name)


def undecodable(audio: strips.StripAudio, error: music_mod.AudioError) -> BakeError:
    """The BakeError for a strip whose sound cannot be decoded (a missing file is said as such)."""
    if audio.packed is None and not Path(audio.path).is_file():
        return BakeError(f"sound strip '{audio.name}': {error}")
    reason = str(error)
    for prefix in (f"{audio.path}: ", f"{Path(audio.path).name}: "):
        reason = reason[len(prefix):] if reason.startswith(prefix) else reason
    reason = reason.split("; ")[0]
    where = f"its sound packed into the .blend, {Path(audio.path).name}" if audio.packed else Path(audio.path).name
    return BakeError(f"the sound strip '{audio.name}' ({where}) cannot be decoded: {reason}; pick a strip with a "
                     "readable audio file")


def load_plan(source: BakeSource) -> BakePlan:
    """The second half of plan_bake, the slow one, with no bpy access (a worker thread may run it):
    load the action graph and/or the LSTM the method uses, decode the song and check it is not
    silent over the bake's frames."""
    request = source.request
    graph = _load_graph(request.graph_dir) if request.method in USES_GRAPH else None
    model = _load_model(request.model_dir) if request.method in USES_MODEL else None
    try:
        compose_mod.method_fps(graph, model)
    except compose_mod.ComposeError as e:
        raise BakeError(str(e)) from None
    try:
        samples = strips.decode_audio(source.audio)
    except music_mod.AudioError as e:
        raise undecodable(source.audio, e) from None
    fields = {f: getattr(source, f) for f in BakeSource.__dataclass_fields__}
    fields["frame_end"], note = _audio_end(source, len(samples) / music_mod.ANALYSIS_SR)
    song = _song_window(samples, source.span, source.frame_start, fields["frame_end"])
    if not np.any(np.abs(song) > 1e-4):
        raise BakeError(f"sound strip '{source.span.name}' is silent over frames {source.frame_start}-"
                        f"{fields['frame_end'] - 1}; a dance needs music: check the file, the strip's offset and the "
                        "frame range")
    return BakePlan(**fields, model=model, graph=graph, song=song, audio_note=note)


def _audio_end(source: BakeSource, seconds: float) -> tuple[int, str | None]:
    """The bake's end frame (exclusive), cut to where the audio ends when the file decodes clearly
    shorter than the strip plays it (an MP3 cut short: Blender sizes the strip by the length its
    header declares), and the note that says so (None when nothing was cut)."""
    span = source.span
    audio_end = span.first_frame + (seconds - span.source_start) * span.scene_fps   # frame where the audio stops
    if audio_end >= span.end_frame - CUT_SHORT_SECONDS * span.scene_fps or audio_end >= source.frame_end:
        return source.frame_end, None
    end = int(np.ceil(audio_end - 1e-9))
    name = Path(source.audio.path).name
    if end - source.frame_start < MIN_SECONDS * span.scene_fps:
        raise BakeError(f"the sound strip '{source.audio.name}' ({name}) decodes only {seconds:.1f} s of audio (cut "
                        f"short?), less than {MIN_SECONDS:g} s of it from frame {source.frame_start}; pick a strip "
                        "with a readable audio file, or start the frame range earlier")
    return end, (f"the sound file {name} decodes only its first {seconds:.1f} s (cut short?): the dance ends where "
                 f"its audio does, at frame {end - 1}")


def _armature(name: str) -> bpy.types.Object:
    """The armature object a bake keys (BakeError when it cannot be baked onto)."""
    obj = bpy.data.objects.get(name)
    if obj is None or obj.type != "ARMATURE":
        raise BakeError(f"'{name}' is not an armature object; pick the character's armature")
    if obj.library is not None or obj.data.library is not None:
        raise BakeError(f"armature '{obj.name}' is linked from a library and cannot be animated here; "
                        "make a library override of it (Object > Library Override) and bake onto that")
    if obj.mode == "EDIT" or obj.data.is_editmode:
        raise BakeError(f"armature '{obj.name}' is in Edit Mode; go back to Object or Pose Mode to bake")
    return obj


def _rig_rest(obj: bpy.types.Object) -> RigRest:
    try:
        return rig_io.rig_rest(obj)
    except RigError as e:
        raise BakeError(f"armature '{obj.name}': {e}") from None


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
    if not 1 <= int(request.variations) <= MAX_VARIATIONS:
        raise BakeError(f"the number of variations must be 1 to {MAX_VARIATIONS}, got {request.variations}")
    if request.markers and request.method not in USES_GRAPH:
        raise BakeError(f"markers show the moves of the action graph's methods ({', '.join(USES_GRAPH)}); the "
                        f"{request.method} method has none: choose another method or turn Markers off")


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
    With request.variations N > 1, the N dances are made in one pass (compose.compose_many) and
    the result is the first, the others in its `others`.

    progress(done, total) is the LSTM's callback (lstm and guided); it is also asked before and
    after the dance is composed and between variations, so returning False cancels every method
    (lstm.Cancelled)."""
    req = plan.request
    _go_on(progress, 0, plan.frame_count)
    feats, hz = analyse_song(plan)
    seeds = [int(req.seed) + k for k in range(int(req.variations))]
    dances = compose_dances(plan, feats, hz, seeds, progress=progress)
    results = []
    for seed, dance in zip(seeds, dances):
        _go_on(progress, plan.frame_count, plan.frame_count)
        results.append(finish_dance(plan, dance, feats, seed))
    return replace(results[0], batch=tuple(seeds), others=tuple(replace(r, batch=tuple(seeds)) for r in results[1:]))


def analyse_song(plan: BakePlan) -> tuple[music_mod.MusicFeatures, np.ndarray | None]:
    """The song's music features at the method's frame rate, and its pitch track for the graph method."""
    fps = plan.fps
    feats = music_mod.extract_features(plan.song, music_mod.ANALYSIS_SR, fps, source=plan.span.filepath)
    hz = pitch_track(plan.song, music_mod.ANALYSIS_SR, fps).hz if plan.request.method == "graph" else None
    return feats, hz


def compose_dances(plan: BakePlan, feats, hz, seeds: list[int], styles: list | None = None,
                   progress: ProgressFn | None = None) -> list[compose_mod.Dance]:
    """compose.compose_many for the plan's method, graph and model (BakeError when it cannot)."""
    req = plan.request
    try:
        return compose_mod.compose_many(req.method, feats.matrix, plan.fps, feats.beat_times, f0_hz=hz,
                                        graph=plan.graph, model=plan.model, seeds=seeds, styles=styles,
                                        floor_radius=req.floor_radius, progress=progress)
    except compose_mod.ComposeError as e:
        raise BakeError(str(e)) from None


@dataclass
class SceneMotion:
    """A dance on the bake's scene frames, as pose_rig is given it: rotvecs (N, 20, 3) facing the
    rig's front, root (N, 3), the floor rule pose_rig applies, and the contacts held (feet lock)."""
    rotvecs: np.ndarray
    root: np.ndarray
    floor: str
    locked: int | None


def scene_motion(plan: BakePlan, dance: compose_mod.Dance) -> SceneMotion:
    """The dance resampled to the scene's frames, turned to face the front, feet locked as asked."""
    req = plan.request
    # dance frames -> scene frames: scene frame k (from frame_start) sits at k / scene_fps seconds
    positions = np.arange(plan.frame_count) / plan.span.scene_fps * dance.fps
    whole = np.rint(positions).astype(np.int64)
    if np.all(np.abs(positions - whole) < 1e-9) and whole[-1] < len(dance.rotvecs):
        # the scene's frames are the dance's own (the same frame rate): nothing to interpolate
        rotvecs = np.asarray(dance.rotvecs, np.float64)[whole]
        root = np.asarray(dance.root, np.float64)[whole]
    else:
        quats = sample_quats(rotvec_to_quat(np.asarray(dance.rotvecs, np.float64)), positions)
        rotvecs = quat_to_rotvec(quats).reshape(-1, NUM_JOINTS, 3)
        root = sample_linear(np.asarray(dance.root, np.float64), positions)
    rotvecs, root = face_front(rotvecs, root)
    locked, floor = None, req.floor
    if req.feet == "lock":
        rotvecs, root, locked = lock_for_rig(rotvecs, root, plan.span.scene_fps, req.floor, req.root_motion)
        if floor == "ground":
            floor = "keep"           # grounded before locking: grounding again would lift the held feet
    return SceneMotion(rotvecs, root, floor, locked)


def pose_motion(plan: BakeSource, motion: SceneMotion) -> RigPose:
    """The motion posed onto the plan's rig (BakeError when the rig cannot take it)."""
    try:
        return pose_rig(plan.rig, plan.bone_map, motion.rotvecs, motion.root, floor=motion.floor,
                        root_motion=plan.request.root_motion, extra_bones=plan.extra_bones)
    except RigError as e:
        raise BakeError(str(e)) from None


def scene_moves(plan: BakePlan, dance: compose_mod.Dance) -> tuple[tuple[int, str], ...]:
    """(scene frame, source clip) where each of the dance's moves starts, inside the bake's frames."""
    out: dict[int, str] = {}
    for m in dance.moves:
        frame = plan.frame_start + int(round(m.frame / dance.fps * plan.span.scene_fps))
        if plan.frame_start <= frame < plan.frame_end:
            out.setdefault(frame, m.clip)
    return tuple(out.items())


def finish_dance(plan: BakePlan, dance: compose_mod.Dance, feats, seed: int) -> BakeResult:
    """One composed dance on the scene's frames, posed onto the rig and scored."""
    motion = scene_motion(plan, dance)
    pose = pose_motion(plan, motion)
    frames = np.arange(plan.frame_start, plan.frame_end, dtype=np.float64)
    score = beatalign.beat_align_score(forward_kinematics(motion.rotvecs, motion.root), plan.span.scene_fps,
                                       feats.beat_times)
    return BakeResult(pose, frames, feats.tempo, len(feats.beats), score, motion.rotvecs, dance.style, dance.method,
                      dance.summary(), motion.root, dance.clip_counts(), motion.locked, seed, scene_moves(plan, dance))


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
    """Write the dance (and its variations) into the file in one step (see the module docstring),
    after checking that the armature is still the one the plan read (a bake in the background may
    end after the user renamed, deleted or edited it). A failure raises BakeError with the file
    unchanged."""
    obj = check_rig_unchanged(plan)
    scene = bpy.data.scenes.get(plan.scene_name)
    if scene is None:
        raise BakeError(f"the scene '{plan.scene_name}' the bake started in is gone (renamed or deleted); "
                        "nothing was changed: bake again")
    results = [result, *result.others]
    base = plan.request.action_name or f"Dance - {plan.span.name}"
    names = [base] if len(results) == 1 else [f"{base} #{k + 1}" for k in range(len(results))]
    existing = set(bpy.data.actions.keys())
    try:
        targets = [rig_io.key_pose(obj, r.pose, r.frames, name, plan.constants) for name, r in zip(names, results)]
    except (KeyError, RuntimeError, TypeError, ValueError) as e:
        for action in [a for a in bpy.data.actions if a.name not in existing]:   # the half-written ones
            bpy.data.actions.remove(action)
        raise BakeError(f"could not key the dance onto armature '{obj.name}' ({e}); nothing was changed") from None
    for t, r in zip(targets, results):
        t.action.use_fake_user = True
        t.action[RECIPE_KEY] = json.dumps(recipe(plan, r))
    remember_dances(obj, [t.action for t in targets])
    target = targets[0]
    ad = obj.animation_data or obj.animation_data_create()
    previous = ad.action
    report = BakeReport(target.action.name, (plan.frame_start, plan.frame_end - 1), len(result.pose.rotations),
                        result.tempo, result.beats, result.beat_alignment, plan.preset, result.style,
                        messages=list(plan.notes), method=result.method, summary=result.summary,
                        clips=result.clips, locked=result.locked,
                        variations=tuple((t.action.name, r.beat_alignment) for t, r in zip(targets, results)),
                        audio_note=plan.audio_note)
    if plan.audio_note:
        report.messages.insert(0, plan.audio_note)
    if result.locked is not None:
        report.messages.append(f"feet locked: {result.locked} contacts held in place")
    if len(targets) > 1:
        report.messages.append(f"{len(targets)} variations (seeds {results[0].seed}-{results[-1].seed}), "
                               f"'{target.action.name}' active; the others kept")
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
    if plan.request.markers:
        report.markers = place_markers(scene, result.moves)
        report.messages.append(f"{report.markers} markers at the moves")
    return report


def recipe(plan: BakePlan, result: BakeResult) -> dict:
    """What made a dance, enough to make it again (reroll.py): stored as JSON on its action."""
    req = plan.request
    return {"version": RECIPE_VERSION, "method": req.method, "seed": int(result.seed),
            "batch": [int(s) for s in (result.batch or (result.seed,))], "style": result.style,
            "strip": plan.span.name, "source_start": plan.span.source_time(plan.frame_start),
            "scene_fps": plan.span.scene_fps, "frame_start": plan.frame_start, "frame_end": plan.frame_end,
            "graph": str(Path(req.graph_dir).resolve()) if req.graph_dir and req.method in USES_GRAPH else "",
            "model": str(Path(req.model_dir).resolve()) if req.model_dir and req.method in USES_MODEL else "",
            "floor_radius": float(req.floor_radius), "floor": req.floor, "root_motion": req.root_motion,
            "feet": req.feet, "bone_map": dict(plan.bone_map), "markers": bool(req.markers),
            "moves": [[int(f), c] for f, c in result.moves], "beat_alignment": float(result.beat_alignment),
            "rerolls": []}


def recipe_of(action: bpy.types.Action | None) -> dict | None:
    """The recipe stored on a dance action, or None (not a dance, or not one this version reads)."""
    text = action.get(RECIPE_KEY) if action is not None else None
    if not isinstance(text, str):
        return None
    try:
        found = json.loads(text)
    except ValueError:
        return None
    return found if isinstance(found, dict) and found.get("version") == RECIPE_VERSION else None


def remember_dances(obj: bpy.types.Object, actions: list[bpy.types.Action]) -> None:
    """Add the actions to the armature's list of its dances (kept as references: they follow
    renames, and a deleted action drops out)."""
    kept = rig_dances(obj)
    kept += [a for a in actions if a not in kept]
    obj[DANCES_KEY] = {str(i): a for i, a in enumerate(kept)}


def rig_dances(obj: bpy.types.Object | None) -> list[bpy.types.Action]:
    """The armature's dance actions, oldest first (those since deleted left out)."""
    found = obj.get(DANCES_KEY) if obj is not None else None
    if found is None or not hasattr(found, "values"):
        return []
    return [a for a in found.values() if isinstance(a, bpy.types.Action)]


def place_markers(scene: bpy.types.Scene, moves) -> int:
    """Replace the add-on's timeline markers (named MARKER_PREFIX ...) with one at each move's first
    frame, named after its source clip, unselected; the user's own markers are left alone."""
    markers = scene.timeline_markers
    for m in [m for m in markers if m.name.startswith(MARKER_PREFIX)]:
        markers.remove(m)
    for frame, clip in moves:
        markers.new(f"{MARKER_PREFIX}{clip}", frame=int(frame)).select = False
    return len(moves)


def use_dance(scene: bpy.types.Scene, obj: bpy.types.Object, action: bpy.types.Action) -> dict:
    """Make one of the armature's dances its active action (the previous one kept, fake user), and,
    when the dance was baked with markers, put its moves' markers on the timeline. Returns its
    recipe; BakeError when the action is not one of the armature's dances."""
    found = recipe_of(action)
    if action not in rig_dances(obj) or found is None:
        raise BakeError(f"'{action.name if action else None}' is not one of armature '{obj.name}''s dances; "
                        "pick one from the Dance panel's list")
    ad = obj.animation_data or obj.animation_data_create()
    if ad.action is not None and ad.action != action:
        ad.action.use_fake_user = True
    keying.assign_action(obj, action)
    if found.get("markers"):
        place_markers(scene, [tuple(m) for m in found.get("moves", [])])
    return found


def check_rig_unchanged(plan: BakeSource) -> bpy.types.Object:
    """The plan's armature, if it is still there under its name, bakeable, with the bones, rest pose
    and object rotation and scale the plan was made for; BakeError otherwise."""
    name = plan.request.armature_name
    obj = bpy.data.objects.get(name)
    if obj is None or obj.type != "ARMATURE":
        raise BakeError(f"armature '{name}' is gone (renamed or deleted) since the bake started; nothing was "
                        "changed: pick the armature and bake again")
    obj = _armature(name)
    now, then = _rig_rest(obj), plan.rig
    same = (now.names == then.names and now.parents == then.parents and now.copies == then.copies
            and np.allclose(now.rest, then.rest, atol=1e-6)
            and np.allclose(now.object_matrix[:3, :3], then.object_matrix[:3, :3], atol=1e-6))
    if not same:
        raise BakeError(f"armature '{name}' changed since the bake started (its bones, rest pose, rotation or "
                        "scale); nothing was changed: bake again")
    return obj


def bake(scene: bpy.types.Scene, request: BakeRequest, progress: ProgressFn | None = None) -> BakeReport:
    """plan, compute and apply in one call (for scripts and the command line)."""
    plan = plan_bake(scene, request)
    return apply_bake(plan, compute_bake(plan, progress))
