import pickle
from dataclasses import replace

import numpy as np
import pytest

from dance_addon.core.motion import skeleton as sk
from dance_addon.core.motion.bvh import BvhError, read_bvh, write_bvh
from dance_addon.core.motion.rotations import rotvec_to_matrix
from training.data.clips import MAX_JOINT_SPEED, REPAIR_OPTIONS, load_clips
from training.mocap.aist import AistError, load_aist_motion
from training.mocap.convert import (
    convert_bvh,
    file_cosines,
    load_reference,
    read_source,
    retarget_motion,
    source_indices,
)
from training.mocap.mappings import (
    CMU_BREAKDANCE,
    CMU_CHARLESTON,
    CMU_INDIAN,
    CMU_LAMBADA,
    CMU_MODERN,
    CMU_SALSA,
    DATASETS,
    SourceMapping,
)
from training.mocap.report import flight_gravity

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
            out[(mapping.name, path.name)] = file_cosines(read_source(path, mapping), mapping, reference)
    return out


def test_every_bone_of_every_file_follows_the_source(cosines):
    assert len(cosines) == 48 + 15
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
        convert_bvh(shared_data / "cmu-salsa" / "60_01.bvh",
                    replace(CMU_SALSA, scale=1.0, joints=CMU_MODERN.joints), None)


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


NEW_DATASETS = (CMU_INDIAN, CMU_CHARLESTON, CMU_LAMBADA, CMU_BREAKDANCE)


def test_new_datasets_come_after_the_first_two():
    # clip names, their order and the cache keys of the first two datasets stay as they were
    assert [m.name for m in DATASETS] == ["cmu-salsa", "cmu-modern", "cmu-indian", "cmu-charleston",
                                          "cmu-lambada", "cmu-breakdance"]


@pytest.fixture(scope="module")
def new_clips(shared_data, tmp_path_factory):
    """{name: Clip} of the four new datasets, through load_clips (conversion at 30 fps + repair)."""
    data = tmp_path_factory.mktemp("data")
    for mapping in NEW_DATASETS:
        (data / mapping.folder).symlink_to(shared_data / mapping.folder)
    return {c.name: c for c in load_clips(data, cache_dir=None)}


def _sources(shared_data, mapping):
    """(file stem, source world positions (N, J, 3) metres, source indices, frame rate) per file."""
    for path in sorted((shared_data / mapping.folder).glob("*.bvh")):
        motion = read_source(path, mapping)
        yield path.stem, motion.world_transforms()[1], source_indices(motion, mapping), mapping.fps or motion.fps


def _assert_bones(cosines, mapping, n_bones, inexact=None):
    """Every bone of every file of `mapping` follows the source on the source's proportions
    (mean cosine >= 0.9999; `inexact` {bone: bound} for the ones that cannot, with their bound)."""
    files = [bones for (dataset, _), bones in cosines.items() if dataset == mapping.name]
    assert files
    for bones in files:
        assert len(bones) == n_bones
        for bone, check in bones.items():
            bound = (inexact or {}).get(bone, 0.9999)
            assert check.source.mean() >= bound, (mapping.name, bone, check.source.mean())


def _assert_on_the_floor(new_clips, mapping, n_files, standing_only=False):
    """The clips of `mapping` are there, named dataset/stem, with the lower toe end of our skeleton
    near the floor (Y = 0) and a human pelvis height; speeds human after the repair."""
    clips = {n: c for n, c in new_clips.items() if n.startswith(mapping.name + "/")}
    assert len(clips) == n_files and all(n.count("/") == 1 for n in clips)
    for name, clip in clips.items():
        pos = sk.forward_kinematics(clip.rotvecs, clip.root_translation)
        toes = sk.end_positions(clip.rotvecs, pos)
        low = np.minimum(toes[7][:, 1], toes[8][:, 1])
        pelvis = clip.root_translation[:, 1]
        upright = pelvis > 0.8 if standing_only else np.ones(len(low), bool)
        assert upright.mean() > 0.2, name
        assert np.median(np.abs(low[upright])) < 0.03, (name, np.median(np.abs(low[upright])))
        assert np.mean(np.abs(low[upright]) < 0.05) > 0.8, name
        assert 0.85 < np.percentile(pelvis, 90) < 1.1, (name, np.percentile(pelvis, 90))    # standing, at times
        speed = np.linalg.norm(np.diff(pos, axis=0), axis=-1) * clip.fps
        assert speed.max() <= MAX_JOINT_SPEED, (name, speed.max())
        max_root = REPAIR_OPTIONS.get(mapping.name, {}).get("max_root_speed", 4.0)
        assert speed[:, 0].max() <= max_root, (name, speed[:, 0].max())


def test_indian_follows_the_source_stands_on_the_floor_and_hops_at_120_fps(cosines, new_clips, shared_data):
    # salsa's skeleton: every bone exact (spine2->spine3 share 'chest' and are not measured)
    _assert_bones(cosines, CMU_INDIAN, 22)
    _assert_on_the_floor(new_clips, CMU_INDIAN, 7)
    # the broken start of 94_07 is dropped: 3.6 s (432 frames at 120 fps) of its 2314 frames
    assert abs(len(new_clips["cmu-indian/94_07"].rotvecs) - (2314 - 432) / 4) <= 2
    # hops are ballistic at the files' 120 fps (at 60, g would come out a quarter)
    gravity = []
    for _, pos, idx, fps in _sources(shared_data, CMU_INDIAN):
        assert fps == pytest.approx(120.0, abs=0.01)
        gravity += flight_gravity(pos[:, idx[0], 1], pos[:, idx[20:22], 1], fps, body_y=pos[:, idx[:20], 1])
    assert len(gravity) >= 10
    assert 9.0 < np.median(gravity) < 14.0, sorted(gravity)


def test_charleston_follows_the_source_stands_on_the_floor_and_steps_at_60_fps(cosines, new_clips, shared_data):
    # CMU's ASF skeleton: lowerback starts at the root, so pelvis->spine1 has no source direction and
    # is not measured; upperneck drives our neck, so spine3->neck bends with lowerneck (cos >= 0.99)
    assert "pelvis->spine1" not in cosines[("cmu-charleston", "93_04.bvh")]
    _assert_bones(cosines, CMU_CHARLESTON, 22, inexact={"spine3->neck": 0.99})
    _assert_on_the_floor(new_clips, CMU_CHARLESTON, 3)
    # 60 fps (CMU's list says 120): the basic step bounces the pelvis ~190 times a minute (~380 at 120)
    assert CMU_CHARLESTON.fps == 60.0
    for stem, pos, idx, fps in _sources(shared_data, CMU_CHARLESTON):
        if stem in ("93_04", "93_05"):
            y = pos[:, idx[0], 1] - pos[:, idx[0], 1].mean()
            spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y)), n=8 * len(y)))
            freq = np.fft.rfftfreq(8 * len(y), 1.0 / fps)
            band = (freq > 0.5) & (freq < 6.0)
            per_minute = 60.0 * freq[band][spectrum[band].argmax()]
            assert 150 < per_minute < 250, (stem, per_minute)


def test_lambada_follows_the_source_stands_on_the_floor_and_moves_at_120_fps(cosines, new_clips, shared_data):
    _assert_bones(cosines, CMU_LAMBADA, 22, inexact={"spine3->neck": 0.99})
    _assert_on_the_floor(new_clips, CMU_LAMBADA, 1)
    # at the file's 120 fps the toes already move more slowly than salsa's (0.5 m/s); at 60, half that
    (_, pos, idx, fps), = _sources(shared_data, CMU_LAMBADA)
    assert fps == pytest.approx(120.0, abs=0.01) and CMU_LAMBADA.fps is None
    toe_speed = np.linalg.norm(np.diff(pos[:, idx[20:22]], axis=0), axis=-1) * fps
    assert 0.3 < toe_speed.mean() < 1.0, toe_speed.mean()


def test_breakdance_follows_the_source_stands_on_the_floor_and_moves_at_30_fps(cosines, new_clips, shared_data):
    # every bone exact; the wrists have no end (Blender's bone tails point nowhere anatomical)
    _assert_bones(cosines, CMU_BREAKDANCE, 21)
    # floor work and flips: the toes are on the floor whenever the body stands (pelvis above 0.8 m)
    _assert_on_the_floor(new_clips, CMU_BREAKDANCE, 4, standing_only=True)
    # the keyframed lead-ins are dropped: 85_04 starts standing in its capture (frame 50), not in the
    # exporter's interpolation from its tilted rest
    clip = new_clips["cmu-breakdance/85_04"]
    assert abs(len(clip.rotvecs) - (617 - 50)) <= 1 and clip.root_translation[0, 1] > 0.85
    # and, with that frame as its reference, starts in the pose the other files start in: the local
    # rotations of legs, trunk, collars and shoulders within 40 deg joint by joint (with its tilted
    # rest as reference the collars and shoulders would be 70-130 deg off; the elbows bend differently)
    upto_shoulders = slice(1, sk.JOINT_NAMES.index("right_shoulder") + 1)
    first = {n.split("/")[1]: rotvec_to_matrix(c.rotvecs[0, upto_shoulders]) for n, c in new_clips.items()
             if n.startswith("cmu-breakdance/")}
    for stem in ("85_03", "85_12", "85_14"):
        turn = np.swapaxes(first["85_04"], -1, -2) @ first[stem]
        angle = np.degrees(np.arccos(np.clip((np.trace(turn, axis1=1, axis2=2) - 1) / 2, -1, 1)))
        assert angle.max() < 40, (stem, angle.round())
    # 30 fps as written: no whole-body flight of 10 frames, and hands at human speeds (doubled they are not)
    for stem, pos, idx, fps in _sources(shared_data, CMU_BREAKDANCE):
        assert fps == pytest.approx(30.0, abs=0.01)
        assert flight_gravity(pos[:, idx[0], 1], pos[:, idx[20:22], 1], fps, body_y=pos[:, idx[:20], 1]) == []
        hands = np.linalg.norm(np.diff(pos[:, idx[18:20]], axis=0), axis=-1) * fps
        assert 3.0 < np.percentile(hands, 99) < 10.0, (stem, np.percentile(hands, 99))


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
