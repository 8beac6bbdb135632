"""dance-addon generate / bake / demo (`python -m dance_addon ...`), run as a user runs them (subprocesses)."""
from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from dance_addon.core.motion import skeleton as sk
from dance_addon.core.motion.bvh import read_bvh
from dance_addon.core.music import features as music_mod
from dance_addon.core.music.audio import AudioWarning
from test_bake import tiny_model_dir

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMAND = Path(sys.executable).with_name("dance-addon")     # what `make setup` installs


def _run(*args, env_extra=None, terminal=False):
    """`python -m dance_addon ARGS` from the repository; with `terminal`, its stderr is a terminal
    (a pseudo-terminal, 100 columns), as in a user's shell, and `stderr` is what showed there."""
    env = {**os.environ, "PYTHONPATH": REPO, **(env_extra or {})}
    env.pop("TQDM_DISABLE", None)
    cmd = [sys.executable, "-m", "dance_addon", *map(str, args)]
    if not terminal:
        return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    main, term = pty.openpty()
    fcntl.ioctl(term, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    shown: list[bytes] = []

    def read():
        while True:
            try:
                data = os.read(main, 4096)
            except OSError:                      # EIO: the terminal's last writer has gone
                return
            if not data:
                return
            shown.append(data)

    reader = threading.Thread(target=read)
    reader.start()
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=term, text=True, env=env, cwd=REPO) as proc:
        os.close(term)
        out, _ = proc.communicate(timeout=300)
    reader.join(timeout=60)
    os.close(main)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, b"".join(shown).decode(errors="replace"))


def _short_song(tmp_path, track, seconds: float = 10.0):
    """The first `seconds` of a track as a WAV file (short songs keep the tests fast)."""
    path = tmp_path / f"{track.stem}_{seconds:g}s.wav"
    samples = music_mod.load_audio(track)[: int(seconds * music_mod.ANALYSIS_SR)]
    sf.write(path, samples, music_mod.ANALYSIS_SR)
    return path


def _lowest_foot(rotvecs, positions) -> np.ndarray:
    """(T,) height of the lowest foot point (toe ends, soles below the ankles) of every frame."""
    ends = sk.end_positions(rotvecs, positions)
    ankle_above_sole = sk.rest_positions()[[7, 8], 1] + sk.STANDING_HEIGHT
    return np.min(np.stack([positions[:, 7, 1] - ankle_above_sole[0], positions[:, 8, 1] - ankle_above_sole[1],
                            ends[7][:, 1], ends[8][:, 1]]), axis=0)


def test_generate_writes_motion_positions_and_bvh(tmp_path, music_tracks):
    model = tiny_model_dir(tmp_path)
    out, bvh = tmp_path / "dance.npz", tmp_path / "dance.bvh"
    res = _run("generate", "--audio", music_tracks[2], "--out", out, "--method", "lstm", "--model", model,
               "--seed", 4, "--fps", 24, "--bvh", bvh)
    assert res.returncode == 0, res.stderr
    assert "wrote" in res.stdout and "method lstm, style style 0" in res.stdout
    assert res.stderr == ""                        # not a terminal: no progress bar
    z = np.load(out)
    assert float(z["fps"]) == 24.0 and str(z["method"]) == "lstm" and str(z["style"]) == "style 0"
    assert "moves" not in z.files
    assert list(z["joint_names"]) == list(sk.JOINT_NAMES)
    rv, pos = z["rotvecs"], z["positions"]
    assert rv.shape[1:] == (20, 3) and pos.shape == rv.shape
    assert 24 * 25 < len(rv) < 24 * 40                       # the ~30 s track at 24 fps
    # metres, Y up, standing on Y = 0: the feet are the lowest points, about a body height below the head
    assert np.abs(pos[:, 0, 1] - sk.grounded_pelvis_height(rv)).max() < 1e-4
    assert 1.2 < np.median(pos[:, 13, 1] - pos[:, [7, 8], 1].min(axis=1)) < 2.0
    assert np.allclose(z["root_translation"], pos[:, 0])
    assert np.ptp(pos[:, 0, [0, 2]], axis=0).max() > 1e-4                # the network's own travel
    motion = read_bvh(bvh)
    assert motion.num_frames == len(rv) and abs(motion.fps - 24) < 1e-3


def test_generate_by_the_action_graph_travels_on_the_floor(tmp_path, music_tracks):
    """The default method with the shipped graph: real moves whose pelvis travels, the lowest foot
    on the floor every frame, the moves listed."""
    song = _short_song(tmp_path, music_tracks[2])
    out = tmp_path / "graph.npz"
    res = _run("generate", "--audio", song, "--out", out, "--seed", 1)
    assert res.returncode == 0, res.stderr
    line, = res.stdout.strip().splitlines()
    assert "method graph: " in line and " moves from " in line and "(most from cmu-" in line
    z = np.load(out)
    assert str(z["method"]) == "graph" and float(z["fps"]) == 30.0 and str(z["style"]) in line
    rv, pos = z["rotvecs"], z["positions"]
    assert len(rv) == 10 * 30 + 1 and pos.shape == rv.shape
    assert np.allclose(z["root_translation"], pos[:, 0])
    assert np.hypot(*np.ptp(pos[:, 0, [0, 2]], axis=0)) > 0.3              # the pelvis travels (metres, Y up)
    assert np.abs(_lowest_foot(rv, pos)).max() < 1e-3                      # feet on Y = 0
    assert 1.2 < np.median(pos[:, 13, 1]) < 2.0                            # standing up: the head above
    moves = json.loads(str(z["moves"]))
    assert len(moves) == int(line.split("method graph: ")[1].split(" moves")[0]) >= 2
    assert moves[0]["frame"] == 0 and all(a["frame_end"] == b["frame"] for a, b in zip(moves, moves[1:]))
    assert moves[-1]["frame_end"] >= len(rv) - 1 and all(m["clip"].startswith("cmu-") for m in moves)


def _one_error_line(res, *parts: str) -> str:
    """The run failed with exit code 2 and exactly one line on stderr, "dance-addon: error: ...",
    holding each of `parts` (no traceback, no usage text); returns the line."""
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dance-addon: error: "), res.stderr
    assert all(p in lines[0] for p in parts), res.stderr
    return lines[0]


def _nothing_written(tmp_path) -> bool:
    return not any(p.exists() for p in (tmp_path / "x.npz", tmp_path / "x.bvh", tmp_path / "x.blend",
                                        tmp_path / "out"))


SEE_HELP = "; see dance-addon {command} --help"


@pytest.mark.parametrize("command", ["generate", "bake", "demo"])
@pytest.mark.parametrize("bad, message", [
    (["--method", "tango"], "error: unknown method 'tango'; choose one of graph, guided, lstm"),
    (["--graph", "{tmp}/no-graph"], "/no-graph: no graph.json found; choose the folder"),
    (["--seed", "-1"], "error: argument --seed: must be a whole number 0 or above, got '-1'" + SEE_HELP),
    (["--seed", "1.5"], "error: argument --seed: must be a whole number 0 or above, got '1.5'" + SEE_HELP),
    (["--seed", "seven"], "error: argument --seed: must be a whole number 0 or above, got 'seven'" + SEE_HELP),
    (["--seed"], "error: argument --seed: expected one argument" + SEE_HELP),
    (["--floor-radius", "0"], "error: argument --floor-radius: must be a number of metres above 0, got '0'"
     + SEE_HELP),
    (["--floor-radius", "-1.5"], "error: argument --floor-radius: must be a number of metres above 0, got '-1.5'"
     + SEE_HELP),
    (["--tempo", "120"], "error: unrecognized arguments: --tempo 120" + SEE_HELP),
], ids=["unknown-method", "missing-graph", "negative-seed", "fractional-seed", "word-seed", "seed-without-value",
        "zero-floor-radius", "negative-floor-radius", "unknown-option"])
def test_bad_input_gives_one_line_and_exit_code_2(tmp_path, music_tracks, command, bad, message):
    out = {"generate": ["--out", tmp_path / "x.npz"], "bake": ["--out", tmp_path / "x.blend"],
           "demo": ["--out-dir", tmp_path / "out"]}[command]
    res = _run(command, "--audio", music_tracks[2], *out, *(a.format(tmp=tmp_path) for a in bad),
               env_extra={"BLENDER_USER_RESOURCES": str(tmp_path / "bur")})
    _one_error_line(res, message.format(command=command))
    assert _nothing_written(tmp_path)


@pytest.mark.parametrize("args, message", [
    (["generate", "--fps", "0"], "argument --fps: must be a number of frames per second above 0, got '0'"),
    (["generate", "--fps", "-24"], "argument --fps: must be a number of frames per second above 0, got '-24'"),
    (["generate", "--fps", "nan"], "argument --fps: must be a number of frames per second above 0, got 'nan'"),
    (["generate", "--fps", "fast"], "argument --fps: must be a number of frames per second above 0, got 'fast'"),
    (["bake", "--feet", "glued"], "argument --feet: invalid choice: 'glued'"),
    (["bake", "--root-motion", "sideways"], "argument --root-motion: invalid choice: 'sideways'"),
    (["bake", "--start-frame", "first"], "argument --start-frame: invalid int value: 'first'"),
    (["demo", "--seconds", "0"], "argument --seconds: must be a number of seconds above 0, got '0'"),
], ids=["generate-zero-fps", "generate-negative-fps", "generate-nan-fps", "generate-word-fps", "bake-unknown-feet",
        "bake-unknown-root-motion", "bake-word-start-frame", "demo-zero-seconds"])
def test_bad_option_of_one_command_gives_one_line(tmp_path, music_tracks, args, message):
    command, *bad = args
    out = {"generate": ["--out", tmp_path / "x.npz", "--bvh", tmp_path / "x.bvh"],
           "bake": ["--out", tmp_path / "x.blend"], "demo": ["--out-dir", tmp_path / "out"]}[command]
    res = _run(command, "--audio", music_tracks[2], *out, *bad)
    line = _one_error_line(res, message)
    assert line.endswith(f"; see dance-addon {command} --help")
    assert _nothing_written(tmp_path)


@pytest.mark.parametrize("args, message", [
    ([], "dance-addon: error: the following arguments are required: generate|bake|demo; see dance-addon --help"),
    (["dance"], "dance-addon: error: argument generate|bake|demo: invalid choice: 'dance'"),
    (["generate", "--out", "{tmp}/x.npz"], "dance-addon: error: the following arguments are required: --audio; "
     "see dance-addon generate --help"),
    (["bake", "--audio", "song.wav"], "dance-addon: error: the following arguments are required: --out; "
     "see dance-addon bake --help"),
], ids=["no-command", "unknown-command", "generate-without-audio", "bake-without-out"])
def test_missing_or_unknown_arguments_give_one_line(tmp_path, args, message):
    res = _run(*(a.format(tmp=tmp_path) for a in args))
    assert _one_error_line(res).startswith(message.format(tmp=tmp_path))
    assert _nothing_written(tmp_path)


def _mp3_of(track, path):
    """A real song as an MP3 (libsndfile's LAME encoder; the tracks ship as Opus)."""
    data, rate = sf.read(track, dtype="float32", always_2d=True)
    sf.write(path, data, rate, format="MP3", subtype="MPEG_LAYER_III")
    return path


def test_generate_dances_to_where_a_truncated_mp3_ends(tmp_path, music_tracks):
    """The first 100 kB of an MP3 of a ~30 s song (a download cut short): generate dances to where
    its audio ends, and one line on stderr says the file is cut short (libmpg123's own warnings
    held back)."""
    full = _mp3_of(music_tracks[2], tmp_path / "song.mp3")
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(full.read_bytes()[:100_000])
    with pytest.warns(AudioWarning, match="only the first 4.8 s of the 29.6 s its header declares decode"):
        seconds = len(music_mod.load_audio(cut, backend="soundfile")) / music_mod.ANALYSIS_SR   # as generate
    assert 3.0 < seconds < 8.0
    out = tmp_path / "x.npz"
    res = _run("generate", "--audio", cut, "--out", out)
    assert res.returncode == 0, res.stderr
    note, = res.stderr.splitlines()
    assert note == (f"dance-addon: note: {cut}: only the first 4.8 s of the 29.6 s its header declares decode "
                    "(a download cut short?); using those")
    line, = res.stdout.strip().splitlines()
    assert line.startswith(f"wrote {out}: ") and "(4.8 s)" in line and "method graph: " in line
    z = np.load(out)
    assert abs(len(z["rotvecs"]) - (seconds * 30 + 1)) <= 1 and float(z["fps"]) == 30.0


@pytest.mark.parametrize("size, message", [
    (1_000, "cannot decode the audio (libsndfile finds no audio in it); is it a damaged (cut short?) file"),
    (5_000, "only 0.17 s of audio decode; a dance needs at least 1 s of music: give a longer song"),
], ids=["nothing-decodes", "less-than-a-second"])
def test_generate_refuses_an_mp3_cut_too_short(tmp_path, music_tracks, size, message):
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(_mp3_of(music_tracks[2], tmp_path / "song.mp3").read_bytes()[:size])
    res = _run("generate", "--audio", cut, "--out", tmp_path / "x.npz")
    assert _one_error_line(res, str(cut), message)
    assert _nothing_written(tmp_path)


def test_generate_reports_bad_audio(tmp_path):
    model = tiny_model_dir(tmp_path)
    res = _run("generate", "--audio", tmp_path / "none.wav", "--out", tmp_path / "x.npz", "--model", model)
    _one_error_line(res, "none.wav: no such file")
    assert not (tmp_path / "x.npz").exists()


def test_generate_reports_an_unknown_style(tmp_path, music_tracks):
    model = tiny_model_dir(tmp_path)
    res = _run("generate", "--audio", music_tracks[2], "--out", tmp_path / "x.npz", "--method", "lstm",
               "--model", model, "--style", "tango")
    assert res.returncode == 2 and "unknown style 'tango'; this model has: style 0" in res.stderr
    res = _run("generate", "--audio", music_tracks[2], "--out", tmp_path / "x.npz", "--method", "graph",
               "--style", "tango")
    _one_error_line(res, "dance-addon: error: unknown style 'tango'")
    assert not (tmp_path / "x.npz").exists()


def test_generate_draws_a_progress_bar_on_a_terminal(tmp_path, music_tracks):
    """With stderr a terminal, the LSTM's progress callback moves a bar there, named by what runs;
    stdout is still the one result line."""
    model = tiny_model_dir(tmp_path)
    out = tmp_path / "dance.npz"
    res = _run("generate", "--audio", _short_song(tmp_path, music_tracks[2]), "--out", out, "--method", "lstm",
               "--model", model, terminal=True)
    assert res.returncode == 0, res.stderr
    line, = res.stdout.strip().splitlines()
    assert line.startswith(f"wrote {out}: ")
    n = len(np.load(out)["rotvecs"])
    for shown in ("music features", "dancing (lstm)", f"{n}/{n}", "100%", " frames/s"):
        assert shown in res.stderr, res.stderr
    assert "error" not in res.stderr


def test_bake_saves_a_blend_with_the_dance(tmp_path, music_tracks):
    """The default method (the shipped action graph), run in a terminal: the bake's progress
    callback draws a bar on stderr, stdout says what was baked."""
    out = tmp_path / "out.blend"
    res = _run("bake", "--audio", _short_song(tmp_path, music_tracks[3]), "--out", out, "--start-frame", 12,
               env_extra={"BLENDER_USER_RESOURCES": str(tmp_path / "bur")}, terminal=True)
    assert res.returncode == 0, res.stderr
    assert out.is_file() and "baked" in res.stdout and "; method graph: " in res.stdout
    first, last = map(int, res.stdout.split(": frames ")[1].split(",")[0].split("-"))
    frames = last - first + 1
    assert "baking (graph)" in res.stderr and f"{frames}/{frames}" in res.stderr, res.stderr
    check = ("import bpy, sys\n"
             f"bpy.ops.wm.open_mainfile(filepath={str(out)!r})\n"
             "arm = bpy.data.objects['Dancer']\n"
             "act = arm.animation_data.action\n"
             "strip = bpy.context.scene.sequence_editor.strips[0]\n"
             "print(act.name, int(act.frame_range[0]), strip.frame_final_start)\n")
    res = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "BLENDER_USER_RESOURCES": str(tmp_path / "bur")})
    name, first, strip_start = res.stdout.strip().splitlines()[-1].rsplit(" ", 2)
    assert name.startswith("Dance - ") and int(first) == int(strip_start) == 12


def test_installed_command_runs_from_any_folder(tmp_path, music_tracks):
    """`dance-addon` as `make setup` installs it (pip install -e .), run from a folder outside the
    repository with no PYTHONPATH: its help, and a real generate with paths relative to that folder
    (the shipped action graph found through the installed package)."""
    assert COMMAND.is_file(), f"{COMMAND} is missing: `make setup` installs it"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TQDM_DISABLE")}
    work = tmp_path / "elsewhere"
    work.mkdir()

    def run(*args):
        return subprocess.run([str(COMMAND), *args], cwd=work, env=env, capture_output=True, text=True, timeout=300)

    res = run("generate", "--help")
    assert res.returncode == 0 and res.stdout.startswith("usage: dance-addon generate "), res.stderr
    song = _short_song(work, music_tracks[3], 4.0)
    res = run("generate", "--audio", song.name, "--out", "dances/x.npz", "--seed", "2")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("wrote dances/x.npz: 121 frames at 30 fps (4.0 s)") and res.stderr == ""
    assert str(np.load(work / "dances" / "x.npz")["method"]) == "graph"
    res = run("generate", "--audio", song.name)
    assert _one_error_line(res, "--out") and not (work / "dances" / "x.bvh").exists()


def test_demo_bakes_saves_and_renders(tmp_path):
    """--method passes through: the guided method with the tiny LSTM and the shipped graph."""
    model = tiny_model_dir(tmp_path)
    out = tmp_path / "out"
    res = _run("demo", "--out-dir", out, "--method", "guided", "--model", model, "--seconds", 1,
               env_extra={"BLENDER_USER_RESOURCES": str(tmp_path / "bur")})
    assert res.returncode == 0, res.stderr[-2000:]
    baked = next(line for line in res.stdout.splitlines() if line.startswith("baked "))
    assert "onto the built-in dancer; method guided: " in baked and baked.endswith(
        ", guided by style style 0 (model tiny)")
    for name in ("demo.blend", "demo.mp4", "demo_contact.png"):
        assert (out / name).stat().st_size > 1000, name
        assert str(out / name) in res.stdout


# -- bake: variations, re-roll, bad audio ---------------------------------------------------------------

_DUMP = """
import bpy, json, sys
import numpy as np
bpy.ops.wm.open_mainfile(filepath=sys.argv[1])
arm = bpy.data.objects['Dancer']
out = {'active': arm.animation_data.action.name,
       'actions': {a.name: a.use_fake_user for a in bpy.data.actions},
       'dances': [a.name for a in arm['dance_addon_dances'].values()] if 'dance_addon_dances' in arm else []}
keys = {}
bag = arm.animation_data.action.layers[0].strips[0].channelbag(arm.animation_data.action.slots[0])
for fc in bag.fcurves:
    co = np.empty(2 * len(fc.keyframe_points), np.float32)
    fc.keyframe_points.foreach_get('co', co)
    keys[f'{fc.data_path}|{fc.array_index}'] = co.reshape(-1, 2)
np.savez(sys.argv[2], **keys)
print(json.dumps(out))
"""


def _open_blend(blend, tmp_path, name):
    """What a saved .blend holds: the dancer's active action, every action (with its fake user), the
    dancer's dances, and {curve: (K, 2) keys} of the active action."""
    npz = tmp_path / f"{name}.npz"
    res = subprocess.run([sys.executable, "-c", _DUMP, str(blend), str(npz)], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "PYTHONPATH": REPO,
                                           "BLENDER_USER_RESOURCES": str(tmp_path / "bur")})
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1]), dict(np.load(npz))


_RIG = """
import bpy, sys
from dance_addon.blender import character
bpy.ops.wm.read_factory_settings(use_empty=True)
arm, _ = character.build_dancer('Dancer')
arm.animation_data_create().action = bpy.data.actions.new('Idle')
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[1])
"""


def test_bake_variations_on_a_rig_leave_four_dances_and_the_user_s_action(tmp_path, music_tracks):
    rig = tmp_path / "rig.blend"
    res = subprocess.run([sys.executable, "-c", _RIG, str(rig)], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": REPO, "BLENDER_USER_RESOURCES": str(tmp_path / "bur")})
    assert res.returncode == 0, res.stderr
    out = tmp_path / "out.blend"
    res = _run("bake", "--rig", rig, "--audio", _short_song(tmp_path, music_tracks[3], 8.0), "--out", out,
               "--variations", 4, "--seed", 3, env_extra={"BLENDER_USER_RESOURCES": str(tmp_path / "bur")})
    assert res.returncode == 0, res.stderr
    lines = [line for line in res.stdout.splitlines() if line.startswith(("baked ", "variation "))]
    song = f"{music_tracks[3].stem}_8s"
    assert lines[0].startswith(f"baked 'Dance - {song} #1' onto 'Dancer': ") and len(lines) == 4
    assert all(line.startswith(f"variation 'Dance - {song} #{k}': beat alignment ")
               for k, line in enumerate(lines[1:], 2))
    held, _ = _open_blend(out, tmp_path, "out")
    names = [f"Dance - {song} #{k}" for k in range(1, 5)]
    assert held["active"] == names[0] and held["dances"] == names
    assert held["actions"] == {**{n: True for n in names}, "Idle": True}


def test_bake_reroll_changes_only_those_frames(tmp_path, music_tracks):
    """bake --reroll 300 450 on a .blend baked before: every key of the dance outside frames
    300-450 is as it was, bit for bit; the keys inside change (the joins are measured in
    test_variations_reroll.py)."""
    bur = {"BLENDER_USER_RESOURCES": str(tmp_path / "bur")}
    base, rerolled = tmp_path / "base.blend", tmp_path / "rerolled.blend"
    res = _run("bake", "--audio", _short_song(tmp_path, music_tracks[3], 20.0), "--out", base, "--seed", 1,
               env_extra=bur)
    assert res.returncode == 0 and ": frames 1-480, " in res.stdout, res.stderr
    res = _run("bake", "--rig", base, "--reroll", 300, 450, "--seed", 7, "--out", rerolled, env_extra=bur)
    assert res.returncode == 0, res.stderr
    line = next(line for line in res.stdout.splitlines() if line.startswith("re-rolled"))
    assert line.startswith("re-rolled on 'Dancer': frames 300-450 of 'Dance - ") and " with seed 7" in line
    assert line.endswith(f"; saved {rerolled}")
    (held, before), (after_held, after) = _open_blend(base, tmp_path, "base"), _open_blend(rerolled, tmp_path, "rr")
    assert after_held["active"] == held["active"] and after.keys() == before.keys()
    changed = 0
    for k, co in before.items():
        out = (co[:, 0] < 300) | (co[:, 0] > 450)
        assert np.array_equal(after[k][out], co[out]), k
        changed += not np.allclose(after[k][~out], co[~out], atol=1e-3)
    assert changed > 40


@pytest.mark.parametrize("args, message", [
    (["--reroll", "300", "450", "--seed", "5"], "--reroll changes a dance already baked: give the .blend that holds "
     "it with --rig"),
    (["--rig", "{rig}", "--reroll", "300", "450"], "--reroll needs --seed S"),
    (["--rig", "{rig}", "--reroll", "300", "450", "--seed", "5", "--audio", "{song}", "--feet", "off"],
     "--reroll keeps the dance's own song, method and options; leave out --audio, --feet"),
    (["--rig", "{rig}", "--reroll", "100", "900", "--seed", "5"], "frames 100-900 are not inside the dance"),
    (["--rig", "{rig}", "--reroll", "100", "102", "--seed", "5"], "frames 100-102 are fewer than 4"),
    (["--rig", "{rig}", "--reroll", "ten", "20", "--seed", "5"], "argument --reroll: invalid int value: 'ten'"),
    (["--rig", "{plain}", "--reroll", "10", "20", "--seed", "5"], "armature 'Dancer' has no active action to re-roll"),
    (["--audio", "{song}", "--variations", "0"], "argument --variations: must be a whole number from 1 to 16"),
    (["--audio", "{song}", "--variations", "17"], "argument --variations: must be a whole number from 1 to 16"),
    (["--audio", "{song}", "--markers", "--method", "lstm"], "--markers shows the moves of the action graph's "
     "methods (graph, guided); the lstm method has none"),
    ([], "bake needs --audio SONG"),
], ids=["reroll-without-rig", "reroll-without-seed", "reroll-with-bake-options", "reroll-outside", "reroll-too-short",
        "reroll-word", "reroll-no-dance", "zero-variations", "too-many-variations", "markers-lstm", "no-audio"])
def test_bad_bake_options_give_one_line(tmp_path, music_tracks, args, message):
    """Every refusal of bake's variations, markers and re-roll: one line, exit code 2, nothing written."""
    bur = {"BLENDER_USER_RESOURCES": str(tmp_path / "bur")}
    song = _short_song(tmp_path, music_tracks[3], 6.0)
    rig = plain = tmp_path / "none.blend"
    if "{rig}" in args:
        rig = tmp_path / "base.blend"
        assert _run("bake", "--audio", song, "--out", rig, env_extra=bur).returncode == 0
    if "{plain}" in args:
        plain = tmp_path / "plain.blend"
        res = subprocess.run([sys.executable, "-c", _RIG.replace("'Idle'", "'Idle'); arm.animation_data.action = "
                              "(None"), str(plain)], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "PYTHONPATH": REPO, **bur})
        assert res.returncode == 0, res.stderr
    res = _run("bake", *(a.format(rig=rig, plain=plain, song=song) for a in args), "--out", tmp_path / "x.blend",
               env_extra=bur)
    _one_error_line(res, message)
    assert not (tmp_path / "x.blend").exists()


def test_bake_dances_to_where_a_truncated_mp3_ends(tmp_path, music_tracks):
    """The first 100 kB of an MP3 of a ~30 s song, baked: Blender's own decoder reads 4.8 s of it
    (the strip is as long as the header says); the dance ends there, one note on stderr says so."""
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(_mp3_of(music_tracks[2], tmp_path / "song.mp3").read_bytes()[:100_000])
    out = tmp_path / "cut.blend"
    res = _run("bake", "--audio", cut, "--out", out, env_extra={"BLENDER_USER_RESOURCES": str(tmp_path / "bur")})
    assert res.returncode == 0, res.stderr
    assert res.stderr.strip() == ("dance-addon: note: the sound file cut.mp3 decodes only its first 4.8 s (cut "
                                  "short?): the dance ends where its audio does, at frame 116")
    assert "baked 'Dance - cut' onto 'Dancer': frames 1-116, " in res.stdout
    _, keys = _open_blend(out, tmp_path, "cut")
    assert all(co[-1, 0] == 116 for co in keys.values())


@pytest.mark.parametrize("content", [b"RIFF\x00\x01garbage" * 10, b"\xff\xfb garbage" * 1000],
                         ids=["wav-header-and-garbage", "mp3-frame-header-and-garbage"])
def test_bake_of_audio_that_cannot_be_decoded_gives_one_line(tmp_path, content):
    song = tmp_path / ("bad.wav" if content.startswith(b"RIFF") else "bad.mp3")
    song.write_bytes(content)
    res = _run("bake", "--audio", song, "--out", tmp_path / "x.blend",
               env_extra={"BLENDER_USER_RESOURCES": str(tmp_path / "bur")})
    _one_error_line(res, f"the sound strip 'bad' ({song.name}) cannot be decoded: ",
                    "; pick a strip with a readable audio file")
    assert not (tmp_path / "x.blend").exists()
