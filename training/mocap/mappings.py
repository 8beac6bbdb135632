"""Joint-name mappings from the two BVH datasets in ../shared/data to the canonical skeleton.

Each entry names, for every canonical joint, the source joint whose WORLD rotation drives it
(dance_addon.core.motion.retarget explains why world rotations make unmapped source joints harmless),
and, for the ankles and wrists, the source joint (or End Site, "<joint>_end") that marks the
toes and hand, which orients the ankle and wrist themselves.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from dance_addon.core.motion.skeleton import JOINT_NAMES

ENDS = ("left_ankle", "right_ankle", "left_wrist", "right_wrist")  # order of the extended tree's ends


@dataclass(frozen=True)
class SourceMapping:
    """How to read one dataset.

    joints: canonical joint name -> source joint name (all 20).
    ends: canonical ankle/wrist name -> source joint at the toes/hand.
    scale: metres per file unit.
    reference_file / reference_frame: the pose whose bones are aligned to the canonical T-pose;
        reference_file None means each file's own rest pose (all channels zero).
    fps: frame rate to use instead of the file's Frame Time, None to trust the file.
    note: why the mapping is as it is, shown by the report.
    """

    name: str
    folder: str
    joints: dict[str, str]
    ends: dict[str, str]
    scale: float
    reference_file: str | None = None
    reference_frame: int = 0
    fps: float | None = None
    note: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        missing = [j for j in JOINT_NAMES if j not in self.joints]
        unknown = [j for j in list(self.joints) + list(self.ends) if j not in JOINT_NAMES]
        if missing or unknown or set(self.ends) - set(ENDS):
            raise ValueError(f"mapping '{self.name}': canonical joints missing {missing}, unknown {unknown}")
        if not {"left_ankle", "right_ankle"} <= set(self.ends):
            raise ValueError(f"mapping '{self.name}': ends must name the toes of left_ankle and right_ankle "
                             "(they set the floor and the body's height)")


# CMU salsa, SecondLife-style skeleton in metres. Its rest pose is a T-pose facing +Z with +X
# on the body's left, like ours, so each file's rest pose is the reference. The source has
# three trunk bones (hip, abdomen, chest) for our four: spine3 shares chest with spine2 (the
# chest bone runs from mid-back to the neck base, where our spine3 sits part way along).
# The root 'hip' drives the pelvis; lButtock/rButtock between hip and thighs are absorbed.
CMU_SALSA = SourceMapping(
    name="cmu-salsa",
    folder="cmu-salsa",
    joints={
        "pelvis": "hip", "left_hip": "lThigh", "right_hip": "rThigh", "spine1": "abdomen",
        "left_knee": "lShin", "right_knee": "rShin", "spine2": "chest", "left_ankle": "lFoot",
        "right_ankle": "rFoot", "spine3": "chest", "neck": "neck", "left_collar": "lCollar",
        "right_collar": "rCollar", "head": "head", "left_shoulder": "lShldr", "right_shoulder": "rShldr",
        "left_elbow": "lForeArm", "right_elbow": "rForeArm", "left_wrist": "lHand", "right_wrist": "rHand",
    },
    ends={"left_ankle": "lFoot_end", "right_ankle": "rFoot_end", "left_wrist": "lMid1", "right_wrist": "rMid1"},
    scale=1.0,
    note="rest pose is a T-pose; spine3 shares 'chest' with spine2",
)

# CMU modern dance on Reallusion's CC rig, in centimetres. The rig's rest (all channels zero)
# has every bone along its parent's +Y, legs pointing up: useless as a reference. The data
# README says frame 0 is a T-pose; measured, it is not (arms hang by the sides, and several
# files start mid-step, e.g. 005_02 with crossed legs). All 20 files share one skeleton, so the
# reference is one neutral standing frame, 005_01 (the walk) frame 0: arms down, legs straight.
# Aligning the arms from there to the T-pose by the minimal rotation is pure adduction, which
# keeps the anatomical twist. Trunk: Waist, Spine01, Spine02 give spine1-3; NeckTwist02 (the
# Head's parent) the neck; twist and share bones are absorbed. Frame rate: the files' 60 fps is
# right; jump flights fit parabolas with g close to 9.8 m/s^2 at 60 fps (see report.py).
CMU_MODERN = SourceMapping(
    name="cmu-modern",
    folder="cmu-modern",
    joints={
        "pelvis": "CC_Base_Hip", "left_hip": "CC_Base_L_Thigh", "right_hip": "CC_Base_R_Thigh",
        "spine1": "CC_Base_Waist", "left_knee": "CC_Base_L_Calf", "right_knee": "CC_Base_R_Calf",
        "spine2": "CC_Base_Spine01", "left_ankle": "CC_Base_L_Foot", "right_ankle": "CC_Base_R_Foot",
        "spine3": "CC_Base_Spine02", "neck": "CC_Base_NeckTwist02", "left_collar": "CC_Base_L_Clavicle",
        "right_collar": "CC_Base_R_Clavicle", "head": "CC_Base_Head", "left_shoulder": "CC_Base_L_Upperarm",
        "right_shoulder": "CC_Base_R_Upperarm", "left_elbow": "CC_Base_L_Forearm",
        "right_elbow": "CC_Base_R_Forearm", "left_wrist": "CC_Base_L_Hand", "right_wrist": "CC_Base_R_Hand",
    },
    ends={"left_ankle": "CC_Base_L_ToeBase", "right_ankle": "CC_Base_R_ToeBase",
          "left_wrist": "CC_Base_L_Mid1", "right_wrist": "CC_Base_R_Mid1"},
    scale=0.01,
    reference_file="005_01.bvh",
    reference_frame=0,
    note="reference: 005_01 frame 0 (standing, arms down); frame 0 is not a T-pose",
)

DATASETS: tuple[SourceMapping, ...] = (CMU_SALSA, CMU_MODERN)
