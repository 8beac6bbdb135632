"""Traverse the action graph over a song's beats: which real segment dances each stretch of music.

The song is a grid of beats (`beat_grid`: the tracked beats, extended at the tempo to cover the
whole song). A dance is a path of segments: each segment s is laid over the next m music beats,
m chosen so that the music's span is closest to the segment's own length (`beats_for`), and the
next segment starts where it ends, at one of the joins of the segment's last boundary.

Search: a beam over beat indices. For every beat index i the BEAM best partial dances ending at i
are kept; each is extended by every segment starting at a join target of its last boundary, and
the extension goes into the bucket of the beat where it ends. The total cost of a dance is the
sum over its segments of the named cost terms below, each a function of arrays that a reader can
test alone; `Costs` holds their weights. The seed picks the first segments to try and adds small
seeded noise to every choice, so different seeds give different dances of the same song.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .graph import ActionGraph, index_ranges

MAX_BEATS = 8                     # a segment spans at most this many music beats
MAX_STRETCH = 1.4                 # a segment plays at most this much faster or slower than captured


@dataclass(frozen=True)
class Costs:
    """Weights of the cost terms (all dimensionless)."""
    data: float = 1.0             # music-motion mismatch (or, guided, mismatch with the LSTM's dance)
    transition: float = 1.0       # pose and velocity distance at the join (0 when the clip goes on)
    stretch: float = 8.0          # (log of the time stretch)^2
    beat_fit: float = 0.5         # the segment's inner kinematic beats off the music's beats (beat_fit_cost)
    repeat: float = 30.0          # the same source frames again within repeat_seconds
    repeat_seconds: float = 30.0
    genre_switch: float = 3.0     # a join from one genre's clip to another's
    structure: float = 2.0        # reward for dancing again the move danced where the music was the same
    floor: float = 4.0            # per square metre beyond the floor radius
    noise: float = 0.6            # seeded noise on every choice (variations)
    start_candidates: int = 48    # segments tried at the start


@dataclass
class Path:
    """A traversal's result: segment ids, the beat index where each starts, and how many beats it spans."""
    segments: np.ndarray
    first_beat: np.ndarray
    beats: np.ndarray
    cost: float
    terms: dict[str, float] = field(default_factory=dict)


# ----------------------------------------------------------------------------- the beat grid

def beat_grid(beat_times: np.ndarray, duration: float, default_bpm: float = 100.0,
              min_interval: float = 0.3) -> np.ndarray:
    """Beat times (seconds) covering [0, duration] and at least MAX_BEATS beats past it: the
    tracked beats, extended before the first and after the last at their median interval (or
    `default_bpm` when fewer than two beats were found). Beats closer than `min_interval` are
    thinned to every other one (a segment of real dance needs room)."""
    beats = np.asarray(beat_times, np.float64)
    beats = beats[(beats >= 0) & np.isfinite(beats)]
    if len(beats) < 2:
        step = 60.0 / default_bpm
        beats = np.array([0.0])
    else:
        step = float(np.median(np.diff(beats)))
        if step < min_interval:
            beats, step = beats[::2], step * 2
    before = np.arange(beats[0] - step, -step, -step)[::-1]
    before = before[before > -1e-9] if len(before) else before
    n_after = int(np.ceil(max(duration - beats[-1], 0.0) / step)) + MAX_BEATS + 1
    after = beats[-1] + step * np.arange(1, n_after + 1)
    return np.concatenate([before, beats, after])


def span_lengths(grid: np.ndarray) -> np.ndarray:
    """(I, MAX_BEATS) seconds from beat i to beat i + m (m = 1 .. MAX_BEATS); inf past the grid."""
    i = np.arange(len(grid))[:, None] + np.arange(1, MAX_BEATS + 1)[None]
    out = np.full(i.shape, np.inf)
    ok = i < len(grid)
    out[ok] = grid[i[ok]] - grid[np.nonzero(ok)[0]]
    return out


def beats_for(log_durations: np.ndarray, spans: np.ndarray, step: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """For segments of log(length in seconds) `log_durations` (N,), all starting at one beat whose
    spans over m = 1 .. MAX_BEATS beats are `spans` (MAX_BEATS,) seconds: the number of beats m, a
    multiple of `step`, whose span is closest to each segment's length in log ratio, and
    log(span / length)."""
    lspan = np.log(spans[step - 1::step])                           # increasing
    k = np.clip(np.searchsorted(lspan, log_durations), 1, len(lspan) - 1)
    below, above = lspan[k - 1] - log_durations, lspan[k] - log_durations
    nearer_above = np.abs(above) < np.abs(below)
    return step * np.where(nearer_above, k + 1, k), np.where(nearer_above, above, below)


# ----------------------------------------------------------------------------- cost terms

def stretch_cost(log_ratio: np.ndarray) -> np.ndarray:
    """(log of music span / segment length)^2; inf beyond MAX_STRETCH either way."""
    c = log_ratio ** 2
    return np.where(np.abs(log_ratio) > np.log(MAX_STRETCH), np.inf, c)


def beat_fit_cost(graph: ActionGraph, max_inner: int = 6) -> np.ndarray:
    """(S, MAX_BEATS) how badly each segment's inner kinematic beats fit m music beats (m = 1 ..).

    A segment laid over m beats is warped so its first and last kinematic beats land on the
    first and last music beats; an inner kinematic beat at fraction u of the segment then falls
    at u * m beats. Cost = mean over inner kinematic beats of 4 * (distance to the nearest whole
    beat)^2 (1 for a beat exactly between two) + the share of the m - 1 inner music beats that no
    kinematic beat falls within a quarter beat of. 0 for a segment whose beats fall on the music's.
    """
    first, last = graph.seg_first, graph.seg_last
    k = np.arange(1, max_inner + 1)
    inner = first[:, None] + k[None]                                          # (S, K) boundary ids
    valid = inner < last[:, None]
    f0, f1 = graph.boundary_frame[first], graph.boundary_frame[last]
    fb = graph.boundary_frame[np.minimum(inner, len(graph.boundary_frame) - 1)]
    u = np.where(valid, (fb - f0[:, None]) / np.maximum(f1 - f0, 1)[:, None], np.nan)   # (S, K)
    out = np.empty((len(first), MAX_BEATS))
    for m in range(1, MAX_BEATS + 1):
        r = u * m
        off = np.abs(r - np.round(r))
        miss = np.where(valid, 4.0 * off ** 2, 0.0).sum(1) / np.maximum(valid.sum(1), 1)
        if m > 1:
            q = np.arange(1, m)
            hit = (np.abs(r[:, :, None] - q[None, None]) < 0.25) & valid[:, :, None]    # (S, K, m - 1)
            uncovered = 1.0 - hit.any(axis=1).mean(axis=1)
        else:
            uncovered = np.zeros(len(first))
        out[:, m - 1] = miss + uncovered
    return out


def repeat_cost(cand_clip: np.ndarray, cand_lo: np.ndarray, cand_hi: np.ndarray, recent_clip: np.ndarray,
                recent_lo: np.ndarray, recent_hi: np.ndarray, recent_fresh: np.ndarray) -> np.ndarray:
    """Share of each candidate's source frames [lo, hi) that a recent segment of the same clip
    already danced, over the candidates (N,) against their dance's recent segments (N, R);
    recent_fresh (N, R) marks the recent entries still within the repeat window."""
    same = (recent_clip == cand_clip[:, None]) & recent_fresh
    overlap = np.minimum(recent_hi, cand_hi[:, None]) - np.maximum(recent_lo, cand_lo[:, None])
    overlap = np.where(same, np.maximum(overlap, 0), 0)
    return overlap.max(axis=1) / np.maximum(cand_hi - cand_lo, 1)


def floor_cost(x: np.ndarray, z: np.ndarray, radius: float) -> np.ndarray:
    """Horizontal positions (x, z), each (N,) -> squared metres beyond `radius` from the floor's centre."""
    return np.maximum(np.sqrt(x * x + z * z) - radius, 0.0) ** 2


def correspondence_cost(music_z: np.ndarray, seg_z: np.ndarray, coef: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """How much less likely a segment's motion is given the music than on its own.

    music_z (N, Fa) z-scored music features of each candidate's span; seg_z (N, F) z-scored motion
    features of the candidate; coef (Fa + 1, F) the fitted linear map (last row: intercept);
    weight (F,) = r^2, how well the music predicts each motion feature (cross-validated,
    training/graph/correspondence.py). Each motion feature is N(0, 1) on its own and
    N(pred, 1 - r^2) given the music, so minus twice the log-likelihood ratio is
        sum over features with r^2 > 0 of (y - pred)^2 / (1 - r^2) - y^2
    (a plain distance to `pred` would favour segments near the average motion whatever the music:
    on held-out pairs it matched the true motion among 10 candidates 0.157 of the time, this 0.225;
    `make analyze`).
    """
    return likelihood_cost(music_z @ coef[:-1] + coef[-1], seg_z, weight)


def likelihood_cost(pred: np.ndarray, seg_z: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """correspondence_cost from the predicted motion features pred (N, F) (compose works the
    predictions of every span out once)."""
    w = np.clip(weight, 0.0, 0.999)
    terms = (seg_z - pred) ** 2 / (1.0 - w) - seg_z ** 2
    return (terms * (w > 0)).sum(axis=1)


def feature_distance(target_z: np.ndarray, seg_z: np.ndarray) -> np.ndarray:
    """Mean squared distance between z-scored feature rows (N, F) (the guided method's data cost)."""
    return ((target_z - seg_z) ** 2).mean(axis=1)


# ----------------------------------------------------------------------------- the search

# data_cost(segments (N,), first beat (N,), beats m (N,)) -> (N,) costs
DataCost = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class _Prepared:
    """What the traversal needs of a graph whatever the song, worked out once per graph."""
    seg_clip: np.ndarray
    seg_lo: np.ndarray
    seg_hi: np.ndarray
    disp_local: np.ndarray       # (S, 2) each segment's displacement in its start heading frame
    turn: np.ndarray             # (S,) its heading change
    log_dur: np.ndarray          # (S,) log of its length in seconds
    fit: np.ndarray              # (S, MAX_BEATS) beat_fit_cost
    succ_off: np.ndarray
    succ_seg: np.ndarray
    succ_cost: np.ndarray
    genres: list
    seg_genre: np.ndarray        # (S,) index into genres


_PREPARED: "weakref.WeakKeyDictionary[ActionGraph, _Prepared]" = weakref.WeakKeyDictionary()


def _prepared(graph: ActionGraph) -> _Prepared:
    if graph not in _PREPARED:
        seg_clip = graph.seg_clip
        seg_lo, seg_hi = graph.seg_start_frame, graph.seg_end_frame
        d = graph.root[seg_hi][:, [0, 2]] - graph.root[seg_lo][:, [0, 2]]
        h0 = graph.heading[seg_lo]
        c, s = np.cos(h0), np.sin(h0)
        disp_local = np.stack([c * d[:, 0] - s * d[:, 1], s * d[:, 0] + c * d[:, 1]], axis=1)  # rotate by -h0
        genres, seg_genre = graph.segment_genres()
        _PREPARED[graph] = _Prepared(seg_clip, seg_lo, seg_hi, disp_local, graph.heading[seg_hi] - h0,
                                     np.log(graph.seg_duration), beat_fit_cost(graph), *graph.successors(),
                                     list(genres), seg_genre)
    return _PREPARED[graph]


def traverse(graph: ActionGraph, grid: np.ndarray, end_time: float, data_cost: DataCost, seed: int = 0,
             costs: Costs = Costs(), floor_radius: float = 2.5, beam: int = 12, recent: int = 12,
             genre: str | None = None, repeats: np.ndarray | None = None, step: int = 2) -> Path:
    """The cheapest path found over the beats of `grid` up to `end_time` seconds (see the module
    docstring); `beam` partial dances are kept per beat, `recent` segments are remembered for
    the repetition cost. With `genre` (one of graph.clip_genres) the dance starts in that genre's
    segments and pays costs.genre_switch for every join into another genre's clip. `repeats` (I,)
    gives, per beat, an earlier beat whose music this one repeats (-1: none; compose.music_repeats):
    a segment that dances again the source frames danced from that earlier beat (when it is
    still among the `recent` segments) is rewarded by costs.structure instead of paying the
    repetition cost: the same move where the music is the same. Moves span a multiple of `step`
    beats, so every move starts on the step grid (2: every other beat, from the first): half as
    many beats to search, and moves that start together with the music's strong beats."""
    rng = np.random.default_rng(seed)
    spans = span_lengths(grid)
    n_grid = len(grid)
    last_index = int(np.searchsorted(grid, end_time - 1e-6))     # a dance ending at or after this beat is done
    prep = _prepared(graph)
    seg_clip, seg_lo, seg_hi = prep.seg_clip, prep.seg_lo, prep.seg_hi
    disp_local, turn, log_dur, fit = prep.disp_local, prep.turn, prep.log_dur, prep.fit
    succ_off, succ_seg, succ_cost = prep.succ_off, prep.succ_seg, prep.succ_cost
    genres, seg_genre = prep.genres, prep.seg_genre
    if genre is not None and genre not in genres:
        raise ValueError(f"unknown genre {genre!r}; the graph has {', '.join(genres)}")
    home = -1 if genre is None else genres.index(genre)
    R = recent
    # a partial dance is one row: [seg, parent, first, m, cost, x, z, heading, 7 terms,
    # R recent clips, R recent first frames, R recent last frames, R recent times]
    SEG, PARENT, FIRST, M, COST, X, Z, HEAD, TERMS = 0, 1, 2, 3, 4, 5, 6, 7, 8
    RCLIP = TERMS + 7
    RLO, RHI, RTIME = RCLIP + R, RCLIP + 2 * R, RCLIP + 3 * R
    width = RCLIP + 4 * R
    buckets: dict[int, list[np.ndarray]] = {}

    def extend(first: int, seg: np.ndarray, parents: np.ndarray, src: np.ndarray, trans: np.ndarray) -> None:
        """Score candidate segments `seg` starting at beat `first`, each after the partial dance
        parents[src] (rows of the table below)."""
        # m: the number of beats whose span is closest to the segment's length (in log ratio)
        # (only multiples of `step` beats, so that every move starts on a beat of the step grid)
        m, logr = beats_for(log_dur[seg], spans[first], step)
        st = stretch_cost(logr)
        ok = np.isfinite(st)
        seg, m, st, src, trans = seg[ok], m[ok], st[ok], src[ok], trans[ok]
        if not len(seg):
            return
        now = grid[first]
        # the terms that need no history first; only the cheapest 4 x beam candidates (by these,
        # a lower bound of their cost: the other terms are >= 0) are taken further
        if home >= 0:
            trans = trans + costs.genre_switch / max(costs.transition, 1e-9) * (seg_genre[seg] != home)
        dc = costs.data * data_cost(seg, np.full(len(seg), first), m)
        noise = costs.noise * rng.standard_normal(len(seg)) * m / 4.0
        # the move danced where the music was the same (an entry of the history started then)
        bound = (parents[src, COST] + dc + costs.transition * trans + costs.stretch * st
                 + costs.beat_fit * fit[seg, m - 1] + noise)
        echo = None
        if repeats is not None and repeats[first] >= 0 and costs.structure > 0:
            hist = parents[src, RCLIP:]
            echo = ((hist[:, 3 * R:] == grid[repeats[first]]) & (hist[:, :R] == seg_clip[seg][:, None])
                    & (np.minimum(hist[:, 2 * R:3 * R], seg_hi[seg][:, None])
                       > np.maximum(hist[:, R:2 * R], seg_lo[seg][:, None])))
            sc = -costs.structure * echo.any(axis=1)
            bound = bound + sc
        else:
            sc = np.zeros(len(seg))
        if len(seg) > 4 * beam:
            keep = np.argpartition(bound, 4 * beam)[:4 * beam]
            seg, m, st, src, trans, dc, bound = (seg[keep], m[keep], st[keep], src[keep], trans[keep], dc[keep],
                                                 bound[keep])
            sc = sc[keep]
            echo = None if echo is None else echo[keep]
        rows = parents[src]
        fresh = (now - rows[:, RTIME:RTIME + R]) < costs.repeat_seconds
        if echo is not None:
            fresh &= ~echo
        rep = repeat_cost(seg_clip[seg], seg_lo[seg], seg_hi[seg], rows[:, RCLIP:RCLIP + R],
                          rows[:, RLO:RLO + R], rows[:, RHI:RHI + R], fresh)
        # where the dancer ends: the segment's displacement turned to the dance's current heading
        # (heading h faces (sin h, cos h) in (x, z))
        head = rows[:, HEAD]
        cs, sn = np.cos(head), np.sin(head)
        dl = disp_local[seg]
        x = rows[:, X] + cs * dl[:, 0] + sn * dl[:, 1]
        z = rows[:, Z] - sn * dl[:, 0] + cs * dl[:, 1]
        fl = floor_cost(x, z, floor_radius)
        out = np.empty((len(seg), width))
        out[:, :TERMS + 7] = np.column_stack([
            seg, rows[:, PARENT], np.full(len(seg), first), m,
            bound + costs.repeat * rep + costs.floor * fl, x, z, head + turn[seg],
            dc, costs.transition * trans, costs.stretch * st, costs.repeat * rep, costs.floor * fl,
            costs.beat_fit * fit[seg, m - 1], sc])
        # the recent history (clip, first frame, last frame, time), shifted by one, this segment last
        hist, old = out[:, RCLIP:].reshape(len(seg), 4, R), rows[:, RCLIP:].reshape(len(seg), 4, R)
        hist[:, :, :-1] = old[:, :, 1:]
        hist[:, :, -1] = np.column_stack([seg_clip[seg], seg_lo[seg], seg_hi[seg], np.full(len(seg), now)])
        ends = np.minimum(first + m, n_grid - 1)
        order = np.argsort(ends, kind="stable")
        ends, out = ends[order], out[order]
        cut = np.flatnonzero(np.diff(ends)) + 1
        for e, block in zip(ends[np.concatenate([[0], cut])], np.split(out, cut)):
            buckets.setdefault(int(e), []).append(block)

    # start: seeded segments at beat 0, from a dance with no past (parent -1, at the centre, facing +Z)
    pool = np.flatnonzero(seg_genre == home) if home >= 0 else np.arange(graph.n_segments)
    k0 = min(costs.start_candidates, len(pool))
    seg0 = rng.choice(pool, size=k0, replace=False)
    start = np.zeros((k0, width))
    start[:, PARENT] = -1
    start[:, RCLIP:RCLIP + R] = -1
    start[:, RTIME:RTIME + R] = -np.inf
    extend(0, seg0, start, np.arange(k0), np.zeros(k0))

    stored: list[np.ndarray] = []
    n_stored = 0
    finals: list[np.ndarray] = []
    for i in range(1, n_grid):
        if i not in buckets:
            continue
        b = np.concatenate(buckets.pop(i))
        order = np.argsort(b[:, COST], kind="stable")
        # the best of each segment (different pasts reaching the same segment), then the beam
        _, first_of = np.unique(b[order, SEG], return_index=True)
        b = b[order[np.sort(first_of)][:beam]]
        ids = np.arange(n_stored, n_stored + len(b))
        stored.append(b)
        n_stored += len(b)
        if i >= last_index:
            finals.append(np.stack([b[:, COST], ids], axis=1))
            continue
        last_b = graph.seg_last[b[:, SEG].astype(np.int64)]
        counts = succ_off[last_b + 1] - succ_off[last_b]
        take = index_ranges(succ_off[last_b], counts)
        if not len(take):
            continue
        parents = b.copy()
        parents[:, PARENT] = ids                       # the rows' own ids: the extensions' parent
        extend(i, succ_seg[take], parents, np.repeat(np.arange(len(b)), counts), succ_cost[take])
    if not finals:
        raise ValueError("the action graph found no path over this song; the graph may be too small")
    table = np.concatenate(stored)
    fin = np.concatenate(finals)
    node = int(fin[np.argmin(fin[:, 0]), 1])
    cost = float(fin[:, 0].min())
    chain = []
    while node >= 0:
        chain.append(node)
        node = int(table[node, PARENT])
    chain = np.array(chain[::-1])
    names = ("data", "transition", "stretch", "repeat", "floor", "beat_fit", "structure")
    terms = {n: float(table[chain, TERMS + k].sum()) for k, n in enumerate(names)}
    return Path(table[chain, SEG].astype(np.int64), table[chain, FIRST].astype(np.int64),
                table[chain, M].astype(np.int64), cost, terms)
