"""make demo's pictures: the follow camera keeps the travelling dancer large and whole in frame, and
the demo writes every file it promises."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import soundfile as sf

from dance_addon.core.music import features as music_mod

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_TRACK = "energetic_electronic_2"


def _short_song(tmp_path, music_tracks, seconds: float) -> str:
    track = next(t for t in music_tracks if t.stem == DEMO_TRACK)
    path = tmp_path / f"{track.stem}_{seconds:g}s.wav"
    samples = music_mod.load_audio(track)[: int(seconds * music_mod.ANALYSIS_SR)]
    sf.write(path, samples, music_mod.ANALYSIS_SR)
    return str(path)


def test_camera_keeps_the_dancer_large_whole_and_moving(bpy_module, music_tracks, tmp_path):
    """On the contact sheet's frames of a 12 s graph dance (the default method: the dancer travels):
    the body's projected bounding box is at least half the frame's height and inside the frame,
    the joints move in the picture from one sheet frame to the next, and the camera's path is
    smooth (its acceleration a small part of the pelvis's) yet stays near the pelvis."""
    bpy = bpy_module
    from bpy_extras.object_utils import world_to_camera_view

    from dance_addon.__main__ import contact_frames
    from dance_addon.blender import bake, character, preview

    scene = bpy.context.scene
    scene.render.fps = 30
    song = _short_song(tmp_path, music_tracks, 12.0)
    strip = scene.sequence_editor_create().strips.new_sound("song", song, channel=1, frame_start=1)
    arm, body = character.build_dancer("Dancer")
    report = bake.bake(scene, bake.BakeRequest(arm.name, strip.name, method="graph"))
    first, last = report.frames
    cam = preview.stage(scene, body, frame_start=first, frame_end=last)
    frames = contact_frames(first, last)
    heights, boxes, joints, joints3d = [], [], [], []
    for f in frames:
        scene.frame_set(f)
        depsgraph = bpy.context.evaluated_depsgraph_get()
        ev = body.evaluated_get(depsgraph)
        mw = body.matrix_world
        uv = np.array([tuple(world_to_camera_view(scene, cam, mw @ v.co))[:2] for v in ev.data.vertices])
        lo, hi = uv.min(0), uv.max(0)
        boxes.append((lo, hi))
        heights.append(hi[1] - lo[1])
        world = [arm.matrix_world @ pb.head for pb in arm.pose.bones]
        joints.append([tuple(world_to_camera_view(scene, cam, p))[:2] for p in world])
        joints3d.append([tuple(p) for p in world])
    heights = np.array(heights)
    lows = np.array([b[0] for b in boxes])
    highs = np.array([b[1] for b in boxes])
    joints = np.array(joints)                                   # (F, 20, 2) in frame units
    rel = joints - joints[:, :1]                                # the pose: joints about the pelvis
    change = np.linalg.norm(np.diff(rel, axis=0), axis=2).mean(1)
    rel3d = np.array(joints3d) - np.array(joints3d)[:, :1]
    change3d = np.linalg.norm(np.diff(rel3d, axis=0), axis=2).mean(1)  # metres: how much the dance changed
    frame_height = body.dimensions.z / preview.FILL                     # metres the frame spans at the dancer
    seen = change * frame_height / change3d                             # the share of that the picture shows
    print(f"\nbody height in frame: min {heights.min():.2f}, median {np.median(heights):.2f}, "
          f"max {heights.max():.2f}; box x {lows[:, 0].min():.2f}-{highs[:, 0].max():.2f}, "
          f"y {lows[:, 1].min():.2f}-{highs[:, 1].max():.2f}; pose change between sheet frames "
          f"min {change.min():.3f}, median {np.median(change):.3f} of the frame, for a dance change of "
          f"{change3d.min() * 100:.1f}-{change3d.max() * 100:.1f} cm, of which the picture shows "
          f"{seen.min():.2f}-{seen.max():.2f}")
    assert heights.min() >= 0.5
    assert lows.min() > 0.0 and highs.max() < 1.0               # the whole body in every frame
    # wherever the dance changes pose, the picture does: every sheet frame a different pose, and
    # the change is seen, not lost along the line of sight
    assert change3d.min() > 0.02 and change.min() > 0.005 and seen.min() > 0.4
    # the camera: smooth, near the pelvis
    every = np.arange(first, last + 1)
    pelvis = preview.root_path(arm, every)[:, :2]
    rig = cam.parent
    cam_xy = []
    for f in every[::3]:
        scene.frame_set(int(f))
        cam_xy.append(tuple(rig.matrix_world.translation)[:2])
    cam_xy = np.array(cam_xy)
    accel_cam = np.abs(np.diff(cam_xy, 2, axis=0)).max()
    accel_pelvis = np.abs(np.diff(pelvis[::3], 2, axis=0)).max()
    travel = np.linalg.norm(pelvis.max(0) - pelvis.min(0))
    lag = np.linalg.norm(cam_xy - pelvis[::3], axis=1).max()
    print(f"pelvis travels over {travel:.2f} m; camera acceleration {accel_cam * 1000:.1f} mm/(3 frames)^2 "
          f"against the pelvis's {accel_pelvis * 1000:.1f}; camera at most {lag:.2f} m off the pelvis")
    assert travel > 0.3                                         # the test means something: the dancer travels
    assert accel_cam < 0.25 * accel_pelvis and lag < 0.5


def test_demo_writes_the_blend_video_sheet_gif_and_methods(tmp_path, music_tracks):
    """The whole command on an 8 s song: every file it promises, the video with sound, the GIF
    small and animated, the methods picture three rows high; the paths are printed."""
    from PIL import Image

    out = tmp_path / "out"
    res = subprocess.run([sys.executable, "-m", "dance_addon", "demo",
                          "--audio", _short_song(tmp_path, music_tracks, 8.0),
                          "--out-dir", str(out), "--seconds", "2"], capture_output=True, text=True, cwd=REPO,
                         timeout=400, env={**os.environ, "PYTHONPATH": REPO,
                                           "BLENDER_USER_RESOURCES": str(tmp_path / "bur")})
    assert res.returncode == 0, res.stderr[-2000:]
    for name in ("demo.blend", "demo.mp4", "demo_contact.png", "demo.gif", "demo_methods.png"):
        assert (out / name).stat().st_size > 1000, name
        assert str(out / name) in res.stdout, name
    check = ("import bpy, aud, sys\n"
             f"print(aud.Sound({str(out / 'demo.mp4')!r}).data().shape[0])\n")
    samples = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "BLENDER_USER_RESOURCES": str(tmp_path / "bur")})
    assert int(samples.stdout.strip().splitlines()[-1]) > 1.5 * 44100      # the music is in the video
    gif = Image.open(out / "demo.gif")
    assert gif.n_frames == 30 and gif.size == (320, 240)                  # 2 s at 15 fps
    assert (out / "demo.gif").stat().st_size < 3e6
    methods = Image.open(out / "demo_methods.png")
    assert methods.size[1] == 3 * 180
    print(f"\nGIF {(out / 'demo.gif').stat().st_size / 1e6:.2f} MB for 2 s; methods picture {methods.size}")
