"""Pictures of a baked dance: a Workbench preview video with the song, a contact sheet, a GIF and
rows of stills side by side.

Armatures do not render, so the pictures need a mesh bound to the rig (character.build_body makes
one). The dancer travels the floor, so the camera follows it: a camera rig (an empty with the
camera as its child) is keyed in bulk on the pelvis's horizontal path over the baked frames,
smoothed with a Gaussian of `FOLLOW_SIGMA` seconds (no lag, no jitter), at the height of the middle
of the body; the camera looks at it from the dancer's front left (a three-quarter front view, the
rig facing -Y), from the distance at which the standing body fills `FILL` of the frame's height.
The floor is a checkerboard of half-metre tiles, so travel and foot contact (Workbench shadows)
show.
"""
from __future__ import annotations

import math
from pathlib import Path

import bpy
import numpy as np
from mathutils import Vector

from . import keying

FILL = 0.7                  # the standing body's share of the frame's height
FOLLOW_SIGMA = 0.5          # seconds: the Gaussian that smooths the pelvis path the camera follows
VIEW_AZIMUTH = 40.0         # degrees from straight in front, towards the dancer's left (+X)
VIEW_ELEVATION = 8.0        # degrees the camera looks down
TILE = 0.5                  # metres: the floor's checker
FLOOR_COLORS = ((0.66, 0.67, 0.7, 1.0), (0.5, 0.51, 0.55, 1.0))
BACKDROP = (0.78, 0.8, 0.84)


def _fcurves(obj: bpy.types.Object) -> list:
    ad = obj.animation_data
    if ad is None or ad.action is None:
        return []
    action = ad.action
    if hasattr(action, "slots"):            # 4.4+: slotted actions
        from bpy_extras import anim_utils

        bag = anim_utils.action_get_channelbag_for_slot(action, ad.action_slot)
        return list(bag.fcurves) if bag is not None else []
    return list(action.fcurves)


def root_path(armature: bpy.types.Object, frames: np.ndarray) -> np.ndarray:
    """(N, 3) world position of the armature's root bone's head at `frames`, read off its location
    F-curves (no scene evaluation: quick for a whole song)."""
    root = next(b for b in armature.data.bones if b.parent is None)
    frames = np.asarray(frames, dtype=np.float64)
    loc = np.zeros((len(frames), 3))
    path = f'pose.bones["{bpy.utils.escape_identifier(root.name)}"].location'
    for fc in _fcurves(armature):
        if fc.data_path == path and 0 <= fc.array_index < 3:
            loc[:, fc.array_index] = [fc.evaluate(f) for f in frames]
    rest = np.array(root.matrix_local)
    local = rest[:3, 3] + loc @ rest[:3, :3].T
    world = np.array(armature.matrix_world)
    return local @ world[:3, :3].T + world[:3, 3]


def smooth_path(xy: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Gaussian smoothing along the first axis, the ends held (no pull towards zero)."""
    xy = np.asarray(xy, dtype=np.float64)
    if sigma_frames <= 0 or len(xy) < 2:
        return xy.copy()
    radius = int(math.ceil(3 * sigma_frames))
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma_frames) ** 2)
    k /= k.sum()
    padded = np.concatenate([np.repeat(xy[:1], radius, 0), xy, np.repeat(xy[-1:], radius, 0)])
    return np.stack([np.convolve(padded[:, j], k, mode="valid") for j in range(xy.shape[1])], axis=1)


def _body_height(subject: bpy.types.Object) -> float:
    return max((subject.matrix_world @ Vector(c)).z for c in subject.bound_box)


def follow_camera(scene: bpy.types.Scene, subject: bpy.types.Object, frame_start: int, frame_end: int,
                  name: str = "PreviewCamera") -> bpy.types.Object:
    """A camera that follows the dancer (`subject`, a mesh parented to its armature) over
    frame_start..frame_end: see the module docstring. Returns the camera (also the scene's)."""
    armature = subject.parent
    height = _body_height(subject)
    render = scene.render
    cam_data = bpy.data.cameras.new(name)
    cam_data.lens = 35
    cam_data.sensor_fit = "AUTO"
    aspect = render.resolution_x / render.resolution_y
    sensor_h = cam_data.sensor_width / max(aspect, 1.0)
    half_tan = (sensor_h / 2) / cam_data.lens            # tan of half the vertical field of view
    distance = height / (FILL * 2 * half_tan)
    rig = bpy.data.objects.new(f"{name}Rig", None)
    scene.collection.objects.link(rig)
    cam = bpy.data.objects.new(name, cam_data)
    scene.collection.objects.link(cam)
    cam.parent = rig
    az, el = math.radians(VIEW_AZIMUTH), math.radians(VIEW_ELEVATION)
    cam.location = distance * Vector((math.sin(az) * math.cos(el), -math.cos(az) * math.cos(el), math.sin(el)))
    cam.rotation_euler = (-cam.location).to_track_quat("-Z", "Y").to_euler()
    frames = np.arange(frame_start, frame_end + 1, dtype=np.float64)
    if armature is not None and armature.type == "ARMATURE":
        fps = scene.render.fps / scene.render.fps_base
        xy = smooth_path(root_path(armature, frames)[:, :2], FOLLOW_SIGMA * fps)
    else:
        xy = np.zeros((len(frames), 2))
    target = keying.new_action(f"{name} follow", rig.name)
    for i, values in enumerate((xy[:, 0], xy[:, 1], np.full(len(frames), height * 0.5))):
        keying.write_curve(target, "location", i, "Object Transforms", frames, values)
    keying.assign(rig, target)
    scene.camera = cam
    return cam


def _floor(scene: bpy.types.Scene, center: np.ndarray, half: float) -> bpy.types.Object:
    """A checkerboard floor of TILE-metre squares (two materials) around `center`."""
    n = int(math.ceil(half / TILE))
    x0, y0 = (np.floor(center[:2] / TILE) - n) * TILE
    m = 2 * n
    gx, gy = np.meshgrid(np.arange(m + 1) * TILE + x0, np.arange(m + 1) * TILE + y0, indexing="ij")
    verts = np.stack([gx.ravel(), gy.ravel(), np.zeros(gx.size)], axis=1)
    ij = np.array([(i, j) for i in range(m) for j in range(m)])
    a = ij[:, 0] * (m + 1) + ij[:, 1]
    faces = np.stack([a, a + m + 1, a + m + 2, a + 1], axis=1)
    mesh = bpy.data.meshes.new("PreviewFloor")
    mesh.from_pydata(verts.tolist(), [], faces.tolist())
    for k, color in enumerate(FLOOR_COLORS):
        mat = bpy.data.materials.new(f"PreviewFloor{k}")
        mat.diffuse_color = color
        mesh.materials.append(mat)
    mesh.polygons.foreach_set("material_index", ((ij[:, 0] + ij[:, 1]) % 2).astype(np.int32))
    mesh.update()
    floor = bpy.data.objects.new("PreviewFloor", mesh)
    scene.collection.objects.link(floor)
    return floor


def stage(scene: bpy.types.Scene, subject: bpy.types.Object, width: int = 480, height: int = 360,
          frame_start: int | None = None, frame_end: int | None = None) -> bpy.types.Object:
    """Workbench settings, a checkered floor under the dance and a camera following `subject` (a
    mesh parented to its armature) over frame_start..frame_end (default: the scene's range).
    Returns the camera."""
    render = scene.render
    render.engine = "BLENDER_WORKBENCH"
    render.resolution_x, render.resolution_y, render.resolution_percentage = width, height, 100
    shading = scene.display.shading
    shading.light = "STUDIO"
    shading.color_type = "MATERIAL"
    shading.show_shadows = True
    scene.display.shadow_focus = 0.2
    world = bpy.data.worlds.new("PreviewWorld")
    world.color = BACKDROP                          # a light backdrop instead of black
    scene.world = world
    first = scene.frame_start if frame_start is None else frame_start
    last = scene.frame_end if frame_end is None else frame_end
    cam = follow_camera(scene, subject, first, last)
    armature = subject.parent
    if armature is not None and armature.type == "ARMATURE":
        path = root_path(armature, np.arange(first, last + 1))[:, :2]
        lo, hi = path.min(0), path.max(0)
    else:
        lo = hi = np.zeros(2)
    _floor(scene, (lo + hi) / 2, float(np.max(hi - lo)) / 2 + 12.0)
    return cam


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


def _to_pil(pixels: np.ndarray):
    """A Pillow RGB image of render_still's pixels (bottom row first)."""
    from PIL import Image  # Pillow: the demo's environment has it, Blender's own Python need not

    rgb = np.clip(pixels[::-1, :, :3] * 255 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(rgb), "RGB")


def render_gif(scene: bpy.types.Scene, path: Path, frames: list[int], fps: float,
               size: tuple[int, int] | None = None) -> Path:
    """An animated GIF (Pillow) of `frames` rendered at `size` (default: the render size; keep its
    aspect, which the camera was framed for), played at `fps`, looping. One palette for all frames
    (no flicker), no dithering (small files)."""
    from PIL import Image

    render = scene.render
    old = render.resolution_x, render.resolution_y, render.resolution_percentage
    if size is not None:
        render.resolution_x, render.resolution_y, render.resolution_percentage = *size, 100
    try:
        images = [_to_pil(render_still(scene, f)) for f in frames]
    finally:
        render.resolution_x, render.resolution_y, render.resolution_percentage = old
    # the palette of a strip of a few frames side by side covers the whole clip's colours
    picks = images[:: max(1, len(images) // 6)]
    strip = Image.new("RGB", (picks[0].width * len(picks), picks[0].height))
    for k, im in enumerate(picks):
        strip.paste(im, (k * im.width, 0))
    palette = strip.quantize(colors=64, method=Image.Quantize.MEDIANCUT)
    frames_p = [im.quantize(palette=palette, dither=Image.Dither.NONE) for im in images]
    # GIF delays are in hundredths of a second: spread the rounding so the clip keeps its length
    ticks = np.diff(np.round(np.arange(len(frames_p) + 1) * 100.0 / fps)).astype(int) * 10
    frames_p[0].save(path, save_all=True, append_images=frames_p[1:], duration=ticks.tolist(), loop=0,
                     optimize=False, disposal=1)
    return Path(path)


def rows_picture(path: Path, rows: list[tuple[str, list[np.ndarray]]], label_width: int = 130) -> Path:
    """One PNG: each row a label on the left and its stills (render_still's pixels) side by side."""
    from PIL import Image, ImageDraw, ImageFont

    tiles = [[_to_pil(px) for px in stills] for _, stills in rows]
    w, h = tiles[0][0].size
    columns = max(len(t) for t in tiles)
    sheet = Image.new("RGB", (label_width + columns * w, len(rows) * h), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    try:
        font = ImageFont.load_default(size=16)
    except TypeError:                               # Pillow < 10.1: the fixed bitmap font
        font = ImageFont.load_default()
    for r, ((label, _), row) in enumerate(zip(rows, tiles)):
        for c, im in enumerate(row):
            sheet.paste(im, (label_width + c * w, r * h))
        draw.multiline_text((10, r * h + h // 2), label, fill=(20, 20, 20), font=font, anchor="lm")
    sheet.save(path)
    return Path(path)
