"""Labelled recordings, the held-out split by recording, and windows of a few seconds.

Recordings
- `cmu_recordings()`: every clip of ../shared/data (training/data/clips.py: converted, repaired,
  cached), the walk of split.json's excluded_clips left out. Genre from the dataset
  (DATASET_GENRES); role within salsa from the CMU subject (60 lead, 61 follow).
- `folder_recordings(root)`: any folder of labelled BVH, one sub-folder per label
  (`root/<label>/*.bvh`); the bones are read with the mapping of our own dataset of that folder
  name, else the dataset mapping whose bone names the file has, else the add-on's bone-map
  detection (core/rig/bonemaps: canonical, Mixamo, SMPL, VRM, Unreal, metarig names). A file
  read by name must have a T-pose facing +Z as its rest pose.
- `aist_recordings(folder)`: AIST++ motion pickles, the genre from the file name's first part
  (gBR_sBM_cAll_d04_mBR0_ch01.pkl is break); names in an ignore_list.txt beside or above the
  folder are left out.

The split keeps whole recordings apart, and recordings captured together: CMU's salsa subjects
60 and 61 are one couple dancing, trial NN of each captured at once (their lengths agree to a
frame), so 60_NN and 61_NN form one *session* and go to the same side. `choose_heldout`: for a
class that split.json holds recordings of out, those sessions (the split the generators and
`make eval` use); for the others the last quarter of the class's sessions in name order (at
least one, never all); a class with one session has none held out and says so.

Windows: WINDOW_SECONDS long; training windows are drawn at random (`WindowSampler`, class-
balanced), held-out ones cut every EVAL_STRIDE_SECONDS (`fixed_windows`). A recording shorter
than a window is padded by holding its last frame.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from dance_addon.core.motion.bvh import END_SUFFIX, BvhMotion, read_bvh
from dance_addon.core.motion.skeleton import JOINT_NAMES, PARENTS, forward_kinematics
from dance_addon.core.rig import bonemaps
from training.data.clips import CACHE_DIR, DATA_DIR, FPS, load_clips, load_split, repair_glitches
from training.mocap.convert import convert_bvh, load_reference
from training.mocap.mappings import DATASETS, ENDS, SourceMapping

WINDOW_SECONDS = 4.0
EVAL_STRIDE_SECONDS = 0.5
HELDOUT_FRACTION = 0.25
RECOGNITION_CACHE = CACHE_DIR.parent / "recognition"
CACHE_VERSION = 1

# dataset (training/mocap/mappings.py name) -> genre, in the order of the tables
DATASET_GENRES: dict[str, str] = {
    "cmu-salsa": "salsa", "cmu-modern": "modern", "cmu-indian": "Indian dance",
    "cmu-breakdance": "breakdance", "cmu-charleston": "Charleston", "cmu-lambada": "lambada",
}
SALSA_ROLES: dict[str, str] = {"60": "lead", "61": "follow"}      # CMU subject -> role
ROLES: tuple[str, ...] = ("lead", "follow")

# AIST++ genre codes (the first part of a motion file's name) -> genre
AIST_GENRES: dict[str, str] = {
    "gBR": "break", "gPO": "pop", "gLO": "lock", "gMH": "middle hip-hop", "gLH": "LA-style hip-hop",
    "gHO": "house", "gWA": "waack", "gKR": "krump", "gJS": "street jazz", "gJB": "ballet jazz",
}


@dataclass(frozen=True)
class Recording:
    """One captured dance: name (e.g. cmu-salsa/60_13), session (recordings captured together
    share it; the unit the split keeps apart), genre, role (salsa only, else None) and joint
    positions (T, 20, 3) metres at fps."""
    name: str
    session: str
    genre: str
    role: str | None
    positions: np.ndarray
    fps: float

    @property
    def frames(self) -> int:
        return len(self.positions)


@dataclass(frozen=True)
class Task:
    """A recognition task: `attribute` ("genre" or "role") of the recordings, its classes in
    table order, the training and held-out recordings, and per class how its held-out
    recordings were chosen."""
    name: str
    attribute: str
    classes: tuple[str, ...]
    train: tuple[Recording, ...]
    heldout: tuple[Recording, ...]
    notes: dict[str, str]

    def label(self, rec: Recording) -> int:
        return self.classes.index(getattr(rec, self.attribute))

    def counts(self) -> dict[str, dict[str, int]]:
        """Per class: training and held-out recordings (and sessions)."""
        out = {}
        for c in self.classes:
            tr = [r for r in self.train if getattr(r, self.attribute) == c]
            ho = [r for r in self.heldout if getattr(r, self.attribute) == c]
            out[c] = {"train_recordings": len(tr), "heldout_recordings": len(ho),
                      "train_sessions": len({r.session for r in tr}), "heldout_sessions": len({r.session for r in ho}),
                      "train_seconds": round(sum(r.frames / r.fps for r in tr), 1),
                      "heldout_seconds": round(sum(r.frames / r.fps for r in ho), 1)}
        return out


# ------------------------------------------------------------------------------ recordings

def session_of(name: str) -> str:
    """The session of a CMU clip name: cmu-salsa/60_13 and cmu-salsa/61_13 -> cmu-salsa/trial 13;
    any other recording is a session of its own."""
    dataset, _, stem = name.partition("/")
    if dataset == "cmu-salsa" and "_" in stem:
        return f"{dataset}/trial {stem.split('_', 1)[1]}"
    return name


def cmu_recordings(data_dir: Path = DATA_DIR) -> list[Recording]:
    """Every CMU clip (split.json's excluded clips left out) as a labelled recording at 30 fps."""
    excluded = load_split().excluded_clips
    out = []
    for clip in load_clips(data_dir):
        if clip.name in excluded:
            continue
        dataset, _, stem = clip.name.partition("/")
        role = SALSA_ROLES.get(stem.split("_")[0]) if dataset == "cmu-salsa" else None
        positions = forward_kinematics(clip.rotvecs, clip.root_translation).astype(np.float32)
        out.append(Recording(clip.name, session_of(clip.name), DATASET_GENRES.get(dataset, dataset), role,
                             positions, clip.fps))
    return out


def detect_mapping(motion: BvhMotion, label: str) -> SourceMapping:
    """A SourceMapping for a BVH file outside our datasets, from its bone names.

    First a dataset mapping of training/mocap/mappings.py whose bones the file all has (its
    per-file quirks dropped: frame rate from the file, every frame used, the file's own rest
    pose); else core/rig/bonemaps.detect, joints it leaves out taking their parent's bone and
    the ankle and wrist ends their bone's child (a middle finger when there is one). Raises
    BoneMapError when no bone map fits."""
    names = set(motion.names)
    for m in DATASETS:
        wanted = set(m.joints.values()) | set(m.ends.values())
        if m.reference_file is None and wanted <= names:
            return replace(m, name=f"{label} ({m.name} bone names)", folder=label, fps=None, first_frames={},
                           reference_frames={}, scale=motion.scale)
    det = bonemaps.detect([n for n in motion.names if not n.endswith(END_SUFFIX)])
    joints: dict[str, str] = {}
    for i, j in enumerate(JOINT_NAMES):                       # parents come first
        joints[j] = det.bone_map.get(j) or joints[JOINT_NAMES[PARENTS[i]]]
    ends = {}
    for j in ENDS:
        src = motion.names.index(joints[j])
        children = [motion.names[k] for k, p in enumerate(motion.parents) if p == src]
        middle = [c for c in children if "middle" in c.lower()]
        if middle or children:
            ends[j] = (middle or children)[0]
    return SourceMapping(name=f"{label} ({det.preset} bone names)", folder=label, joints=joints, ends=ends,
                         scale=motion.scale)


def _convert_file(path: Path, label: str, fps: float, cache_dir: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """(rotvecs (T, 20, 3), root (T, 3)) of one labelled BVH file at fps, repaired, cached."""
    stat = path.stat()
    key = hashlib.sha1(f"{path.resolve()}|{stat.st_size}|{int(stat.st_mtime)}|{fps:g}|v{CACHE_VERSION}".encode())
    cached = Path(cache_dir) / f"{key.hexdigest()[:20]}.npz" if cache_dir else None
    if cached is not None and cached.exists():
        with np.load(cached) as z:
            return z["rotvecs"], z["root_translation"]
    known = [m for m in DATASETS if m.folder == label]
    reference = None
    if known and (known[0].reference_file is None or (path.parent / known[0].reference_file).exists()):
        mapping = known[0]
        reference = load_reference(mapping, path.parent.parent)
    else:
        mapping = detect_mapping(read_bvh(path), label)
    motion = convert_bvh(path, mapping, reference, fps=fps)
    rotvecs, root, _ = repair_glitches(motion.rotvecs, motion.root_translation, fps)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cached, rotvecs=rotvecs, root_translation=root)
    return rotvecs, root


def folder_recordings(root: Path, fps: float = FPS, cache_dir: Path | None = RECOGNITION_CACHE) -> list[Recording]:
    """Every root/<label>/*.bvh as a recording of genre <label> (each file a session of its own)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder (expected one sub-folder of BVH files per label)")
    out = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(sub.glob("*.bvh")):
            rotvecs, root_tr = _convert_file(path, sub.name, fps, cache_dir)
            positions = forward_kinematics(rotvecs, root_tr).astype(np.float32)
            out.append(Recording(f"{sub.name}/{path.stem}", f"{sub.name}/{path.stem}", sub.name, None, positions, fps))
    if len({r.genre for r in out}) < 2:
        raise ValueError(f"{root}: found {len(out)} BVH file(s) in {len({r.genre for r in out})} label folder(s); "
                         "a recognizer needs at least two labels (root/<label>/*.bvh)")
    return out


def aist_recordings(folder: Path, fps: float = FPS) -> list[Recording]:
    """Every AIST++ motion pickle in folder as a recording of its file name's genre (AIST_GENRES)."""
    from training.mocap.aist import load_aist_motion

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder (expected AIST++ motion .pkl files)")
    ignored: set[str] = set()
    for place in (folder, folder.parent):
        if (place / "ignore_list.txt").is_file():
            ignored |= {line.strip() for line in (place / "ignore_list.txt").read_text().splitlines() if line.strip()}
    out = []
    for path in sorted(folder.glob("*.pkl")):
        if path.stem in ignored:
            continue
        code = path.stem.split("_")[0]
        if code not in AIST_GENRES:
            raise ValueError(f"{path}: the name does not start with an AIST++ genre code ({', '.join(AIST_GENRES)})")
        motion = load_aist_motion(path, fps)
        positions = forward_kinematics(motion.rotvecs, motion.root_translation).astype(np.float32)
        out.append(Recording(f"aist/{path.stem}", f"aist/{path.stem}", AIST_GENRES[code], None, positions, fps))
    if not out:
        raise ValueError(f"{folder}: no AIST++ motion files (*.pkl) to read")
    return out


# ----------------------------------------------------------------------------------- split

def choose_heldout(recordings: Sequence[Recording], fixed: frozenset[str] = frozenset(),
                   fraction: float = HELDOUT_FRACTION,
                   attribute: str = "genre") -> tuple[frozenset[str], dict[str, str]]:
    """The held-out sessions, and per class (by `attribute`) a note on how they were chosen.

    A class with a recording named in `fixed` holds out those recordings' sessions whole; any
    other class with n >= 2 sessions the last ceil(fraction * n) of them in name order (at most
    n - 1); a class with one session none.
    """
    held: set[str] = set()
    notes = {}
    for cls in sorted({getattr(r, attribute) for r in recordings}):
        recs = [r for r in recordings if getattr(r, attribute) == cls]
        sessions = sorted({r.session for r in recs})
        chosen = sorted({r.session for r in recs if r.name in fixed})
        if chosen:
            notes[cls] = f"held out by training/data/split.json: {', '.join(chosen)}"
        elif len(sessions) >= 2:
            k = min(max(1, math.ceil(fraction * len(sessions))), len(sessions) - 1)
            chosen = sessions[-k:]
            notes[cls] = f"the last {k} of {len(sessions)} recordings by name: {', '.join(chosen)}"
        else:
            notes[cls] = (f"one recording only ({sessions[0]}): it is needed to learn the class at all, so none is "
                          "held out and no held-out window tests it")
        held |= set(chosen)
    return frozenset(held), notes


def make_task(name: str, attribute: str, recordings: Sequence[Recording], heldout_sessions: frozenset[str],
              notes: dict[str, str], classes: Sequence[str] | None = None) -> Task:
    """The task of telling `attribute` of the recordings that have one; classes default to sorted."""
    recs = [r for r in recordings if getattr(r, attribute) is not None]
    classes = tuple(classes) if classes is not None else tuple(sorted({getattr(r, attribute) for r in recs}))
    recs = [r for r in recs if getattr(r, attribute) in classes]
    train = tuple(r for r in recs if r.session not in heldout_sessions)
    heldout = tuple(r for r in recs if r.session in heldout_sessions)
    return Task(name, attribute, classes, train, heldout, {c: notes.get(c, "") for c in classes})


def cmu_tasks(recordings: Sequence[Recording] | None = None) -> tuple[Task, Task]:
    """The genre task over the six CMU genres and the salsa role task, with one held-out split."""
    recordings = cmu_recordings() if recordings is None else list(recordings)
    held, notes = choose_heldout(recordings, load_split().heldout_clips)
    genres = tuple(g for g in DATASET_GENRES.values() if any(r.genre == g for r in recordings))
    genre = make_task("genre", "genre", recordings, held, notes, genres)
    salsa = [r for r in recordings if r.genre == "salsa"]
    role_notes = {c: f"the salsa sessions held out above ({notes.get('salsa', '')}): both roles of a couple "
                     "on the same side" for c in ROLES}
    role = make_task("salsa role", "role", salsa, held, role_notes, ROLES)
    return genre, role


def labelled_task(recordings: Sequence[Recording]) -> Task:
    """The genre task of any labelled recordings (folder_recordings, aist_recordings)."""
    held, notes = choose_heldout(recordings)
    return make_task("genre", "genre", recordings, held, notes)


# --------------------------------------------------------------------------------- windows

def window_frames(fps: float, seconds: float = WINDOW_SECONDS) -> int:
    return int(round(seconds * fps))


def cut_window(positions: np.ndarray, start: int, frames: int) -> np.ndarray:
    """positions[start:start + frames], the last frame held where the recording ends."""
    idx = np.minimum(np.arange(start, start + frames), len(positions) - 1)
    return positions[idx]


def window_starts(n_frames: int, frames: int, stride: int) -> np.ndarray:
    """Starts of the windows every `stride` frames that fit (one at 0 for a short recording)."""
    return np.arange(0, max(n_frames - frames, 0) + 1, max(int(stride), 1))


def fixed_windows(positions_list: Sequence[np.ndarray], frames: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows (N, frames, 20, 3) every `stride` frames of each recording, and the recording index of each (N,)."""
    wins, owner = [], []
    for i, pos in enumerate(positions_list):
        for s in window_starts(len(pos), frames, stride):
            wins.append(cut_window(pos, int(s), frames))
            owner.append(i)
    return np.stack(wins).astype(np.float32), np.asarray(owner, dtype=np.int64)


class WindowSampler:
    """Random training windows of a task: a class uniformly (the small classes are seen as often
    as salsa), a recording of it with probability by its length, a start uniformly; each window
    optionally time-stretched (its tempo scaled by a factor within 1 +- stretch, by linear
    interpolation) and mirrored left-right with probability 1/2."""

    def __init__(self, recordings: Sequence[Recording], labels: Sequence[int], n_classes: int, frames: int):
        self.recordings = list(recordings)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.frames = int(frames)
        self.by_class = [np.flatnonzero(self.labels == c) for c in range(n_classes)]
        self.present = [c for c in range(n_classes) if len(self.by_class[c])]
        if not self.present:
            raise ValueError("no training recordings to draw windows from")
        self.weights = [np.array([self.recordings[i].frames for i in self.by_class[c]], dtype=np.float64)
                        for c in range(n_classes)]

    def sample(self, rng: np.random.Generator, n: int, stretch: float = 0.0,
               mirror: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(n, frames, 20, 3) float32 windows and their labels (n,)."""
        from .features import mirror_positions

        out = np.empty((n, self.frames, 20, 3), dtype=np.float32)
        labels = np.empty(n, dtype=np.int64)
        for k in range(n):
            c = self.present[rng.integers(len(self.present))]
            w = self.weights[c]
            rec = self.recordings[self.by_class[c][rng.choice(len(w), p=w / w.sum())]]
            factor = 1.0 + rng.uniform(-stretch, stretch) if stretch > 0 else 1.0
            span = max(2, int(round(self.frames * factor)))
            start = int(rng.integers(max(rec.frames - span, 0) + 1))
            t = np.minimum(start + np.linspace(0.0, span - 1, self.frames), rec.frames - 1)
            lo = np.floor(t).astype(np.int64)
            hi = np.minimum(lo + 1, rec.frames - 1)
            frac = (t - lo)[:, None, None]
            win = rec.positions[lo] * (1.0 - frac) + rec.positions[hi] * frac
            out[k] = mirror_positions(win) if mirror and rng.random() < 0.5 else win
            labels[k] = c
        return out, labels
