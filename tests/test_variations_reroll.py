"""The artist's loop in real bpy: variations (N dances of one song in one pass, each its own action),
re-rolling a range of a baked dance (only those frames change, joined without a jump), markers at
the moves, and sound strips that decode in part or not at all. The graph method with the shipped
action graph, and the tiny random LSTM of test_bake for the batched LSTM."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from dance_addon.core.music import features as music_mod
from test_bake import _snapshot, tiny_model_dir
from test_cli import _mp3_of

FPS = 24
SONG_SECONDS = 20


@pytest.fixture(scope="module")
def short_song(tmp_path_factory, music_tracks):
    """The first SONG_SECONDS of a track as a WAV (short songs keep the tests fast)."""
    path = tmp_path_factory.mktemp("song") / "song.wav"
    samples = music_mod.load_audio(music_tracks[3])[: SONG_SECONDS * music_mod.ANALYSIS_SR]
    sf.write(path, samples, music_mod.ANALYSIS_SR)
    return path


@pytest.fixture
def scene(bpy_module, short_song):
    """A 24 fps scene with the song from frame 1 and the code-built dancer, whose own action is "Idle"."""
    from dance_addon.blender import character

    bpy = bpy_module
    sc = bpy.context.scene
    sc.render.fps, sc.render.fps_base = FPS, 1.0
    sc.sequence_editor_create().strips.new_sound("song", str(short_song), channel=1, frame_start=1)
    arm, _ = character.build_dancer("Dancer")
    arm.animation_data_create().action = bpy.data.actions.new("Idle")
    return bpy, sc, arm


def _request(**kw):
    from dance_addon.blender.bake import BakeRequest

    return BakeRequest(**{"armature_name": "Dancer", "strip_name": "song", "method": "graph", **kw})


def _keys(action) -> dict[tuple[str, int], np.ndarray]:
    """{(data path, index): (K, 2) frame and value of every key, and (K, 4) its handles}."""
    from dance_addon.blender import keying

    out = {}
    for fc in keying.action_fcurves(action):
        n = len(fc.keyframe_points)
        handles = np.empty(4 * n, np.float32)
        left, right = np.empty(2 * n, np.float32), np.empty(2 * n, np.float32)
        fc.keyframe_points.foreach_get("handle_left", left)
        fc.keyframe_points.foreach_get("handle_right", right)
        handles = np.concatenate([left.reshape(n, 2), right.reshape(n, 2)], axis=1)
        out[(fc.data_path, fc.array_index)] = (keying.key_values(fc), handles)
    return out


def _joint_paths(scene, arm, frames) -> np.ndarray:
    """(F, B, 3) world positions of the heads of the dancer's bones at each frame, as Blender poses them."""
    out = []
    mw = np.array(arm.matrix_world)
    for f in frames:
        scene.frame_set(int(f))
        heads = np.array([list(pb.head) for pb in arm.pose.bones])
        out.append(heads @ mw[:3, :3].T + mw[:3, 3])
    return np.array(out)


# -- variations --------------------------------------------------------------------------------------


def test_variations_make_one_action_each_the_first_active_the_user_s_kept(scene):
    """Four variations in one bake: four actions "Dance - song #1".."#4" (seeds 0-3), the first
    active, all kept with the user's own action; each carries its recipe; each is the dance that a
    bake of its seed alone makes (bit for bit: the graph's dances share only the song's analysis)."""
    from dance_addon.blender import bake

    bpy, sc, arm = scene
    span = {"frame_start": 1, "frame_end": 1 + 8 * FPS}
    report = bake.bake(sc, _request(variations=4, seed=0, **span))
    names = [f"Dance - song #{k}" for k in range(1, 5)]
    assert [a for a, _ in report.variations] == names and report.action == names[0]
    assert sorted(a.name for a in bpy.data.actions) == sorted(names + ["Idle"])
    assert arm.animation_data.action.name == names[0]
    assert report.previous_action == "Idle" and all(bpy.data.actions[n].use_fake_user for n in names + ["Idle"])
    assert [a.name for a in bake.rig_dances(arm)] == names
    recipes = [bake.recipe_of(bpy.data.actions[n]) for n in names]
    assert [r["seed"] for r in recipes] == [0, 1, 2, 3] and all(r["batch"] == [0, 1, 2, 3] for r in recipes)
    assert [r["beat_alignment"] for r in recipes] == [b for _, b in report.variations]
    assert all(0.0 <= b <= 1.0 for _, b in report.variations)
    keys = {n: _keys(bpy.data.actions[n]) for n in names}
    elbow = ('pose.bones["left_elbow"].rotation_quaternion', 1)
    assert not np.allclose(keys[names[0]][elbow][0], keys[names[2]][elbow][0], atol=1e-3)
    # variation #3 is the bake of seed 2 alone
    alone = bake.bake(sc, _request(seed=2, action_name="alone", **span))
    assert alone.action == "alone"
    single = _keys(bpy.data.actions["alone"])
    assert all(np.array_equal(single[k][0], keys[names[2]][k][0]) for k in single)
    # one click to switch: the operator's API makes #3 active and keeps the others
    bake.use_dance(sc, arm, bpy.data.actions[names[2]])
    assert arm.animation_data.action.name == names[2] and arm.animation_data.action_slot is not None
    assert len(bake.rig_dances(arm)) == 5
    with pytest.raises(bake.BakeError, match="'Idle' is not one of armature 'Dancer''s dances"):
        bake.use_dance(sc, arm, bpy.data.actions["Idle"])


def test_lstm_variations_run_as_one_batch_each_its_seed_s_dance(scene, tmp_path):
    """The LSTM's variations are one batched pass; each is the dance of its seed (the batch does not
    change a dance beyond float rounding)."""
    from dance_addon.blender import bake

    bpy, sc, arm = scene
    model = tiny_model_dir(tmp_path)
    span = {"frame_start": 1, "frame_end": 1 + 4 * FPS, "method": "lstm", "model_dir": model}
    plan = bake.plan_bake(sc, _request(variations=3, seed=5, **span))
    calls = []
    result = bake.compute_bake(plan, lambda done, total: calls.append((done, total)) or True)
    assert [r.seed for r in (result, *result.others)] == [5, 6, 7]
    frames = 4 * 30 + 1                                   # the LSTM's frames (30 fps) over the 4 s
    generated = [done for done, total in calls if total == frames]
    assert generated == sorted(generated) and generated[-1] == frames   # one pass over the song, not three
    for r in (result, *result.others):
        one = bake.compute_bake(bake.plan_bake(sc, _request(seed=r.seed, **span)))
        assert np.allclose(one.rotvecs, r.rotvecs, atol=1e-4)


# -- re-roll -----------------------------------------------------------------------------------------


def _reroll(sc, start, end, seed, **kw):
    from dance_addon.blender import reroll

    return reroll.reroll(sc, reroll.RerollRequest("Dancer", start, end, seed, **kw))


def test_reroll_changes_only_its_frames_and_joins_without_a_jump(scene):
    """Re-roll frames 300-450 of a 20 s dance: every key outside them keeps its frame and value bit
    for bit (and its handles, but for the keys within a dozen frames of the range: Blender's
    auto-clamped handles with continuous-acceleration smoothing are solved along the curve, so
    they ease into the new neighbours); the range dances something else; at both joins the
    largest move of any bone from one frame to the next, as Blender poses the rig, is no larger
    than the dance's own 99th percentile of that move."""
    from dance_addon.blender import bake

    bpy, sc, arm = scene
    report = bake.bake(sc, _request(seed=1))
    action = bpy.data.actions[report.action]
    first, last = report.frames
    assert (first, last) == (1, SONG_SECONDS * FPS)
    before = _keys(action)
    frames = np.arange(first, last + 1)
    path_before = _joint_paths(sc, arm, frames)
    rr = _reroll(sc, 300, 450, 7)
    assert rr.frames == (300, 450) and rr.seed == 7 and arm.animation_data.action == action
    after = _keys(action)
    assert after.keys() == before.keys()
    changed = 0
    for k, (co, handles) in before.items():
        co2, handles2 = after[k]
        out = (co[:, 0] < 300) | (co[:, 0] > 450)
        assert np.array_equal(co2[out], co[out]), k                       # frames and values, bit for bit
        far = (co[:, 0] < 300 - 24) | (co[:, 0] > 450 + 24)
        assert np.array_equal(handles2[far], handles[far]), k
        changed += not np.allclose(co2[~out, 1], co[~out, 1], atol=1e-3)
    assert changed > 40                                                  # most of the 83 curves dance anew
    recipe = bake.recipe_of(action)
    assert recipe["rerolls"] == [[300, 450, 7]] and recipe["beat_alignment"] == rr.beat_alignment
    # each bone's quaternion keys run on into the kept ones without a sign change (or, where its path
    # arrives as the other quaternion of the same rotation, the last new key is held over that frame)
    from dance_addon.blender import keying

    fcurves = keying.action_fcurves(action)
    held = 0
    for pb in arm.pose.bones:
        path = f'pose.bones["{pb.name}"].rotation_quaternion'
        q = np.stack([after[(path, i)][0][:, 1] for i in range(4)], axis=1)          # (K, 4), key k on frame k + 1
        assert np.dot(q[298], q[299]) > 0                                         # frames 299 -> 300
        if np.dot(q[449], q[450]) < 0:                                            # frames 450 -> 451
            held += 1
            assert all(fcurves.find(path, index=i).keyframe_points[449].interpolation == "CONSTANT" for i in range(4))
    assert held == rr.held
    path = _joint_paths(sc, arm, frames)
    assert np.array_equal(path[frames < 300], path_before[frames < 300])
    assert np.allclose(path[frames > 450], path_before[frames > 450], atol=1e-6)
    steps = np.linalg.norm(np.diff(path, axis=0), axis=-1).max(axis=1)   # (F - 1,) metres
    own = np.percentile(np.linalg.norm(np.diff(path_before, axis=0), axis=-1).max(axis=1), 99)
    joins = steps[[299 - first, 450 - first]]                            # 299 -> 300 and 450 -> 451
    assert np.all(joins <= own), (joins, own)


def test_a_second_reroll_builds_on_the_first_and_cancel_changes_nothing(scene):
    """A second re-roll overlapping the first makes the dance with the first one again (the recipe
    keeps the re-rolls), so keys outside its own range stay as the first left them, and a third
    over the first's range again joins the keys the others left; a re-roll cancelled in its worker
    changes nothing."""
    from dance_addon.blender import bake, reroll
    from dance_addon.core.choreography.lstm import Cancelled

    bpy, sc, arm = scene
    report = bake.bake(sc, _request(seed=0, frame_start=1, frame_end=1 + 12 * FPS))
    action = bpy.data.actions[report.action]
    _reroll(sc, 60, 160, 3)
    once = _keys(action)
    _reroll(sc, 120, 220, 4)
    twice = _keys(action)
    for k, (co, _) in once.items():
        out = (co[:, 0] < 120) | (co[:, 0] > 220)
        assert np.array_equal(twice[k][0][out], co[out]), k
    assert bake.recipe_of(action)["rerolls"] == [[60, 160, 3], [120, 220, 4]]
    _reroll(sc, 60, 160, 5)                                  # the first range again, over both
    assert bake.recipe_of(action)["rerolls"] == [[60, 160, 3], [120, 220, 4], [60, 160, 5]]

    before, keys = _snapshot(bpy), _keys(action)
    with pytest.raises(Cancelled):
        reroll.reroll(sc, reroll.RerollRequest("Dancer", 30, 90, 9), progress=lambda done, total: False)
    assert _snapshot(bpy) == before and len(bake.recipe_of(action)["rerolls"]) == 3
    assert all(np.array_equal(keys[k][0], v[0]) for k, v in _keys(action).items())


@pytest.mark.parametrize("case", ["no_dance", "outside", "too_short", "strip_moved", "keys_edited", "negative_seed"])
def test_a_reroll_that_cannot_be_done_says_why_and_changes_nothing(scene, case):
    from dance_addon.blender import bake, reroll

    bpy, sc, arm = scene
    report = bake.bake(sc, _request(seed=0, frame_start=1, frame_end=1 + 6 * FPS))
    action = bpy.data.actions[report.action]
    start, end, seed = 40, 100, 2
    if case == "no_dance":
        arm.animation_data.action = bpy.data.actions["Idle"]
        match = "action 'Idle' of armature 'Dancer' was not made by Bake Dance"
    elif case == "outside":
        start, end = 100, 200
        match = r"frames 100-200 are not inside the dance 'Dance - song' \(frames 1-144\)"
    elif case == "too_short":
        start, end = 50, 51
        match = "frames 50-51 are fewer than 4"
    elif case == "strip_moved":
        sc.sequence_editor.strips["song"].frame_start = 5
        match = "plays the song elsewhere on the timeline"
    elif case == "negative_seed":
        seed = -1
        match = "seed must be 0 or above"
    else:
        from dance_addon.blender import keying

        fc = keying.action_fcurves(action).find('pose.bones["left_elbow"].rotation_quaternion', index=1)
        fc.keyframe_points[end + 1 - 1].co.y += 0.3                          # the key on frame end + 1
        fc.update()
        match = r"the keys beside frames 40-100 of 'Dance - song' are not the dance as it was made"
    before, keys = _snapshot(bpy), _keys(action)
    with pytest.raises(bake.BakeError, match=match):
        reroll.reroll(sc, reroll.RerollRequest("Dancer", start, end, seed))
    assert _snapshot(bpy) == before
    assert all(np.array_equal(keys[k][0], v[0]) for k, v in _keys(action).items())


# -- markers -----------------------------------------------------------------------------------------


def test_markers_at_the_moves_replace_the_add_on_s_own_and_keep_the_user_s(scene):
    from dance_addon.blender import bake

    bpy, sc, arm = scene
    sc.timeline_markers.new("chorus", frame=50)
    span = {"frame_start": 1, "frame_end": 1 + 10 * FPS, "markers": True}
    report = bake.bake(sc, _request(seed=0, **span))
    ours = sorted((m.frame, m.name) for m in sc.timeline_markers if m.name.startswith(bake.MARKER_PREFIX))
    moves = bake.recipe_of(bpy.data.actions[report.action])["moves"]
    assert report.markers == len(ours) == len(moves) >= 3
    assert ours == sorted((f, bake.MARKER_PREFIX + c) for f, c in moves)
    assert ours[0][0] == 1 and all(not m.select for m in sc.timeline_markers if m.name != "chorus")
    clips = {c for c, _ in report.clips}
    assert {name[len(bake.MARKER_PREFIX):].replace(" (mirrored)", "") for _, name in ours} == clips
    # a second bake replaces them; the user's marker stays
    bake.bake(sc, _request(seed=2, **span))
    names = [m.name for m in sc.timeline_markers]
    assert "chorus" in names and sum(n.startswith(bake.MARKER_PREFIX) for n in names) == len(names) - 1
    again = sorted(m.frame for m in sc.timeline_markers if m.name.startswith(bake.MARKER_PREFIX))
    assert again != [f for f, _ in ours]
    # a re-roll between two of them (one move) puts the new stretch's moves there
    a, b = again[1], again[2]
    rr = _reroll(sc, a, b - 1, 5)
    assert rr.markers and any(m.frame == a for m in sc.timeline_markers if m.name.startswith(bake.MARKER_PREFIX))
    assert json.loads(bpy.data.actions[rr.action][bake.RECIPE_KEY])["moves"][0][0] == 1
    with pytest.raises(bake.BakeError, match="markers show the moves of the action graph's methods"):
        bake.bake(sc, _request(method="lstm", **span))


# -- sound strips that do not decode in full ------------------------------------------------------------


def test_a_truncated_mp3_strip_bakes_to_where_its_audio_ends(scene, music_tracks, tmp_path):
    """The first 100 kB of an MP3 of a ~30 s song: Blender sizes the strip by its header (29.6 s),
    its decoder reads 4.8 s; the bake dances those 4.8 s and says so."""
    from dance_addon.blender import bake

    bpy, sc, arm = scene
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(_mp3_of(music_tracks[2], tmp_path / "song.mp3").read_bytes()[:100_000])
    strip = sc.sequence_editor.strips.new_sound("cut", str(cut), channel=2, frame_start=1)
    assert strip.frame_final_duration > 25 * FPS
    report = bake.bake(sc, _request(strip_name="cut"))
    assert report.frames == (1, 116)                         # 4.8 s at 24 fps
    assert report.audio_note == ("the sound file cut.mp3 decodes only its first 4.8 s (cut short?): the dance ends "
                                 "where its audio does, at frame 116")
    assert report.audio_note in report.messages
    action = arm.animation_data.action
    assert action.name == "Dance - cut" and tuple(action.frame_range) == (1.0, 116.0)


@pytest.mark.parametrize("content", [b"RIFF\x00\x01garbage" * 10, b"\xff\xfb garbage" * 1000],
                         ids=["wav-header-and-garbage", "mp3-frame-header-and-garbage"])
def test_a_strip_whose_audio_cannot_be_decoded_says_so(scene, tmp_path, content):
    """A sound strip made from a file Blender cannot decode (it gives it a frame or two): one line
    saying the strip cannot be decoded, not that the frame range is too short; nothing changed."""
    from dance_addon.blender import bake

    bpy, sc, arm = scene
    path = tmp_path / ("bad.wav" if content.startswith(b"RIFF") else "bad.mp3")
    path.write_bytes(content)
    sc.sequence_editor.strips.new_sound("bad", str(path), channel=2, frame_start=1)
    before = _snapshot(bpy)
    with pytest.raises(bake.BakeError) as refused:
        bake.bake(sc, _request(strip_name="bad"))
    text = str(refused.value)
    assert text.startswith(f"the sound strip 'bad' ({path.name}) cannot be decoded: ") and "\n" not in text
    assert text.endswith("; pick a strip with a readable audio file") and "frame range" not in text
    assert _snapshot(bpy) == before


def test_reroll_of_an_lstm_dance_made_among_variations(scene, tmp_path):
    """A dance of the LSTM made as the second of three variations is made again from the same batch
    (so the keys beside the range match it) and re-rolled in its own style."""
    from dance_addon.blender import bake

    bpy, sc, arm = scene
    model = tiny_model_dir(tmp_path)
    report = bake.bake(sc, _request(method="lstm", model_dir=model, variations=3, seed=1, frame_start=1,
                                    frame_end=1 + 6 * FPS))
    second = bpy.data.actions[report.variations[1][0]]
    bake.use_dance(sc, arm, second)
    before = _keys(second)
    rr = _reroll(sc, 40, 100, 9)
    assert rr.action == second.name and bake.recipe_of(second)["rerolls"] == [[40, 100, 9]]
    after = _keys(second)
    for k, (co, _) in before.items():
        out = (co[:, 0] < 40) | (co[:, 0] > 100)
        assert np.array_equal(after[k][0][out], co[out]), k
    assert any(not np.allclose(after[k][0][(co[:, 0] >= 40) & (co[:, 0] <= 100)],
                               co[(co[:, 0] >= 40) & (co[:, 0] <= 100)], atol=1e-3) for k, (co, _) in before.items())
