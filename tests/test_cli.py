"""python -m dance_addon generate / bake / demo, run as a user runs them (subprocesses)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from dance_addon.core.motion import skeleton as sk
from dance_addon.core.motion.bvh import read_bvh
from dance_addon.core.music import features as music_mod
from test_bake import tiny_model_dir

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*args, env_extra=None):
    env = {**os.environ, "PYTHONPATH": REPO, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "dance_addon", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=300)


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
    assert np.allclose(z["root_translation"], pos[:, 0]) and np.ptp(pos[:, 0, [0, 2]], axis=0).max() < 1e-6
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


@pytest.mark.parametrize("command", ["generate", "bake", "demo"])
@pytest.mark.parametrize("bad, message", [
    (["--method", "tango"], "error: unknown method 'tango'; choose one of graph, guided, lstm"),
    (["--graph", "{tmp}/no-graph"], "/no-graph: no graph.json found; choose the folder"),
    (["--seed", "-1"], "error: --seed must be 0 or above, got -1"),
    (["--floor-radius", "0"], "error: --floor-radius must be more than 0 metres, got 0"),
    (["--floor-radius", "-1.5"], "error: --floor-radius must be more than 0 metres, got -1.5"),
], ids=["unknown-method", "missing-graph", "negative-seed", "zero-floor-radius", "negative-floor-radius"])
def test_bad_input_gives_one_line_and_exit_code_2(tmp_path, music_tracks, command, bad, message):
    out = {"generate": ["--out", tmp_path / "x.npz"], "bake": ["--out", tmp_path / "x.blend"],
           "demo": ["--out-dir", tmp_path / "out"]}[command]
    res = _run(command, "--audio", music_tracks[2], *out, *(a.format(tmp=tmp_path) for a in bad),
               env_extra={"BLENDER_USER_RESOURCES": str(tmp_path / "bur")})
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], res.stderr
    assert not any(p.exists() for p in (tmp_path / "x.npz", tmp_path / "x.blend", tmp_path / "out"))


def test_generate_reports_bad_audio(tmp_path):
    model = tiny_model_dir(tmp_path)
    res = _run("generate", "--audio", tmp_path / "none.wav", "--out", tmp_path / "x.npz", "--model", model)
    assert res.returncode == 2 and "none.wav" in res.stderr
    assert not (tmp_path / "x.npz").exists()


def test_generate_reports_an_unknown_style(tmp_path, music_tracks):
    model = tiny_model_dir(tmp_path)
    res = _run("generate", "--audio", music_tracks[2], "--out", tmp_path / "x.npz", "--method", "lstm",
               "--model", model, "--style", "tango")
    assert res.returncode == 2 and "unknown style 'tango'; this model has: style 0" in res.stderr
    res = _run("generate", "--audio", music_tracks[2], "--out", tmp_path / "x.npz", "--method", "graph",
               "--style", "tango")
    assert res.returncode == 2 and res.stderr.startswith("error: unknown style 'tango'")
    assert len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.npz").exists()


def test_bake_saves_a_blend_with_the_dance(tmp_path, music_tracks):
    """The default method (the shipped action graph)."""
    out = tmp_path / "out.blend"
    res = _run("bake", "--audio", _short_song(tmp_path, music_tracks[3]), "--out", out, "--start-frame", 12,
               env_extra={"BLENDER_USER_RESOURCES": str(tmp_path / "bur")})
    assert res.returncode == 0, res.stderr
    assert out.is_file() and "baked" in res.stdout and "; method graph: " in res.stdout
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
