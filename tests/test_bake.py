"""The bake API in real bpy: a song on the timeline and a rig in, a new action out, the file
unchanged on every refusal or cancel. The model is a tiny, randomly initialised real ONNX model
with the add-on's music features (dance quality is the generator's business, not the bake's);
the graph methods use the shipped action graph (models/dance-graph)."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import soundfile as sf
import torch

from dance_addon.core.choreography.lstm import Cancelled
from dance_addon.core.motion.motion_code import FRAME_DIM
from dance_addon.core.music import features as music_mod
from training.export import export_model
from training.model import DanceGenerator, GeneratorConfig, MusicCoderConfig

F = len(music_mod.FEATURE_COLUMNS)
TINY = GeneratorConfig(music_dim=F, enc_hidden=(16, 16), lstm_hidden=32, dec_hidden=(16, 16),
                       coder=MusicCoderConfig(channels=8, dilations=(1, 2)))


def tiny_model_dir(folder, precision: str = "float32"):
    """A tiny random-init model with the add-on's real music features, exported to folder/tiny."""
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    norm = {"motion_mean": np.zeros(FRAME_DIM), "motion_std": np.full(FRAME_DIM, 0.3),
            "music_mean": np.zeros(F), "music_std": np.ones(F)}
    path = export_model(DanceGenerator(TINY).eval(), folder / "tiny", fps=30.0,
                        features_version=music_mod.FEATURES_VERSION, feature_columns=music_mod.FEATURE_COLUMNS,
                        norm=norm, start_poses=rng.normal(size=(4, FRAME_DIM)),
                        provenance={"data": "random init, for tests"}, licence="MIT", model_version="test",
                        precision=precision)
    return path.parent


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory.mktemp("model"))


@pytest.fixture
def scene_with_song(bpy_module, music_tracks):
    from dance_addon.blender import character

    bpy = bpy_module
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 24, 1.0
    se = scene.sequence_editor_create()
    strip = se.strips.new_sound("song", str(music_tracks[0]), channel=1, frame_start=10)
    strip.frame_offset_start = 24          # trimmed by one second
    arm, _ = character.build_dancer("Dancer")
    return bpy, scene, strip, arm


@pytest.fixture(scope="module")
def graph_dir():
    """The shipped action graph."""
    from dance_addon.core.choreography.model_folders import shipped_graph_dirs

    found = shipped_graph_dirs()
    assert found, "no action graph ships: build models/dance-graph with python -m training.graph.build"
    return found[0]


def _request(model_dir, **kw):
    """A bake of the song onto the dancer; the LSTM method unless `method` says otherwise."""
    from dance_addon.blender.bake import BakeRequest

    return BakeRequest(**{"armature_name": "Dancer", "strip_name": "song", "model_dir": model_dir,
                          "method": "lstm", **kw})


def _pelvis_path(scene, arm, frames) -> np.ndarray:
    """(N, 3) world position of the dancer's pelvis bone at each frame, as Blender evaluates it."""
    out = []
    for f in frames:
        scene.frame_set(int(f))
        out.append(arm.matrix_world @ arm.pose.bones["pelvis"].head)
    return np.array(out)


def _snapshot(bpy):
    """What a bake may change: actions, their users, each object's animation data."""
    return ({a.name: (a.users, a.use_fake_user) for a in bpy.data.actions},
            {o.name: (o.animation_data.action.name if o.animation_data and o.animation_data.action else None,
                      len(o.animation_data.nla_tracks) if o.animation_data else 0) for o in bpy.data.objects})


def test_bake_keys_the_strip_span_into_a_new_action(scene_with_song):
    from dance_addon.blender import bake
    from dance_addon.core.choreography.model_folders import shipped_model_dirs

    bpy, scene, strip, arm = scene_with_song
    old = bpy.data.actions.new("Idle")
    arm.animation_data_create().action = old
    report = bake.bake(scene, _request(shipped_model_dirs()[0], seed=3))   # the real, shipped model
    action = arm.animation_data.action
    assert action.name == report.action == "Dance - song"
    assert report.previous_action == "Idle" and bpy.data.actions["Idle"].use_fake_user
    assert report.frames == (strip.frame_final_start, strip.frame_final_end - 1)
    assert report.preset == "canonical" and report.bones == 20
    assert report.tempo > 0 and report.beats > 10
    assert 0.0 <= report.beat_alignment <= 1.0
    fcurves = action.layers[0].strips[0].channelbag(action.slots[0]).fcurves
    assert len(fcurves) == 20 * 4 + 3
    keys = np.empty(2 * len(fcurves[0].keyframe_points), dtype=np.float32)
    fcurves[0].keyframe_points.foreach_get("co", keys)
    assert keys[0] == strip.frame_final_start and keys[-2] == strip.frame_final_end - 1
    # the dance moves: bones turn between frames
    scene.frame_set(strip.frame_final_start + 10)
    a = np.array(arm.pose.bones["left_elbow"].rotation_quaternion)
    scene.frame_set(strip.frame_final_start + 40)
    b = np.array(arm.pose.bones["left_elbow"].rotation_quaternion)
    assert not np.allclose(a, b, atol=1e-4)


def test_the_default_method_is_the_action_graph():
    from dance_addon.blender.bake import BakeRequest
    from dance_addon.core.choreography import compose

    req = BakeRequest("Dancer", "song")
    assert req.method == compose.DEFAULT_METHOD == "graph"
    assert req.model_dir is None and req.graph_dir is None and req.floor_radius == compose.FLOOR_RADIUS


@pytest.mark.parametrize("method", ["graph", "guided"])
def test_graph_bake_travels_with_root_motion_and_stays_put_in_place(scene_with_song, model_dir, graph_dir, method):
    """10 s of the song by a graph method: the pelvis bone's keys travel the floor with "full" root
    motion (real mocap root translation) and stay over one spot "in_place"; the report names the
    method and the clips the moves came from."""
    from dance_addon.blender import bake, bake_job

    bpy, scene, strip, arm = scene_with_song
    first = strip.frame_final_start
    span = {"frame_start": first, "frame_end": first + 10 * 24, "seed": 2}
    lstm = {"model_dir": model_dir} if method == "guided" else {"model_dir": None}
    report = bake.bake(scene, _request(method=method, graph_dir=graph_dir, **lstm, **span))
    assert report.method == method and report.summary.startswith(f"{method}: ")
    moves = int(report.summary.split(": ")[1].split(" moves")[0])
    assert moves >= 2 and sum(n for _, n in report.clips) == moves
    most = report.summary.split("(most from ")[1].split(")")[0]
    assert dict(report.clips)[most] == report.clips[0][1]             # the most used clip, with its count
    if method == "guided":
        assert report.style == "style 0" and "guided by style style 0" in report.summary
    text = bake_job.describe(report)
    assert text.startswith(report.summary + "; 'Dance - song'") and f"moves from {report.clips[0][0]}" in text
    fcurves = arm.animation_data.action.layers[0].strips[0].channelbag(arm.animation_data.action.slots[0]).fcurves
    assert {fc.array_index for fc in fcurves if fc.data_path == 'pose.bones["pelvis"].location'} == {0, 1, 2}

    frames = np.arange(first, first + 10 * 24, 6)
    travel = _pelvis_path(scene, arm, frames)
    assert np.hypot(*np.ptp(travel[:, :2], axis=0)) > 0.3                # metres over the floor (Blender: X, Y)
    assert np.abs(travel[:, 2] - travel[0, 2]).max() < 0.5                # the pelvis stays at dancing height

    in_place = bake.bake(scene, _request(method=method, graph_dir=graph_dir, root_motion="in_place", **lstm, **span))
    assert arm.animation_data.action.name == in_place.action != report.action
    still = _pelvis_path(scene, arm, frames)
    assert np.hypot(*np.ptp(still[:, :2], axis=0)) < 1e-3
    assert np.allclose(still[:, 2], travel[:, 2], atol=1e-4)              # heights follow the same floor rule


@pytest.mark.parametrize("feet", ["lock", "off"])
def test_root_orientation_only_and_floor_as_danced_on_the_keys(scene_with_song, graph_dir, feet):
    """Root "Orientation Only": the root bone's location keys stay at rest (it neither travels nor
    rises) while its rotation keys turn. Floor "As Danced" (keep): the pelvis at the dance's own
    heights (the mocap's), where "On the Ground" moves it to put the lowest foot on the floor."""
    from dance_addon.blender import bake

    bpy, scene, strip, arm = scene_with_song
    first = strip.frame_final_start
    kw = {"method": "graph", "graph_dir": graph_dir, "model_dir": None, "feet": feet, "seed": 2,
          "frame_start": first, "frame_end": first + 8 * 24}
    frames = np.arange(first, first + 8 * 24, 6)

    bake.bake(scene, _request(root_motion="orientation", **kw))
    bag = arm.animation_data.action.layers[0].strips[0].channelbag(arm.animation_data.action.slots[0])
    location = [fc for fc in bag.fcurves if fc.data_path == 'pose.bones["pelvis"].location']
    assert len(location) == 3 and all(np.allclose([k.co[1] for k in fc.keyframe_points], 0.0) for fc in location)
    still = _pelvis_path(scene, arm, frames)
    assert np.ptp(still, axis=0).max() < 1e-4
    turning = np.array([_pelvis_turn(scene, arm, f) for f in frames])
    assert np.ptp(turning) > 0.1                                          # radians: the pelvis still turns

    plan = bake.plan_bake(scene, _request(floor="keep", **kw))
    result = bake.compute_bake(plan)
    bake.apply_bake(plan, result)
    as_danced = _pelvis_path(scene, arm, frames)
    # the code-built dancer has the canonical proportions (scale 1) and its soles on Z = 0
    assert np.allclose(as_danced[:, 2], result.root[frames - first, 1], atol=1e-4)
    bake.bake(scene, _request(floor="ground", **kw))
    grounded = _pelvis_path(scene, arm, frames)
    assert np.abs(grounded[:, 2] - as_danced[:, 2]).max() > 0.01
    assert np.allclose(grounded[:, :2], as_danced[:, :2], atol=1e-4)     # the same travel either way


def _pelvis_turn(scene, arm, frame) -> float:
    """The pelvis bone's heading in the world at a frame (radians about Z)."""
    scene.frame_set(int(frame))
    m = np.array(arm.matrix_world.to_3x3()) @ np.array(arm.pose.bones["pelvis"].matrix.to_3x3())
    return float(np.arctan2(m[1, 0], m[0, 0]))


def test_face_front_turns_the_root_path_with_the_dancer():
    """A dancer facing 60 degrees off +Z and walking the way it faces ends up facing +Z and walking +Z."""
    from dance_addon.blender.bake import face_front

    yaw = np.radians(60.0)
    rotvecs = np.zeros((50, 20, 3))
    rotvecs[:, 0, 1] = yaw                                            # turned about +Y
    rotvecs[:, 4, 0] = np.linspace(0, 0.5, 50)                        # and a knee moving, which is kept
    root = np.zeros((50, 3))
    root[:, 0], root[:, 2] = np.sin(yaw) * np.linspace(0, 2, 50), np.cos(yaw) * np.linspace(0, 2, 50)
    root[:, 1] = 0.9
    turned, path = face_front(rotvecs, root)
    assert np.allclose(turned[:, 0], 0.0, atol=1e-9)
    assert np.allclose(turned[:, 1:], rotvecs[:, 1:])
    assert np.allclose(path[:, 0], 0.0, atol=1e-9) and np.allclose(path[:, 2], np.linspace(0, 2, 50))
    assert np.allclose(path[:, 1], 0.9)


def test_same_seed_same_dance_other_seed_other_dance(scene_with_song, model_dir):
    from dance_addon.blender import bake

    bpy, scene, *_ = scene_with_song
    plan = bake.plan_bake(scene, _request(model_dir, seed=1))
    r1, r2 = bake.compute_bake(plan), bake.compute_bake(plan)
    assert np.array_equal(r1.rotvecs, r2.rotvecs)
    r3 = bake.compute_bake(bake.plan_bake(scene, _request(model_dir, seed=2)))
    assert not np.allclose(r1.rotvecs, r3.rotvecs)


def test_push_to_nla_leaves_the_active_action(scene_with_song, model_dir):
    from dance_addon.blender import bake

    bpy, scene, strip, arm = scene_with_song
    old = bpy.data.actions.new("Idle")
    arm.animation_data_create().action = old
    report = bake.bake(scene, _request(model_dir, push_to_nla=True))
    assert arm.animation_data.action == old
    track = arm.animation_data.nla_tracks[report.action]
    assert track.strips[0].action.name == report.action
    assert track.strips[0].frame_start == strip.frame_final_start


def test_second_bake_makes_a_second_action(scene_with_song, model_dir):
    from dance_addon.blender import bake

    bpy, scene, _, arm = scene_with_song
    first = bake.bake(scene, _request(model_dir, seed=0))
    second = bake.bake(scene, _request(model_dir, seed=1))
    assert first.action != second.action
    assert bpy.data.actions[first.action].use_fake_user        # the first dance is kept
    assert arm.animation_data.action.name == second.action


def test_a_packed_song_bakes_without_its_file(scene_with_song, model_dir, tmp_path):
    from dance_addon.blender import bake

    bpy, scene, *_ = scene_with_song
    path = tmp_path / "packed.wav"
    sf.write(path, np.random.default_rng(0).normal(size=44100 * 4).astype(np.float32) * 0.2, 44100)
    strip = scene.sequence_editor.strips.new_sound("packed", str(path), channel=2, frame_start=1)
    strip.sound.pack()
    path.unlink()                                   # only the copy inside the .blend is left
    report = bake.bake(scene, _request(model_dir, strip_name="packed"))
    assert report.frames == (1, strip.frame_final_end - 1)


def test_cancel_leaves_the_file_unchanged(scene_with_song, model_dir):
    from dance_addon.blender import bake

    bpy, scene, *_ = scene_with_song
    before = _snapshot(bpy)
    with pytest.raises(Cancelled):
        bake.bake(scene, _request(model_dir), progress=lambda done, total: done < total // 3)
    assert _snapshot(bpy) == before


@pytest.mark.parametrize("case", ["no_strip", "silent", "missing_file", "corrupt_file", "edit_mode",
                                  "no_bones", "bad_model", "other_skeleton_model", "short_range",
                                  "unknown_method", "negative_seed", "zero_floor_radius", "missing_graph",
                                  "corrupt_graph"])
def test_bad_input_is_refused_and_changes_nothing(scene_with_song, model_dir, tmp_path, case, request):
    from dance_addon.blender import bake

    bpy, scene, strip, arm = scene_with_song
    req = _request(model_dir)
    if case == "no_strip":
        req.strip_name = "nothing"
        match = "no sound strip named 'nothing'"
    elif case == "silent":
        path = tmp_path / "silence.wav"
        sf.write(path, np.zeros(44100 * 5, np.float32), 44100)
        scene.sequence_editor.strips.new_sound("quiet", str(path), channel=2, frame_start=1)
        req.strip_name = "quiet"
        match = "silent"
    elif case == "missing_file":
        path = tmp_path / "gone.wav"
        sf.write(path, np.zeros(44100, np.float32), 44100)
        scene.sequence_editor.strips.new_sound("gone", str(path), channel=2, frame_start=1)
        path.unlink()
        req.strip_name = "gone"
        match = "gone.wav"
    elif case == "corrupt_file":
        path = tmp_path / "bad.wav"
        sf.write(path, np.random.default_rng(0).normal(size=44100).astype(np.float32) * 0.1, 44100)
        scene.sequence_editor.strips.new_sound("bad", str(path), channel=2, frame_start=1)
        path.write_bytes(b"RIFF\x00\x01garbage" * 10)
        req.strip_name = "bad"
        match = "bad.wav"
    elif case == "edit_mode":
        bpy.context.view_layer.objects.active = arm
        bpy.ops.object.mode_set(mode="EDIT")
        match = "Edit Mode"
    elif case == "no_bones":
        other = bpy.data.objects.new("Blob", bpy.data.armatures.new("Blob"))
        scene.collection.objects.link(other)
        bpy.context.view_layer.objects.active = other
        bpy.ops.object.mode_set(mode="EDIT")
        other.data.edit_bones.new("Bone").tail = (0, 0, 1)
        bpy.ops.object.mode_set(mode="OBJECT")
        req.armature_name = "Blob"
        match = "cannot be mapped"
    elif case == "bad_model":
        bad = shutil.copytree(model_dir, tmp_path / "bad_model")
        (bad / "rollout.onnx").write_bytes(b"not a model")
        req.model_dir = bad
        match = "corrupt"
    elif case == "other_skeleton_model":
        import json

        other = shutil.copytree(model_dir, tmp_path / "other")
        meta = json.loads((other / "model.json").read_text())
        meta["joint_names"] = meta["joint_names"][:-1] + ["right_hand"]
        (other / "model.json").write_text(json.dumps(meta))
        req.model_dir = other
        match = "canonical 20-joint skeleton"
    elif case == "unknown_method":
        req.method = "tango"
        match = "unknown method 'tango'; choose one of graph, guided, lstm"
    elif case == "negative_seed":
        req.seed = -1
        match = "seed must be 0 or above"
    elif case == "zero_floor_radius":
        req.method, req.floor_radius = "graph", 0.0
        match = "floor radius must be more than 0"
    elif case == "missing_graph":
        req.method, req.graph_dir = "graph", tmp_path / "no-graph"
        match = "no graph.json found"
    elif case == "corrupt_graph":
        bad = shutil.copytree(request.getfixturevalue("graph_dir"), tmp_path / "bad_graph")
        (bad / "graph.npz").write_bytes(b"not a graph")
        req.method, req.graph_dir = "guided", bad
        match = "corrupt"
    else:
        req.frame_start, req.frame_end = 100, 110
        match = "shorter than"
    before = _snapshot(bpy)
    with pytest.raises(bake.BakeError, match=match):
        bake.bake(scene, req)
    assert _snapshot(bpy) == before
    if case == "edit_mode":
        bpy.ops.object.mode_set(mode="OBJECT")
