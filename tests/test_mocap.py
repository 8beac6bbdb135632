import pickle
from dataclasses import replace

import numpy as np
import pytest

from dance_addon.core.motion import skeleton as sk
from dance_addon.core.motion.bvh import BvhError, read_bvh, write_bvh
from training.mocap.aist import AistError, load_aist_motion
from training.mocap.convert import convert_bvh, file_cosines, load_reference, retarget_motion
from training.mocap.mappings import CMU_MODERN, CMU_SALSA, DATASETS, SourceMapping

# Three-way branches whose bones leave the pelvis / chest at different angles in the two
# skeletons (e.g. salsa's hip joints sit level with its root, SMPL's 8 cm below the pelvis):
# no rotation matches all three bones, so their cosine is a constant set by the rest geometry.
REST_GEOMETRY_BONES = {"pelvis->left_hip", "pelvis->right_hip", "spine3->left_collar", "spine3->right_collar"}


@pytest.fixture(scope="module")
def cosines(shared_data):
    """{(dataset, file): {bone: BoneCheck}} over every file."""
    out = {}
    for mapping in DATASETS:
        reference = load_reference(mapping, shared_data)
        files = sorted((shared_data / mapping.folder).glob("*.bvh"))
        assert files, f"no BVH files in {shared_data / mapping.folder}"
        for path in files:
            out[(mapping.name, path.name)] = file_cosines(read_bvh(path, scale=mapping.scale), mapping, reference)
    return out


def test_every_bone_of_every_file_follows_the_source(cosines):
    assert len(cosines) == 48
    for (dataset, name), bones in cosines.items():
        assert len(bones) >= 21, (dataset, name)
        for bone, check in bones.items():
            # our forward kinematics on the source's proportions: every bone follows the source
            assert check.source.mean() >= 0.98, (dataset, name, bone, check.source.mean())
            if bone in REST_GEOMETRY_BONES:
                # on SMPL's proportions the motion adds nothing to the fixed rest difference
                assert np.abs(check.smpl - check.reference).max() < 0.01, (dataset, name, bone)
            else:
                assert check.smpl.mean() >= 0.98, (dataset, name, bone, check.smpl.mean())


def test_the_check_catches_a_wrong_mapping(shared_data):
    swapped = replace(CMU_SALSA, joints={**CMU_SALSA.joints, "left_elbow": "rForeArm", "right_elbow": "lForeArm"})
    motion = read_bvh(shared_data / "cmu-salsa" / "60_01.bvh", scale=1.0)
    bones = file_cosines(motion, swapped, None)
    assert bones["left_elbow->left_wrist"].smpl.mean() < 0.9
    assert bones["left_elbow->left_wrist"].source.mean() < 0.9


def test_mapping_naming_a_missing_joint_fails_clearly(shared_data):
    bad = replace(CMU_MODERN, joints={**CMU_MODERN.joints, "neck": "CC_Base_Neck"})
    path = shared_data / "cmu-modern" / "005_03.bvh"
    with pytest.raises(BvhError, match=r"005_03.bvh: no joint named 'CC_Base_Neck'"):
        retarget_motion(read_bvh(path, scale=0.01), bad, load_reference(CMU_MODERN, shared_data))
    with pytest.raises(BvhError, match=r"60_01.bvh: no joint named 'CC_Base_Hip'"):
        convert_bvh(shared_data / "cmu-salsa" / "60_01.bvh", replace(CMU_SALSA, scale=1.0, joints=CMU_MODERN.joints), None)


def test_conversion_resamples_and_keeps_the_pelvis_at_standing_height(shared_data):
    path = shared_data / "cmu-salsa" / "61_10.bvh"
    motion = read_bvh(path, scale=1.0)
    out = convert_bvh(path, CMU_SALSA, None, fps=30.0)
    duration = (motion.num_frames - 1) * motion.frame_time
    assert len(out.rotvecs) == int(np.floor(duration * 30 + 1e-6)) + 1
    assert out.rotvecs.shape[1:] == (20, 3) and out.root_translation.shape == (len(out.rotvecs), 3)
    assert np.all(np.isfinite(out.rotvecs))
    # salsa is danced upright: the pelvis stays near the canonical standing height
    height = np.median(out.root_translation[:, 1])
    assert abs(height - sk.STANDING_HEIGHT) < 0.1, height
    # and the toes of the converted motion touch the floor (within 5 cm) for most frames
    pos = sk.forward_kinematics(out.rotvecs, out.root_translation)
    toes = sk.end_positions(out.rotvecs, pos)
    low = np.minimum(toes[7][:, 1], toes[8][:, 1])
    assert np.median(np.abs(low)) < 0.05


def _write_aist(path, poses, trans, scaling):
    with open(path, "wb") as f:
        pickle.dump({"smpl_poses": poses, "smpl_trans": trans, "smpl_scaling": scaling}, f)


def test_aist_loader_selects_joints_scales_and_resamples(tmp_path):
    n = 61
    t = np.arange(n)[:, None, None] / 60.0
    axes = np.random.default_rng(5).normal(size=(1, 24, 3))
    axes /= np.linalg.norm(axes, axis=-1, keepdims=True)
    smpl = (0.2 + 0.8 * t) * axes                               # (61, 24, 3), smooth known rotations
    smpl[:, [10, 11, 22, 23]] = 9.0                             # dropped joints: must not appear
    trans = np.stack([np.linspace(0, 90, n), np.full(n, 85.0), np.zeros(n)], axis=1)
    path = tmp_path / "gBR_sBM_cAll_d04_mBR0_ch01.pkl"
    _write_aist(path, smpl.reshape(n, 72), trans, np.array([90.0]))

    at60 = load_aist_motion(path, fps=60)
    assert np.allclose(at60.rotvecs, smpl[:, list(sk.SMPL_INDEX)])
    assert np.abs(at60.rotvecs).max() < 9.0
    assert np.allclose(at60.root_translation, trans / 90.0)

    at30 = load_aist_motion(path, fps=30)
    assert at30.rotvecs.shape == (31, 20, 3) and at30.fps == 30
    assert np.allclose(at30.rotvecs, smpl[::2][:, list(sk.SMPL_INDEX)], atol=1e-9)
    assert np.allclose(at30.root_translation, trans[::2] / 90.0)
    at24 = load_aist_motion(path, fps=24)                       # between source frames: slerp
    k = 5                                                        # 5/24 s = source frame 12.5
    halfway = (0.2 + 0.8 * (12.5 / 60.0)) * axes[0, list(sk.SMPL_INDEX)]
    assert np.allclose(at24.rotvecs[k], halfway, atol=1e-9)


def test_aist_loader_rejects_bad_files(tmp_path):
    path = tmp_path / "bad.pkl"
    _write_aist(path, np.zeros((10, 69)), np.zeros((10, 3)), np.array([1.0]))
    with pytest.raises(AistError, match=r"bad.pkl: smpl_poses must be \(N, 72\)"):
        load_aist_motion(path)
    _write_aist(path, np.zeros((10, 72)), np.zeros((9, 3)), np.array([1.0]))
    with pytest.raises(AistError, match=r"bad.pkl: smpl_trans must be \(10, 3\)"):
        load_aist_motion(path)
    _write_aist(path, np.zeros((10, 72)), np.zeros((10, 3)), np.array([0.0]))
    with pytest.raises(AistError, match="bad.pkl: smpl_scaling"):
        load_aist_motion(path)
    with open(path, "wb") as f:
        pickle.dump({"smpl_poses": np.zeros((3, 72))}, f)
    with pytest.raises(AistError, match="bad.pkl: missing smpl_trans, smpl_scaling"):
        load_aist_motion(path)


def test_retargeting_our_own_skeleton_gives_back_the_motion(tmp_path):
    rng = np.random.default_rng(2)
    rotvecs = rng.normal(scale=0.5, size=(8, 20, 3))
    root = rng.normal(scale=0.2, size=(8, 3)) + [0, sk.STANDING_HEIGHT, 0]
    path = tmp_path / "ours.bvh"
    write_bvh(path, rotvecs, root, fps=30)
    ours = SourceMapping(name="canonical", folder="", joints={j: j for j in sk.JOINT_NAMES},
                         ends={j: f"{j}_end" for j in ("left_ankle", "right_ankle", "left_wrist", "right_wrist")},
                         scale=1.0)
    back, _, _ = retarget_motion(read_bvh(path, scale=1.0), ours, None)
    assert np.allclose(sk.global_rotations(back), sk.global_rotations(rotvecs), atol=1e-5)
