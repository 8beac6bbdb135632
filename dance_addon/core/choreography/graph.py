"""The action graph: a library of real dance segments and the joins between them.

One flat structure of arrays, saved and loaded whole (`graph.npz` beside `graph.json` in a
graph folder, written by training/graph/build.py):

Motion (the source clips at `fps`, concatenated; clip k + C is the left-right mirror of clip k):
    rotvecs (N, 20, 3)       local joint rotations, skeleton.JOINT_NAMES order
    root (N, 3)              pelvis position in metres (Y up), each clip's own path
    clip_start (2C + 1,)     first frame of each clip in the arrays (and N at the end)
    clip_names, clip_genres  (C,) names like "cmu-salsa/60_02" and genres like "cmu-salsa"
Only the C original clips are stored, as float16 (root as per-frame horizontal steps so that
rounding does not jitter the path); the mirrors are made when the file is loaded.

Boundaries and segments:
    boundary_frame (B,)      frame (index into the motion) of each boundary: a kinematic beat of
                             its clip (a local minimum of joint speed, motion.beatalign)
    boundary_clip (B,)       its clip (0 .. 2C - 1)
    seg_first, seg_last (S,) boundary indices: segment s runs from boundary seg_first[s] to
                             seg_last[s] of the same clip through every boundary in between
                             (its interior kinematic beats), 2 to 4 beats long
    seg_features (S, F)      motion features of each segment (motion.features.SEGMENT_FEATURE_NAMES)
Joins (the graph's edges, stored per boundary):
    join_offsets (B + 1,), join_target (J,), join_cost (J,): from boundary b the dance may go on
    with any segment starting at join_target[join_offsets[b]:join_offsets[b + 1]] at that cost
    (pose and velocity distance); b itself is always there at cost 0 (the clip goes on).
    An edge of the graph is (segment s, segment t) with seg_first[t] a join target of
    seg_last[s]; the library is pruned to its largest strongly connected part, so a traversal
    never dead-ends.
The music-motion correspondence the traversal's data cost uses (see traversal.py) is stored too:
    corr_coef (Fa + 1, F), corr_weight (F,), music_mean, music_std (Fa,), motion_mean, motion_std (F,)
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..motion.mirror import mirror_rotvecs, mirror_translation
from ..motion.motion_code import split_heading
from ..motion.rotations import rotvec_to_quat
from ..motion.skeleton import JOINT_NAMES

GRAPH_FORMAT = 1
MANIFEST = "graph.json"
ARRAYS = "graph.npz"


class GraphError(ValueError):
    """The graph folder is missing, corrupt or does not fit this add-on."""


@dataclass(frozen=True, eq=False)      # compared and hashed by identity (traversal caches per graph)
class ActionGraph:
    """A loaded action graph (see the module docstring for every array). `folder` and `meta`
    are where it came from and its manifest."""
    fps: float
    rotvecs: np.ndarray
    root: np.ndarray
    heading: np.ndarray            # (N,) pelvis heading about +Y, radians, continuous within a clip
    quats: np.ndarray              # (N, 20, 4) the rotations as unit quaternions (w, x, y, z)
    clip_start: np.ndarray
    clip_names: tuple[str, ...]
    clip_genres: tuple[str, ...]
    boundary_frame: np.ndarray
    boundary_clip: np.ndarray
    seg_first: np.ndarray
    seg_last: np.ndarray
    seg_features: np.ndarray
    feature_names: tuple[str, ...]
    join_offsets: np.ndarray
    join_target: np.ndarray
    join_cost: np.ndarray
    corr: dict[str, np.ndarray]
    music_feature_names: tuple[str, ...]
    folder: Path | None = None
    meta: dict[str, Any] | None = None

    @property
    def n_clips(self) -> int:
        """Clips including the mirrors (2 C)."""
        return len(self.clip_start) - 1

    @property
    def n_segments(self) -> int:
        return len(self.seg_first)

    def clip_label(self, clip: int) -> str:
        """"cmu-salsa/60_02", or "cmu-salsa/60_02 (mirrored)" for a mirror."""
        c = len(self.clip_names)
        return self.clip_names[clip % c] + (" (mirrored)" if clip >= c else "")

    def segment_genres(self) -> tuple[tuple[str, ...], np.ndarray]:
        """The graph's genres (sorted) and each segment's genre as an index into them (S,)."""
        genres = tuple(sorted(set(self.clip_genres)))
        of_clip = np.array([genres.index(self.clip_genres[k % len(self.clip_names)]) for k in range(self.n_clips)])
        return genres, of_clip[self.seg_clip]

    def genre_counts(self) -> dict[str, int]:
        """Segments per genre, every genre of the graph (sorted by name)."""
        genres, index = self.segment_genres()
        return dict(zip(genres, np.bincount(index, minlength=len(genres)).tolist()))

    @property
    def seg_clip(self) -> np.ndarray:
        return self.boundary_clip[self.seg_first]

    @property
    def seg_start_frame(self) -> np.ndarray:
        return self.boundary_frame[self.seg_first]

    @property
    def seg_end_frame(self) -> np.ndarray:
        return self.boundary_frame[self.seg_last]

    @property
    def seg_duration(self) -> np.ndarray:
        """(S,) seconds."""
        return (self.seg_end_frame - self.seg_start_frame) / self.fps

    def segments_from(self) -> tuple[np.ndarray, np.ndarray]:
        """CSR (offsets (B + 1,), segment ids) of the segments starting at each boundary."""
        order = np.argsort(self.seg_first, kind="stable")
        counts = np.bincount(self.seg_first, minlength=len(self.boundary_frame))
        return np.concatenate([[0], np.cumsum(counts)]), order

    def successors(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CSR (offsets (B + 1,), segments, join costs) of the segments a dance may go on with after
        a segment ending at each boundary: those starting at the boundary's join targets."""
        starts_off, starts_seg = self.segments_from()
        counts = np.diff(starts_off)[self.join_target]                      # (J,) segments behind each join
        seg = starts_seg[index_ranges(starts_off[self.join_target], counts)]
        cost = np.repeat(self.join_cost, counts)
        per_boundary = np.add.reduceat(np.concatenate([counts, [0]]), self.join_offsets[:-1])
        per_boundary = np.where(np.diff(self.join_offsets) > 0, per_boundary, 0)
        return np.concatenate([[0], np.cumsum(per_boundary)]), seg, cost

    def edge_count(self) -> int:
        """Number of (segment, segment) edges: each segment's successors, summed."""
        offsets, _, _ = self.successors()
        return int(np.diff(offsets)[self.seg_last].sum())


def index_ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenation of arange(s, s + c) for every (s, c), vectorised."""
    counts = np.asarray(counts, np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    ends = np.cumsum(counts)
    base = np.repeat(np.asarray(starts, np.int64) - (ends - counts), counts)
    return base + np.arange(total)


def _stored_arrays(graph: ActionGraph) -> dict[str, np.ndarray]:
    c = len(graph.clip_names)
    n = int(graph.clip_start[c])
    root = graph.root[:n].astype(np.float64)
    steps = np.zeros((n, 2))
    steps[1:] = np.diff(root[:, [0, 2]], axis=0)
    steps[graph.clip_start[:c]] = root[graph.clip_start[:c]][:, [0, 2]]  # each clip's first position
    return {
        "format": np.array(GRAPH_FORMAT), "fps": np.array(graph.fps),
        "rotvecs": graph.rotvecs[:n].astype(np.float16),
        "root_height": graph.root[:n, 1].astype(np.float16),
        "root_steps": steps.astype(np.float16),
        "clip_start": graph.clip_start[:c + 1].astype(np.int64),
        "clip_names": np.array(graph.clip_names), "clip_genres": np.array(graph.clip_genres),
        "boundary_frame": graph.boundary_frame.astype(np.int32), "boundary_clip": graph.boundary_clip.astype(np.int16),
        "seg_first": graph.seg_first.astype(np.int32), "seg_last": graph.seg_last.astype(np.int32),
        "seg_features": graph.seg_features.astype(np.float32), "feature_names": np.array(graph.feature_names),
        "join_offsets": graph.join_offsets.astype(np.int32), "join_target": graph.join_target.astype(np.int32),
        "join_cost": graph.join_cost.astype(np.float16),
        "music_feature_names": np.array(graph.music_feature_names),
        **{f"corr_{k}": np.asarray(v, np.float32) for k, v in graph.corr.items()},
    }


def save_graph(graph: ActionGraph, folder: Path, meta: dict[str, Any]) -> Path:
    """Write graph.npz and graph.json (meta plus format, counts and checksum) into folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(folder / ARRAYS, **_stored_arrays(graph))
    digest = hashlib.sha256((folder / ARRAYS).read_bytes()).hexdigest()
    manifest = {"format": GRAPH_FORMAT, "kind": "action-graph", "fps": graph.fps, "joint_names": list(JOINT_NAMES),
                "clips": len(graph.clip_names), "segments": graph.n_segments, "boundaries": len(graph.boundary_frame),
                "edges": graph.edge_count(), "frames": int(graph.clip_start[len(graph.clip_names)]),
                **meta, "files": {"arrays": ARRAYS}, "sha256": {ARRAYS: digest}}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return folder


def assemble(fps: float, rotvecs: np.ndarray, root: np.ndarray, clip_start: np.ndarray,
             clip_names: tuple[str, ...], clip_genres: tuple[str, ...], **rest: Any) -> ActionGraph:
    """An ActionGraph from the C original clips (rotvecs (N, 20, 3), root (N, 3), clip_start
    (C + 1,)); the mirrors are appended here, and the boundary/segment/join arrays in `rest` must
    already count them (clips C .. 2C - 1)."""
    rotvecs = np.asarray(rotvecs, np.float32)
    root = np.asarray(root, np.float32)
    n = len(rotvecs)
    clip_start = np.asarray(clip_start, np.int64)
    all_rot = np.concatenate([rotvecs, mirror_rotvecs(rotvecs)])
    all_root = np.concatenate([root, mirror_translation(root)])
    starts = np.concatenate([clip_start[:-1], clip_start[:-1] + n, [2 * n]])
    heading = np.empty(2 * n)
    for a, b in zip(starts[:-1], starts[1:]):
        h, _ = split_heading(all_rot[a:b, 0].astype(np.float64))
        heading[a:b] = np.unwrap(h)
    quats = rotvec_to_quat(all_rot).astype(np.float32)
    return ActionGraph(fps=float(fps), rotvecs=all_rot, root=all_root, heading=heading, quats=quats, clip_start=starts,
                       clip_names=tuple(clip_names), clip_genres=tuple(clip_genres), **rest)


def load_graph(path: str | Path) -> ActionGraph:
    """Load and check a graph folder (or its graph.json); GraphError says what is wrong."""
    path = Path(path)
    folder = path.parent if path.name == MANIFEST else path
    manifest = folder / MANIFEST
    if not manifest.is_file():
        raise GraphError(f"action graph {folder}: no {MANIFEST} found; choose the folder that "
                         "training/graph/build.py wrote (models/dance-graph in the add-on)")
    try:
        meta = json.loads(manifest.read_text(encoding="utf-8"))
        arrays = folder / meta["files"]["arrays"]
        expected = meta["sha256"][arrays.name]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise GraphError(f"action graph {manifest}: cannot be read ({type(e).__name__}: {e}); "
                         "reinstall the add-on") from None
    if meta.get("format") != GRAPH_FORMAT:
        raise GraphError(f"action graph {manifest}: format {meta.get('format')} but this add-on reads format "
                         f"{GRAPH_FORMAT}; use a graph made for this version of the add-on")
    if list(meta.get("joint_names", [])) != list(JOINT_NAMES):
        raise GraphError(f"action graph {manifest}: made for another skeleton; rebuild it with training/graph/build.py")
    if not arrays.is_file():
        raise GraphError(f"action graph {folder}: {arrays.name} is missing; reinstall the add-on")
    data = arrays.read_bytes()
    if hashlib.sha256(data).hexdigest() != expected:
        raise GraphError(f"action graph {arrays}: corrupt (its checksum differs from {MANIFEST}); reinstall the add-on")
    with np.load(arrays) as z:
        a = {k: z[k] for k in z.files}
    c = len(a["clip_names"])
    steps = a["root_steps"].astype(np.float64)
    root = np.empty((len(steps), 3))
    starts = a["clip_start"]
    for k in range(c):
        s, e = starts[k], starts[k + 1]
        root[s:e, [0, 2]] = np.cumsum(steps[s:e], axis=0)
    root[:, 1] = a["root_height"]
    corr = {k[5:]: a[k].astype(np.float64) for k in a if k.startswith("corr_")}
    n_motion, n_music = len(a["feature_names"]), len(a["music_feature_names"])
    shapes = {"coef": (n_music + 1, n_motion), "weight": (n_motion,), "music_mean": (n_music,),
              "music_std": (n_music,), "motion_mean": (n_motion,), "motion_std": (n_motion,)}
    if any(k not in corr or corr[k].shape != s for k, s in shapes.items()):
        raise GraphError(f"action graph {arrays}: its music-motion correspondence does not fit its "
                         f"{n_music} music and {n_motion} motion features; rebuild it with training/graph/build.py")
    return assemble(
        float(a["fps"]), a["rotvecs"].astype(np.float32), root, starts, tuple(str(x) for x in a["clip_names"]),
        tuple(str(x) for x in a["clip_genres"]),
        boundary_frame=a["boundary_frame"].astype(np.int64), boundary_clip=a["boundary_clip"].astype(np.int64),
        seg_first=a["seg_first"].astype(np.int64), seg_last=a["seg_last"].astype(np.int64),
        seg_features=a["seg_features"].astype(np.float64), feature_names=tuple(str(x) for x in a["feature_names"]),
        join_offsets=a["join_offsets"].astype(np.int64), join_target=a["join_target"].astype(np.int64),
        join_cost=a["join_cost"].astype(np.float64), corr=corr,
        music_feature_names=tuple(str(x) for x in a["music_feature_names"]), folder=folder, meta=meta)
