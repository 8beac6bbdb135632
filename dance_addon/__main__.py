"""Command line: `dance-addon generate ...` (no Blender needed), `... bake ...`, `... demo ...` (headless Blender).

`make setup` installs the `dance-addon` command into .venv (pyproject.toml); `python -m dance_addon`
is the same command.

Each makes the dance by one of three methods (--method, default "graph"): "graph" (real mocap
moves of the action graph chosen to match the music, time-warped onto its beats; the dancer
travels the floor, within --floor-radius metres), "guided" (the LSTM dances first, then the graph
picks the real moves closest to it) or "lstm" (the network's own frames, in place).

generate: music file in, dance out as .npz (rotvecs (T, 20, 3), positions (T, 20, 3) metres Y up
with the dance's root path and the feet on Y = 0, root_translation (T, 3), joint_names, fps,
method, style, and for the graph methods its moves as JSON) and optionally a BVH of the canonical
skeleton.
bake: does in headless Blender what the panel's Bake does: adds the song as a sound strip, bakes
the dance onto the rig (a rig from a .blend, or the built-in dancer), saves a .blend. With
--variations N, N dances in one pass, each its own action; with --markers, a timeline marker at
each move. With --reroll START END --seed S on a --rig that already has a dance (its active
action), only frames START to END change, to a new stretch of dance joined to the frames around
it (blender/reroll.py), as the panel's Re-roll does.
demo: bakes a track of immich-memories-music onto the built-in dancer, saves OUT/demo.blend and
renders OUT/demo.mp4 (Workbench, with the music, the camera following the dancer),
OUT/demo_contact.png, OUT/demo.gif (the first seconds, for a README) and OUT/demo_methods.png (the
same song danced by each method, one row each).

Bad input (an unknown method or option, a missing model or graph folder, a negative or
fractional seed, a frame rate of 0, a song with less than a second of audio...) prints one line
"dance-addon: error: ..." on stderr, writes nothing and exits with code 2. A long `generate` or
`bake` draws a progress bar on stderr when stderr is a terminal (never in pipes and logs;
TQDM_DISABLE=1 turns it off); stdout carries the result lines alone.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from pathlib import Path
from typing import NoReturn

import numpy as np

from .core.choreography.compose import DEFAULT_METHOD, FLOOR_RADIUS, METHOD_LABELS, METHODS, USES_GRAPH, USES_MODEL

PROG = "dance-addon"
MAX_VARIATIONS = 16        # as the bake's (blender/bake.py, which the command line imports only with Blender)
MIN_SECONDS = 1.0          # the shortest song generate dances to (as the bake's shortest frame range)


class CliError(Exception):
    """Bad input: main prints the message as one "dance-addon: error: ..." line and exits with code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse's own errors (an unknown choice, a missing argument, a value of the wrong kind) as
    one line on stderr, "dance-addon: error: ...; see dance-addon CMD --help", and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {' '.join(message.split())}; see {self.prog} --help\n")


def _seed(text: str) -> int:
    """--seed: a whole number, 0 or above."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number 0 or above, got {text!r}")
    return value


def _count(most: int):
    """A type for a whole number from 1 to `most`."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if not 1 <= value <= most:
            raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {most}, got {text!r}")
        return value

    return parse


def _above_zero(unit: str):
    """A type for a finite number above 0 (a frame rate, a radius, a length), named by its unit."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"must be a number of {unit} above 0, got {text!r}")
        return value

    return parse


class ProgressBar:
    """A progress bar on stderr for a long run: `stage(text)` says what runs; the bar itself is
    the progress(done, total) callback that the LSTM and the bake call (in frames).

    Draws nothing when stderr is not a terminal (pipes, logs, tests: stdout and stderr stay as
    they are) or tqdm is not installed (inside Blender); in a terminal TQDM_DISABLE=1 turns it
    off. It never cancels (it returns None, not False). Cleared when closed."""

    def __init__(self, stage: str):
        self._bar = None
        if not (sys.stderr is not None and sys.stderr.isatty()):
            return
        try:
            from tqdm import tqdm
        except ImportError:
            return
        self._bar = tqdm(desc=stage, unit=" frames", file=sys.stderr, leave=False, dynamic_ncols=True)

    def stage(self, text: str) -> None:
        if self._bar is not None:
            self._bar.set_description_str(text)

    def __call__(self, done: int, total: int) -> None:
        bar = self._bar
        if bar is None:
            return
        if bar.total != total:
            bar.total = total
            bar.refresh()
        bar.update(done - bar.n)
        if done >= total:
            bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _load_song(path: Path) -> np.ndarray:
    """The song's samples (music.load_audio), at least MIN_SECONDS of them (AudioError if not). A
    file that decodes only in part (an MP3 cut short) gives that part, and one line on stderr,
    "dance-addon: note: ...", says so."""
    from .core.music import features as music
    from .core.music.audio import AudioWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AudioWarning)
        samples = music.load_audio(path)
    seconds = len(samples) / music.ANALYSIS_SR
    if seconds < MIN_SECONDS:
        raise music.AudioError(f"{path}: only {seconds:.2f} s of audio decode; a dance needs at least "
                               f"{MIN_SECONDS:g} s of music: give a longer song (or the whole file)")
    for w in caught:
        if issubclass(w.category, AudioWarning):
            print(f"{PROG}: note: {w.message}", file=sys.stderr)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    return samples


def _default_model() -> Path:
    from .core.choreography.model_folders import shipped_model_dirs

    found = shipped_model_dirs()
    if not found:
        raise CliError("no model ships with this copy of the add-on; pass --model FOLDER "
                       "(a folder with model.json written by training/export.py) or use --method graph")
    return found[0]


def _default_graph() -> Path:
    from .core.choreography.model_folders import shipped_graph_dirs

    found = shipped_graph_dirs()
    if not found:
        raise CliError("no action graph ships with this copy of the add-on; pass --graph FOLDER "
                       "(a folder with graph.json written by training/graph/build.py) or use --method lstm")
    return found[0]


def check_choices(args: argparse.Namespace) -> None:
    """The method every command takes (CliError when unknown); the numbers (seed, floor radius,
    frame rate, seconds) are checked by their argparse types."""
    if args.method not in METHODS:
        raise CliError(f"unknown method {args.method!r}; choose one of {', '.join(METHODS)}")


def dance_positions(rotvecs: np.ndarray, root: np.ndarray) -> np.ndarray:
    """Forward kinematics along the dance's root path (its horizontal travel), the pelvis at the
    height that puts the lowest foot point on Y = 0 every frame (as the bake's "On the Ground")."""
    from .core.motion import skeleton as sk

    root = np.array(root, dtype=np.float64)
    root[:, 1] = sk.grounded_pelvis_height(rotvecs)
    return sk.forward_kinematics(rotvecs, root)


def moves_json(moves, dance_fps: float, fps: float) -> str:
    """The moves of a graph dance as JSON: output frames [frame, frame_end) at `fps` (the .npz's
    frames), seconds, the source clip and its frames (at the graph's fps), beats, segment id."""
    def frame(f: int) -> int:
        return int(round(f * fps / dance_fps))

    return json.dumps([{"frame": frame(m.frame), "frame_end": frame(m.frame_end),
                        "seconds": [round(m.frame / dance_fps, 4), round(m.frame_end / dance_fps, 4)],
                        "clip": m.clip, "source_first": int(m.source_first), "source_last": int(m.source_last),
                        "beats": int(m.beats), "segment": int(m.segment)} for m in moves])


def cmd_generate(args: argparse.Namespace) -> int:
    from .core.choreography import compose as compose_mod
    from .core.choreography.graph import GraphError, load_graph
    from .core.choreography.lstm import ModelError, load_model
    from .core.motion import skeleton as sk
    from .core.motion.bvh import write_bvh
    from .core.motion.rotations import resample_linear, resample_rotvecs
    from .core.music import features as music
    from .core.music.pitch import f0

    check_choices(args)
    try:
        graph = load_graph(args.graph or _default_graph()) if args.method in USES_GRAPH else None
        model = None
        style = None
        if args.method in USES_MODEL:
            model = load_model(args.model or _default_model(), features_version=music.FEATURES_VERSION,
                               feature_columns=music.FEATURE_COLUMNS)
            style = model.style_index(args.style) if args.style else None
        elif args.style:
            style = args.style                                          # the graph's genre: compose checks it
        rate = compose_mod.method_fps(graph, model)                # the method's frame rate
        samples = _load_song(args.audio)
    except (GraphError, ModelError, music.AudioError, ValueError) as e:
        raise CliError(str(e)) from None
    with ProgressBar("music features") as progress:
        feats = music.extract_features(samples, music.ANALYSIS_SR, rate, source=str(args.audio))
        if args.method == "graph":
            progress.stage("pitch track")
        hz = f0(samples, music.ANALYSIS_SR, rate).hz if args.method == "graph" else None
        progress.stage(f"dancing ({args.method})")
        progress(0, len(feats.matrix))
        try:
            dance = compose_mod.compose(args.method, feats.matrix, rate, feats.beat_times, f0_hz=hz, graph=graph,
                                        model=model, seed=args.seed, style=style, floor_radius=args.floor_radius,
                                        progress=progress)
        except compose_mod.ComposeError as e:
            raise CliError(str(e)) from None
        progress(len(dance.rotvecs), len(dance.rotvecs))
    fps = args.fps or dance.fps
    rotvecs, root = np.asarray(dance.rotvecs), np.asarray(dance.root, np.float64)
    if fps != dance.fps:
        rotvecs, root = resample_rotvecs(rotvecs, dance.fps, fps), resample_linear(root, dance.fps, fps)
    rotvecs = rotvecs.astype(np.float32)
    positions = dance_positions(rotvecs, root).astype(np.float32)
    extra = {"moves": np.array(moves_json(dance.moves, dance.fps, fps))} if dance.moves else {}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, rotvecs=rotvecs, positions=positions, root_translation=positions[:, 0],
             joint_names=np.array(sk.JOINT_NAMES), fps=fps, method=np.array(dance.method),
             style=np.array(dance.style), **extra)
    print(f"wrote {args.out}: {len(rotvecs)} frames at {fps:g} fps ({len(rotvecs) / fps:.1f} s), "
          f"{feats.tempo:.0f} BPM, seed {args.seed}; method {dance.summary()}")
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


def _request_choices(args: argparse.Namespace) -> dict:
    """The BakeRequest fields the method options give (model and graph None: the shipped ones)."""
    return {"method": args.method, "seed": args.seed, "floor_radius": args.floor_radius,
            "graph_dir": args.graph, "model_dir": args.model if args.method in USES_MODEL else None}


GIF_SECONDS = 4.0          # the GIF: the first seconds of the dance ...
GIF_FPS = 15.0             # ... at this frame rate ...
GIF_SIZE = (320, 240)     # ... and this size
METHODS_ROW_ORDER = ("lstm", "graph", "guided")
METHODS_FRAMES = 6         # stills per method in demo_methods.png


def _methods_picture(args, bpy, scene, strip, main: tuple, frames: list[int], path: Path) -> tuple[Path, list[str]]:
    """The same song danced by each method, one row each (the main dancer for --method, a new
    dancer baked with each other method), rendered at half size; returns the path and the rows' labels."""
    from .blender import bake, character, preview

    dancers = {args.method: main}
    for method in METHODS_ROW_ORDER:
        if method in dancers:
            continue
        arm, body = character.build_dancer(f"Dancer {method}")
        model = (args.model or _default_model()) if method in USES_MODEL else None
        report = bake.bake(scene, bake.BakeRequest(arm.name, strip.name, **{
            **_request_choices(args), "method": method, "model_dir": model}))
        dancers[method] = (arm, body, report)
    render = scene.render
    old_camera, old_scale = scene.camera, render.resolution_percentage
    rows, labels = [], []
    try:
        render.resolution_percentage = 50
        for method in METHODS_ROW_ORDER:
            arm, body, report = dancers[method]
            preview.follow_camera(scene, body, report.frames[0], report.frames[1], f"MethodsCamera {method}")
            for _, other, _ in dancers.values():
                other.hide_render = other is not body
            label = METHOD_LABELS[method].split(":")[0]
            moves = report.summary.split(": ", 1)[-1].split(" (")[0] if method in USES_GRAPH else "its own frames"
            rows.append((f"{label}\n{moves}", [preview.render_still(scene, f) for f in frames]))
            labels.append(f"{label} ({report.summary})")
    finally:
        for _, other, _ in dancers.values():
            other.hide_render = False
        scene.camera, render.resolution_percentage = old_camera, old_scale
    return preview.rows_picture(path, rows, label_width=205), labels


def cmd_demo(args: argparse.Namespace) -> int:
    import immich_memories_music

    check_choices(args)
    model = (args.model or _default_model()) if args.method in USES_MODEL else None
    bpy = _headless_bpy()
    from .blender import bake, character, preview

    tracks = {p.stem: p for p in (Path(immich_memories_music.__file__).parent / "tracks").rglob("*.opus")}
    song = Path(args.audio) if args.audio else tracks[DEMO_TRACK]
    if not song.is_file():
        raise CliError(f"{song}: no such file")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    arm, body = character.build_dancer("Dancer")
    strip = _add_song(bpy, song, 1)
    try:
        report = bake.bake(scene, bake.BakeRequest(arm.name, strip.name, **{**_request_choices(args),
                                                                              "model_dir": model}))
    except bake.BakeError as e:
        raise CliError(str(e)) from None
    out = args.out_dir.resolve()
    out.mkdir(parents=True, exist_ok=True)
    first, end = report.frames
    preview.stage(scene, body, frame_start=first, frame_end=end)
    blend = out / "demo.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    print(f"baked '{report.action}' ({song.name}, {report.tempo:.0f} BPM, beat alignment {report.beat_alignment:.2f}) "
          f"onto the built-in dancer; method {report.summary}" + (f" (model {model.name})" if model else ""),
          flush=True)
    last = min(end, first + int(args.seconds * 30) - 1)
    video = preview.render_video(scene, out / "demo.mp4", first, last)
    sheet = preview.contact_sheet(scene, out / "demo_contact.png", contact_frames(first, end))
    gif_last = min(end, first + int(min(GIF_SECONDS, args.seconds) * 30) - 1)
    gif = preview.render_gif(scene, out / "demo.gif", list(range(first, gif_last + 1, round(30 / GIF_FPS))),
                             GIF_FPS, GIF_SIZE)
    try:
        methods, labels = _methods_picture(args, bpy, scene, strip, (arm, body, report),
                                           contact_frames(first, end, METHODS_FRAMES + 2)[1:-1],
                                           out / "demo_methods.png")
    except bake.BakeError as e:
        raise CliError(str(e)) from None

    def size(p: Path) -> str:
        return f"{p.stat().st_size / 1e6:.1f} MB"

    print(f"scene:          {blend}")
    print(f"preview video:  {video} (first {(last - first + 1) / 30:.0f} s, with the music; {size(video)})")
    print(f"contact sheet:  {sheet} (12 frames over the whole song)")
    print(f"GIF:            {gif} (first {(gif_last - first + 1) / 30:.0f} s at {GIF_FPS:g} fps; {size(gif)})")
    print(f"methods:        {methods} ({METHODS_FRAMES} frames of each method, one row each: "
          f"{'; '.join(labels)})")
    return 0


def contact_frames(first: int, last: int, count: int = 12) -> list[int]:
    """`count` frames evenly over first..last (both included): the contact sheet's."""
    return np.linspace(first, last, count).round().astype(int).tolist()


BAKE_DEFAULTS = {"method": DEFAULT_METHOD, "seed": 0, "floor_radius": FLOOR_RADIUS, "start_frame": 1,
                 "root_motion": "full", "feet": "lock", "variations": 1}


def _reroll_conflicts(args: argparse.Namespace) -> list[str]:
    """The bake options given with --reroll, which keeps the dance's own song, method and options."""
    given = [f"--{k.replace('_', '-')}" for k in ("audio", "method", "graph", "model", "floor_radius", "start_frame",
                                                 "root_motion", "feet", "variations") if getattr(args, k) is not None]
    return given + (["--markers"] if args.markers else [])


def cmd_bake(args: argparse.Namespace) -> int:
    if args.reroll is not None:
        return cmd_reroll(args)
    if args.audio is None:
        raise CliError("bake needs --audio SONG (or --reroll START END --seed S with --rig, to re-roll a dance "
                       "already baked)")
    for key, value in BAKE_DEFAULTS.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    check_choices(args)
    if args.markers and args.method not in USES_GRAPH:
        raise CliError(f"--markers shows the moves of the action graph's methods ({', '.join(USES_GRAPH)}); the "
                       f"{args.method} method has none")
    song = Path(args.audio).resolve()
    if not song.is_file():
        raise CliError(f"{song}: no such file")
    if args.rig and not Path(args.rig).is_file():
        raise CliError(f"{args.rig}: no such file")
    bpy = _headless_bpy()

    from .blender import bake, character

    if args.rig:
        name = _open_rig(bpy, args)
    else:
        bpy.ops.wm.read_factory_settings(use_empty=True)
        name = character.build_dancer("Dancer")[0].name
    scene = bpy.context.scene
    strip = _add_song(bpy, song, args.start_frame)
    request = bake.BakeRequest(armature_name=name, strip_name=strip.name, root_motion=args.root_motion,
                               feet=args.feet, variations=args.variations, markers=args.markers,
                               **_request_choices(args))
    try:
        with ProgressBar(f"baking ({args.method})") as progress:
            report = bake.bake(scene, request, progress)
    except bake.BakeError as e:
        raise CliError(str(e)) from None
    if report.audio_note:                          # the file is cut short: play what dances
        print(f"{PROG}: note: {report.audio_note}", file=sys.stderr)
        scene.frame_end = report.frames[1]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    bpy.ops.wm.save_as_mainfile(filepath=str(args.out.resolve()))
    print(f"baked '{report.action}' onto '{name}': frames {report.frames[0]}-{report.frames[1]}, "
          f"{report.tempo:.0f} BPM, beat alignment {report.beat_alignment:.2f}; method {report.summary}"
          + (f"; feet locked: {report.locked} contacts held" if report.locked is not None else "")
          + (f"; {report.markers} markers at the moves" if args.markers else "")
          + f"; saved {args.out}")
    for action, alignment in report.variations[1:]:
        print(f"variation '{action}': beat alignment {alignment:.2f} (kept beside the active '{report.action}')")
    return 0


def _open_rig(bpy, args: argparse.Namespace) -> str:
    """Open --rig and return the armature to work on (--armature, or the file's only one)."""
    bpy.ops.wm.open_mainfile(filepath=str(args.rig))
    if args.armature:
        return args.armature
    arms = [o.name for o in bpy.data.objects if o.type == "ARMATURE"]
    if len(arms) != 1:
        raise CliError(f"{args.rig} holds {len(arms)} armatures ({', '.join(arms)}); name one with --armature")
    return arms[0]


def cmd_reroll(args: argparse.Namespace) -> int:
    """bake --reroll START END --seed S --rig RIG.blend: re-roll frames START..END of the armature's
    active dance (blender/reroll.py) and save the file to --out."""
    conflicts = _reroll_conflicts(args)
    if conflicts:
        raise CliError(f"--reroll keeps the dance's own song, method and options; leave out {', '.join(conflicts)}")
    if args.rig is None:
        raise CliError("--reroll changes a dance already baked: give the .blend that holds it with --rig")
    if args.seed is None:
        raise CliError("--reroll needs --seed S: the variation the new stretch dances")
    if not Path(args.rig).is_file():
        raise CliError(f"{args.rig}: no such file")
    bpy = _headless_bpy()

    from .blender import bake, reroll

    name = _open_rig(bpy, args)
    start, end = args.reroll
    try:
        with ProgressBar("re-rolling") as progress:
            report = reroll.reroll(bpy.context.scene, reroll.RerollRequest(name, start, end, args.seed), progress)
    except bake.BakeError as e:
        raise CliError(str(e)) from None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    bpy.ops.wm.save_as_mainfile(filepath=str(args.out.resolve()))
    print(f"re-rolled on '{name}': {report.describe()}; saved {args.out}")
    return 0


def _method_options(p: argparse.ArgumentParser) -> None:
    methods = "; ".join(f"{m}: {METHOD_LABELS[m].split(': ', 1)[-1]}" for m in METHODS)
    p.add_argument("--method", default=DEFAULT_METHOD, metavar="|".join(METHODS),
                   help=f"how the dance is made (default {DEFAULT_METHOD}): {methods}")
    p.add_argument("--graph", type=Path, help="action graph folder (graph and guided; default: the shipped graph)")
    p.add_argument("--model", type=Path, help="LSTM model folder (lstm and guided; default: the shipped model)")
    p.add_argument("--seed", type=_seed, default=0,
                   help="a whole number 0 or above: picks the moves (and the LSTM's style) and the variation")
    p.add_argument("--floor-radius", type=_above_zero("metres"), default=FLOOR_RADIUS, metavar="METRES",
                   help=f"the graph methods' dancer stays within this radius (default {FLOOR_RADIUS:g})")


def main(argv: list[str] | None = None) -> int:
    p = _Parser(prog=PROG, description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True, metavar="generate|bake|demo")
    g = sub.add_parser("generate", help="music file -> dance (.npz, optional .bvh)")
    g.add_argument("--audio", type=Path, required=True)
    g.add_argument("--out", type=Path, required=True, help="output .npz")
    _method_options(g)
    g.add_argument("--style", help="instead of the seed's: the LSTM style (lstm and guided; a training clip's "
                   "name, e.g. cmu-salsa/60_02) or the graph's genre (graph, e.g. cmu-salsa)")
    g.add_argument("--fps", type=_above_zero("frames per second"),
                   help="frame rate of the output (default: the method's)")
    g.add_argument("--bvh", type=Path, help="also write the dance as BVH")
    g.set_defaults(func=cmd_generate)
    b = sub.add_parser("bake", help="bake onto a rig in headless Blender and save a .blend (or re-roll frames of a "
                       "dance baked before)")
    b.add_argument("--audio", type=Path, help="the song (not with --reroll: the dance's own song is kept)")
    b.add_argument("--out", type=Path, required=True, help="output .blend")
    b.add_argument("--rig", type=Path, help=".blend holding the character (default: the built-in dancer)")
    b.add_argument("--armature", help="armature object name in --rig")
    _method_options(b)
    b.add_argument("--start-frame", type=int, help="where the song starts on the timeline (default 1)")
    b.add_argument("--root-motion", choices=("full", "in_place", "orientation"),
                   help="move the root with the dance (full), dance on the spot (in_place) or never move it")
    b.add_argument("--feet", choices=("lock", "off"),
                   help="hold planted feet where they land (lock, the default) or key the legs as danced (off)")
    b.add_argument("--variations", type=_count(MAX_VARIATIONS), metavar="N",
                   help="make N dances of the song in one pass (seeds SEED .. SEED + N - 1), each its own action "
                   "'Dance - <song> #k'; the first becomes active, the others are kept (default 1)")
    b.add_argument("--markers", action="store_true",
                   help="a timeline marker at each move's first frame, named after its source clip (graph, guided)")
    b.add_argument("--reroll", type=int, nargs=2, metavar=("START", "END"),
                   help="re-roll frames START to END of the --rig armature's dance (its active action) with --seed: "
                   "only those frames change, joined to the frames around them; the dance's own song, method "
                   "and options are kept")
    # None: not given (bake fills in BAKE_DEFAULTS; --reroll refuses options it would not use)
    b.set_defaults(func=cmd_bake, method=None, seed=None, floor_radius=None, start_frame=None)
    d = sub.add_parser("demo", help="bake a bundled track onto the built-in dancer; render a preview video, "
                       "a contact sheet, a GIF and the methods side by side")
    d.add_argument("--out-dir", type=Path, default=Path("out"))
    d.add_argument("--audio", type=Path, help=f"song (default: immich-memories-music's {DEMO_TRACK})")
    _method_options(d)
    d.add_argument("--seconds", type=_above_zero("seconds"), default=8.0,
                   help="length of the preview video (the GIF: at most 4 s)")
    d.set_defaults(func=cmd_demo)
    args, unknown = p.parse_known_args(argv)
    if unknown:                                   # told with the command's own --help
        sub.choices[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        return args.func(args)
    except CliError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
