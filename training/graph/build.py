"""Build the action graph the add-on ships (models/dance-graph) from the training clips.

    python -m training.graph.build [--out models/dance-graph] [--genres cmu-salsa,cmu-modern,...]

Steps (the arrays are described in dance_addon/core/choreography/graph.py):
1. The training clips of training/data/split.json (never a held-out clip), at 30 fps, and their
   left-right mirrors (motion.mirror): twice the moves, and every move on both feet.
2. Boundaries at kinematic beats: the local minima of the smoothed mean joint speed
   (motion.beatalign.kinematic_beats, Bailando's definition), where a dancer changes direction
   and the body is slowest, so a join there is least visible. Why beats and not bars: the mocap
   has no music, so its bars are unknown, and its kinematic beats are irregular (median 0.68 s,
   p10-p90 0.37-1.43 s apart): a 4-beat "bar" would be anything from 1.5 to 6 s. Segments of
   2, 3 or 4 beats lasting 0.8-3.6 s are kept instead, and the traversal maps each onto as many
   music beats as fit its length (traversal.py), with its interior beats snapped to the music's.
   Segments that stand rather than dance are left out: a mean joint speed under MIN_SEG_SPEED
   (the clips' lead-ins and ends, the T-pose each modern-dance trial starts with: 210 of the 360
   such segments started in the first tenth of their clip) or a start in a clip's first
   LEAD_IN_SECONDS. So are segments holding a capture glitch that the clip repair left (a lone
   jump: pelvis acceleration above MAX_PELVIS_ACCEL, 99.9th percentile of the clips 43 m/s^2, or
   a joint above MAX_JOINT_SPEED): one of them alone tripled the graph's held-out PFC.
3. Joins: for each boundary, the other boundaries whose pose and velocity are close. Each is
   described in its own heading frame (pelvis at the origin horizontally, facing +Z): joint
   positions and velocities. A join needs every joint within its position and velocity
   thresholds (JOINT_POS_LIMIT, JOINT_VEL_LIMIT: looser for the hands, tighter for the feet) and
   the same feet on the ground; its cost is (RMS position distance / POS_SCALE)^2 +
   (RMS velocity distance / VEL_SCALE)^2. At most MAX_JOINS per boundary, nearest first, never
   to the next few beats of the same clip (that would only skip or repeat a beat).
4. Pruned to the largest strongly connected part (scipy), so that from any segment the
   traversal can always go on, and can reach every other segment.
5. Motion features per segment (motion.features.segment_features_batch) and the music-motion
   correspondence (training/graph/correspondence.py) fitted on the training pairs.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from dance_addon.core.choreography.compose import MUSIC_SPAN_FEATURE_NAMES
from dance_addon.core.choreography.graph import ActionGraph, assemble, save_graph
from dance_addon.core.motion.beatalign import kinematic_beats
from dance_addon.core.motion.features import SEGMENT_FEATURE_NAMES, segment_features_batch
from dance_addon.core.motion.skeleton import JOINT_NAMES, NUM_JOINTS, forward_kinematics
from training.data.clips import FPS, Clip, load_clips, load_split
from training.data.pairs import LICENCES, split_clips

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "models" / "dance-graph"
# Breakdance (floor work, flips) does not join standing dances and is its own style: left out by default.
DEFAULT_GENRES = ("cmu-salsa", "cmu-modern", "cmu-indian", "cmu-charleston", "cmu-lambada")

SEG_BEATS = (2, 3, 4)             # beats per segment
SEG_SECONDS = (0.8, 3.6)          # shortest and longest segment
MIN_SEG_SPEED = 0.2               # m/s mean joint speed: slower segments are standing, not dancing
LEAD_IN_SECONDS = 1.0             # segments starting this close to a clip's start are left out
MAX_PELVIS_ACCEL = 45.0           # m/s^2: a segment with a sharper pelvis jerk holds a capture glitch
MAX_JOINT_SPEED = 9.0             # m/s: ... or a joint faster than this
EDGE_MARGIN = 3                   # frames: a boundary needs this many frames on each side (velocities)
NEAR_SAME_CLIP = 4                # no join to the next or previous 4 boundaries of the same clip (except itself)
MAX_JOINS = 16
POS_SCALE, VEL_SCALE = 0.10, 0.45  # m, m/s: a join at these RMS distances costs 2
# per joint: largest position (m) and velocity (m/s) difference a join may have
# (1.6 x a first, tighter set: with it the largest strongly connected part kept no modern dance and
# 29 of 52 clips; with these it keeps 49 clips of every genre, and the joins stay smaller than the
# dances' own 99th-percentile frame-to-frame step after inertialization)
JOINT_POS_LIMIT = np.full(NUM_JOINTS, 0.26)
JOINT_VEL_LIMIT = np.full(NUM_JOINTS, 1.3)
for _j in ("left_ankle", "right_ankle"):
    JOINT_POS_LIMIT[JOINT_NAMES.index(_j)], JOINT_VEL_LIMIT[JOINT_NAMES.index(_j)] = 0.19, 0.8
for _j in ("left_elbow", "right_elbow", "left_wrist", "right_wrist"):
    JOINT_POS_LIMIT[JOINT_NAMES.index(_j)], JOINT_VEL_LIMIT[JOINT_NAMES.index(_j)] = 0.45, 1.9
FOOT_CONTACT_HEIGHT = 0.05        # m above the clip's own low ankle level
FOOT_CONTACT_SPEED = 0.25         # m/s


def heading_of(positions: np.ndarray) -> np.ndarray:
    """(T,) heading about +Y of the hips' left-right line (0 = facing +Z)."""
    left = positions[:, 1] - positions[:, 2]
    return np.arctan2(-left[:, 2], left[:, 0])


def boundary_descriptors(positions: np.ndarray, fps: float,
                         frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pose (K, 20, 3) and velocity (K, 20, 3) in each boundary's heading frame, and feet on the ground (K, 2)."""
    vel = np.gradient(positions, axis=0) * fps
    h = heading_of(positions)[frames]
    c, s = np.cos(h), np.sin(h)
    # rotation by -h about +Y: x' = c x - s z, z' = s x + c z
    def turn(v):
        return np.stack([c[:, None] * v[..., 0] - s[:, None] * v[..., 2], v[..., 1],
                         s[:, None] * v[..., 0] + c[:, None] * v[..., 2]], axis=-1)
    rel = positions[frames] - positions[frames, :1] * np.array([1.0, 0.0, 1.0])
    ankles = positions[:, [7, 8], 1]
    low = np.percentile(ankles, 5, axis=0)
    speed = np.linalg.norm(vel[:, [7, 8]], axis=-1)
    contact = (ankles - low < FOOT_CONTACT_HEIGHT) & (speed < FOOT_CONTACT_SPEED)
    return turn(rel), turn(vel[frames]), contact[frames]


def find_joins(pose: np.ndarray, vel: np.ndarray, contact: np.ndarray, clip: np.ndarray, order_in_clip: np.ndarray,
               chunk: int = 256) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR joins (offsets (B + 1,), targets, costs) between boundaries (see the module docstring)."""
    b = len(pose)
    offsets, targets, costs = [0], [], []
    for lo in range(0, b, chunk):
        hi = min(lo + chunk, b)
        dp = np.linalg.norm(pose[lo:hi, None] - pose[None], axis=-1)             # (c, B, 20)
        dv = np.linalg.norm(vel[lo:hi, None] - vel[None], axis=-1)
        ok = (dp <= JOINT_POS_LIMIT).all(-1) & (dv <= JOINT_VEL_LIMIT).all(-1)
        ok &= (contact[lo:hi, None] == contact[None]).all(-1)
        same = clip[lo:hi, None] == clip[None]
        near = same & (np.abs(order_in_clip[lo:hi, None] - order_in_clip[None]) <= NEAR_SAME_CLIP)
        ok &= ~near
        cost = (np.sqrt((dp ** 2).mean(-1)) / POS_SCALE) ** 2 + (np.sqrt((dv ** 2).mean(-1)) / VEL_SCALE) ** 2
        for i in range(hi - lo):
            cand = np.flatnonzero(ok[i])
            cand = cand[np.argsort(cost[i, cand], kind="stable")][:MAX_JOINS]
            row = np.concatenate([[lo + i], cand])
            targets.append(row)
            costs.append(np.concatenate([[0.0], cost[i, cand]]))
            offsets.append(offsets[-1] + len(row))
    return np.array(offsets), np.concatenate(targets), np.concatenate(costs)


def largest_strong_part(n_boundaries: int, seg_first: np.ndarray, seg_last: np.ndarray, join_offsets: np.ndarray,
                        join_target: np.ndarray) -> np.ndarray:
    """(B,) bool: the boundaries of the largest strongly connected part of the boundary graph, where
    boundary b leads to seg_last[s] for every segment s starting at a join target of b."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    src_of_join = np.repeat(np.arange(n_boundaries), np.diff(join_offsets))
    # boundary -> segments starting at each join target -> their last boundary
    by_start: dict[int, list[int]] = {}
    for s, f in enumerate(seg_first):
        by_start.setdefault(int(f), []).append(s)
    rows, cols = [], []
    for b, t in zip(src_of_join, join_target):
        for s in by_start.get(int(t), ()):
            rows.append(b)
            cols.append(seg_last[s])
    m = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_boundaries, n_boundaries)).tocsr()
    _, labels = connected_components(m, directed=True, connection="strong")
    biggest = np.bincount(labels).argmax()
    return labels == biggest


def build_graph(clips: list[Clip], correspondence: dict[str, np.ndarray] | None = None,
                log=print) -> ActionGraph:
    """The action graph of `clips` (canonical motion at FPS) and their mirrors."""
    from dance_addon.core.motion.mirror import mirror_rotvecs, mirror_translation

    started = time.perf_counter()
    rot = np.concatenate([c.rotvecs for c in clips]).astype(np.float32)
    root = np.concatenate([c.root_translation for c in clips]).astype(np.float32)
    starts = np.concatenate([[0], np.cumsum([len(c.rotvecs) for c in clips])])
    n, n_clips = len(rot), len(clips)
    frames, clip_of, order = [], [], []
    poses, vels, contacts = [], [], []
    all_rot = np.concatenate([rot, mirror_rotvecs(rot)])
    all_root = np.concatenate([root, mirror_translation(root)])
    all_starts = np.concatenate([starts[:-1], starts[:-1] + n, [2 * n]])
    positions = []
    for k in range(2 * n_clips):
        a, b = all_starts[k], all_starts[k + 1]
        pos = forward_kinematics(all_rot[a:b], all_root[a:b])
        positions.append(pos)
        kb = np.unique(np.rint(kinematic_beats(pos, FPS) / 60.0 * FPS).astype(np.int64))
        kb = kb[(kb >= EDGE_MARGIN) & (kb < len(pos) - EDGE_MARGIN)]
        p, v, c = boundary_descriptors(pos, FPS, kb)
        frames.append(kb + a)
        clip_of.append(np.full(len(kb), k))
        order.append(np.arange(len(kb)))
        poses.append(p), vels.append(v), contacts.append(c)
    frames, clip_of, order = np.concatenate(frames), np.concatenate(clip_of), np.concatenate(order)
    pose, vel, contact = np.concatenate(poses), np.concatenate(vels), np.concatenate(contacts)
    log(f"{n_clips} clips + mirrors, {2 * n} frames ({2 * n / FPS / 60:.1f} min), {len(frames)} boundaries")

    # segments: 2-4 beats of one clip, 0.8-3.6 s
    first, last = [], []
    for i in range(len(frames)):
        for nb in SEG_BEATS:
            j = i + nb
            if j < len(frames) and clip_of[j] == clip_of[i]:
                dur = (frames[j] - frames[i]) / FPS
                if SEG_SECONDS[0] <= dur <= SEG_SECONDS[1]:
                    first.append(i), last.append(j)
    first, last = np.array(first), np.array(last)
    # leave out the segments that stand rather than dance
    speed = np.empty(len(first))
    glitch = np.zeros(len(first), bool)
    for k in range(2 * n_clips):
        sel = np.flatnonzero(clip_of[first] == k)
        if len(sel):
            a = all_starts[k]
            sp = np.linalg.norm(np.diff(positions[k], axis=0), axis=-1).mean(axis=1) * FPS   # (T - 1,)
            csum = np.concatenate([[0.0], np.cumsum(sp)])
            lo, hi = frames[first[sel]] - a, frames[last[sel]] - a
            speed[sel] = (csum[hi] - csum[lo]) / np.maximum(hi - lo, 1)
            accel = np.linalg.norm(np.diff(positions[k][:, 0], 2, axis=0), axis=-1) * FPS ** 2     # (T - 2,)
            fast = np.linalg.norm(np.diff(positions[k], axis=0), axis=-1).max(axis=1) * FPS        # (T - 1,)
            bad = np.concatenate([[0], np.cumsum((accel[:-0 or None] > MAX_PELVIS_ACCEL)
                                                 | (fast[1:] > MAX_JOINT_SPEED))])
            glitch[sel] = bad[np.minimum(hi, len(bad) - 1)] - bad[np.maximum(lo - 1, 0)] > 0
    lead_in = (frames[first] - all_starts[clip_of[first]]) < LEAD_IN_SECONDS * FPS
    dancing = (speed >= MIN_SEG_SPEED) & ~lead_in & ~glitch
    log(f"{(~dancing).sum()} of {len(first)} segments stand rather than dance or hold a capture glitch "
        f"({glitch.sum()}): left out")
    first, last = first[dancing], last[dancing]
    join_offsets, join_target, join_cost = find_joins(pose, vel, contact, clip_of, order)
    log(f"{len(first)} segments, {len(join_target) - len(frames)} joins between boundaries "
        f"({time.perf_counter() - started:.0f} s)")

    in_scc = largest_strong_part(len(frames), first, last, join_offsets, join_target)
    # keep the segments that end in the strongly connected part and start at a join target of it
    # (a start need not be in the part itself: from its end the dance can go on anywhere)
    src_of_join = np.repeat(np.arange(len(frames)), np.diff(join_offsets))
    reachable = np.zeros(len(frames), bool)
    reachable[join_target[in_scc[src_of_join]]] = True
    keep_s = in_scc[last] & reachable[first]
    keep_b = in_scc.copy()
    keep_b[first[keep_s]] = True
    starts_kept = np.zeros(len(frames), bool)
    starts_kept[first[keep_s]] = True
    new_index = np.cumsum(keep_b) - 1
    rows_t, rows_c, offs = [], [], [0]
    for b in np.flatnonzero(keep_b):
        t = join_target[join_offsets[b]:join_offsets[b + 1]]
        c = join_cost[join_offsets[b]:join_offsets[b + 1]]
        m = starts_kept[t] & in_scc[b]            # joins only matter where segments end
        rows_t.append(new_index[t[m]]), rows_c.append(c[m])
        offs.append(offs[-1] + int(m.sum()))
    join_offsets, join_target, join_cost = np.array(offs), np.concatenate(rows_t), np.concatenate(rows_c)
    frames, clip_of = frames[keep_b], clip_of[keep_b]
    first, last = new_index[first[keep_s]], new_index[last[keep_s]]
    log(f"largest strongly connected part: {in_scc.sum()} boundaries, {len(first)} segments")

    # motion features per segment, on each clip's own positions
    feats = np.empty((len(first), len(SEGMENT_FEATURE_NAMES)))
    for k in range(2 * n_clips):
        sel = np.flatnonzero(clip_of[first] == k)
        if len(sel):
            a = all_starts[k]
            bounds = np.stack([frames[first[sel]] - a, frames[last[sel]] - a + 1], axis=1)
            feats[sel] = segment_features_batch(positions[k], FPS, bounds)
    corr = correspondence if correspondence is not None else {}
    graph = assemble(FPS, rot, root, starts, tuple(c.name for c in clips), tuple(c.name.split("/")[0] for c in clips),
                     boundary_frame=frames, boundary_clip=clip_of, seg_first=first, seg_last=last,
                     seg_features=feats, feature_names=SEGMENT_FEATURE_NAMES, join_offsets=join_offsets,
                     join_target=join_target, join_cost=join_cost, corr=corr,
                     music_feature_names=MUSIC_SPAN_FEATURE_NAMES)
    log(f"{graph.n_segments} segments, {graph.edge_count()} edges ({time.perf_counter() - started:.0f} s)")
    return graph


def training_clips(genres: tuple[str, ...] = DEFAULT_GENRES) -> list[Clip]:
    return [c for c in split_clips(load_clips(), load_split(), "train") if c.name.split("/")[0] in genres]


def model_card(graph: ActionGraph, meta: dict) -> str:
    genres = sorted(set(graph.clip_genres))
    minutes = graph.clip_start[len(graph.clip_names)] / graph.fps / 60
    per_genre = ", ".join(f"{g} {n}" for g, n in sorted(graph.genre_counts().items(), key=lambda kv: -kv[1]))
    return f"""# dance-graph: the action graph of real dance segments

What it is: the segment library and graph of the add-on's `graph` and `guided` methods
(dance_addon/core/choreography/graph.py): {len(graph.clip_names)} motion-capture clips
({minutes:.1f} min at {graph.fps:g} fps, stored as float16) and their left-right mirrors, cut into
{graph.n_segments} segments of 2-4 kinematic beats at {len(graph.boundary_frame)} boundaries, with
{graph.edge_count()} edges (joins where pose and velocity are close), pruned to its largest strongly
connected part. Each segment carries {len(graph.feature_names)} motion features
({', '.join(graph.feature_names)}), and the file carries the music-motion correspondence the
traversal's data cost uses (fitted on the training pairs; `make analyze` shows how well it holds).

Segments per genre (a mirror counts as its own segment): {per_genre}. Left out before pruning:
segments that stand rather than dance or hold a capture glitch (training/graph/build.py says how
they are found). Genres with fewer than 200 segments (compose.MIN_GENRE_SEGMENTS) are danced
only when asked for by name (`--style cmu-charleston`); seeds pick among the others.

Built by `{meta['command']}` in {meta['build_seconds']:.0f} s on {meta['cpu']}.

## Data and licence
- Motion: CMU Graphics Lab Motion Capture Database, genres {', '.join(genres)}: the training clips
  of training/data/split.json (no held-out clip), converted to the canonical skeleton. "The data
  used in this project was obtained from mocap.cs.cmu.edu. The database was created with funding
  from NSF EIA-0196217." CMU's terms: free for all uses; "you may include this data in
  commercially-sold products, but you may not resell this data directly, even in converted
  form". It ships inside the add-on as part of the product, never as a data set on its own.
- Correspondence: fitted on the training pairs, whose music is immich-memories-music (MIT).
- This folder is released with the add-on under GPL-3.0-or-later, within CMU's terms above.

## Clips
{chr(10).join(f'- {n}' for n in graph.clip_names)}
"""


def main(argv: list[str] | None = None) -> None:
    import platform
    import sys

    parser = argparse.ArgumentParser(description="Build the action graph from the training clips.")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--genres", default=",".join(DEFAULT_GENRES),
                        help="comma-separated dataset names to take clips from")
    args = parser.parse_args(argv)
    from training.graph.correspondence import fit_correspondence

    started = time.perf_counter()
    clips = training_clips(tuple(args.genres.split(",")))
    graph = build_graph(clips)
    corr = fit_correspondence(graph.feature_names)
    graph = ActionGraph(**{**graph.__dict__, "corr": corr})
    seconds = time.perf_counter() - started
    cpu = _cpu_name()
    command = " ".join(["python -m training.graph.build", *(sys.argv[1:] if argv is None else argv)]).strip()
    meta = {"name": args.out.name, "genres": args.genres.split(","), "command": command,
            "build_seconds": round(seconds, 1), "cpu": cpu, "python": platform.python_version(),
            "licence": "GPL-3.0-or-later (the add-on); motion: " + LICENCES["cmu"] + "; music of the pairs: "
                       + LICENCES["music"],
            "provenance": {"clips": [c.name for c in clips], "split": "training/data/split.json (train part)"}}
    save_graph(graph, args.out, meta)
    (args.out / "MODEL_CARD.md").write_text(model_card(graph, meta))
    size = sum(p.stat().st_size for p in args.out.iterdir()) / 2 ** 20
    print(f"wrote {args.out}: {graph.n_segments} segments, {graph.edge_count()} edges, {size:.1f} MiB, {seconds:.0f} s")
    print(json.dumps({k: meta[k] for k in ("genres", "build_seconds")}))


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip() + f", {__import__('os').cpu_count()} cores"
    except OSError:
        pass
    import platform
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    main()
