"""Bone-map presets: which bone of a user's rig plays each canonical joint, and their detection.

A bone map is a dict {canonical joint name: rig bone name}. Canonical joints left out of a map are
simply not keyed; their rotation is carried by the next mapped bone down the chain, because the
retargeting works with world-space rotations. REQUIRED_JOINTS must be mapped for a bake.

Each preset lists, per canonical joint, candidate bone names in order of preference (a rig uses
the first that it has). Names are matched exactly after stripping a detected prefix (e.g.
"mixamorig:" or "mixamorig1:", "m_avg_").
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..motion.skeleton import JOINT_NAMES

REQUIRED_JOINTS: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "spine1", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist",
)
OPTIONAL_JOINTS: tuple[str, ...] = tuple(j for j in JOINT_NAMES if j not in REQUIRED_JOINTS)


class BoneMapError(ValueError):
    """A rig's bones cannot be mapped to the canonical skeleton, or a map names a bone the rig lacks."""


@dataclass(frozen=True)
class Constant:
    """A custom property of a pose bone that the dance holds at `value` (keyed in the dance's own
    action, so the rig's stored setting is left alone), e.g. a Rigify limb's IK/FK switch."""
    bone: str
    prop: str
    value: float


@dataclass(frozen=True)
class Preset:
    name: str
    label: str
    candidates: dict[str, tuple[str, ...]]
    prefix: str = ""  # a regular expression for a prefix stripped from every bone name before matching
    notes: str = ""
    constants: tuple[Constant, ...] = ()  # rig settings the mapped bones need while the dance plays
    extra_bones: dict[str, str] = field(default_factory=dict)  # {bone: joint} keyed besides the map (rig.pose_rig)


def _lr(template: str, left: str, right: str) -> tuple[str, str]:
    return template.format(left), template.format(right)


def _side_preset(name, label, center: dict[str, tuple[str, ...]], sided: dict[str, tuple[str, ...]],
                 left: str, right: str, prefix: str = "", notes: str = "",
                 constants: tuple[Constant, ...] = (), extra_bones: dict[str, str] | None = None) -> Preset:
    """Build a preset from centre bones and side templates ('{}' becomes the side marker)."""
    cands = dict(center)
    for joint, templates in sided.items():
        cands[f"left_{joint}"] = tuple(t.format(left) for t in templates)
        cands[f"right_{joint}"] = tuple(t.format(right) for t in templates)
    missing = set(JOINT_NAMES) - set(cands)
    assert not missing, f"preset {name} lacks {missing}"
    return Preset(name, label, {j: cands[j] for j in JOINT_NAMES}, prefix, notes, constants, extra_bones or {})


PRESETS: dict[str, Preset] = {}


def _add(p: Preset) -> None:
    PRESETS[p.name] = p


_add(Preset("canonical", "Canonical (SMPL-X names)", {j: (j,) for j in JOINT_NAMES},
            notes="Our own skeleton; also the SMPL-X Blender add-on's body bone names."))

_add(_side_preset(
    "mixamo", "Mixamo",
    {"pelvis": ("Hips",), "spine1": ("Spine",), "spine2": ("Spine1",), "spine3": ("Spine2",),
     "neck": ("Neck",), "head": ("Head",)},
    {"hip": ("{}UpLeg",), "knee": ("{}Leg",), "ankle": ("{}Foot",), "collar": ("{}Shoulder",),
     "shoulder": ("{}Arm",), "elbow": ("{}ForeArm",), "wrist": ("{}Hand",)},
    "Left", "Right", prefix=r"mixamorig\d*[:_]"))

_add(_side_preset(
    "smpl", "SMPL Blender add-on",
    {"pelvis": ("Pelvis",), "spine1": ("Spine1",), "spine2": ("Spine2",), "spine3": ("Spine3",),
     "neck": ("Neck",), "head": ("Head",)},
    {"hip": ("{}_Hip",), "knee": ("{}_Knee",), "ankle": ("{}_Ankle",), "collar": ("{}_Collar",),
     "shoulder": ("{}_Shoulder",), "elbow": ("{}_Elbow",), "wrist": ("{}_Wrist",)},
    "L", "R", prefix=r"[mf]_avg_"))

_add(_side_preset(
    "vrm", "VRoid / VRM",
    {"pelvis": ("J_Bip_C_Hips",), "spine1": ("J_Bip_C_Spine",), "spine2": ("J_Bip_C_Chest",),
     "spine3": ("J_Bip_C_UpperChest",), "neck": ("J_Bip_C_Neck",), "head": ("J_Bip_C_Head",)},
    {"hip": ("J_Bip_{}_UpperLeg",), "knee": ("J_Bip_{}_LowerLeg",), "ankle": ("J_Bip_{}_Foot",),
     "collar": ("J_Bip_{}_Shoulder",), "shoulder": ("J_Bip_{}_UpperArm",), "elbow": ("J_Bip_{}_LowerArm",),
     "wrist": ("J_Bip_{}_Hand",)},
    "L", "R"))

_add(_side_preset(
    "unreal", "Unreal mannequin (UE4/UE5)",
    {"pelvis": ("pelvis",), "spine1": ("spine_01",), "spine2": ("spine_03", "spine_02"),
     "spine3": ("spine_05", "spine_03"), "neck": ("neck_01",), "head": ("head",)},
    {"hip": ("thigh_{}",), "knee": ("calf_{}",), "ankle": ("foot_{}",), "collar": ("clavicle_{}",),
     "shoulder": ("upperarm_{}",), "elbow": ("lowerarm_{}",), "wrist": ("hand_{}",)},
    "l", "r", notes="UE5's five spine bones map spine_01/03/05; UE4's three map spine_01/02/03."))

_add(_side_preset(
    "metarig", "Blender human metarig (Rigify)",
    {"pelvis": ("spine",), "spine1": ("spine.001",), "spine2": ("spine.002",), "spine3": ("spine.003",),
     "neck": ("spine.004",), "head": ("spine.006", "spine.005")},
    {"hip": ("thigh{}",), "knee": ("shin{}",), "ankle": ("foot{}",), "collar": ("shoulder{}",),
     "shoulder": ("upper_arm{}",), "elbow": ("forearm{}",), "wrist": ("hand{}",)},
    ".L", ".R", notes="The metarig made by Add > Armature > Human (Meta-Rig) and the basic human metarig."))

# A generated Rigify rig: key its FK controls (its DEF- and ORG- bones follow them through
# constraints). Rigify's spine pivots at the waist: spine_fk.001 turns the belly segment (and, below
# it, the pelvis segment and the legs) about the waist, spine_fk.002/.003 the chest segments above;
# so spine_fk, the pelvis segment, is keyed too, turning with the pelvis (torso) as ours does.
# The limbs switch to FK, the arms' FK follows the shoulders, and the neck and head follow the
# chest, so every control turns with the control above it (a plain hierarchy for the retargeting).
_RIGIFY_LIMBS = ("upper_arm_parent.L", "upper_arm_parent.R", "thigh_parent.L", "thigh_parent.R")
_add(_side_preset(
    "rigify", "Rigify generated rig (FK controls)",
    {"pelvis": ("torso",), "spine1": ("spine_fk.001",), "spine2": ("spine_fk.002",),
     "spine3": ("spine_fk.003",), "neck": ("neck",), "head": ("head",)},
    {"hip": ("thigh_fk{}",), "knee": ("shin_fk{}",), "ankle": ("foot_fk{}",), "collar": ("shoulder{}",),
     "shoulder": ("upper_arm_fk{}",), "elbow": ("forearm_fk{}",), "wrist": ("hand_fk{}",)},
    ".L", ".R",
    notes="The rig made by Rigify's Generate Rig from the human metarig; the dance holds the limbs in FK.",
    constants=(*(Constant(b, "IK_FK", 1.0) for b in _RIGIFY_LIMBS),
               *(Constant(b, "FK_limb_follow", 0.0) for b in _RIGIFY_LIMBS),
               Constant("torso", "neck_follow", 1.0), Constant("torso", "head_follow", 1.0)),
    extra_bones={"spine_fk": "pelvis"}))

# listed after the controls: a generated rig has both, and the first preset wins a tie
_add(_side_preset(
    "rigify_def", "Rigify deform bones only (e.g. a game export)",
    {"pelvis": ("DEF-spine",), "spine1": ("DEF-spine.001",), "spine2": ("DEF-spine.002",),
     "spine3": ("DEF-spine.003",), "neck": ("DEF-spine.004",), "head": ("DEF-spine.006", "DEF-spine.005")},
    {"hip": ("DEF-thigh{}",), "knee": ("DEF-shin{}",), "ankle": ("DEF-foot{}",), "collar": ("DEF-shoulder{}",),
     "shoulder": ("DEF-upper_arm{}",), "elbow": ("DEF-forearm{}",), "wrist": ("DEF-hand{}",)},
    ".L", ".R",
    notes="A rig of DEF- bones without Rigify's controls; in a generated rig they follow the controls."))


@dataclass
class Detection:
    preset: str
    bone_map: dict[str, str]
    prefix: str = ""
    missing_required: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.missing_required


def _strip(name: str, prefix_re: str) -> tuple[str, str]:
    if prefix_re:
        m = re.match(prefix_re, name)
        if m:
            return name[m.end():], m.group(0)
    return name, ""


def apply_preset(preset: Preset, bone_names) -> Detection:
    """Map canonical joints to the rig's bones with one preset."""
    by_stripped: dict[str, str] = {}
    prefix_seen = ""
    for name in bone_names:
        stripped, prefix = _strip(name, preset.prefix)
        by_stripped.setdefault(stripped, name)
        prefix_seen = prefix_seen or prefix
    bone_map: dict[str, str] = {}
    # from the extremities inwards, so that e.g. spine3 takes UE4's spine_03 before spine2 is offered it
    for joint, cands in reversed(preset.candidates.items()):
        for cand in cands:
            if cand in by_stripped and by_stripped[cand] not in bone_map.values():
                bone_map[joint] = by_stripped[cand]
                break
    missing = [j for j in REQUIRED_JOINTS if j not in bone_map]
    bone_map = {j: bone_map[j] for j in JOINT_NAMES if j in bone_map}
    return Detection(preset.name, bone_map, prefix_seen, missing)


def detect(bone_names, extra_presets: dict[str, Preset] | None = None) -> Detection:
    """The preset that maps the most joints of the rig (required joints first); the user's own
    presets (extra_presets) are tried before the built-in ones and win a tie, and among built-in
    ones the one listed first wins.

    Raises BoneMapError naming the best preset's missing required joints when none maps them all.
    """
    bone_names = list(bone_names)
    presets = {**(extra_presets or {}), **PRESETS}
    results = [apply_preset(p, bone_names) for p in presets.values()]
    best = max(results, key=lambda d: (len(REQUIRED_JOINTS) - len(d.missing_required), len(d.bone_map)))
    if not best.complete:
        label = presets[best.preset].label
        raise BoneMapError(
            f"the armature's bones cannot be mapped to a dancer: the closest preset ({label}) finds no bone for "
            f"{', '.join(best.missing_required)}. Pick the bones for these joints in the bone map, or rename them."
        )
    return best


def validate(bone_map: dict[str, str], bone_names) -> None:
    """Check a (user-edited) map: known joints, bones that exist, each bone used once, required joints present."""
    names = set(bone_names)
    unknown = [j for j in bone_map if j not in JOINT_NAMES]
    if unknown:
        raise BoneMapError(f"the bone map names unknown joints {unknown}; the joints are {', '.join(JOINT_NAMES)}")
    absent = {j: b for j, b in bone_map.items() if b and b not in names}
    if absent:
        pairs = ", ".join(f"{j} -> '{b}'" for j, b in absent.items())
        raise BoneMapError(f"the bone map names bones the armature does not have: {pairs}")
    used: dict[str, str] = {}
    for j, b in bone_map.items():
        if b and b in used:
            raise BoneMapError(f"bone '{b}' is mapped to both {used[b]} and {j}; each bone can play one joint")
        used[b] = j
    missing = [j for j in REQUIRED_JOINTS if not bone_map.get(j)]
    if missing:
        raise BoneMapError(f"the bone map has no bone for the required joints {', '.join(missing)}")


# -- the user's own presets: one JSON file each, {"name": ..., "bones": {joint: bone}} ------------

USER_PRESET_SUFFIX = ".json"


def save_user_preset(folder: Path, name: str, bone_map: dict[str, str]) -> Path:
    """Write a (validated by the caller) bone map as a preset file named after `name`."""
    clean = re.sub(r"[^A-Za-z0-9_. -]", "_", name).strip()
    if not clean:
        raise BoneMapError("give the bone-map preset a name")
    unknown = [j for j in bone_map if j not in JOINT_NAMES]
    if unknown:
        raise BoneMapError(f"the bone map names unknown joints {unknown}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{clean}{USER_PRESET_SUFFIX}"
    path.write_text(json.dumps({"name": name, "bones": {j: b for j, b in bone_map.items() if b}}, indent=1))
    return path


def load_user_presets(folder: Path | None) -> dict[str, Preset]:
    """The presets saved in `folder`, keyed "user:<name>"; unreadable files raise BoneMapError naming them."""
    out: dict[str, Preset] = {}
    if folder is None or not Path(folder).is_dir():
        return out
    for path in sorted(Path(folder).glob(f"*{USER_PRESET_SUFFIX}")):
        try:
            raw = json.loads(path.read_text())
            name, bones = str(raw["name"]), dict(raw["bones"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise BoneMapError(f"{path}: not a bone-map preset ({e}); delete or fix the file") from None
        unknown = [j for j in bones if j not in JOINT_NAMES]
        if unknown:
            raise BoneMapError(f"{path}: names unknown joints {unknown}; delete or fix the file")
        key = f"user:{name}"
        out[key] = Preset(key, name, {j: (bones[j],) if j in bones else () for j in JOINT_NAMES})
    return out
