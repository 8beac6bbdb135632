"""The add-on's Blender layer on older Blenders: bpy 4.5 LTS (slotted actions, audio) and 4.2 LTS
(legacy actions; its bpy module has no audio, so it keys but does not bake a song).

Each runs tests/compat_probe.py in its own venv (made by `make test` from requirements-bpy45.txt
and requirements-bpy42.txt), with a tiny real model exported here."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from test_bake import tiny_model_dir

REPO = Path(__file__).resolve().parents[1]
PROBE = Path(__file__).with_name("compat_probe.py")


@pytest.mark.parametrize("venv,version,slotted,audio", [(".venv-bpy45", "4.5", True, True),
                                                        (".venv-bpy42", "4.2", False, False)])
def test_older_blender_keys_and_bakes(venv, version, slotted, audio, tmp_path, music_tracks):
    python = REPO / venv / "bin" / "python"
    assert python.exists(), f"{python} is missing: `make test` creates it from requirements-bpy{version[0]}{version[2]}.txt"
    model = tiny_model_dir(tmp_path)
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(tmp_path / "user")}
    done = subprocess.run([str(python), str(PROBE), str(model), str(music_tracks[0])], capture_output=True,
                          text=True, env=env, timeout=300)
    lines = [line for line in done.stdout.splitlines() if line.startswith("PROBE ")]
    assert done.returncode == 0 and lines, done.stdout[-2000:] + done.stderr[-2000:]
    facts = json.loads(lines[-1][len("PROBE "):])
    assert facts["version"].startswith(version)
    assert facts["slotted"] is slotted                 # 4.2 goes through the legacy action.fcurves path
    assert facts["keying_max_error"] < 1e-5            # the evaluated pose is the keyed one
    assert facts["has_audio"] is audio
    if audio:
        assert facts["bake"]["action"] == "Dance - song" and facts["bake"]["bones"] == 20
        assert facts["bake"]["frames"][0] == 1
