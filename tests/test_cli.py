"""python -m dance_addon generate / bake, run as a user runs them (subprocesses)."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from dance_addon.core.motion import skeleton as sk
from dance_addon.core.motion.bvh import read_bvh
from test_bake import tiny_model_dir

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*args, env_extra=None):
    env = {**os.environ, "PYTHONPATH": REPO, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "dance_addon", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=300)


def test_generate_writes_motion_positions_and_bvh(tmp_path, music_tracks):
    model = tiny_model_dir(tmp_path)
    out, bvh = tmp_path / "dance.npz", tmp_path / "dance.bvh"
    res = _run("generate", "--audio", music_tracks[2], "--out", out, "--model", model, "--seed", 4,
               "--fps", 24, "--bvh", bvh)
    assert res.returncode == 0, res.stderr
    assert "wrote" in res.stdout and "style style 0" in res.stdout
    z = np.load(out)
    assert float(z["fps"]) == 24.0
    assert list(z["joint_names"]) == list(sk.JOINT_NAMES)
    rv, pos = z["rotvecs"], z["positions"]
    assert rv.shape[1:] == (20, 3) and pos.shape == rv.shape
    assert 24 * 25 < len(rv) < 24 * 40                       # the ~30 s track at 24 fps
    # metres, Y up, standing on Y = 0: the feet are the lowest points, about a body height below the head
    assert np.abs(pos[:, 0, 1] - sk.grounded_pelvis_height(rv)).max() < 1e-4
    assert 1.2 < np.median(pos[:, 13, 1] - pos[:, [7, 8], 1].min(axis=1)) < 2.0
    motion = read_bvh(bvh)
    assert motion.num_frames == len(rv) and abs(motion.fps - 24) < 1e-3


def test_generate_reports_bad_audio(tmp_path):
    model = tiny_model_dir(tmp_path)
    res = _run("generate", "--audio", tmp_path / "none.wav", "--out", tmp_path / "x.npz", "--model", model)
    assert res.returncode == 2 and "none.wav" in res.stderr
    assert not (tmp_path / "x.npz").exists()


def test_generate_reports_an_unknown_style(tmp_path, music_tracks):
    model = tiny_model_dir(tmp_path)
    res = _run("generate", "--audio", music_tracks[2], "--out", tmp_path / "x.npz", "--model", model,
               "--style", "tango")
    assert res.returncode == 2 and "unknown style 'tango'; this model has: style 0" in res.stderr
    assert not (tmp_path / "x.npz").exists()


def test_bake_saves_a_blend_with_the_dance(tmp_path, music_tracks):
    model = tiny_model_dir(tmp_path)
    out = tmp_path / "out.blend"
    res = _run("bake", "--audio", music_tracks[3], "--out", out, "--model", model, "--start-frame", 12,
               env_extra={"BLENDER_USER_RESOURCES": str(tmp_path / "bur")})
    assert res.returncode == 0, res.stderr
    assert out.is_file() and "baked" in res.stdout
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
    model = tiny_model_dir(tmp_path)
    out = tmp_path / "out"
    res = _run("demo", "--out-dir", out, "--model", model, "--seconds", 1,
               env_extra={"BLENDER_USER_RESOURCES": str(tmp_path / "bur")})
    assert res.returncode == 0, res.stderr[-2000:]
    for name in ("demo.blend", "demo.mp4", "demo_contact.png"):
        assert (out / name).stat().st_size > 1000, name
        assert str(out / name) in res.stdout
