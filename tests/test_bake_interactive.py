"""The add-on as a user drives it in Blender's window, in the enabled extension (real bpy):

- the picks stay put: the song and the model are stored by name and path, the armature by pointer;
  adding, removing and renaming strips keeps the pick, or the bake says it has gone;
- the interactive bake: Bake's invoke starts a job (bake_job.py) whose worker thread decodes,
  loads and dances while the operator's modal step (operators.bake_step) shows the progress on
  each timer tick and applies the dance at the end. Blender cannot make window events headless,
  so the tests call that step with plain (type, value) events, as Blender calls modal();
- Detect Bones and Save Bone Map report every failure as one line and change nothing.
"""
from __future__ import annotations

import importlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from test_bake import _snapshot
from test_extension import MODULE, linked_extension  # noqa: F401  (the fixture, asked for by name below)


@dataclass
class Event:
    """What modal() reads of a window event."""
    type: str
    value: str = "NOTHING"


TIMER, ESC = Event("TIMER"), Event("ESC", "PRESS")
SECONDS = 5          # of the song each bake dances: keeps the tests short


@pytest.fixture
def addon(request, music_tracks):
    """The enabled extension's modules, a scene with two songs (on channels 1 and 3) and the dancer
    picked, set to bake SECONDS of the first song by the action graph."""
    bpy = request.getfixturevalue("linked_extension")
    import addon_utils

    addon_utils.enable(MODULE, default_set=True, handle_error=None)
    mods = {name: importlib.import_module(f"{MODULE}.blender.{name}")
            for name in ("bake", "bake_job", "character", "operators", "properties")}
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 24, 1.0
    se = scene.sequence_editor_create()
    se.strips.new_sound("A", str(music_tracks[0]), channel=1, frame_start=1)
    se.strips.new_sound("C", str(music_tracks[1]), channel=3, frame_start=1)
    arm, _ = mods["character"].build_dancer("Dancer")
    s = scene.dance
    s.armature, s.strip = arm, "A"
    s.use_strip_range, s.frame_start, s.frame_end = False, 1, SECONDS * 24
    yield SimpleNamespace(bpy=bpy, scene=scene, arm=arm, s=s, **mods)
    for job in list(mods["bake_job"]._RUNNING.values()):      # a failed test must not leave a worker running
        job.cancel()
        job.wait()
    mods["bake_job"]._RUNNING.clear()


def _bake_refused(a) -> str:
    """The Bake operator's refusal, as a script calling it sees it (the poll message)."""
    assert not a.bpy.ops.dance.bake.poll()
    with pytest.raises(RuntimeError) as refused:
        a.bpy.ops.dance.bake()
    return str(refused.value)


# -- picks -----------------------------------------------------------------------------------------


def test_song_pick_stays_through_added_removed_and_renamed_strips(addon):
    a = addon
    se = a.scene.sequence_editor
    a.s.strip = "C"
    assert a.operators.request_from_settings(a.bpy.context).strip_name == "C"
    # another song on channel 1 sorts before C: a pick by position would now be "B"
    se.strips.new_sound("B", se.strips["A"].sound.filepath, channel=1, frame_start=200)
    assert a.s.strip == "C" and a.operators.request_from_settings(a.bpy.context).strip_name == "C"
    se.strips.remove(se.strips["A"])
    assert a.operators.request_from_settings(a.bpy.context).strip_name == "C"
    # the search offers the scene's sound strips, by name, with their file, channel and frames
    offered = dict(a.properties._strip_candidates(a.s, a.bpy.context, ""))
    assert sorted(offered) == ["B", "C"] and "channel 3" in offered["C"]
    # the picked strip renamed: the bake says the pick has gone, and what to do
    se.strips["C"].name = "C (remix)"
    with pytest.raises(a.bake.BakeError, match="the song 'C' is gone.*pick the song again"):
        a.operators.request_from_settings(a.bpy.context)
    before = _snapshot(a.bpy)
    assert "the song 'C' is gone" in _run_bake(a)
    assert _snapshot(a.bpy) == before
    # nothing picked: the scene's only sound strip, else a request to pick
    a.s.strip = ""
    with pytest.raises(a.bake.BakeError, match="has 2 sound strips; pick the song"):
        a.operators.request_from_settings(a.bpy.context)
    se.strips.remove(se.strips["B"])
    assert a.operators.request_from_settings(a.bpy.context).strip_name == "C (remix)"


def _run_bake(a) -> str:
    """Bake through the operator; the error it reported (the file must be unchanged), or ""."""
    try:
        assert a.bpy.ops.dance.bake() == {"FINISHED"}
    except RuntimeError as e:
        assert "Traceback" not in str(e)
        return str(e)
    return ""


def test_armature_pick_follows_its_renames(addon):
    a = addon
    other, _ = a.character.build_dancer("Another")
    a.arm.name = "Hero"
    assert a.s.armature == a.arm
    assert a.operators.request_from_settings(a.bpy.context).armature_name == "Hero"
    assert other.name == "Another"


def test_model_pick_by_folder_the_list_cached_and_refreshed(addon, tmp_path):
    a = addon
    first = _model_folder(tmp_path / "mine" / "tiny")
    a.bpy.context.preferences.addons[MODULE].preferences.models_folder = str(tmp_path / "mine")
    listed = a.properties.model_folders(a.bpy.context)
    assert first in listed
    # a model added later is not seen on redraws (no disk scan) but after Refresh
    _model_folder(tmp_path / "mine" / "second")
    assert a.properties.model_folders(a.bpy.context) == listed
    assert a.bpy.ops.dance.refresh_models() == {"FINISHED"}
    assert tmp_path / "mine" / "second" in a.properties.model_folders(a.bpy.context)
    assert (str(first), "tiny") in list(a.properties._model_candidates(a.s, a.bpy.context, ""))
    # the pick is the folder: the LSTM methods use it; the graph method ignores it
    a.s.model, a.s.method = str(first), "lstm"
    assert a.operators.request_from_settings(a.bpy.context).model_dir == first
    # nothing picked: the shipped model
    a.s.model = ""
    assert a.operators.request_from_settings(a.bpy.context).model_dir is None
    # the picked folder gone: said at bake time, nothing changed
    a.s.model = str(first)
    shutil.rmtree(first)
    with pytest.raises(a.bake.BakeError, match=r"the model folder '.*tiny' is gone .*pick another model"):
        a.operators.request_from_settings(a.bpy.context)
    before = _snapshot(a.bpy)
    assert "is gone" in _run_bake(a)
    assert _snapshot(a.bpy) == before
    a.s.method = "graph"
    assert a.operators.request_from_settings(a.bpy.context).model_dir is None


def _model_folder(folder):
    """A folder the model list offers (what is in its model.json is the bake's business)."""
    folder.mkdir(parents=True)
    (folder / "model.json").write_text("{}")
    return folder


# -- the interactive bake ----------------------------------------------------------------------------


def test_job_steps_show_progress_then_apply_to_the_scene_the_bake_started_in(addon):
    a = addon
    old = a.bpy.data.actions.new("Idle")
    a.arm.animation_data_create().action = old
    job = a.bake_job.BakeJob(a.scene, a.operators.request_from_settings(a.bpy.context))
    a.bake_job.begin(job)                      # registered, its worker not run yet
    assert job.progress == (0, SECONDS * 24)
    assert a.operators.bake_step(job, a.bpy.context, TIMER) == ({"RUNNING_MODAL"}, None)
    assert a.operators.bake_step(job, a.bpy.context, Event("MOUSEMOVE")) == ({"PASS_THROUGH"}, None)
    # one bake at a time on a rig: the operator is refused and says why
    assert "already being baked or re-rolled on 'Dancer' (0 %)" in _bake_refused(a)
    assert a.arm.animation_data.action == old
    job.run()                                  # the worker's part, here in this thread
    assert job.finished.is_set() and job.progress == (SECONDS * 24, SECONDS * 24) and job.percent == 100
    # the user switched to another scene meanwhile: the dance and its result line go where it started
    other = a.bpy.data.scenes.new("Other")
    with a.bpy.context.temp_override(scene=other):
        status, (level, message) = a.operators.bake_step(job, a.bpy.context, TIMER)
    assert status == {"FINISHED"} and level == {"INFO"} and message.startswith("Baked by graph: ")
    assert a.arm.animation_data.action.name == "Dance - A" and a.bpy.data.actions["Idle"].use_fake_user
    assert a.scene.dance.last_result.startswith("graph: ") and other.dance.last_result == ""
    assert a.bpy.ops.dance.bake.poll()         # the rig is free again


def test_threaded_bake_finishes_in_its_worker(addon):
    a = addon
    job = a.operators.start_bake(a.bpy.context)
    assert job._thread.is_alive() or job.finished.is_set()
    job.wait()
    status, (level, message) = a.operators.bake_step(job, a.bpy.context, TIMER)
    assert status == {"FINISHED"}, message
    assert a.arm.animation_data.action.name == "Dance - A"


@pytest.mark.parametrize("how", ["esc", "blender_ends_it"])
def test_cancel_stops_the_worker_and_changes_nothing(addon, how):
    """Esc (the modal step) and Blender ending the operator (its cancel(), on a file load or a closed
    window: operators.stop_bake) both stop the worker; the job never applies; the rig is free."""
    a = addon
    before = _snapshot(a.bpy)
    job = a.operators.start_bake(a.bpy.context)
    if how == "esc":
        status, (level, message) = a.operators.bake_step(job, a.bpy.context, ESC)
        assert status == {"CANCELLED"} and level == {"WARNING"} and "nothing was changed" in message
    else:
        a.operators.stop_bake(job)
    assert a.bpy.ops.dance.bake.poll()
    job.wait()                                 # the worker stops at its next progress check
    assert job.cancelled.is_set() and job.finished.is_set()
    with pytest.raises(a.bake.BakeError, match="cancelled"):
        job.apply()
    assert _snapshot(a.bpy) == before


def test_armature_renamed_or_edited_mid_bake_is_reported_and_nothing_changes(addon):
    a = addon
    old = a.bpy.data.actions.new("Idle")
    a.arm.animation_data_create().action = old
    job = a.operators.start_bake(a.bpy.context)
    a.arm.name = "Renamed"                     # while the worker dances
    before = _snapshot(a.bpy)
    job.wait()
    status, (level, message) = a.operators.bake_step(job, a.bpy.context, TIMER)
    assert status == {"CANCELLED"} and level == {"ERROR"}
    assert "armature 'Dancer' is gone (renamed or deleted) since the bake started" in message
    assert _snapshot(a.bpy) == before and a.arm.animation_data.action == old
    assert a.bpy.ops.dance.bake.poll()

    # its bones edited mid-bake (a bone deleted): refused too
    a.s.armature = a.arm
    job = a.operators.start_bake(a.bpy.context)
    a.bpy.context.view_layer.objects.active = a.arm
    a.bpy.ops.object.mode_set(mode="EDIT")
    a.arm.data.edit_bones.remove(a.arm.data.edit_bones["left_wrist"])
    a.bpy.ops.object.mode_set(mode="OBJECT")
    before = _snapshot(a.bpy)
    job.wait()
    status, (level, message) = a.operators.bake_step(job, a.bpy.context, TIMER)
    assert status == {"CANCELLED"} and "armature 'Renamed' changed since the bake started" in message
    assert _snapshot(a.bpy) == before


def test_decoding_and_loading_happen_in_the_job_not_on_the_ui_thread(addon, tmp_path):
    """Starting a bake only reads the file: a song that cannot be decoded fails in the worker, and
    the modal step reports it as one line with nothing changed."""
    a = addon
    path = tmp_path / "bad.wav"
    sf.write(path, np.random.default_rng(0).normal(size=44100).astype(np.float32) * 0.1, 44100)
    a.scene.sequence_editor.strips.new_sound("bad", str(path), channel=2, frame_start=1)
    path.write_bytes(b"RIFF\x00\x01garbage" * 10)
    a.s.strip = "bad"
    before = _snapshot(a.bpy)
    job = a.bake_job.BakeJob(a.scene, a.operators.request_from_settings(a.bpy.context))
    assert job.error is None and not job.finished.is_set()
    a.bake_job.begin(job)
    job.run()
    status, (level, message) = a.operators.bake_step(job, a.bpy.context, TIMER)
    assert status == {"CANCELLED"} and level == {"ERROR"}
    assert message.startswith("Bake failed, nothing was changed: the sound strip 'bad' (bad.wav) cannot be "
                              "decoded: ")
    assert _snapshot(a.bpy) == before


def test_bake_is_one_undo_step_and_not_repeatable(addon):
    """Repeat Last would run the whole bake (or re-roll) through execute and block the window: not REGISTER."""
    assert addon.operators.DANCE_OT_bake.bl_options == {"UNDO"}
    assert addon.operators.DANCE_OT_reroll.bl_options == {"UNDO"}


# -- variations, re-roll, markers ------------------------------------------------------------------------


def _dance_keys(action) -> dict:
    """{(data path, index): (K, 2) keys} of a dance action."""
    out = {}
    for fc in action.layers[0].strips[0].channelbag(action.slots[0]).fcurves:
        co = np.empty(2 * len(fc.keyframe_points), np.float32)
        fc.keyframe_points.foreach_get("co", co)
        out[(fc.data_path, fc.array_index)] = co.reshape(-1, 2)
    return out


def test_variations_from_the_panel_and_one_click_to_switch(addon):
    """Variations 3 and Markers in the panel: one Bake makes three dances, the first active, the
    markers at its moves; Use Dance makes another active (its own markers then), and refuses an
    action that is not one of the rig's dances."""
    a = addon
    old = a.bpy.data.actions.new("Idle")
    a.arm.animation_data_create().action = old
    a.s.variations, a.s.markers, a.s.seed = 3, True, 4
    req = a.operators.request_from_settings(a.bpy.context)
    assert req.variations == 3 and req.markers and req.seed == 4
    assert _run_bake(a) == ""
    names = [f"Dance - A #{k}" for k in (1, 2, 3)]
    assert [d.name for d in a.bake.rig_dances(a.arm)] == names and a.arm.animation_data.action.name == names[0]
    assert "3 variations (seeds 4-6), 'Dance - A #1' active; the others kept" in a.s.last_result
    markers = lambda: sorted((m.frame, m.name) for m in a.scene.timeline_markers)   # noqa: E731
    first = markers()
    assert first and all(n.startswith(a.bake.MARKER_PREFIX) for _, n in first)
    assert a.bpy.ops.dance.use_dance(action=names[2]) == {"FINISHED"}
    assert a.arm.animation_data.action.name == names[2] and markers() != first
    assert a.bpy.data.actions["Idle"].use_fake_user
    before = _snapshot(a.bpy)
    with pytest.raises(RuntimeError, match="'Idle' is not one of armature 'Dancer''s dances") as e:
        a.bpy.ops.dance.use_dance(action="Idle")
    assert "Traceback" not in str(e.value) and _snapshot(a.bpy) == before
    a.s.method = "lstm"                         # markers only for the graph methods: the panel hides it
    assert not a.operators.request_from_settings(a.bpy.context).markers


def test_reroll_range_from_two_selected_markers_or_the_preview_range(addon):
    a = addon
    with pytest.raises(a.bake.BakeError, match=r"set a preview range \(Timeline: View > Set Preview Range"):
        a.operators.reroll_range(a.scene)
    a.scene.use_preview_range = True
    a.scene.frame_preview_start, a.scene.frame_preview_end = 30, 80
    assert a.operators.reroll_range(a.scene) == (30, 80, "the preview range")
    m1, m2 = a.scene.timeline_markers.new("x", frame=50), a.scene.timeline_markers.new("y", frame=90)
    m1.select = m2.select = True
    assert a.operators.reroll_range(a.scene) == (50, 89, "between the selected markers")
    a.scene.timeline_markers.new("z", frame=100).select = True      # three selected: the preview range
    assert a.operators.reroll_range(a.scene) == (30, 80, "the preview range")


def test_reroll_job_steps_and_esc_leaves_the_dance_as_it_was(addon):
    """Re-roll from the panel: refused (poll) with no dance; Esc stops it with nothing changed; run
    through, only the preview range's keys change, the report says so and the seed moves on."""
    a = addon
    assert not a.bpy.ops.dance.reroll.poll()
    assert _run_bake(a) == ""
    action = a.arm.animation_data.action
    a.scene.use_preview_range = True
    a.scene.frame_preview_start, a.scene.frame_preview_end = 40, 90
    a.s.reroll_seed = 6
    assert a.bpy.ops.dance.reroll.poll()
    before, keys = _snapshot(a.bpy), _dance_keys(action)
    job = a.operators.start_reroll(a.bpy.context)
    assert "already being baked or re-rolled on 'Dancer'" in _bake_refused(a)
    status, (level, message) = a.operators.bake_step(job, a.bpy.context, ESC)
    assert status == {"CANCELLED"} and level == {"WARNING"} and message == "Re-roll cancelled; nothing was changed"
    job.wait()
    assert _snapshot(a.bpy) == before and all(np.array_equal(v, keys[k]) for k, v in _dance_keys(action).items())
    job = a.operators.start_reroll(a.bpy.context)
    job.wait()
    status, (level, message) = a.operators.bake_step(job, a.bpy.context, TIMER)
    assert status == {"FINISHED"}, message
    assert message.startswith("Re-rolled frames 40-90 of 'Dance - A' with seed 6")
    assert a.s.last_result.startswith("frames 40-90 of 'Dance - A' with seed 6") and a.s.reroll_seed == 7
    after = _dance_keys(action)
    for k, co in keys.items():
        out = (co[:, 0] < 40) | (co[:, 0] > 90)
        assert np.array_equal(after[k][out], co[out])
    assert a.bpy.ops.dance.reroll.poll()


# -- bone-map operators ------------------------------------------------------------------------------


def _cyclic_rig(a):
    """The dancer with its elbow copying its own child, the wrist: a dependency cycle (RigError)."""
    c = a.arm.pose.bones["left_elbow"].constraints.new("COPY_TRANSFORMS")
    c.target, c.subtarget = a.arm, "left_wrist"


def test_detect_bones_reports_a_rig_that_cannot_be_mapped(addon):
    a = addon
    _cyclic_rig(a)
    with pytest.raises(RuntimeError, match="armature 'Dancer': bone 'left_elbow' depends on itself") as e:
        a.bpy.ops.dance.detect_bones()
    assert "Traceback" not in str(e.value) and len(a.s.bone_map) == 0
    blob = a.bpy.data.objects.new("Blob", a.bpy.data.armatures.new("Blob"))
    a.scene.collection.objects.link(blob)
    a.s.armature = blob
    with pytest.raises(RuntimeError, match="armature 'Blob': .*cannot be mapped"):
        a.bpy.ops.dance.detect_bones()


def test_detect_bones_reports_an_unreadable_presets_folder(addon):
    a = addon
    prefs = importlib.import_module(f"{MODULE}.blender.preferences")
    folder = prefs.user_bone_maps_folder(create=True)
    (folder / "broken.json").mkdir()              # a preset that cannot be read
    try:
        with pytest.raises(RuntimeError, match="broken.json: not a bone-map preset") as e:
            a.bpy.ops.dance.detect_bones()
        assert "Traceback" not in str(e.value) and len(a.s.bone_map) == 0
        before = _snapshot(a.bpy)                 # and the bake, which detects the bones too, says so
        assert "the saved bone-map presets: " in _run_bake(a) and _snapshot(a.bpy) == before
    finally:
        (folder / "broken.json").rmdir()


def test_save_bone_map_reports_a_rig_that_cannot_be_mapped_and_an_unwritable_folder(addon):
    a = addon
    assert a.bpy.ops.dance.detect_bones() == {"FINISHED"}
    prefs = importlib.import_module(f"{MODULE}.blender.preferences")
    folder = prefs.user_bone_maps_folder()
    # the presets folder's place taken by a file: it cannot be created or written
    if folder.is_dir():
        shutil.rmtree(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.write_text("not a folder")
    try:
        with pytest.raises(RuntimeError, match="cannot save the bone-map preset .*bone_maps") as e:
            a.bpy.ops.dance.save_bone_map(name="Mine")
        assert "Traceback" not in str(e.value) and not Path("Mine.json").exists()
    finally:
        folder.unlink()
    _cyclic_rig(a)
    with pytest.raises(RuntimeError, match="armature 'Dancer': bone 'left_elbow' depends on itself") as e:
        a.bpy.ops.dance.save_bone_map(name="Mine")
    assert "Traceback" not in str(e.value)
    assert not folder.exists() or not list(folder.glob("*.json"))     # no preset was written anywhere
