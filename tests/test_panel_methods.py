"""The Dance panel's method choice, as a user drives it in the enabled extension: the Method and
Floor Radius settings, the model used only by the LSTM methods, and the Bake operator's result
line naming the method that made the dance (and, for the action graph, its moves' clips)."""
from __future__ import annotations

import importlib
from pathlib import Path

from dance_addon.core.choreography import compose
from test_bake import tiny_model_dir
from test_extension import MODULE, linked_extension  # noqa: F401  (the fixture)


def test_method_setting_request_and_result_line(linked_extension, music_tracks, tmp_path):  # noqa: F811  (the fixture)
    bpy = linked_extension
    import addon_utils

    addon_utils.enable(MODULE, default_set=True, handle_error=None)
    character = importlib.import_module(f"{MODULE}.blender.character")
    operators = importlib.import_module(f"{MODULE}.blender.operators")
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    scene.sequence_editor_create().strips.new_sound("song", str(music_tracks[1]), channel=1, frame_start=1)
    arm, _ = character.build_dancer("Dancer")
    s = scene.dance
    s.armature = arm
    s.use_strip_range, s.frame_start, s.frame_end = False, 1, 300          # 10 s keep the test short

    # the settings: every method, described by its label, the action graph by default
    items = s.bl_rna.properties["method"].enum_items
    assert [i.identifier for i in items] == list(compose.METHODS)
    assert [i.description for i in items] == [compose.METHOD_LABELS[m] for m in compose.METHODS]
    assert [i.name for i in items] == ["Action graph", "Guided", "LSTM"]
    assert s.method == compose.DEFAULT_METHOD == "graph"
    assert s.floor_radius == compose.FLOOR_RADIUS
    s.floor_radius = 0.0
    assert s.floor_radius > 0                                              # the setting cannot reach 0
    s.floor_radius = 1.5

    # the graph method neither needs nor uses the model; the floor radius goes with the request
    request = operators.request_from_settings(bpy.context)
    assert request.method == "graph" and request.model_dir is None and request.floor_radius == 1.5
    assert bpy.ops.dance.bake() == {"FINISHED"}
    graph_line = s.last_result
    assert graph_line.startswith("graph: ") and "; 'Dance - song': frames 1-300" in graph_line
    assert "; moves from cmu-" in graph_line

    # the LSTM uses the picked model, and its line says so with its style
    model = tiny_model_dir(tmp_path)
    bpy.context.preferences.addons[MODULE].preferences.models_folder = str(model.parent)
    s.method, s.model = "lstm", str(model)
    assert operators.request_from_settings(bpy.context).model_dir == Path(model)
    assert bpy.ops.dance.bake() == {"FINISHED"}
    assert s.last_result.startswith("lstm, style style 0; 'Dance - song.001'")
    assert "moves from" not in s.last_result
