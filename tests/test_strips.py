"""A strip's span on the timeline and the source seconds it plays there."""
import numpy as np
import pytest
import soundfile as sf


@pytest.fixture
def wav(tmp_path):
    path = tmp_path / "beep.wav"
    sf.write(path, np.zeros(44100 * 3, dtype=np.float32), 44100)
    return str(path)


@pytest.mark.parametrize("fps,fps_base", [(24, 1.0), (25, 1.0), (30000, 1001.0), (60, 1.0)])
def test_span_follows_placement_trim_and_offset(bpy_module, wav, fps, fps_base):
    bpy = bpy_module
    from dance_addon.blender import strips

    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = fps, fps_base
    se = scene.sequence_editor_create()
    assert strips.sound_strips(scene) == []
    strip = se.strips.new_sound("song", wav, channel=2, frame_start=10)
    rate = fps / fps_base
    span = strips.strip_span(scene, strip)
    assert span.first_frame == 10 and span.source_start == 0.0
    assert span.frame_count == strip.frame_final_end - 10
    assert abs(span.duration - 3.0) <= 1.0 / rate
    strip.frame_offset_start = 12          # trim the first 12 frames
    strip.sound_offset = 0.25
    span = strips.strip_span(scene, strip)
    assert span.first_frame == 22
    assert np.isclose(span.source_start, 12 / rate + 0.25)
    assert np.isclose(span.source_time(22 + rate), 12 / rate + 0.25 + 1.0)
    assert span.filepath == wav
    assert [s.name for s in strips.sound_strips(scene)] == ["song"]


def test_no_strip_is_refused(bpy_module):
    from dance_addon.blender import strips

    with pytest.raises(strips.StripError, match="pick a sound strip"):
        strips.strip_span(bpy_module.context.scene, None)
