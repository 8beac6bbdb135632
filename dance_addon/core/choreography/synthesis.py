"""Turn a traversal's path of segments into one continuous dance on the song's frames.

For each segment, in order:
1. Time warp: the segment's kinematic beats are anchors. Its first and last land on the music
   beats where it starts and ends; each interior one lands on the nearest music beat in between
   when that keeps the local speed within MAX_LOCAL_STRETCH (else it is left to the warp).
   Output frame o plays the source at the piecewise-linear map through the anchors
   (`time_map`), extended at its end slopes before the first and after the last anchor.
2. Placement: the segment is turned about the vertical and moved so that, at its first frame,
   its pelvis heading and horizontal place are those the previous segment would have had there
   (its "virtual" next frame, offsets included). So the dancer carries its place and heading
   from move to move and travels the floor as the mocap did.
3. Inertialization (inertialize.py): at each switch, the difference between the previous
   segment's virtual frame and the new segment's first frame (every joint's rotation, the
   pelvis height) and between their velocities (angular, and the pelvis's linear velocity)
   becomes an offset on the new segment that decays with a critically damped spring of
   half-life `halflife`. A join that continues its clip (same source frames) has no offset.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..motion.rotations import quat_continuity, quat_multiply, quat_to_rotvec, rotvec_continuity
from ..motion.skeleton import NUM_JOINTS
from .graph import ActionGraph
from .inertialize import apply_rotation_offset, decay_spring_damper, rotation_offset
from .traversal import Path

MAX_LOCAL_STRETCH = 1.6      # an interior beat is snapped only when every piece plays within this factor
SNAP_WINDOW = 0.35           # ... and when it lands within this share of a beat interval from the music beat
HALFLIFE = 0.12              # seconds
ACCENT = 0.2                 # how much slower the source plays at each beat anchor (_source_positions)


@dataclass(frozen=True)
class Move:
    """One segment of the dance: output frames [frame, frame_end), the clip it comes from (a label
    as graph.clip_label) and its frames in that clip, the music beats it spans."""
    frame: int
    frame_end: int
    clip: str
    source_first: int
    source_last: int
    beats: int
    segment: int


@dataclass(frozen=True)
class Synthesis:
    """rotvecs (T, 20, 3) local rotations; root (T, 3) pelvis position in metres (Y up, the
    first frame's pelvis above the origin, facing +Z); fps; moves in order."""
    rotvecs: np.ndarray
    root: np.ndarray
    fps: float
    moves: tuple[Move, ...]


def time_map(source_beats: np.ndarray, music_beats: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Anchors (music seconds (K,), source frames (K,)) of one segment's warp.

    source_beats: (n + 1,) frames of its kinematic beats, first and last included;
    music_beats: (m + 1,) seconds of the music beats it spans.
    """
    f = np.asarray(source_beats, np.float64)
    t = np.asarray(music_beats, np.float64)
    anchors_t, anchors_f = [t[0]], [f[0]]
    rate = (t[-1] - t[0]) / max(f[-1] - f[0], 1e-9)            # seconds of music per source frame
    interval = (t[-1] - t[0]) / max(len(t) - 1, 1)
    for fk in f[1:-1]:
        guess = t[0] + (fk - f[0]) * rate
        q = int(np.argmin(np.abs(t[1:-1] - guess))) + 1 if len(t) > 2 else -1
        if q < 0 or abs(t[q] - guess) > SNAP_WINDOW * interval or t[q] <= anchors_t[-1]:
            continue
        local = (t[q] - anchors_t[-1]) / ((fk - anchors_f[-1]) / fps)
        after = (t[-1] - t[q]) / ((f[-1] - fk) / fps)
        if 1 / MAX_LOCAL_STRETCH <= local <= MAX_LOCAL_STRETCH and 1 / MAX_LOCAL_STRETCH <= after <= MAX_LOCAL_STRETCH:
            anchors_t.append(t[q]), anchors_f.append(fk)
    anchors_t.append(t[-1]), anchors_f.append(f[-1])
    return np.array(anchors_t), np.array(anchors_f)


def _source_positions(out_times: np.ndarray, anchors_t: np.ndarray, anchors_f: np.ndarray,
                      accent: float = 0.0) -> np.ndarray:
    """Source frame (fractional) of each output time along the anchors, extended at the end slopes.

    Between two anchors the source advances as s(x) = x - accent / (2 pi) sin(2 pi x) of the way
    (x: the share of the interval gone), so it plays (1 - accent) times slower at each anchor and
    (1 + accent) faster half-way: the dance's speed dips on the music's beats (ACCENT)."""
    k = np.clip(np.searchsorted(anchors_t, out_times, side="right") - 1, 0, len(anchors_t) - 2)
    t0, t1 = anchors_t[k], anchors_t[k + 1]
    x = np.clip((out_times - t0) / (t1 - t0), 0.0, 1.0)
    s = x - accent / (2 * np.pi) * np.sin(2 * np.pi * x)
    src = anchors_f[k] + (anchors_f[k + 1] - anchors_f[k]) * s
    s0 = (anchors_f[1] - anchors_f[0]) / (anchors_t[1] - anchors_t[0])
    s1 = (anchors_f[-1] - anchors_f[-2]) / (anchors_t[-1] - anchors_t[-2])
    src = np.where(out_times < anchors_t[0], anchors_f[0] + (out_times - anchors_t[0]) * s0, src)
    return np.where(out_times > anchors_t[-1], anchors_f[-1] + (out_times - anchors_t[-1]) * s1, src)


def _sample(graph: ActionGraph, src: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quaternions (L, 20, 4), root (L, 3) and heading (L,) at fractional library frames src,
    clamped to the clip's frames [lo, hi)."""
    src = np.clip(src, lo, hi - 1)
    i0 = np.floor(src).astype(np.int64)
    i1 = np.minimum(i0 + 1, hi - 1)
    w = (src - i0)
    q0, q1 = graph.quats[i0].astype(np.float64), graph.quats[i1].astype(np.float64)
    dots = (q0 * q1).sum(-1, keepdims=True)
    q1 = np.where(dots < 0, -q1, q1)
    # normalised lerp: the frames are 1/30 s apart, where it matches slerp to 1e-4 rad
    q = q0 * (1 - w)[:, None, None] + q1 * w[:, None, None]
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    root = graph.root[i0] * (1 - w)[:, None] + graph.root[i1] * w[:, None]
    head = graph.heading[i0] * (1 - w) + graph.heading[i1] * w
    return q, root, head


def _yaw_quat(angle: float) -> np.ndarray:
    return np.array([np.cos(angle / 2), 0.0, np.sin(angle / 2), 0.0])


def _turn_xz(v: np.ndarray, angle: float) -> np.ndarray:
    """Horizontal vectors (..., 2) as (x, z) turned about +Y by angle."""
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([c * v[..., 0] + s * v[..., 1], -s * v[..., 0] + c * v[..., 1]], axis=-1)


def synthesize(graph: ActionGraph, path: Path, grid: np.ndarray, n_frames: int, fps: float,
               halflife: float = HALFLIFE, accent: float | None = None) -> Synthesis:
    """The dance of `path` (from traversal.traverse over `grid`) on n_frames output frames at fps."""
    accent = ACCENT if accent is None else accent
    quats = np.empty((n_frames, NUM_JOINTS, 4))
    root = np.empty((n_frames, 3))
    moves = []
    prev_virtual = None        # (quats (20, 4), root (3,), heading) of the previous segment at this switch
    prev_last = None           # (quats, root) of the output frame before the switch
    dt = 1.0 / fps
    for k, (seg, i, m) in enumerate(zip(path.segments, path.first_beat, path.beats)):
        b_lo, b_hi = graph.seg_first[seg], graph.seg_last[seg]
        src_beats = graph.boundary_frame[b_lo:b_hi + 1]
        clip = int(graph.boundary_clip[b_lo])
        c_lo, c_hi = int(graph.clip_start[clip]), int(graph.clip_start[clip + 1])
        music = grid[i:i + m + 1]
        o_start = 0 if k == 0 else int(np.ceil(music[0] * fps - 1e-9))
        o_end = n_frames if k == len(path.segments) - 1 else int(np.ceil(music[-1] * fps - 1e-9))
        o_end = min(o_end, n_frames)
        if o_end <= o_start:
            continue
        at, af = time_map(src_beats, music, fps)
        times = np.arange(o_start, o_end + 1) * dt                   # one extra: the virtual next frame
        src = _source_positions(times, at, af, accent)
        q, r, h = _sample(graph, src, c_lo, c_hi)            # (L + 1, ...)
        # placement: turn by yaw about +Y, move so the first frame continues the previous segment
        if prev_virtual is None:
            yaw, place = -h[0], np.zeros(2)
        else:
            pq, pr, ph = prev_virtual
            yaw, place = ph - h[0], pr[[0, 2]]
        q[:, 0] = quat_multiply(_yaw_quat(yaw), q[:, 0])
        rel = _turn_xz(r[:, [0, 2]] - r[0, [0, 2]], yaw)
        r = np.concatenate([rel[:, :1] + place[0], r[:, 1:2], rel[:, 1:] + place[1]], axis=1)
        h = h + yaw
        if prev_virtual is not None:
            pq, pr, _ = prev_virtual
            lq, lr = prev_last
            # (in one call) the offset, the previous segment's and the new one's angular steps
            off = rotation_offset(np.stack([pq, pq, q[1]]), np.stack([q[0], lq, q[0]]))   # (3, 20, 3)
            x_rot = off[0]                                                          # (20, 3)
            v_rot = (off[1] - off[2]) * fps
            x_root = pr - r[0]
            x_root[[0, 2]] = 0.0                                                    # placed to match
            v_root = (pr - lr) * fps - (r[1] - r[0]) * fps
            # the offset is below 1e-3 of its start after 8 half-lives: only those frames carry it
            w = min(len(q), int(np.ceil(8 * halflife * fps)))
            t = np.arange(w) * dt
            off_rot, _ = decay_spring_damper(x_rot, v_rot, halflife, t)             # (w, 20, 3)
            off_root, _ = decay_spring_damper(x_root, v_root, halflife, t)           # (w, 3)
            q[:w] = apply_rotation_offset(off_rot, q[:w])
            r[:w] = r[:w] + off_root
        n = o_end - o_start
        quats[o_start:o_end], root[o_start:o_end] = q[:n], r[:n]
        prev_virtual = (q[n], r[n], h[n])
        prev_last = (q[n - 1], r[n - 1])
        moves.append(Move(o_start, o_end, graph.clip_label(clip), int(src_beats[0] - c_lo), int(src_beats[-1] - c_lo),
                          int(m), int(seg)))
    rotvecs = rotvec_continuity(quat_to_rotvec(quat_continuity(quats, axis=0)))
    return Synthesis(rotvecs.astype(np.float32), root.astype(np.float32), fps, tuple(moves))
