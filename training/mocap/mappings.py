"""Joint-name mappings from the BVH datasets in ../shared/data to the canonical skeleton.

Each entry names, for every canonical joint, the source joint whose WORLD rotation drives it
(training/mocap/canonical.py explains why world rotations make unmapped source joints harmless),
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
    first_frames: file name -> the first frame used; the frames before it are not usable capture
        (an exporter's interpolation into the take, or capture broken beyond repair) and are
        dropped everywhere (convert.read_source).
    reference_frames: file name -> a frame of that file (counted from its first frame used)
        that is its reference instead of the dataset's, for a file whose rest pose is
        unusable and whose skeleton differs from the other files'.
    canonical_floor: put the floor under OUR skeleton's toe ends (their median lower toe at
        Y = 0) rather than under the source's toes, for sources whose toe joint or reference
        stance differ from SMPL's so much that the converted feet would float or sink.
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
    first_frames: dict[str, int] = field(default_factory=dict)
    reference_frames: dict[str, int] = field(default_factory=dict)
    canonical_floor: bool = False
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

# CMU subject 94, Indian dance: the same SecondLife/DAZ-style skeleton as salsa (same 43 joints,
# names and hierarchy; its rest is a T-pose facing +Z with +X on the body's left), so the same
# joint map and each file's rest as the reference. Units are centimetres (scale 0.01): in the rest
# the hip is 0.83 m and the eyes 1.53 m over the toes, a body about 1.63 m tall. Frame rate: the
# files' 120 fps; hop flights (0.09-0.19 s) fit g = 10-14 m/s^2 at 120 (a quarter of that at 60;
# in hops this short the folding legs move the pelvis against the centre of mass, so a little
# high). 94_07's first 3.6 s are dropped: rising from its deep squats (hip at 0.25 m) the
# right leg's capture breaks, the leg held straight through the floor (ankle 5-15 cm under it
# for 0.6 s) and the knee swapping sides; its later squats are kept. The shin spikes of the rest
# of 94_07 and 94_04's knee flip at 13.2 s are repaired by training.data.clips.repair_glitches.
CMU_INDIAN = SourceMapping(
    name="cmu-indian",
    folder="cmu-indian",
    joints=dict(CMU_SALSA.joints),
    ends=dict(CMU_SALSA.ends),
    scale=0.01,
    first_frames={"94_07.bvh": 432},
    note="salsa's skeleton in centimetres, rest pose a T-pose; 94_07 from 3.6 s (its right leg breaks before)",
)

# CMU's ASF skeleton (cmu-charleston, cmu-lambada), converted to BVH: each BVH joint sits at the
# start of the ASF bone of its name and turns it. The rest is CMU's: a T-pose facing +Z with +X
# on the body's left, the legs splayed 20 deg outwards (CMU's femur direction), so each file's
# rest is the reference (from our straight legs to the splayed ones is a pure abduction).
# Pelvis 'root' (lhipjoint/rhipjoint never rotate); hips lfemur, knees ltibia, ankles lfoot with
# the end at ltoes (the ball of the foot, fixed to lfoot; ltoes_end would bend with the toes).
# Spine: lowerback, upperback, thorax give spine1-3 one to one. lowerback starts AT the root (a
# bone of zero length), so pelvis->spine1 has no source direction (convert.coincident_joints:
# the bind looks through it as through a shared joint) and the lower back, which bends 15-17 deg
# on average in the Charleston, bends at our spine1, 12 cm higher. Neck: lowerneck and
# upperneck for our one neck; neck = upperneck (at shoulder height, where SMPL's neck is), so
# lowerneck's bend is folded into it and spine3->neck (thorax to upperneck) follows the source
# within cos 0.993 while every other bone is exact (neck = lowerneck instead leaves neck->head at
# 0.986). Arms: collars lclavicle, shoulders lhumerus, elbows lradius, wrists lhand with the end
# at lfingers: the ASF 'lwrist' bone only twists about the forearm axis (dof ry), so lhand, 9.9 cm
# further, stays on the forearm line and carries the hand's own bend (lhand's dof rx rz).
# Centimetres (scale 0.01): the head's end is 1.60 m over the toes. canonical_floor: with the
# splayed rest the source's pelvis-over-toes height is 0.95 m against 0.99 m standing, and CMU's
# foot runs nearly level from the ankle to the ball (1.4 cm lower) where SMPL's toe end is 6 cm
# below the ankle, so on the source's floor our feet floated 7 cm (no frame within 5 cm).
_ASF_JOINTS = {
    "pelvis": "root", "left_hip": "lfemur", "right_hip": "rfemur", "spine1": "lowerback",
    "left_knee": "ltibia", "right_knee": "rtibia", "spine2": "upperback", "left_ankle": "lfoot",
    "right_ankle": "rfoot", "spine3": "thorax", "neck": "upperneck", "left_collar": "lclavicle",
    "right_collar": "rclavicle", "head": "head", "left_shoulder": "lhumerus", "right_shoulder": "rhumerus",
    "left_elbow": "lradius", "right_elbow": "rradius", "left_wrist": "lhand", "right_wrist": "rhand",
}
_ASF_ENDS = {"left_ankle": "ltoes", "right_ankle": "rtoes", "left_wrist": "lfingers", "right_wrist": "rfingers"}

# CMU subject 93, Charleston (see CMU's ASF skeleton above). CMU's trial list says 120 fps; the
# capture is 60, as our BVH conversion writes, and fps pins it: at 60 the pelvis bounces 181-197
# times a minute in the basic step (93_04, 93_05) and the toes move at 0.74 m/s on average (99th
# percentile 3.3); at 120 both would double (a ~400 BPM basic step; a walk of the same session at
# 2.6 m/s, see the data README). No flight phase for the gravity check.
CMU_CHARLESTON = SourceMapping(
    name="cmu-charleston",
    folder="cmu-charleston",
    joints=dict(_ASF_JOINTS),
    ends=dict(_ASF_ENDS),
    scale=0.01,
    fps=60.0,
    canonical_floor=True,
    note="CMU ASF skeleton, rest pose a T-pose; 60 fps (CMU's list says 120); floor under our toes",
)

# CMU subject 55, lambada (CMU's ASF skeleton, see above). The files' 120 fps is kept: at 120 the
# toes already move slower than salsa's (mean 0.37 m/s, 99th percentile 1.8) and the hands at
# 0.36 m/s (0.89); at 60 they would halve. No flight phase for the gravity check.
CMU_LAMBADA = SourceMapping(
    name="cmu-lambada",
    folder="cmu-lambada",
    joints=dict(_ASF_JOINTS),
    ends=dict(_ASF_ENDS),
    scale=0.01,
    canonical_floor=True,
    note="CMU ASF skeleton, rest pose a T-pose; floor under our toes",
)

# CMU subject 85, breakdance, on a Mixamo-like rig (Neo_* names) exported from FBX by Blender.
# Each file's rest (its OFFSETs) is that file's own first pose: bone lengths agree across the
# files, bone directions differ (5-8 deg on average, 85_04's 56 deg), and the rotations are
# relative to each file's own rest, so no one file's rest can serve the others. The rests of
# 85_03, 85_12 and 85_14 stand upright, arms hanging (elbows bent), facing -Z: the bind's facing
# turn handles -Z, and from arms down to the T-pose is pure adduction, as in cmu-modern. 85_04's
# rest is the tilted, kneeling pose (trunk 90 deg off vertical) from which the exporter
# interpolated into the take over frames 0-49 (the root moving by an exactly constant step, then
# a 7 deg jump into the capture at frame 50): those frames are dropped and its reference is its
# frame 50 (the first used), standing still, 6.6 deg on average from 85_03's rest. 85_03 frames
# 0-103 (every channel exactly linear, the body gliding at 6 mm/s) and 85_12 frames 0-69 (frozen)
# are keyframed lead-ins too, dropped. Spine: Hips, Spine, Spine1, Spine2 give pelvis and spine1-3.
# The End Sites are Blender's bone tails (ToeBase's points 12 cm down through the floor, Head's
# down into the neck), no anatomical direction: the ankles end at the ToeBase joint (the ball of
# the foot), the wrists have no end (the hand keeps the forearm's orientation in the reference
# and turns with Neo_*Hand). Centimetres (scale 0.01): Neo_Head is 1.61 m over the toes, a body
# about 1.8 m tall. 30 fps as written (resampled from CMU's 120 by the converter; the durations
# match): the handsprings are airborne for only 1-2 frames at 30 fps, too short for the gravity
# check; toes and hands move at 1.8-2.0 m/s on average (99th percentile 8), which doubled would
# not be human. canonical_floor: the ToeBase ball is not SMPL's toe end; on the source's floor
# 85_03's toes were within 5 cm of it in 47 % of frames, on ours in 97 %.
CMU_BREAKDANCE = SourceMapping(
    name="cmu-breakdance",
    folder="cmu-breakdance",
    joints={
        "pelvis": "Neo_Hips", "left_hip": "Neo_LeftUpLeg", "right_hip": "Neo_RightUpLeg", "spine1": "Neo_Spine",
        "left_knee": "Neo_LeftLeg", "right_knee": "Neo_RightLeg", "spine2": "Neo_Spine1",
        "left_ankle": "Neo_LeftFoot", "right_ankle": "Neo_RightFoot", "spine3": "Neo_Spine2", "neck": "Neo_Neck",
        "left_collar": "Neo_LeftShoulder", "right_collar": "Neo_RightShoulder", "head": "Neo_Head",
        "left_shoulder": "Neo_LeftArm", "right_shoulder": "Neo_RightArm", "left_elbow": "Neo_LeftForeArm",
        "right_elbow": "Neo_RightForeArm", "left_wrist": "Neo_LeftHand", "right_wrist": "Neo_RightHand",
    },
    ends={"left_ankle": "Neo_LeftToeBase", "right_ankle": "Neo_RightToeBase"},
    scale=0.01,
    first_frames={"85_03.bvh": 104, "85_04.bvh": 50, "85_12.bvh": 70},
    reference_frames={"85_04.bvh": 0},
    canonical_floor=True,
    note="each file's rest (standing, arms down); 85_04 from frame 50, its reference; keyed lead-ins dropped",
)

DATASETS: tuple[SourceMapping, ...] = (CMU_SALSA, CMU_MODERN, CMU_INDIAN, CMU_CHARLESTON, CMU_LAMBADA, CMU_BREAKDANCE)
