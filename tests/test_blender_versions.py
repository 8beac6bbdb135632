"""The add-on's Blender layer on other Blenders than the main venv's 5.0: the newest, bpy 5.2 LTS
(Python 3.13 and numpy 2, as Blender 5.1 and later bundle), and the older bpy 4.5 LTS (slotted
actions, audio) and 4.2 LTS (legacy actions; its bpy module has no audio, so it keys but does not
bake a song).

Each runs tests/compat_probe.py in its own venv (made by `make test` from requirements-bpy52.txt,
requirements-bpy45.txt and requirements-bpy42.txt), with a tiny real model exported here."""
from __future__ import annotations

from pathlib import Path

import pytest

from probes import run_probe
from test_bake import tiny_model_dir

REPO = Path(__file__).resolve().parents[1]
PROBE = Path(__file__).with_name("compat_probe.py")


@pytest.mark.parametrize("venv,version,slotted,audio", [(".venv-bpy52", "5.2", True, True),
                                                        (".venv-bpy45", "4.5", True, True),
                                                        (".venv-bpy42", "4.2", False, False)])
def test_other_blender_keys_and_bakes(venv, version, slotted, audio, tmp_path, music_tracks):
    python = REPO / venv / "bin" / "python"
    assert python.exists(), \
        f"{python} is missing: `make test` creates it from requirements-bpy{version[0]}{version[2]}.txt"
    model = tiny_model_dir(tmp_path)
    facts = run_probe(python, PROBE, model, music_tracks[0], user=tmp_path / "user")
    assert facts["version"].startswith(version)
    assert facts["slotted"] is slotted                 # 4.2 goes through the legacy action.fcurves path
    assert facts["keying_max_error"] < 1e-5            # the evaluated pose is the keyed one
    assert facts["has_audio"] is audio
    if audio:
        assert facts["bake"]["action"] == "Dance - song" and facts["bake"]["bones"] == 20
        assert facts["bake"]["frames"][0] == 1
    # the add-on registers; with audio, the interactive Bake's job and modal step bake there too
    job = facts["interactive"]
    assert job["registered"] and job["poll"]
    if audio:
        assert job["status"] == ["FINISHED"] and job["message"].startswith("Baked by graph: "), job
        assert job["poll_while_baking"] is False and job["running"] == 0
        assert job["action"] == "Dance - song.001"
