"""Preview pictures of a baked dance: a video with the song's audio, and a contact sheet."""
from __future__ import annotations

import numpy as np

from dance_addon.core.rig import bonemaps
from dance_addon.core.rig.posing import pose_rig
from test_bake import tiny_model_dir


def test_video_carries_the_song(bpy_module, music_tracks, tmp_path):
    bpy = bpy_module
    import aud

    from dance_addon.blender import bake, character, preview

    scene = bpy.context.scene
    scene.render.fps = 24
    scene.sequence_editor_create().strips.new_sound("song", str(music_tracks[5]), channel=1, frame_start=1)
    arm, body = character.build_dancer("Dancer")
    bake.bake(scene, bake.BakeRequest("Dancer", "song", tiny_model_dir(tmp_path), seed=2))
    preview.stage(scene, body, width=160, height=120)
    video = preview.render_video(scene, tmp_path / "preview.mp4", 1, 12)
    assert video.stat().st_size > 1000
    sound = aud.Sound(str(video)).data()                # the song went into the video
    assert sound.shape[0] > 0.3 * 44100 and np.abs(sound).max() > 0.01


def test_contact_sheet_shows_each_frame_in_order(bpy_module, tmp_path):
    bpy = bpy_module
    from dance_addon.blender import character, keying, preview, rig_io

    scene = bpy.context.scene
    arm, body = character.build_dancer("Dancer")
    # both arms down on frame 1, up on frame 2
    rv = np.zeros((2, 20, 3))
    rv[0, 14, 2], rv[0, 15, 2] = -1.3, 1.3
    rv[1, 14, 2], rv[1, 15, 2] = 1.0, -1.0
    rest = rig_io.rig_rest(arm)
    pose = pose_rig(rest, bonemaps.detect(rest.names).bone_map, rv, np.tile([0.0, 0.93, 0.0], (2, 1)))
    target = rig_io.key_pose(arm, pose, np.array([1.0, 2.0]), "Swing")
    keying.assign(arm, target)
    preview.stage(scene, body, width=160, height=120)
    sheet = preview.contact_sheet(scene, tmp_path / "sheet.png", [1, 2, 1], columns=2)
    img = bpy.data.images.load(str(sheet))
    assert tuple(img.size) == (320, 240)
    px = np.empty(320 * 240 * 4, dtype=np.float32)
    img.pixels.foreach_get(px)
    px = px.reshape(240, 320, 4)[::-1, :, :3]           # top row first
    tiles = [px[:120, :160], px[:120, 160:], px[120:, :160]]
    dancer = [(t[..., 0] > t[..., 2] + 0.1) for t in tiles]  # the orange body against grey and white
    assert all(0.01 < d.mean() < 0.5 for d in dancer)
    rows_with_body = [np.flatnonzero(d.any(axis=1)) for d in dancer]
    # raised arms reach higher on the second tile; the third repeats the first
    assert rows_with_body[1].min() < rows_with_body[0].min() - 3
    assert np.array_equal(dancer[0], dancer[2])
    assert np.allclose(px[120:, 160:], 1.0)                  # the unused cell stays white
