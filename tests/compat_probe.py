"""Run the add-on's Blender layer in another bpy version and report what happened as JSON.

    BLENDER_USER_RESOURCES=DIR VENV/bin/python tests/compat_probe.py MODEL_DIR SONG

Uses only the add-on (no torch, no pytest), so the other version's venv needs just bpy, numpy
and onnxruntime. Keys a known motion onto the code-built dancer and checks the evaluated pose;
where the bpy module has audio (4.5 and later), also bakes SONG with MODEL_DIR.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bpy  # noqa: E402
import numpy as np  # noqa: E402


def main(model_dir: str, song: str) -> dict:
    from dance_addon.blender import bake, character, keying, rig_io
    from dance_addon.core.motion.rotations import quat_to_matrix
    from dance_addon.core.rig import bonemaps
    from dance_addon.core.rig.posing import pose_rig

    facts: dict = {"version": bpy.app.version_string, "slotted": "slots" in bpy.types.Action.bl_rna.properties}
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    arm, _ = character.build_dancer("Dancer")
    rng = np.random.default_rng(0)
    rv = np.cumsum(rng.normal(scale=0.05, size=(30, 20, 3)), axis=0)
    rest = rig_io.rig_rest(arm)
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
    facts["interactive"] = _interactive_bake(scene, arm, facts["has_audio"])
    return facts


def _interactive_bake(scene, arm, has_audio: bool) -> dict:
    """The add-on's classes register, and (with audio) the Bake operator's job runs in its worker
    and its modal step applies it, as in Blender's window (see tests/test_bake_interactive.py)."""
    import dance_addon
    from dance_addon.blender import bake_job, operators

    dance_addon.register()
    try:
        s = scene.dance
        s.armature = arm
        out: dict = {"registered": True, "poll": bpy.ops.dance.bake.poll()}
        if has_audio:
            s.use_strip_range, s.frame_start, s.frame_end = False, 1, 120
            job = operators.start_bake(bpy.context)
            out["poll_while_baking"] = bpy.ops.dance.bake.poll()
            job.wait()
            status, (level, message) = operators.bake_step(job, bpy.context, _Event("TIMER"))
            out.update(status=sorted(status), message=message, action=arm.animation_data.action.name,
                       running=len(bake_job._RUNNING))
        return out
    finally:
        dance_addon.unregister()


class _Event:
    value = "NOTHING"

    def __init__(self, type: str):
        self.type = type


def _has_aud() -> bool:
    try:
        import aud  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    print("PROBE " + json.dumps(main(*sys.argv[1:3])), flush=True)
    # The bpy 4.2 module crashes in its own teardown at interpreter exit once an add-on's
    # properties were registered (even after unregistering them); the probe's work is done and
    # printed, so leave without that teardown.
    os._exit(0)
