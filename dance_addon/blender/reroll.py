"""Re-roll a stretch of a baked dance: frames start..end of the rig's dance action change to a new
stretch of dance (another seed) that joins the frames before and after without a jump, danced to
the same music; every other key stays exactly as it was.

How: a dance action carries its recipe (bake.RECIPE_KEY: what made it). The re-roll
1. reads the action, its recipe and the song strip it was danced to (read_reroll, main thread:
   the strip must still play the song where it did), then decodes the song and loads the graph or
   model as the bake does (load_reroll, no bpy);
2. makes the dance again from its recipe (the same seeds in the same pass, so the same dance, with
   the re-rolls it had since applied again in order), makes a new dance of the same song with the
   re-roll's seed (in the dance's own genre or style), both as the bake puts them on the scene's
   frames (bake.scene_motion: facing the front, feet locked), and splices frames start..end of the
   new one into the old in canonical space (core/choreography/splice.py: placed where the old one
   is, turned and moved to where it resumes, inertialized at both joins), then poses both onto the
   rig (compute_reroll, no bpy);
3. checks that the keys beside the stretch are still those of the dance as it was made (so the
   joins meet the frames the user sees), and rewrites only the keys on frames start..end of the
   bone rotations and the root's location (apply_reroll, one step; keying.set_key_values), each
   bone's new keys taking the sign (quaternions) or turn (Euler angles) of the kept key before
   them. Where a bone's path through the new stretch arrives at the kept key after it as the other
   quaternion of the same rotation (its old path passed near a half turn, the new one did not) or
   a whole turn off, its last new key is held constant into the next, so Blender does not swing
   the bone round between those two frames (the pose is exact on every frame either way). The
   recipe records the re-roll; when the dance was baked with markers, the markers in the stretch
   are replaced by the new stretch's moves.
Every failure raises bake.BakeError with the file unchanged.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np

from ..core.choreography.lstm import ProgressFn
from ..core.choreography.splice import MIN_FRAMES, splice
from ..core.motion import beatalign
from ..core.motion.skeleton import forward_kinematics
from ..core.rig.posing import RigPose
from . import bake, keying

KEY_TOLERANCE = 1e-3       # how far a key beside the stretch may be from the dance as made (radians, metres)
BakeError = bake.BakeError


@dataclass
class RerollRequest:
    """Re-roll frames start..end (both included) of an armature's dance with `seed`. action_name:
    the dance action (None: the armature's active action)."""
    armature_name: str
    start: int
    end: int
    seed: int
    action_name: str | None = None


@dataclass
class RerollSource:
    """What read_reroll read off the file: the request, the dance action's name and recipe, and the
    bake source its recipe describes (strip, rig, bone map), read again now."""
    request: RerollRequest
    action_name: str
    recipe: dict
    recipe_text: str
    source: bake.BakeSource

    @property
    def frame_count(self) -> int:
        return self.source.frame_count


@dataclass
class RerollPlan:
    """The source with the song decoded and the graph or model loaded (bake.load_plan)."""
    reroll: RerollSource
    plan: bake.BakePlan


@dataclass
class RerollResult:
    frames: np.ndarray        # the dance's scene frames
    old: RigPose              # the dance as made (to check the keys beside the stretch)
    new: RigPose              # the dance with the new stretch
    beat_alignment: float     # of the dance with the new stretch
    moves: list               # [[frame, clip], ...] of the dance with the new stretch
    turn: float               # radians the stretch turns beyond its own dance to meet the kept frames


@dataclass
class RerollReport:
    action: str
    frames: tuple[int, int]
    seed: int
    beat_alignment: float
    moves: int                # moves of the new stretch (graph methods)
    markers: bool
    held: int = 0             # bones whose last new key is held into the next (keying.set_key_values)

    def describe(self) -> str:
        moves = f", {self.moves} moves" if self.moves else ""
        marked = " (markers updated)" if self.markers else ""
        return (f"frames {self.frames[0]}-{self.frames[1]} of '{self.action}' with seed {self.seed}{moves}{marked}; "
                f"beat alignment now {self.beat_alignment:.2f}")


def dance_action(obj: bpy.types.Object, name: str | None = None) -> bpy.types.Action:
    """The armature's dance action (the named one, or its active action); BakeError when it has none."""
    if name:
        action = bpy.data.actions.get(name)
        if action is None:
            raise BakeError(f"there is no action named '{name}'; pick one of the armature's dances")
    else:
        action = obj.animation_data.action if obj.animation_data else None
        if action is None:
            raise BakeError(f"armature '{obj.name}' has no active action to re-roll; bake a dance first")
    if bake.recipe_of(action) is None:
        raise BakeError(f"action '{action.name}' of armature '{obj.name}' was not made by Bake Dance (or by "
                        "another version of the add-on), so it cannot be re-rolled; bake a dance first")
    return action


def read_reroll(scene: bpy.types.Scene, request: RerollRequest) -> RerollSource:
    """Read and check everything on Blender's main thread; changes nothing (BakeError)."""
    if int(request.seed) < 0:
        raise BakeError(f"the re-roll seed must be 0 or above, got {request.seed}")
    obj = bake._armature(request.armature_name)
    action = dance_action(obj, request.action_name)
    recipe = bake.recipe_of(action)
    first, last = int(recipe["frame_start"]), int(recipe["frame_end"]) - 1
    start, end = int(request.start), int(request.end)
    if not (first <= start <= end <= last):
        raise BakeError(f"frames {start}-{end} are not inside the dance '{action.name}' (frames {first}-{last}); "
                        "re-roll a range within it")
    if end - start + 1 < MIN_FRAMES:
        raise BakeError(f"frames {start}-{end} are fewer than {MIN_FRAMES}; re-roll a longer range")
    req = bake.BakeRequest(
        armature_name=obj.name, strip_name=recipe["strip"], seed=int(recipe["seed"]), method=recipe["method"],
        model_dir=Path(recipe["model"]) if recipe["model"] else None,
        graph_dir=Path(recipe["graph"]) if recipe["graph"] else None, floor_radius=float(recipe["floor_radius"]),
        frame_start=first, frame_end=last + 1, bone_map=dict(recipe["bone_map"]), floor=recipe["floor"],
        root_motion=recipe["root_motion"], feet=recipe["feet"])
    try:
        source = bake.read_bake(scene, req)
    except BakeError as e:
        raise BakeError(f"the dance '{action.name}' cannot be made again to re-roll it: {e}") from None
    span = source.span
    if abs(span.scene_fps - recipe["scene_fps"]) > 1e-6 or abs(span.source_time(first) - recipe["source_start"]) > 1e-4:
        raise BakeError(f"the sound strip '{span.name}' plays the song elsewhere on the timeline (or the scene's frame "
                        f"rate changed) since '{action.name}' was baked; put it back, or bake the dance again")
    _dance_curves(obj, action, source, start, end)             # the keys to rewrite are there
    return RerollSource(request, action.name, recipe, action[bake.RECIPE_KEY], source)


def load_reroll(source: RerollSource) -> RerollPlan:
    """Decode the song and load the graph or model (no bpy: a worker thread may run it)."""
    plan = bake.load_plan(source.source)
    if plan.frame_end != int(source.recipe["frame_end"]):
        raise BakeError(f"the song of '{source.action_name}' decodes to another length than when it was baked; "
                        "bake the dance again")
    return RerollPlan(source, plan)


def compute_reroll(rplan: RerollPlan, progress: ProgressFn | None = None) -> RerollResult:
    """The dance made again, the new stretch spliced in, both posed onto the rig (no bpy)."""
    plan, recipe, request = rplan.plan, rplan.reroll.recipe, rplan.reroll.request
    bake._go_on(progress, 0, plan.frame_count)
    feats, hz = bake.analyse_song(plan)
    # the same seeds in one pass as when it was made: the LSTM's batch is then the same batch (the
    # graph's dances do not depend on the others of the pass: its own seed is enough)
    seed = int(recipe["seed"])
    batch = [seed] if plan.request.method == "graph" else [int(s) for s in recipe["batch"]]
    base = bake.compose_dances(plan, feats, hz, batch, progress=progress)[batch.index(seed)]
    old = bake.scene_motion(plan, base)
    moves = [list(m) for m in recipe.get("moves", [])]
    style = recipe.get("style") or None
    for earlier_start, earlier_end, earlier_seed in recipe.get("rerolls", []):    # the re-rolls since, in order
        bake._go_on(progress, 0, plan.frame_count)
        old, moves, _ = _spliced(plan, feats, hz, old, moves, earlier_start, earlier_end, earlier_seed, style)
    bake._go_on(progress, 0, plan.frame_count)
    new, new_moves, turn = _spliced(plan, feats, hz, old, moves, request.start, request.end, request.seed, style)
    bake._go_on(progress, plan.frame_count, plan.frame_count)
    score = beatalign.beat_align_score(forward_kinematics(new.rotvecs, new.root), plan.span.scene_fps,
                                       feats.beat_times)
    frames = np.arange(plan.frame_start, plan.frame_end, dtype=np.float64)
    return RerollResult(frames, bake.pose_motion(plan, old), bake.pose_motion(plan, new), score, new_moves, turn)


def _spliced(plan, feats, hz, old: bake.SceneMotion, moves: list, start: int, end: int, seed: int, style):
    """The motion with frames start..end from a new dance of `seed` (in `style`: the dance's own
    genre or LSTM style), its moves' list updated, and the splice's extra turn."""
    dance = bake.compose_dances(plan, feats, hz, [int(seed)], styles=[style])[0]
    new = bake.scene_motion(plan, dance)
    a, b = int(start) - plan.frame_start, int(end) + 1 - plan.frame_start
    out = splice(old.rotvecs, old.root, new.rotvecs, new.root, a, b, plan.span.scene_fps)
    kept = [m for m in moves if not start <= m[0] <= end]
    inside = [[f, c] for f, c in bake.scene_moves(plan, dance) if start < f <= end]
    playing = [[f, c] for f, c in bake.scene_moves(plan, dance) if f <= start]          # the move under `start`
    fresh = ([[int(start), playing[-1][1]]] if playing else []) + inside if dance.moves else []
    merged = sorted(kept + fresh, key=lambda m: m[0])
    return bake.SceneMotion(out.rotvecs, out.root, old.floor, old.locked), merged, out.turn


def apply_reroll(rplan: RerollPlan, result: RerollResult) -> RerollReport:
    """Rewrite the keys on frames start..end of the dance's action (one step), after checking the
    armature, the action and the keys beside the stretch are as they were; BakeError otherwise,
    with the file unchanged."""
    src, plan = rplan.reroll, rplan.plan
    request = src.request
    obj = bake.check_rig_unchanged(plan)
    scene = bpy.data.scenes.get(plan.scene_name)
    action = bpy.data.actions.get(src.action_name)
    if scene is None or action is None or action.get(bake.RECIPE_KEY) != src.recipe_text:
        raise BakeError(f"the dance '{src.action_name}' (or its scene) changed since the re-roll started; nothing "
                        "was changed: re-roll again")
    groups = _dance_curves(obj, action, plan, request.start, request.end)
    frames = result.frames
    inside = (frames >= request.start) & (frames <= request.end)
    beside = [f for f in (request.start - 1, request.end + 1) if plan.frame_start <= f < plan.frame_end]
    old_values, new_values = _channels(obj, result.old), _channels(obj, result.new)
    writes, holds = [], 0
    for (bone, kind), fcs in groups.items():
        mode = obj.pose.bones[bone].rotation_mode if kind == "rotation" else "LOCATION"
        have = {f: _keys_at(fcs, f) for f in beside}
        for f in beside:
            want = old_values[(bone, kind)][:, int(f - plan.frame_start)]
            if have[f] is None or _distance(mode, have[f], want) > KEY_TOLERANCE:
                raise BakeError(f"the keys beside frames {request.start}-{request.end} of '{action.name}' are not "
                                f"the dance as it was made (the {kind} of bone '{bone}' on frame {f}: edited since, "
                                "or made by another version of the add-on); the new stretch would not join them: "
                                "undo the edits, or bake the dance again; nothing was changed")
        values = new_values[(bone, kind)][:, inside]
        if request.start - 1 in have:                  # continuous with the key before, as keyed
            values = _continue_from(mode, values, have[request.start - 1])
        # the stretch's path may reach the kept key after it as the other quaternion of the same
        # rotation (or a whole turn off): held over that one frame rather than swung through
        hold = request.end + 1 in have and _flips(mode, values[:, -1], have[request.end + 1])
        holds += hold
        writes += [(fc, v, hold) for fc, v in zip(fcs, values)]
    for fc, v, hold in writes:
        keying.set_key_values(fc, frames[inside], v, hold_last=hold)
    found = dict(src.recipe)
    found["rerolls"] = [*found.get("rerolls", []), [int(request.start), int(request.end), int(request.seed)]]
    found["moves"] = result.moves
    found["beat_alignment"] = float(result.beat_alignment)
    action[bake.RECIPE_KEY] = json.dumps(found)
    marked = bool(found.get("markers")) and obj.animation_data is not None and obj.animation_data.action == action
    if marked:
        bake.place_markers(scene, [tuple(m) for m in result.moves])
    new_moves = sum(1 for m in result.moves if request.start <= m[0] <= request.end)
    return RerollReport(action.name, (request.start, request.end), int(request.seed), result.beat_alignment,
                        new_moves, marked, holds)


def _dance_curves(obj, action, plan: bake.BakeSource, start: int, end: int) -> dict[tuple[str, str], list]:
    """{(bone, "rotation" or "location"): its F-curves in channel order} of every curve the bake
    keyed (the mapped bones' rotations, the root's location), each with one key per frame of
    start..end; BakeError when one is missing or was thinned."""
    fcurves = keying.action_fcurves(action)
    if fcurves is None:
        raise BakeError(f"action '{action.name}' holds no keys to re-roll; bake the dance again")
    bones = {b for b in plan.bone_map.values() if b} | set(plan.extra_bones)
    out = {}
    want = np.arange(start, end + 1, dtype=np.float32)
    pelvis = plan.bone_map["pelvis"]
    for bone in sorted(b for b in bones if b in obj.pose.bones):
        pb = obj.pose.bones[bone]
        prop, count = _rotation_prop(pb.rotation_mode)
        paths = {(bone, "rotation"): (f"{keying.bone_path(pb)}.{prop}", count)}
        if bone == pelvis:
            paths[(bone, "location")] = (f"{keying.bone_path(pb)}.location", 3)
        for key, (path, count) in paths.items():
            out[key] = []
            for index in range(count):
                fc = fcurves.find(path, index=index)
                keys = keying.key_values(fc)[:, 0] if fc is not None else np.empty(0, np.float32)
                inside = keys[(keys >= start) & (keys <= end)]
                if fc is None or len(inside) != len(want) or not np.array_equal(inside, want):
                    raise BakeError(f"the keys of '{action.name}' on frames {start}-{end} are not one per frame as "
                                    f"the bake made them ({path}[{index}]; keys deleted, added or the bone's rotation "
                                    "mode changed since); bake the dance again to re-roll it")
                out[key].append(fc)
    return out


def _keys_at(fcs: list, frame: int) -> np.ndarray | None:
    """(C,) the values of the curves' keys on `frame`, or None when one has no key there."""
    out = []
    for fc in fcs:
        keys = keying.key_values(fc)
        at = np.flatnonzero(keys[:, 0] == frame)
        if len(at) != 1:
            return None
        out.append(float(keys[at[0], 1]))
    return np.array(out)


def _distance(mode: str, have: np.ndarray, want: np.ndarray) -> float:
    """How far keyed channels are from the dance's, as rotations: a quaternion and its negative are
    the same rotation, Euler angles a whole turn apart are the same angle."""
    if mode == "QUATERNION":
        return float(min(np.abs(have - want).max(), np.abs(have + want).max()))
    if mode in ("AXIS_ANGLE", "LOCATION"):
        return float(np.abs(have - want).max())
    return float(np.abs(np.angle(np.exp(1j * (have - want)))).max())


def _flips(mode: str, last: np.ndarray, after: np.ndarray) -> bool:
    """Whether channels `last` run into the key after them through a sign change of a quaternion or
    a whole turn of an angle (the same rotation, but not the same numbers)."""
    if mode == "QUATERNION":
        return float(np.dot(last, after)) < 0
    if mode in ("AXIS_ANGLE", "LOCATION"):
        return False
    return bool(np.any(np.abs(last - after) > np.pi))


def _continue_from(mode: str, values: np.ndarray, before: np.ndarray) -> np.ndarray:
    """The stretch's channels (C, L) as the representation nearest the key before it: quaternions
    with its sign, Euler angles within half a turn of it (the same rotations; the curves then run
    on without a jump from the kept key, however earlier re-rolls left its sign or turns)."""
    if mode == "QUATERNION" and float(np.dot(values[:, 0], before)) < 0:
        return -values
    if mode not in ("QUATERNION", "AXIS_ANGLE", "LOCATION"):
        return values + 2 * np.pi * np.round((before - values[:, 0]) / (2 * np.pi))[:, None]
    return values


def _rotation_prop(mode: str) -> tuple[str, int]:
    if mode == "QUATERNION":
        return "rotation_quaternion", 4
    if mode == "AXIS_ANGLE":
        return "rotation_axis_angle", 4
    return "rotation_euler", 3


def _channels(obj, pose: RigPose) -> dict[tuple[str, str], np.ndarray]:
    """{(bone, "rotation" or "location"): (C, T) channels} of a posed dance, as the bake keys them."""
    out = {}
    for bone, quats in pose.rotations.items():
        out[(bone, "rotation")] = keying.rotation_channels(obj.pose.bones[bone].rotation_mode, quats)[1]
    out[(pose.root_bone, "location")] = np.asarray(pose.root_location).T
    return out


def reroll(scene: bpy.types.Scene, request: RerollRequest, progress: ProgressFn | None = None) -> RerollReport:
    """read, load, compute and apply in one call (for scripts, the command line and tests)."""
    plan = load_reroll(read_reroll(scene, request))
    return apply_reroll(plan, compute_reroll(plan, progress))
