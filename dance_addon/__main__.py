"""Command line: `python -m dance_addon generate ...` (no Blender needed), `... bake ...` and `... demo ...` (headless Blender).

generate: music file in, dance out as .npz (rotvecs (T, 20, 3), positions (T, 20, 3) metres Y up,
joint_names, fps) and optionally a BVH of the canonical skeleton.
bake: does in headless Blender what the panel's Bake does: adds the song as a sound strip, bakes
the dance onto the rig (a rig from a .blend, or the built-in dancer), saves a .blend.
demo: bakes a track of immich-memories-music onto the built-in dancer, saves OUT/demo.blend and
renders OUT/demo.mp4 (Workbench, with the music) and OUT/demo_contact.png.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def _default_model() -> Path:
    from .core.choreography.model_folders import shipped_model_dirs

    found = shipped_model_dirs()
    if not found:
        raise SystemExit("error: no model ships with this copy of the add-on; pass --model FOLDER "
                         "(a folder with model.json written by training/export.py)")
    return found[0]


def grounded_positions(rotvecs: np.ndarray) -> np.ndarray:
    """Forward kinematics of a dance in place, the lowest foot point on Y = 0 every frame."""
    from .core.motion import skeleton as sk

    pos = sk.forward_kinematics(rotvecs)
    pos[..., 1] += sk.grounded_pelvis_height(rotvecs)[:, None]
    return pos


def cmd_generate(args: argparse.Namespace) -> int:
    from .core.music import features as music
    from .core.motion import skeleton as sk
    from .core.motion.bvh import write_bvh
    from .core.choreography.lstm import ModelError, load_model
    from .core.motion.rotations import resample_rotvecs

    try:
        model = load_model(args.model or _default_model(), features_version=music.FEATURES_VERSION,
                           feature_columns=music.FEATURE_COLUMNS)
        style = model.style_index(args.style) if args.style else model.pick_style(args.seed)
        samples = music.load_audio(args.audio)
    except (ModelError, music.AudioError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    feats = music.extract_features(samples, music.ANALYSIS_SR, model.fps, source=str(args.audio))
    rotvecs = model.generate(feats.matrix, seed=args.seed, style=style)        # (T, 20, 3) at model fps
    fps = args.fps or model.fps
    if fps != model.fps:
        rotvecs = resample_rotvecs(rotvecs, model.fps, fps)
    rotvecs = rotvecs.astype(np.float32)
    positions = grounded_positions(rotvecs).astype(np.float32)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, rotvecs=rotvecs, positions=positions, joint_names=np.array(sk.JOINT_NAMES), fps=fps)
    print(f"wrote {args.out}: {len(rotvecs)} frames at {fps:g} fps ({len(rotvecs) / fps:.1f} s), "
          f"{feats.tempo:.0f} BPM, seed {args.seed}, style {model.style_names[style]}")
    if args.bvh:
        write_bvh(args.bvh, rotvecs, positions[:, 0], fps)
        print(f"wrote {args.bvh}")
    return 0


def _headless_bpy():
    import os
    import tempfile

    os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="dance-cli-"))
    import bpy

    return bpy


def _add_song(bpy, song: Path, start_frame: int):
    scene = bpy.context.scene
    se = scene.sequence_editor_create()
    strip = se.strips.new_sound(song.stem, str(song), channel=max([s.channel for s in se.strips] + [0]) + 1,
                                frame_start=start_frame)
    scene.frame_start, scene.frame_end = strip.frame_final_start, strip.frame_final_end - 1
    return strip


DEMO_TRACK = "energetic_electronic_2"   # a held-out track: the shipped model never trained on it


def cmd_demo(args: argparse.Namespace) -> int:
    import immich_memories_music

    bpy = _headless_bpy()
    from .blender import bake, character, preview

    tracks = {p.stem: p for p in (Path(immich_memories_music.__file__).parent / "tracks").rglob("*.opus")}
    song = Path(args.audio) if args.audio else tracks[DEMO_TRACK]
    model = Path(args.model) if args.model else _default_model()
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    arm, body = character.build_dancer("Dancer")
    strip = _add_song(bpy, song, 1)
    try:
        report = bake.bake(scene, bake.BakeRequest(arm.name, strip.name, model, seed=args.seed))
    except bake.BakeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = args.out_dir.resolve()
    out.mkdir(parents=True, exist_ok=True)
    preview.stage(scene, body)
    blend = out / "demo.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    last = min(report.frames[1], report.frames[0] + int(args.seconds * 30) - 1)
    video = preview.render_video(scene, out / "demo.mp4", report.frames[0], last)
    frames = np.linspace(report.frames[0], report.frames[1], 12).round().astype(int).tolist()
    sheet = preview.contact_sheet(scene, out / "demo_contact.png", frames)
    print(f"baked '{report.action}' ({song.name}, {report.tempo:.0f} BPM, beat alignment {report.beat_alignment:.2f}) "
          f"onto the built-in dancer with {model.name}, style {report.style}")
    print(f"scene:         {blend}")
    print(f"preview video: {video} (first {(last - report.frames[0] + 1) / 30:.0f} s, with the music)")
    print(f"contact sheet: {sheet} (12 frames over the whole song)")
    return 0


def cmd_bake(args: argparse.Namespace) -> int:
    bpy = _headless_bpy()

    from .blender import bake, character

    if args.rig:
        bpy.ops.wm.open_mainfile(filepath=str(args.rig))
        name = args.armature
        if not name:
            arms = [o.name for o in bpy.data.objects if o.type == "ARMATURE"]
            if len(arms) != 1:
                print(f"error: {args.rig} holds {len(arms)} armatures ({', '.join(arms)}); name one with --armature",
                      file=sys.stderr)
                return 2
            name = arms[0]
    else:
        bpy.ops.wm.read_factory_settings(use_empty=True)
        name = character.build_dancer("Dancer")[0].name
    scene = bpy.context.scene
    song = Path(args.audio).resolve()
    if not song.is_file():
        print(f"error: {song}: no such file", file=sys.stderr)
        return 2
    strip = _add_song(bpy, song, args.start_frame)
    request = bake.BakeRequest(armature_name=name, strip_name=strip.name,
                               model_dir=Path(args.model) if args.model else _default_model(), seed=args.seed)
    try:
        report = bake.bake(scene, request)
    except bake.BakeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    bpy.ops.wm.save_as_mainfile(filepath=str(args.out.resolve()))
    print(f"baked '{report.action}' onto '{name}': frames {report.frames[0]}-{report.frames[1]}, "
          f"{report.tempo:.0f} BPM; saved {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m dance_addon", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="music file -> dance (.npz, optional .bvh)")
    g.add_argument("--audio", type=Path, required=True)
    g.add_argument("--out", type=Path, required=True, help="output .npz")
    g.add_argument("--model", type=Path, help="model folder (default: the shipped model)")
    g.add_argument("--seed", type=int, default=0, help="picks the style, start pose and variation")
    g.add_argument("--style", help="dance in this style of the model (a training clip's name, e.g. "
                   "cmu-salsa/60_02) instead of the seed's")
    g.add_argument("--fps", type=float, help="frame rate of the output (default: the model's)")
    g.add_argument("--bvh", type=Path, help="also write the dance as BVH")
    g.set_defaults(func=cmd_generate)
    b = sub.add_parser("bake", help="bake onto a rig in headless Blender and save a .blend")
    b.add_argument("--audio", type=Path, required=True)
    b.add_argument("--out", type=Path, required=True, help="output .blend")
    b.add_argument("--rig", type=Path, help=".blend holding the character (default: the built-in dancer)")
    b.add_argument("--armature", help="armature object name in --rig")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--model", type=Path, help="model folder (default: the shipped model)")
    b.add_argument("--start-frame", type=int, default=1, help="where the song starts on the timeline")
    b.set_defaults(func=cmd_bake)
    d = sub.add_parser("demo", help="bake a bundled track onto the built-in dancer, render a preview and a contact sheet")
    d.add_argument("--out-dir", type=Path, default=Path("out"))
    d.add_argument("--model", type=Path, help="model folder (default: the shipped model)")
    d.add_argument("--audio", type=Path, help=f"song (default: immich-memories-music's {DEMO_TRACK})")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--seconds", type=float, default=8.0, help="length of the preview video")
    d.set_defaults(func=cmd_demo)
    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
