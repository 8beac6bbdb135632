"""Run the add-on's Blender layer in another bpy version and report what happened as JSON.

    BLENDER_USER_RESOURCES=DIR VENV/bin/python tests/compat_probe.py MODEL_DIR SONG

Uses only the add-on (no torch, no pytest), so the other version's venv needs just bpy, numpy
and onnxruntime. Keys a known motion onto the code-built dancer and checks the evaluated pose;
where the bpy module has audio (4.5 and later), also bakes SONG with MODEL_DIR.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bpy  # noqa: E402
import numpy as np  # noqa: E402


def main(model_dir: str, song: str) -> dict:
    from dance_addon.blender import bake, character, keying, retarget
    from dance_addon.core.rig import bonemaps
    from dance_addon.core.rig.posing import pose_rig
    from dance_addon.core.motion.rotations import quat_to_matrix

    facts: dict = {"version": bpy.app.version_string, "slotted": "slots" in bpy.types.Action.bl_rna.properties}
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    arm, _ = character.build_dancer("Dancer")
    rng = np.random.default_rng(0)
    rv = np.cumsum(rng.normal(scale=0.05, size=(30, 20, 3)), axis=0)
    rest = retarget.rig_rest(arm)
    pose = pose_rig(rest, bonemaps.detect(rest.names).bone_map, rv, np.tile([0.0, 0.93, 0.0], (30, 1)))
    target = keying.new_action("Probe", arm.name)
    frames = np.arange(1, 31, dtype=np.float64)
    for name, q in pose.rotations.items():
        keying.write_bone_rotations(target, arm.pose.bones[name], frames, q)
    keying.assign(arm, target)
    worst = 0.0
    for f in (1, 15, 30):
        scene.frame_set(f)
        for name, q in pose.rotations.items():
            got = np.array(arm.pose.bones[name].matrix_basis)[:3, :3]
            worst = max(worst, float(np.abs(got - quat_to_matrix(q[f - 1])).max()))
    facts["keying_max_error"] = worst
    facts["has_audio"] = _has_aud()
    if facts["has_audio"]:
        se = scene.sequence_editor_create()
        (se.strips if "strips" in se.bl_rna.properties else se.sequences).new_sound("song", song, channel=1,
                                                                                   frame_start=1)
        report = bake.bake(scene, bake.BakeRequest("Dancer", "song", Path(model_dir), seed=1))
        facts["bake"] = {"action": report.action, "frames": list(report.frames), "bones": report.bones}
    return facts


def _has_aud() -> bool:
    try:
        import aud  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    print("PROBE " + json.dumps(main(*sys.argv[1:3])))
