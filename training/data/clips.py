"""The mocap clips of ../shared/data as canonical motion at 30 fps, and the held-out split.

Converted clips are cached (never committed) under `cache/clips/` keyed by the source file's size
and modification time, so a rerun does not parse the BVH files again.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.mocap.convert import convert_bvh, load_reference
from training.mocap.mappings import DATASETS

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = REPO.parent / "shared" / "data"
CACHE_DIR = REPO / "cache" / "clips"
SPLIT_FILE = Path(__file__).with_name("split.json")
FPS = 30.0


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


def load_clips(data_dir: Path = DATA_DIR, fps: float = FPS, cache_dir: Path | None = CACHE_DIR) -> list[Clip]:
    """Every clip of every dataset in data_dir, converted to canonical motion at fps."""
    if not Path(data_dir).is_dir():
        raise FileNotFoundError(f"the mocap data folder {data_dir} is missing (expected ../shared/data beside the repo)")
    clips = []
    for mapping in DATASETS:
        reference = None
        for path in sorted((Path(data_dir) / mapping.folder).glob("*.bvh")):
            name = f"{mapping.name}/{path.stem}"
            stat = path.stat()
            key = f"{mapping.name}-{path.stem}-{stat.st_size}-{int(stat.st_mtime)}-{fps:g}.npz"
            cached = Path(cache_dir) / key if cache_dir else None
            if cached is not None and cached.exists():
                with np.load(cached) as z:
                    clips.append(Clip(name, z["rotvecs"], z["root_translation"], float(z["fps"])))
                continue
            if reference is None:
                reference = load_reference(mapping, data_dir)
            motion = convert_bvh(path, mapping, reference, fps=fps)
            clip = Clip(name, motion.rotvecs.astype(np.float32), motion.root_translation.astype(np.float32), fps)
            if cached is not None:
                cached.parent.mkdir(parents=True, exist_ok=True)
                np.savez(cached, rotvecs=clip.rotvecs, root_translation=clip.root_translation, fps=fps)
            clips.append(clip)
    return clips
