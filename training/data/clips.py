"""The mocap clips of ../shared/data as canonical motion at 30 fps, and the held-out split.

Glitches are repaired on the way (repair_glitches): many CMU salsa files start with a frame in
another pose (a one-frame jump of 12-14 m/s into the dance), and a few have capture spikes of a
few frames (e.g. 60_13 frames 311-314 at 30 fps: joints at 22 m/s, the root jumping 15 cm).

Converted clips are cached (never committed) under `cache/clips/` keyed by the source file's size
and modification time and CLIPS_VERSION, so a rerun does not parse the BVH files again.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dance_addon.core.motion.rotations import (
    quat_to_rotvec,
    rotvec_continuity,
    rotvec_to_quat,
    sample_linear,
    sample_quats,
)
from dance_addon.core.motion.skeleton import forward_kinematics
from training.mocap.convert import convert_bvh, load_reference
from training.mocap.mappings import DATASETS

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = REPO.parent / "shared" / "data"
CACHE_DIR = REPO / "cache" / "clips"
SPLIT_FILE = Path(__file__).with_name("split.json")
FPS = 30.0
CLIPS_VERSION = 2            # bump when the conversion or the repair changes (invalidates the cache)
MAX_JOINT_SPEED = 12.0       # m/s: no joint of a dancer moves faster; a step above it is a glitch
MAX_ROOT_SPEED = 4.0         # m/s for the pelvis
MAX_REPAIR_FRAMES = 10       # longer bad stretches are left as they are (and reported)
EASE_FRAMES = 2              # a lone jump is spread over this many frames on either side (see below)

# Repair settings of the datasets added after cmu-salsa and cmu-modern (those two keep the defaults,
# so their cached clips and the shipped model's training data stay as they were):
# - a lone jump (no jump back) is eased rather than left: in cmu-indian the marker solver flips a
#   folded leg's knee from one side to the other in a few 120 fps frames (94_04 at 13.2 s, the
#   knee 0.75 m in 33 ms, 24 m/s at 30 fps); spread over 5 steps it moves at ~5 m/s;
# - cmu-breakdance's flips carry the pelvis at up to 5.5 m/s (85_14's back handsprings, a smooth
#   arc over 15 frames): real motion, so its pelvis limit is 7 m/s rather than MAX_ROOT_SPEED.
REPAIR_OPTIONS: dict[str, dict] = {
    "cmu-indian": {"ease_frames": EASE_FRAMES},
    "cmu-charleston": {"ease_frames": EASE_FRAMES},
    "cmu-lambada": {"ease_frames": EASE_FRAMES},
    "cmu-breakdance": {"ease_frames": EASE_FRAMES, "max_root_speed": 7.0},
}


@dataclass(frozen=True)
class Clip:
    name: str                 # dataset/stem, e.g. cmu-salsa/60_01
    rotvecs: np.ndarray       # (T, 20, 3)
    root_translation: np.ndarray  # (T, 3) metres, Y up
    fps: float


@dataclass(frozen=True)
class Split:
    excluded_clips: frozenset[str]
    heldout_clips: frozenset[str]
    heldout_tracks: frozenset[str]


def load_split(path: Path = SPLIT_FILE) -> Split:
    raw = json.loads(Path(path).read_text())
    return Split(frozenset(raw["excluded_clips"]), frozenset(raw["heldout_clips"]), frozenset(raw["heldout_tracks"]))


def glitch_steps(rotvecs: np.ndarray, root: np.ndarray, fps: float,
                 max_root_speed: float = MAX_ROOT_SPEED) -> np.ndarray:
    """Indices i of the steps i -> i+1 where a joint or the root moves impossibly fast."""
    pos = forward_kinematics(rotvecs, root)                          # (T, 20, 3)
    speed = np.linalg.norm(np.diff(pos, axis=0), axis=-1) * fps      # (T-1, 20)
    return np.flatnonzero((speed.max(axis=1) > MAX_JOINT_SPEED) | (speed[:, 0] > max_root_speed))


def repair_glitches(rotvecs: np.ndarray, root: np.ndarray, fps: float, max_root_speed: float = MAX_ROOT_SPEED,
                    ease_frames: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Trim a glitched start and bridge short glitches by interpolation; returns the motion and notes.

    A bad step within the first 5 frames drops the frames before it. Elsewhere a spike (a bad
    step away and one back, at most MAX_REPAIR_FRAMES apart) is replaced by slerp (rotations) and
    linear (root) interpolation between the good frames on either side; a lone jump that does
    not come back is left as it is, or with ease_frames > 0 spread by the same interpolation
    from ease_frames frames before it to ease_frames frames after it. max_root_speed: the
    pelvis limit (m/s), see REPAIR_OPTIONS.
    """
    notes: list[str] = []
    bad = glitch_steps(rotvecs, root, fps, max_root_speed)
    lead = bad[bad < 5]
    if len(lead):
        start = int(lead.max()) + 1
        rotvecs, root = rotvecs[start:], root[start:]
        notes.append(f"dropped {start} leading frame(s)")
    steps = glitch_steps(rotvecs, root, fps, max_root_speed)
    if not len(steps):
        return rotvecs, root, notes
    # a spike is a jump away and a jump back: bad steps close together form one group, whose inner
    # frames (first + 1 .. last) are bridged from frame `first` to frame `last + 1`
    groups, start = [], steps[0]
    for prev, cur in zip(steps[:-1], steps[1:]):
        if cur - prev > MAX_REPAIR_FRAMES:
            groups.append((start, prev))
            start = cur
    groups.append((start, steps[-1]))
    rotvecs, root = rotvecs.astype(np.float64), root.astype(np.float64)
    for first, last in groups:
        if first == last and ease_frames > 0 and ease_frames <= first < len(rotvecs) - 1 - ease_frames:
            first, last = first - ease_frames, last + ease_frames     # ease the lone jump: bridge around it
            notes.append(f"eased the jump at frame {first + ease_frames + 1} over frames {first + 1}-{last}")
        elif first == last or last + 1 >= len(rotvecs):
            notes.append(f"left the jump at frame {first + 1} as it is (it does not come back)")
            continue
        else:
            notes.append(f"bridged frames {first + 1}-{last}")
        anchor = np.array([first, last + 1])
        frac = (np.arange(first + 1, last + 1) - first) / (last + 1 - first)
        rotvecs[first + 1:last + 1] = quat_to_rotvec(sample_quats(rotvec_to_quat(rotvecs[anchor]), frac))
        root[first + 1:last + 1] = sample_linear(root[anchor], frac)
    return rotvec_continuity(rotvecs).astype(np.float32), root.astype(np.float32), notes


def load_clips(data_dir: Path = DATA_DIR, fps: float = FPS, cache_dir: Path | None = CACHE_DIR) -> list[Clip]:
    """Every clip of every dataset in data_dir, converted to canonical motion at fps."""
    if not Path(data_dir).is_dir():
        raise FileNotFoundError(f"the mocap data folder {data_dir} is missing "
                                "(expected ../shared/data beside the repo)")
    clips = []
    for mapping in DATASETS:
        reference = None
        for path in sorted((Path(data_dir) / mapping.folder).glob("*.bvh")):
            name = f"{mapping.name}/{path.stem}"
            stat = path.stat()
            key = f"{mapping.name}-{path.stem}-{stat.st_size}-{int(stat.st_mtime)}-{fps:g}-v{CLIPS_VERSION}.npz"
            cached = Path(cache_dir) / key if cache_dir else None
            if cached is not None and cached.exists():
                with np.load(cached) as z:
                    clips.append(Clip(name, z["rotvecs"], z["root_translation"], float(z["fps"])))
                continue
            if reference is None:
                reference = load_reference(mapping, data_dir)
            motion = convert_bvh(path, mapping, reference, fps=fps)
            rotvecs, root, _ = repair_glitches(motion.rotvecs, motion.root_translation, fps,
                                               **REPAIR_OPTIONS.get(mapping.name, {}))
            clip = Clip(name, rotvecs.astype(np.float32), root.astype(np.float32), fps)
            if cached is not None:
                cached.parent.mkdir(parents=True, exist_ok=True)
                np.savez(cached, rotvecs=clip.rotvecs, root_translation=clip.root_translation, fps=fps)
            clips.append(clip)
    return clips
