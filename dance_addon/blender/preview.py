"""Pictures of a baked dance: a Workbench preview video with the song, and a contact sheet PNG.

Armatures do not render, so the pictures need a mesh bound to the rig (character.build_body makes
one). The camera looks at the dancer from the front (the rig's -Y side), a little from above, and
follows nothing: the demo dancer dances in place.
"""
from __future__ import annotations

import math
from pathlib import Path

import bpy
import numpy as np
from mathutils import Vector


def stage(scene: bpy.types.Scene, subject: bpy.types.Object, width: int = 480, height: int = 360) -> None:
    """Camera, floor and Workbench settings framing `subject` (a mesh) standing at the origin."""
    bbox = [subject.matrix_world @ Vector(c) for c in subject.bound_box]
    top = max(v.z for v in bbox)
    center = Vector((0.0, 0.0, top * 0.5))
    cam_data = bpy.data.cameras.new("PreviewCamera")
    cam_data.lens = 35
    cam = bpy.data.objects.new("PreviewCamera", cam_data)
    scene.collection.objects.link(cam)
    distance = top * 2.6
    cam.location = center + Vector((0.0, -distance, top * 0.35))
    cam.rotation_euler = (center - cam.location).to_track_quat("-Z", "Y").to_euler()
    scene.camera = cam
    floor_mesh = bpy.data.meshes.new("PreviewFloor")
    s = top * 2.0
    floor_mesh.from_pydata([(-s, -s, 0), (s, -s, 0), (s, s, 0), (-s, s, 0)], [], [(0, 1, 2, 3)])
    floor = bpy.data.objects.new("PreviewFloor", floor_mesh)
    scene.collection.objects.link(floor)
    render = scene.render
    render.engine = "BLENDER_WORKBENCH"
    render.resolution_x, render.resolution_y, render.resolution_percentage = width, height, 100
    shading = scene.display.shading
    shading.light = "STUDIO"
    shading.color_type = "OBJECT"
    shading.show_shadows = True
    world = bpy.data.worlds.new("PreviewWorld")
    world.color = (0.78, 0.8, 0.84)                 # a light backdrop instead of black
    scene.world = world
    subject.color = (0.85, 0.45, 0.2, 1.0)
    floor.color = (0.6, 0.6, 0.62, 1.0)


def render_video(scene: bpy.types.Scene, path: Path, frame_start: int, frame_end: int) -> Path:
    """An MPEG-4 (H.264 + AAC) of frames frame_start..frame_end with the scene's sound strips mixed in."""
    render = scene.render
    settings = render.image_settings
    if hasattr(settings, "media_type"):       # Blender 5.0 splits images and videos
        settings.media_type = "VIDEO"
    settings.file_format = "FFMPEG"
    render.ffmpeg.format = "MPEG4"
    render.ffmpeg.codec = "H264"
    render.ffmpeg.audio_codec = "AAC"
    render.ffmpeg.audio_channels = "STEREO"
    render.use_file_extension = False
    path = Path(path)
    render.filepath = str(path)
    old = scene.frame_start, scene.frame_end
    scene.frame_start, scene.frame_end = frame_start, frame_end
    try:
        bpy.ops.render.render(animation=True, scene=scene.name)
    finally:
        scene.frame_start, scene.frame_end = old
    return path


def render_still(scene: bpy.types.Scene, frame: int) -> np.ndarray:
    """(H, W, 4) float32 RGBA of one frame (bottom row first, as Blender stores pixels)."""
    scene.frame_set(frame)
    bpy.ops.render.render(write_still=False, scene=scene.name)
    result = bpy.data.images["Render Result"]
    # the render result exposes its pixels only once saved: save to a temporary PNG and read back
    tmp = Path(bpy.app.tempdir) / f"dance_still_{frame}.png"
    settings = scene.render.image_settings
    if hasattr(settings, "media_type"):
        settings.media_type = "IMAGE"
    settings.file_format = "PNG"
    result.save_render(str(tmp), scene=scene)
    img = bpy.data.images.load(str(tmp))
    try:
        w, h = img.size
        px = np.empty(w * h * 4, dtype=np.float32)
        img.pixels.foreach_get(px)
        return px.reshape(h, w, 4)
    finally:
        bpy.data.images.remove(img)
        tmp.unlink(missing_ok=True)


def contact_sheet(scene: bpy.types.Scene, path: Path, frames: list[int], columns: int = 4) -> Path:
    """Renders `frames` and tiles them, left to right and top to bottom, into one PNG."""
    tiles = [render_still(scene, f) for f in frames]
    h, w = tiles[0].shape[:2]
    rows = math.ceil(len(tiles) / columns)
    sheet = np.ones((rows * h, columns * w, 4), dtype=np.float32)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, columns)
        # Blender's rows run bottom-up: the first row of tiles goes at the top of the image
        y0 = (rows - 1 - r) * h
        sheet[y0:y0 + h, c * w:(c + 1) * w] = tile
    img = bpy.data.images.new("DanceContactSheet", columns * w, rows * h, alpha=True)
    try:
        img.pixels.foreach_set(sheet.ravel())
        img.filepath_raw = str(path)
        img.file_format = "PNG"
        img.save()
    finally:
        bpy.data.images.remove(img)
    return Path(path)
