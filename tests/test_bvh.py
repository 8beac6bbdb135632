import re
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from dance_addon.core.motion import skeleton as sk
from dance_addon.core.motion.bvh import BvhError, guess_scale, read_bvh, write_bvh

SMALL_BVH = """HIERARCHY
ROOT root
{
  OFFSET 1.0 2.0 3.0
  CHANNELS 6 Xposition Yposition Zposition Xrotation Yrotation Zrotation
  JOINT a
  {
    OFFSET 0.0 10.0 0.0
    CHANNELS 3 Zrotation Yrotation Xrotation
    JOINT b
    {
      OFFSET 5.0 0.0 0.0
      CHANNELS 6 Yrotation Xposition Xrotation Yposition Zposition Zrotation
      End Site
      {
        OFFSET 0.0 0.0 4.0
      }
    }
  }
  JOINT c
  {
    OFFSET -3.0 0.0 1.0
    CHANNELS 2 Yposition Zrotation
  }
}
MOTION
Frames: 3
Frame Time: 0.04
"""


def _small_file(tmp_path: Path, rows: np.ndarray, header: str = SMALL_BVH) -> Path:
    path = tmp_path / "small.bvh"
    path.write_text(header + "\n".join(" ".join(f"{v:.6f}" for v in r) for r in rows) + "\n")
    return path


def _small_rows() -> np.ndarray:
    return np.random.default_rng(3).uniform(-80, 80, size=(3, 17))


def test_any_channel_order_and_position_channels_match_scipy_fk(tmp_path):
    rows = _small_rows()
    m = read_bvh(_small_file(tmp_path, rows), scale=0.5)
    assert m.names == ("root", "a", "b", "b_end", "c")
    assert m.parents == (-1, 0, 1, 2, 0)
    assert m.fps == pytest.approx(25.0)
    _, pos = m.world_transforms()
    for t, r in enumerate(rows):
        # independent FK: scipy intrinsic Euler (upper-case order), channels read by hand
        g_root = Rotation.from_euler("XYZ", r[3:6], degrees=True)
        p_root = r[0:3]                                      # position channels replace OFFSET
        g_a = g_root * Rotation.from_euler("ZYX", r[6:9], degrees=True)
        p_a = p_root + g_root.apply([0.0, 10.0, 0.0])
        # b: Yrotation Xposition Xrotation Yposition Zposition Zrotation
        g_b = g_a * Rotation.from_euler("YXZ", [r[9], r[11], r[14]], degrees=True)
        p_b = p_a + g_a.apply([r[10], r[12], r[13]])
        p_end = p_b + g_b.apply([0.0, 0.0, 4.0])
        p_c = p_root + g_root.apply([-3.0, r[15], 1.0])      # only Y replaced; X, Z from OFFSET
        expected = np.array([p_root, p_a, p_b, p_end, p_c]) * 0.5
        assert np.allclose(pos[t], expected, atol=1e-9)


@pytest.mark.parametrize("order", ["ZXY", "XYZ"])
def test_write_read_round_trip_keeps_fk_positions(tmp_path, order):
    rng = np.random.default_rng(7)
    rotvecs = rng.normal(scale=0.6, size=(12, 20, 3))
    root = rng.normal(size=(12, 3)) + [0, 0.9, 0]
    path = tmp_path / "dance.bvh"
    write_bvh(path, rotvecs, root, fps=30, order=order)
    m = read_bvh(path)
    assert m.scale == 1.0 and m.num_frames == 12 and m.fps == pytest.approx(30.0)
    _, pos = m.world_transforms()
    expected = sk.forward_kinematics(rotvecs, root)
    got = pos[:, [m.joint_index(n) for n in sk.JOINT_NAMES]]
    assert np.allclose(got, expected, atol=1e-5)  # 6 decimals in the file
    ends = sk.end_positions(rotvecs, expected)
    for j in (7, 8, 18, 19):
        assert np.allclose(pos[:, m.joint_index(sk.JOINT_NAMES[j] + "_end")], ends[j], atol=1e-5)


def test_write_refuses_bad_motion(tmp_path):
    rotvecs = np.zeros((2, 20, 3))
    rotvecs[1, 3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        write_bvh(tmp_path / "x.bvh", rotvecs, np.zeros((2, 3)), fps=30)
    with pytest.raises(ValueError, match="root_translation"):
        write_bvh(tmp_path / "x.bvh", np.zeros((2, 20, 3)), np.zeros((3, 3)), fps=30)
    assert not (tmp_path / "x.bvh").exists()


def _line_of(text: str, needle: str) -> int:
    return next(n + 1 for n, line in enumerate(text.splitlines()) if needle in line)


def test_bad_files_name_the_file_and_line(tmp_path):
    rows = _small_rows()
    good = _small_file(tmp_path, rows).read_text()
    cases = {
        # the hierarchy cut off in the middle of joint b
        "truncated_header": (good[:good.index("End Site")], r"line \d+: .*ends early|no MOTION"),
        # the data cut off: the last frame line missing
        "truncated_data": (good.rsplit("\n", 2)[0] + "\n", r"line 30: 'Frames: 3' but the file holds 2 frame lines"),
        "bad_number": (good.replace("OFFSET 5.0 0.0 0.0", "OFFSET 5.0 0.O 0.0"),
                       rf"line {_line_of(good, 'OFFSET 5.0')}: expected a number \(OFFSET of 'b'\)"),
        "bad_data_number": (good.replace(f"{rows[1, 4]:.6f}", "1.2.3", 1), r"line 30: '1.2.3' is not a finite number"),
        "short_row": (good.replace(f" {rows[2, 16]:.6f}\n", "\n"),
                      r"line 31: 16 values on a frame line, the hierarchy has 17"),
        "frames_too_many": (good.replace("Frames: 3", "Frames: 4"),
                            r"line 31: 'Frames: 4' but the file holds 3 frame lines"),
        "frames_too_few": (good.replace("Frames: 3", "Frames: 2"), r"'Frames: 2' but the file holds 3"),
        "bad_channel": (good.replace("Yposition Zrotation", "Wposition Zrotation"),
                        rf"line {_line_of(good, 'Yposition Zrotation')}: bad or repeated channel 'Wposition'"),
    }
    for name, (text, pattern) in cases.items():
        path = tmp_path / f"{name}.bvh"
        path.write_text(text)
        with pytest.raises(BvhError) as err:
            read_bvh(path, scale=1.0)
        assert str(path) in str(err.value), name
        assert re.search(pattern, str(err.value)), (name, str(err.value))


def test_missing_file_and_joint_are_named(tmp_path):
    with pytest.raises(BvhError, match="nope.bvh: cannot read"):
        read_bvh(tmp_path / "nope.bvh")
    m = read_bvh(_small_file(tmp_path, _small_rows()), scale=1.0)
    with pytest.raises(BvhError, match=r"small.bvh: no joint named 'elbow'"):
        m.joint_index("elbow")


def test_scale_is_guessed_from_the_longest_bone(shared_data):
    assert read_bvh(shared_data / "cmu-salsa" / "60_01.bvh").scale == 1.0
    assert read_bvh(shared_data / "cmu-modern" / "005_01.bvh").scale == 0.01
    with pytest.raises(BvhError, match="pass scale"):
        guess_scale(np.array([[0, 50.0, 0], [0, 3.0, 0]]))


Y_UP_TO_Z_UP = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])  # (x, y, z) -> (x, -z, y)


@pytest.mark.parametrize("name", ["cmu-salsa/60_01.bvh", "cmu-modern/005_02.bvh"])
def test_world_positions_match_blenders_importer(bpy_module, shared_data, name):
    bpy = bpy_module
    path = shared_data / name
    bpy.ops.preferences.addon_enable(module="io_anim_bvh")
    # Blender: Y-up file to Z-up scene (x, y, z) -> (x, -z, y); no scaling; BVH frame k on scene frame k + 1
    bpy.ops.import_anim.bvh(filepath=str(path), axis_forward="-Z", axis_up="Y", global_scale=1.0,
                            rotate_mode="NATIVE", frame_start=1, use_fps_scale=False)
    arm = bpy.context.object
    m = read_bvh(path, scale=1.0)
    _, pos = m.world_transforms()
    joints = [k for k, n in enumerate(m.names) if not n.endswith("_end")]
    world = np.array(arm.matrix_world)
    size = np.ptp(pos[0], axis=0).max()
    for frame in (0, 1, m.num_frames // 2, m.num_frames - 1):
        bpy.context.scene.frame_set(frame + 1)
        heads = np.array([world @ np.array([*arm.pose.bones[m.names[k]].head, 1.0]) for k in joints])[:, :3]
        ours = pos[frame, joints] @ Y_UP_TO_Z_UP.T
        assert np.abs(heads - ours).max() < 2e-5 * size, frame   # Blender works in float32


def test_written_file_imports_into_blender_with_our_fk(bpy_module, tmp_path):
    bpy = bpy_module
    rng = np.random.default_rng(11)
    rotvecs = rng.normal(scale=0.5, size=(5, 20, 3))
    root = rng.normal(scale=0.3, size=(5, 3)) + [0, 0.93, 0]
    path = tmp_path / "generated.bvh"
    write_bvh(path, rotvecs, root, fps=30)
    bpy.ops.preferences.addon_enable(module="io_anim_bvh")
    bpy.ops.import_anim.bvh(filepath=str(path), axis_forward="-Z", axis_up="Y", global_scale=1.0,
                            rotate_mode="NATIVE", frame_start=1, use_fps_scale=False)
    arm = bpy.context.object
    world = np.array(arm.matrix_world)
    expected = sk.forward_kinematics(rotvecs, root) @ Y_UP_TO_Z_UP.T
    for frame in range(5):
        bpy.context.scene.frame_set(frame + 1)
        heads = np.array([world @ np.array([*arm.pose.bones[n].head, 1.0]) for n in sk.JOINT_NAMES])[:, :3]
        assert np.abs(heads - expected[frame]).max() < 1e-4, frame
