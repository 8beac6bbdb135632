import pytest

from dance_addon.core.motion.skeleton import JOINT_NAMES
from dance_addon.core.rig import bonemaps as bm

MIXAMO = [f"mixamorig:{n}" for n in (
    "Hips Spine Spine1 Spine2 Neck Head HeadTop_End LeftShoulder LeftArm LeftForeArm LeftHand LeftHandIndex1 "
    "RightShoulder RightArm RightForeArm RightHand LeftUpLeg LeftLeg LeftFoot LeftToeBase RightUpLeg RightLeg "
    "RightFoot RightToeBase").split()]
VRM = ("J_Bip_C_Hips J_Bip_C_Spine J_Bip_C_Chest J_Bip_C_UpperChest J_Bip_C_Neck J_Bip_C_Head J_Bip_L_Shoulder "
       "J_Bip_L_UpperArm J_Bip_L_LowerArm J_Bip_L_Hand J_Bip_R_Shoulder J_Bip_R_UpperArm J_Bip_R_LowerArm "
       "J_Bip_R_Hand J_Bip_L_UpperLeg J_Bip_L_LowerLeg J_Bip_L_Foot J_Bip_L_ToeBase J_Bip_R_UpperLeg "
       "J_Bip_R_LowerLeg J_Bip_R_Foot J_Bip_R_ToeBase").split()
UE5 = ("root pelvis spine_01 spine_02 spine_03 spine_04 spine_05 neck_01 neck_02 head clavicle_l upperarm_l "
       "lowerarm_l hand_l clavicle_r upperarm_r lowerarm_r hand_r thigh_l calf_l foot_l ball_l thigh_r calf_r "
       "foot_r ball_r upperarm_twist_01_l").split()
SMPL_FBX = [f"m_avg_{n}" for n in (
    "Pelvis L_Hip R_Hip Spine1 L_Knee R_Knee Spine2 L_Ankle R_Ankle Spine3 L_Foot R_Foot Neck L_Collar "
    "R_Collar Head L_Shoulder R_Shoulder L_Elbow R_Elbow L_Wrist R_Wrist L_Hand R_Hand").split()]


@pytest.mark.parametrize("names,preset", [
    (MIXAMO, "mixamo"), (VRM, "vrm"), (UE5, "unreal"), (SMPL_FBX, "smpl"), (list(JOINT_NAMES), "canonical"),
])
def test_detects_each_rig_family_with_every_joint(names, preset):
    det = bm.detect(names)
    assert det.preset == preset
    assert set(det.bone_map) == set(JOINT_NAMES)
    assert len(set(det.bone_map.values())) == 20
    bm.validate(det.bone_map, names)


def test_mixamo_numbered_prefix_and_specific_bones():
    names = [n.replace("mixamorig:", "mixamorig7:") for n in MIXAMO]
    det = bm.detect(names)
    assert det.prefix == "mixamorig7:"
    assert det.bone_map["left_shoulder"] == "mixamorig7:LeftArm"
    assert det.bone_map["left_collar"] == "mixamorig7:LeftShoulder"


def test_ue5_spine_uses_first_middle_last():
    det = bm.detect(UE5)
    assert [det.bone_map[j] for j in ("spine1", "spine2", "spine3")] == ["spine_01", "spine_03", "spine_05"]
    ue4 = [n for n in UE5 if n not in ("spine_04", "spine_05")]
    det4 = bm.detect(ue4)
    assert [det4.bone_map[j] for j in ("spine1", "spine2", "spine3")] == ["spine_01", "spine_02", "spine_03"]


def test_optional_bones_may_be_missing():
    names = [n for n in MIXAMO if not n.endswith(("Shoulder", "Spine1", "Spine2", "Neck"))]
    det = bm.detect(names)
    assert det.complete
    assert "left_collar" not in det.bone_map and "neck" not in det.bone_map


def test_missing_required_bone_is_named():
    names = [n for n in MIXAMO if n != "mixamorig:LeftForeArm"]
    with pytest.raises(bm.BoneMapError, match="left_elbow"):
        bm.detect(names)
    with pytest.raises(bm.BoneMapError, match="cannot be mapped"):
        bm.detect(["Bone", "Bone.001", "Bone.002"])


def test_validate_rejects_bad_edits():
    det = bm.detect(MIXAMO)
    bad = dict(det.bone_map, head="mixamorig:Nope")
    with pytest.raises(bm.BoneMapError, match="head -> 'mixamorig:Nope'"):
        bm.validate(bad, MIXAMO)
    twice = dict(det.bone_map, neck="mixamorig:Head")
    with pytest.raises(bm.BoneMapError, match="both"):
        bm.validate(twice, MIXAMO)
    with pytest.raises(bm.BoneMapError, match="unknown joints"):
        bm.validate(dict(det.bone_map, tail="mixamorig:Hips"), MIXAMO)


def test_user_presets_round_trip_and_win_detection(tmp_path):
    odd = ["root", "hips_jnt", "spine_a", "spine_b", "spine_c", "neck_x", "head_x", "armL", "elbowL", "wristL",
           "armR", "elbowR", "wristR", "legL", "kneeL", "footL", "legR", "kneeR", "footR"]
    with pytest.raises(bm.BoneMapError):
        bm.detect(odd)                                   # no built-in preset knows these names
    mapping = dict(zip(["pelvis", "spine1", "spine2", "spine3", "neck", "head", "left_shoulder", "left_elbow",
                        "left_wrist", "right_shoulder", "right_elbow", "right_wrist", "left_hip", "left_knee",
                        "left_ankle", "right_hip", "right_knee", "right_ankle"], odd[1:]))
    bm.validate(mapping, odd)
    path = bm.save_user_preset(tmp_path, "My rig/v2", mapping)
    assert path.parent == tmp_path and "/" not in path.name
    presets = bm.load_user_presets(tmp_path)
    assert list(presets) == ["user:My rig/v2"]
    det = bm.detect(odd, presets)
    assert det.preset == "user:My rig/v2" and det.bone_map == mapping
    # a user preset never hides a built-in rig it does not fit
    assert bm.detect(MIXAMO, presets).preset == "mixamo"


def test_broken_user_preset_is_named(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(bm.BoneMapError, match="bad.json"):
        bm.load_user_presets(tmp_path)
