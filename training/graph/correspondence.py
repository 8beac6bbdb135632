"""The music-motion correspondence of the action graph, and how well it holds (`make analyze`).

    from training.graph.correspondence import fit_correspondence
    corr = fit_correspondence(graph.feature_names)      # what traversal.correspondence_cost reads

    python -m training.graph.correspondence [--out results]     # = make analyze

Data: spans of the music-motion pairs (training/data/pairs.py: CMU clips time-warped onto real
tracks' beats; the mocap had no music of its own, so every correspondence here is one the warp
and the dancers' own phrasing leave between a track and a clip). For every pair: its music
features (T, 43) at 30 fps, its pitch track (training.evaluation.run.track_pitch of its track,
from round(music_start * 30), T frames), its beats (the frames where the 'beat' column is 1) and
its motion (forward kinematics, (T, 20, 3)). On the pair's own beat grid (traversal.beat_grid),
the spans from every beat over m = 2, 3 and 4 beats (the graph's segment lengths), dropping the
spans that run past the pair's end; per span the music features exactly as the add-on computes
them (compose.music_span_features: MUSIC_SPAN_FEATURE_NAMES) and the motion features of the same
frames (motion.features.segment_features_batch: SEGMENT_FEATURE_NAMES). Cached under
cache/correspondence/ (keyed on the pairs and the sources of every feature function).

The fit (fit_map, on arrays; fit_correspondence on the training pairs): ridge regression from the
z-scored music span features to the z-scored motion features, the ridge strength of each motion
feature chosen by grouped k-fold cross-validation over the training tracks (every span of a track
in one fold);
weight[f] = max(r_f, 0)^2 with r_f the correlation between the out-of-fold prediction and the
actual motion feature f, i.e. how much of that feature the music predicts on tracks it never saw.

The analysis (the paper's section 4.3, Figures 6 and 7), fitted on the training pairs and tested
on the held-out pairs (held-out clips on held-out tracks): for every held-out music span, its own
motion span and N - 1 = 9 seeded distractor spans of the same number of beats; the candidate
with the smallest mismatch wins, and the accuracy is the share of spans whose own motion wins
(chance 1 / N). Mismatch of the top-k (music feature, motion feature) pairs (ranked by |r| on the
training spans): sum over them of (r * music_z - candidate motion_z)^2, the per-pair least-squares
line in z units; of the ridge model: traversal.correspondence_cost. Distractors come from the
other held-out pairs (as the paper's matching) and, as a harder check, from the same pair (other,
non-overlapping spans of the same song: what the traversal faces within one song). Figure 7 puts
the span features (low level) against statistics of the whole pair (high level: track tempo,
mean and spread of RMS, onset strength and F0, voiced share, MFCC means and spreads).

Also measured, to read the above honestly: the same ridge matching with a plain squared distance to
the prediction (distance_cost) instead of the traversal's likelihood ratio, and two controls: the
span's length in seconds alone (no music), and the span features without beats_per_second (at a
given number of beats the beat rate is beats / length, and window-measured motion features such
as spacing and density depend on the window's length whatever the music). 95% intervals come
from resampling the held-out pairs (their spans overlap and share a song).

Outputs (--out, default results/): correspondence.md (the tables and the verdict),
correspondence.json (every number), correspondence_matrix.png, correspondence_accuracy.png
(Figure 6), correspondence_levels.png (Figure 7).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dance_addon.core.choreography.compose import MUSIC_SPAN_FEATURE_NAMES, music_span_features, span_bounds
from dance_addon.core.choreography.traversal import beat_grid, correspondence_cost
from dance_addon.core.motion.features import SEGMENT_FEATURE_NAMES, segment_features_batch
from dance_addon.core.music.features import FEATURE_COLUMNS, beat_times_of

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / "cache" / "correspondence"
RESULTS = REPO / "results"
FPS = 30.0
SPAN_BEATS = (2, 3, 4)                     # the graph's segment lengths in beats (build.SEG_BEATS)
N_FOLDS = 5                                # grouped by track
ALPHAS = tuple(float(a) for a in np.logspace(-4, 3, 15))   # ridge strength per span (penalty / n)
N_CANDIDATES = 10
MATCH_REPEATS = 5                          # seeded draws of distractors, averaged
CORR_KEYS = ("coef", "weight", "music_mean", "music_std", "motion_mean", "motion_std")
N_MFCC_STATS = 13                          # MFCC 0..12 in the high-level statistics
HIGH_LEVEL_FEATURE_NAMES: tuple[str, ...] = (
    ("track_tempo_bpm", "rms_mean", "rms_std", "onset_strength_mean", "onset_strength_std",
     "f0_mean_semitones", "f0_std_semitones", "voiced_share")
    + tuple(f"mfcc_{i:02d}_mean" for i in range(N_MFCC_STATS))
    + tuple(f"mfcc_{i:02d}_std" for i in range(N_MFCC_STATS))
)
CACHE_VERSION = "1"
# the code every cached span comes from (with pair_spans, pair_statistics and _load_spans below):
# a change to any of it recomputes the spans
_SOURCES = ("dance_addon/core/choreography/compose.py", "dance_addon/core/choreography/traversal.py",
            "dance_addon/core/music/segments.py", "dance_addon/core/music/pitch.py",
            "dance_addon/core/motion/features.py", "dance_addon/core/motion/skeleton.py")


# ----------------------------------------------------------------------------- spans of one pair

def pair_spans(matrix: np.ndarray, f0_hz: np.ndarray, positions: np.ndarray, fps: float = FPS,
               span_beats: tuple[int, ...] = SPAN_BEATS) -> dict[str, np.ndarray]:
    """The spans of one pair: from every beat of its beat grid over each m in span_beats beats,
    those ending inside the pair. matrix (T, 43) music features, f0_hz (T,), positions (T, 20, 3).
    Returns music (S, Fa) MUSIC_SPAN_FEATURE_NAMES, motion (S, F) SEGMENT_FEATURE_NAMES, beats (S,)
    m, bounds (S, 2) frames [start, stop)."""
    n = len(matrix)
    grid = beat_grid(beat_times_of(matrix, fps), (n - 1) / fps)
    music = music_span_features(matrix, f0_hz, grid, fps)                 # (I, MAX_BEATS, Fa)
    bounds = span_bounds(grid, n, fps)                                    # (I, MAX_BEATS, 2)
    i = np.arange(len(grid))
    rows, ms = [], []
    for m in span_beats:
        end = i + m
        ok = end < len(grid)
        ok[ok] &= np.rint(grid[end[ok]] * fps) <= n                       # the span's last beat inside the pair
        rows.append(np.flatnonzero(ok))
        ms.append(np.full(ok.sum(), m))
    first, m = np.concatenate(rows), np.concatenate(ms)
    b = bounds[first, m - 1]
    return {"music": music[first, m - 1], "motion": segment_features_batch(positions, fps, b),
            "beats": m, "bounds": b}


def pair_statistics(matrix: np.ndarray, f0_hz: np.ndarray, tempo: float) -> np.ndarray:
    """(H,) HIGH_LEVEL_FEATURE_NAMES of a whole pair: the track's tempo and statistics over all of
    the pair's frames."""
    col = {name: matrix[:, FEATURE_COLUMNS.index(name)].astype(np.float64) for name in ("rms", "onset_env")}
    hz = np.asarray(f0_hz, np.float64)
    voiced = np.isfinite(hz) & (hz > 0)
    semis = 12.0 * np.log2(hz[voiced] / 55.0)
    mfcc = matrix[:, [FEATURE_COLUMNS.index(f"mfcc_{i:02d}") for i in range(N_MFCC_STATS)]].astype(np.float64)
    return np.concatenate([
        [tempo, col["rms"].mean(), col["rms"].std(), col["onset_env"].mean(), col["onset_env"].std(),
         semis.mean() if len(semis) else 0.0, semis.std() if len(semis) else 0.0, voiced.mean()],
        mfcc.mean(axis=0), mfcc.std(axis=0)])


@dataclass(frozen=True)
class Spans:
    """Every span of a set of pairs, one row each."""
    music: np.ndarray        # (S, Fa) MUSIC_SPAN_FEATURE_NAMES
    motion: np.ndarray       # (S, F) SEGMENT_FEATURE_NAMES
    high: np.ndarray         # (S, H) HIGH_LEVEL_FEATURE_NAMES of the span's pair
    beats: np.ndarray        # (S,) m
    bounds: np.ndarray       # (S, 2) frames of the pair
    pair: np.ndarray         # (S,) index into pair_names
    track: np.ndarray        # (S,) index into track_names
    pair_names: tuple[str, ...]
    track_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.beats)


def _source_key(pairs) -> str:
    import inspect

    h = hashlib.sha256(CACHE_VERSION.encode())
    for rel in _SOURCES:
        h.update((REPO / rel).read_bytes())
    for fn in (pair_spans, pair_statistics, _load_spans):     # this module's own part in the spans
        h.update(inspect.getsource(fn).encode())
    for p in pairs:
        h.update(f"{p.name}|{len(p.music)}|{p.music_start:.6f}|".encode())
        h.update(np.ascontiguousarray(p.rotvecs[::7]).tobytes())
        h.update(np.ascontiguousarray(p.music[::7]).tobytes())
    return h.hexdigest()[:16]


_LOADED: dict[str, Spans] = {}            # load_spans' results in this process


def load_spans(part: str, log=None) -> Spans:
    """The spans of the training ('train': build_pairs("train")) or held-out ('heldout':
    build_pairs("heldout", per_clip=2)) pairs, cached under cache/correspondence/ (and in memory
    for the rest of the process)."""
    if part not in _LOADED:
        _LOADED[part] = _load_spans(part, log)
    return _LOADED[part]


def _load_spans(part: str, log=None) -> Spans:
    from dance_addon.core.motion.skeleton import forward_kinematics
    from training.data.pairs import build_pairs
    from training.evaluation.run import track_pitch

    if part not in ("train", "heldout"):
        raise ValueError(f"part must be 'train' or 'heldout', not {part!r}")
    pairs, tracks = build_pairs(part) if part == "train" else build_pairs(part, per_clip=2)
    cached = CACHE / f"spans-{part}-{_source_key(pairs)}.npz"
    if cached.exists():
        with np.load(cached) as z:
            return Spans(z["music"], z["motion"], z["high"], z["beats"], z["bounds"], z["pair"], z["track"],
                         tuple(z["pair_names"].tolist()), tuple(z["track_names"].tolist()))
    started = time.perf_counter()
    track_names = tuple(sorted({p.provenance["track"] for p in pairs}))
    pitch = {t: track_pitch(t, tracks[t].path, FPS) for t in track_names}
    keys = ("music", "motion", "high", "beats", "bounds", "pair", "track")
    parts: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    for k, p in enumerate(pairs):
        t = p.provenance["track"]
        n = len(p.music)
        first = int(round(p.music_start * FPS))
        f0 = np.zeros(n)
        got = pitch[t][first:first + n]
        f0[:len(got)] = got
        pos = forward_kinematics(p.rotvecs, p.root_translation)
        sp = pair_spans(p.music, f0, pos, FPS)
        s = len(sp["beats"])
        for key in ("music", "motion", "beats", "bounds"):
            parts[key].append(sp[key])
        parts["high"].append(np.repeat(pair_statistics(p.music, f0, tracks[t].features.tempo)[None], s, axis=0))
        parts["pair"].append(np.full(s, k))
        parts["track"].append(np.full(s, track_names.index(t)))
    arrays = {k: np.concatenate(v) for k, v in parts.items()}
    spans = Spans(**arrays, pair_names=tuple(p.name for p in pairs), track_names=track_names)
    CACHE.mkdir(parents=True, exist_ok=True)
    for old in CACHE.glob(f"spans-{part}-*.npz"):
        old.unlink()
    np.savez(cached, **arrays, pair_names=np.array(spans.pair_names), track_names=np.array(track_names))
    if log:
        log(f"{part}: {len(pairs)} pairs, {len(spans)} spans ({time.perf_counter() - started:.0f} s, cached)")
    return spans


# ----------------------------------------------------------------------------- the fit

def span_seconds(spans: Spans, fps: float = FPS) -> np.ndarray:
    """(S,) each span's length in seconds."""
    return (spans.bounds[:, 1] - spans.bounds[:, 0]) / fps


def zscore_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column mean and standard deviation (1 where a column is constant)."""
    std = x.std(axis=0)
    return x.mean(axis=0), np.where(std > 1e-12, std, 1.0)


def ridge(xz: np.ndarray, yz: np.ndarray, alpha: float) -> np.ndarray:
    """(Fa + 1, F): argmin_B |[xz 1] B - yz|^2 / n + alpha |B[:-1]|^2 (the intercept, last row, unpenalised)."""
    n = len(xz)
    xm, ym = xz.mean(axis=0), yz.mean(axis=0)
    xc, yc = xz - xm, yz - ym
    a = xc.T @ xc / n + alpha * np.eye(xz.shape[1])
    w = np.linalg.solve(a, xc.T @ yc / n)
    return np.vstack([w, ym - xm @ w])


def predict(xz: np.ndarray, coef: np.ndarray) -> np.ndarray:
    return xz @ coef[:-1] + coef[-1]


def grouped_folds(groups: np.ndarray, n_folds: int = N_FOLDS) -> np.ndarray:
    """(S,) fold of every sample: the groups (sorted by value) dealt round-robin into n_folds folds,
    so all of a group's samples share a fold. Deterministic."""
    uniq, inv = np.unique(groups, return_inverse=True)
    if len(uniq) < 2:
        raise ValueError("cross-validation by group needs at least two groups")
    return (np.arange(len(uniq)) % min(n_folds, len(uniq)))[inv]


def columnwise_r(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(F,) Pearson correlation of every column of a with the same column of b (0 where either is constant)."""
    ac, bc = a - a.mean(axis=0), b - b.mean(axis=0)
    den = np.sqrt((ac ** 2).sum(axis=0) * (bc ** 2).sum(axis=0))
    return np.where(den > 1e-12, (ac * bc).sum(axis=0) / np.where(den > 1e-12, den, 1.0), 0.0)


def correlation_matrix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(Fx, Fy) Pearson correlation of every column of x with every column of y (0 for constant columns)."""
    xz = (x - x.mean(axis=0)) / zscore_stats(x)[1]
    yz = (y - y.mean(axis=0)) / zscore_stats(y)[1]
    return xz.T @ yz / len(x)


@dataclass(frozen=True)
class CorrespondenceFit:
    coef: np.ndarray          # (Fa + 1, F) z-scored music -> z-scored motion, last row intercept
    weight: np.ndarray        # (F,) max(cv_r, 0)^2
    music_mean: np.ndarray
    music_std: np.ndarray
    motion_mean: np.ndarray
    motion_std: np.ndarray
    alpha: np.ndarray         # (F,) the ridge strength chosen for each motion feature
    cv_r: np.ndarray          # (F,) out-of-fold correlation at that strength
    cv_error: np.ndarray      # (len(alphas), F) mean out-of-fold squared error (motion z units)
    alphas: np.ndarray

    def as_dict(self) -> dict[str, np.ndarray]:
        """Exactly the arrays traversal.correspondence_cost and compose read (graph.corr)."""
        return {k: np.asarray(getattr(self, k), np.float64) for k in CORR_KEYS}


def fit_map(music: np.ndarray, motion: np.ndarray, groups: np.ndarray, alphas=ALPHAS,
            n_folds: int = N_FOLDS) -> CorrespondenceFit:
    """Ridge map from music (S, Fa) to motion (S, F) features of the same spans, cross-validated by
    `groups` (S,) (the track of each span): see the module docstring."""
    x, y = np.asarray(music, np.float64), np.asarray(motion, np.float64)
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y) or len(x) != len(groups):
        raise ValueError(f"need music (S, Fa), motion (S, F) and groups (S,), got {x.shape}, {y.shape}, "
                         f"{np.shape(groups)}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("music and motion features must be finite")
    alphas = np.asarray(alphas, np.float64)
    y_mean, y_std = zscore_stats(y)
    yz = (y - y_mean) / y_std                     # a fixed scale per feature; each fold fits its own intercept
    fold = grouped_folds(np.asarray(groups), n_folds)
    oof = np.zeros((len(alphas),) + y.shape)
    for f in np.unique(fold):
        tr, te = fold != f, fold == f
        mu, sd = zscore_stats(x[tr])
        xtr, xte = (x[tr] - mu) / sd, (x[te] - mu) / sd
        for a, alpha in enumerate(alphas):
            oof[a, te] = predict(xte, ridge(xtr, yz[tr], alpha))
    # each motion feature its own strength (its column of the fit does not depend on the others)
    cv_error = ((oof - yz) ** 2).mean(axis=1)                                  # (A, F)
    best = np.argmin(cv_error, axis=0)                                         # (F,), first of ties
    cols = np.arange(y.shape[1])
    r = columnwise_r(oof[best, :, cols].T, yz)
    x_mean, x_std = zscore_stats(x)
    xz = (x - x_mean) / x_std
    coef = np.empty((x.shape[1] + 1, y.shape[1]))
    for a in np.unique(best):
        coef[:, best == a] = ridge(xz, yz[:, best == a], alphas[a])
    return CorrespondenceFit(coef, np.maximum(r, 0.0) ** 2, x_mean, x_std, y_mean, y_std, alphas[best],
                             r, cv_error, alphas)


def _motion_columns(motion_feature_names) -> np.ndarray:
    names = tuple(motion_feature_names)
    unknown = [n for n in names if n not in SEGMENT_FEATURE_NAMES]
    if unknown:
        raise ValueError(f"unknown motion features {unknown}; known: {', '.join(SEGMENT_FEATURE_NAMES)}")
    return np.array([SEGMENT_FEATURE_NAMES.index(n) for n in names], np.int64)


def fit_correspondence(motion_feature_names=SEGMENT_FEATURE_NAMES) -> dict[str, np.ndarray]:
    """The correspondence the action graph carries (graph.corr), fitted on the training pairs'
    spans: coef (Fa + 1, F), weight (F,), music_mean, music_std (Fa,), motion_mean, motion_std (F,),
    Fa = len(MUSIC_SPAN_FEATURE_NAMES), F = len(motion_feature_names) in that order. Deterministic."""
    cols = _motion_columns(motion_feature_names)
    spans = load_spans("train")
    return fit_map(spans.music, spans.motion[:, cols], spans.track).as_dict()


# ----------------------------------------------------------------------------- matching accuracy

def draw_candidates(pair: np.ndarray, beats: np.ndarray, n_candidates: int = N_CANDIDATES, seed: int = 0,
                    scheme: str = "other", bounds: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For every span, n_candidates span indices: column 0 the span itself, the rest distractors of
    the same number of beats, drawn (seeded, without replacement) from the other pairs
    (scheme 'other') or from the same pair without overlapping its frames (scheme 'same', needs
    bounds). Returns (rows (S',) the spans that had enough distractors, candidates (S', N))."""
    if scheme not in ("other", "same"):
        raise ValueError(f"scheme must be 'other' or 'same', not {scheme!r}")
    rng = np.random.default_rng(seed)
    rows, cands = [], []
    for i in range(len(pair)):
        pool = beats == beats[i]
        if scheme == "other":
            pool &= pair != pair[i]
        else:
            pool &= (pair == pair[i]) & ((bounds[:, 1] <= bounds[i, 0]) | (bounds[:, 0] >= bounds[i, 1]))
        pool = np.flatnonzero(pool)
        if len(pool) < n_candidates - 1:
            continue
        rows.append(i)
        cands.append(np.concatenate([[i], rng.choice(pool, n_candidates - 1, replace=False)]))
    return np.array(rows, np.int64), np.array(cands, np.int64).reshape(-1, n_candidates)


def span_wins(costs: np.ndarray) -> np.ndarray:
    """costs (S, N, ...) with candidate 0 the true one -> (S, ...) 1 where it wins, 0 where it
    loses (ties share the win: 1 / the number of candidates at the lowest cost)."""
    low = costs.min(axis=1)
    at_low = np.isclose(costs, low[:, None], rtol=1e-9, atol=1e-12)
    return np.where(at_low[:, 0], 1.0 / at_low.sum(axis=1), 0.0)


def accuracy_from_costs(costs: np.ndarray) -> np.ndarray:
    """costs (S, N, ...) -> (...) the share of rows whose true candidate (0) wins (span_wins' mean)."""
    return span_wins(costs).mean(axis=0)


def cumulative_pair_costs(pred: np.ndarray, target: np.ndarray, rows: np.ndarray, cands: np.ndarray) -> np.ndarray:
    """(S', N, K): mismatch over the first k feature pairs, k = 1 .. K. pred (S, K) the motion
    feature each pair predicts from the music of each span; target (S, K) each span's motion
    feature of each pair (both z-scored)."""
    d = (pred[rows][:, None, :] - target[cands]) ** 2
    return np.cumsum(d, axis=2)


def rank_pairs(music_z: np.ndarray, motion_z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (music feature a, motion feature b) pairs ranked by |r| on these spans: a (K,), b (K,), r (K,)."""
    r = correlation_matrix(music_z, motion_z)
    order = np.argsort(-np.abs(r).ravel(), kind="stable")
    a, b = np.unravel_index(order, r.shape)
    return a, b, r[a, b]


def candidate_draws(pair: np.ndarray, beats: np.ndarray, bounds: np.ndarray | None = None, scheme: str = "other",
                    n_candidates: int = N_CANDIDATES, repeats: int = MATCH_REPEATS, seed: int = 0
                    ) -> list[tuple[np.ndarray, np.ndarray]]:
    """`repeats` seeded draw_candidates (seeds seed, seed + 1, ...), the same for every matcher.
    The spans matched (rows) are the same in every draw (they depend on the pools, not the seed)."""
    return [draw_candidates(pair, beats, n_candidates, seed + rep, scheme, bounds) for rep in range(repeats)]


def pair_curve_wins(train_music: np.ndarray, train_motion: np.ndarray, test_music: np.ndarray,
                    test_motion: np.ndarray, draws: list[tuple[np.ndarray, np.ndarray]]) -> dict:
    """Matching over the top-k feature pairs, k = 1 .. K (Figure 6): pairs ranked and their lines
    fitted on the training spans (z-scored with the training statistics), matched on the test
    spans with the candidate_draws `draws`. Returns {'wins' (S', K) per matched span, averaged
    over the draws; 'accuracy' (K,); 'a', 'b', 'r' (K,) the ranked pairs; 'rows' (S',)}."""
    mm, ms = zscore_stats(train_music)
    ym, ys = zscore_stats(train_motion)
    a, b, r = rank_pairs((train_music - mm) / ms, (train_motion - ym) / ys)
    xz, yz = (test_music - mm) / ms, (test_motion - ym) / ys
    pred, target = xz[:, a] * r, yz[:, b]          # the per-pair least-squares line in z units: slope r
    wins = np.mean([span_wins(cumulative_pair_costs(pred, target, rows, cands)) for rows, cands in draws], axis=0)
    return {"wins": wins, "accuracy": wins.mean(axis=0), "a": a, "b": b, "r": r, "rows": draws[0][0]}


def distance_cost(music_z: np.ndarray, seg_z: np.ndarray, coef: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """A comparison score, not the traversal's: the weighted squared distance between a candidate's
    motion and the motion the music predicts. It favours candidates near the average motion
    whatever the music, which the traversal's likelihood ratio (traversal.correspondence_cost)
    does not."""
    pred = music_z @ coef[:-1] + coef[-1]
    return ((pred - seg_z) ** 2 * weight).sum(axis=1) / max(float(weight.sum()), 1e-9)


def model_wins(corr: dict[str, np.ndarray], test_music: np.ndarray, test_motion: np.ndarray,
               draws: list[tuple[np.ndarray, np.ndarray]], score: str = "traversal") -> np.ndarray:
    """(S',) per matched span, averaged over the candidate_draws `draws`: whether its own motion wins
    under a fitted correspondence (graph.corr) with the traversal's data cost (score 'traversal':
    traversal.correspondence_cost) or distance_cost (score 'distance')."""
    cost_fn = {"traversal": correspondence_cost, "distance": distance_cost}[score]
    xz = (test_music - corr["music_mean"]) / np.where(corr["music_std"] > 1e-9, corr["music_std"], 1.0)
    yz = (test_motion - corr["motion_mean"]) / np.where(corr["motion_std"] > 1e-9, corr["motion_std"], 1.0)
    wins = []
    for rows, cands in draws:
        n = cands.shape[1]
        cost = cost_fn(np.repeat(xz[rows], n, axis=0), yz[cands.ravel()], corr["coef"], corr["weight"])
        wins.append(span_wins(cost.reshape(-1, n)))
    return np.mean(wins, axis=0)


def model_accuracy(corr: dict[str, np.ndarray], test_music: np.ndarray, test_motion: np.ndarray,
                   draws: list[tuple[np.ndarray, np.ndarray]], score: str = "traversal") -> float:
    """The share of matched spans whose own motion wins (model_wins' mean)."""
    return float(model_wins(corr, test_music, test_motion, draws, score).mean())


def bootstrap_interval(wins: np.ndarray, groups: np.ndarray, n: int = 2000, seed: int = 0,
                       level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the mean of `wins` (S',) when whole groups (the held-out pairs) are
    resampled with replacement: spans of one pair overlap and share a song, so they are not
    independent."""
    uniq, inv = np.unique(groups, return_inverse=True)
    sums, counts = np.bincount(inv, weights=wins), np.bincount(inv).astype(np.float64)
    pick = np.random.default_rng(seed).integers(0, len(uniq), size=(n, len(uniq)))
    means = sums[pick].sum(axis=1) / counts[pick].sum(axis=1)
    q = (1.0 - level) / 2.0
    return float(np.quantile(means, q)), float(np.quantile(means, 1.0 - q))


# ----------------------------------------------------------------------------- the analysis

def analyze(train: Spans, test: Spans, log=print) -> dict:
    """Every number of `make analyze` (see the module docstring)."""
    names_lo, names_hi = MUSIC_SPAN_FEATURE_NAMES, HIGH_LEVEL_FEATURE_NAMES
    rate = names_lo.index("beats_per_second")
    inputs = {"low": (train.music, test.music), "high": (train.high, test.high),
              "both": (np.hstack([train.music, train.high]), np.hstack([test.music, test.high])),
              # controls: the span's length in seconds alone (no music at all), and the span features
              # without the beat rate (at a given number of beats, beat rate = beats / length)
              "length": (span_seconds(train)[:, None], span_seconds(test)[:, None]),
              "low_no_rate": (np.delete(train.music, rate, axis=1), np.delete(test.music, rate, axis=1))}
    fits = {k: fit_map(tr, train.motion, train.track) for k, (tr, _) in inputs.items()}
    out: dict = {"data": {
        "train": {"pairs": len(train.pair_names), "tracks": len(train.track_names), "spans": len(train)},
        "heldout": {"pairs": len(test.pair_names), "tracks": len(test.track_names), "spans": len(test)},
        "span_beats": list(SPAN_BEATS), "candidates": N_CANDIDATES, "repeats": MATCH_REPEATS,
        "chance": 1.0 / N_CANDIDATES, "folds": N_FOLDS},
        "music_features": list(names_lo), "high_level_features": list(names_hi),
        "motion_features": list(SEGMENT_FEATURE_NAMES)}
    low = fits["low"]
    held_pred = predict((test.music - low.music_mean) / low.music_std, low.coef)
    held_r = columnwise_r(held_pred, (test.motion - low.motion_mean) / low.motion_std)
    out["ridge"] = {k: {"alpha": f.alpha.tolist(), "cv_r": f.cv_r.tolist(), "weight": f.weight.tolist()}
                    for k, f in fits.items()}
    out["ridge"]["low"]["heldout_r"] = held_r.tolist()
    out["correlation_train"] = correlation_matrix(train.music, train.motion).tolist()
    out["correlation_heldout"] = correlation_matrix(test.music, test.motion).tolist()
    out["matching"] = {}
    for scheme in ("other", "same"):
        res: dict = {}
        draws = candidate_draws(test.pair, test.beats, test.bounds, scheme)
        groups = test.pair[draws[0][0]]
        res["spans"] = len(groups)
        wins: dict[str, np.ndarray] = {}
        for level, (tr, te) in inputs.items():
            if level in ("low", "high"):
                curve = pair_curve_wins(tr, train.motion, te, test.motion, draws)
                names = names_lo if level == "low" else names_hi
                best = int(np.argmax(curve["accuracy"]))
                res[f"pairs_{level}"] = {
                    "accuracy": curve["accuracy"].tolist(), "best_k": best + 1,
                    "ranked": [[names[a], SEGMENT_FEATURE_NAMES[b], float(r)]
                               for a, b, r in zip(curve["a"], curve["b"], curve["r"])]}
                wins[f"pairs_{level}_top1"] = curve["wins"][:, 0]
                wins[f"pairs_{level}_best"] = curve["wins"][:, best]
                wins[f"pairs_{level}_all"] = curve["wins"][:, -1]
            corr = fits[level].as_dict()
            wins[f"ridge_{level}"] = model_wins(corr, te, test.motion, draws)
            wins[f"ridge_{level}_distance"] = model_wins(corr, te, test.motion, draws, "distance")
        res["accuracy"] = {k: float(w.mean()) for k, w in wins.items()}
        res["interval95"] = {k: bootstrap_interval(w, groups) for k, w in wins.items()}
        res["difference_low_minus_high"] = {
            k + s: [float((wins[f"{k}_low{s}"] - wins[f"{k}_high{s}"]).mean()),
                *bootstrap_interval(wins[f"{k}_low{s}"] - wins[f"{k}_high{s}"], groups)]
            for k, s in (("ridge", ""), ("ridge", "_distance"), ("pairs", "_top1"))}
        out["matching"][scheme] = res
        log(f"matching ({scheme} {'pairs' if scheme == 'other' else 'pair'}' distractors) done")
    return out


MATCHER_ROWS = (
    ("pairs_{}_top1", "top-1 feature pair"),
    ("pairs_{}_best", "best top-k pairs (k picked on these spans)"),
    ("pairs_{}_all", "all feature pairs"),
    ("ridge_{}", "ridge, the traversal's cost"),
    ("ridge_{}_distance", "ridge, squared distance to the prediction"),
)


def _cell(res: dict, key: str) -> str:
    lo, hi = res["interval95"][key]
    return f"{res['accuracy'][key]:.3f} ({lo:.3f}-{hi:.3f})"


def markdown(res: dict, seconds: float, command: str) -> str:
    d = res["data"]
    mf, hf, yf = res["music_features"], res["high_level_features"], res["motion_features"]
    low = res["ridge"]["low"]
    corr = np.array(res["correlation_train"])
    lines = [
        "# Music-motion correspondence (the paper's section 4.3)", "",
        f"`{command}`, {seconds:.0f} s. Fitted on {d['train']['spans']} spans of {d['train']['pairs']} training pairs "
        f"({d['train']['tracks']} tracks), tested on {d['heldout']['spans']} spans of {d['heldout']['pairs']} held-out "
        f"pairs ({d['heldout']['tracks']} held-out tracks, held-out clips); "
        f"spans of {', '.join(map(str, d['span_beats']))} "
        "beats from every beat. The pairs are CMU clips time-warped onto the tracks' beats: the mocap had no music "
        "of its own, so what correspondence there is comes from the warp (motion stretched onto the music's beats), "
        "from the spans' lengths (see the caveat) and from chance.", "",
        f"## What the music predicts (ridge on the span features; strength alpha per motion feature chosen by "
        f"{d['folds']}-fold cross-validation over the training tracks)", "",
        "| motion feature | weight (CV r^2) | CV r | held-out r | alpha | most correlated music feature (train r) |",
        "|---|---:|---:|---:|---:|---|"]
    for j, name in enumerate(yf):
        a = int(np.argmax(np.abs(corr[:, j])))
        lines.append(f"| {name} | {low['weight'][j]:.3f} | {low['cv_r'][j]:+.3f} | {low['heldout_r'][j]:+.3f} | "
                     f"{low['alpha'][j]:.3g} | {mf[a]} ({corr[a, j]:+.3f}) |")
    chance = d["chance"]
    m_o, m_s = res["matching"]["other"], res["matching"]["same"]
    lines += ["", f"## Matching accuracy (held-out spans, 1 true + {d['candidates'] - 1} distractors of the same "
              f"number of beats; chance {chance:.3f}; mean of {d['repeats']} seeded draws; 95% interval from "
              "resampling the held-out pairs)", "",
              "| features | matcher | distractors from other pairs | from the same pair |", "|---|---|---:|---:|"]
    for level, label in (("low", "low-level span features"), ("high", "high-level pair statistics"),
                         ("both", "both"), ("low_no_rate", "span features without beats_per_second"),
                         ("length", "the span's length in seconds alone (no music)")):
        for key, what in MATCHER_ROWS:
            k = key.format(level)
            if k not in m_o["accuracy"]:
                continue
            if key == "pairs_{}_best":
                ko, ks = m_o["pairs_" + level]["best_k"], m_s["pairs_" + level]["best_k"]
                what = f"best top-k pairs (k = {ko} / {ks}, picked on these spans)"
            elif key == "pairs_{}_all":
                what = f"all {len(m_o['pairs_' + level]['accuracy'])} feature pairs"
            lines.append(f"| {label} | {what} | {_cell(m_o, k)} | {_cell(m_s, k)} |")
    lines += [f"| | chance | {chance:.3f} | {chance:.3f} |", ""]
    do, ds = m_o["difference_low_minus_high"], m_s["difference_low_minus_high"]

    def diff(v):
        return f"{v[0]:+.3f} ({v[1]:+.3f} to {v[2]:+.3f})"
    lines += ["Low-level minus high-level accuracy (paired: the same draws; 95% interval), across songs / within a "
              f"song: ridge with the traversal's cost {diff(do['ridge'])} / {diff(ds['ridge'])}; ridge with the "
              f"squared distance to the prediction {diff(do['ridge_distance'])} / {diff(ds['ridge_distance'])}; top-1 "
              f"feature pair {diff(do['pairs_top1'])} / {diff(ds['pairs_top1'])}.", "",
              f"Matched spans: {m_o['spans']} (other pairs), {m_s['spans']} (same pair: the spans with at least "
              f"{d['candidates'] - 1} non-overlapping spans of the same length in their pair). Feature-pair "
              "cost: sum over the top-k pairs of (r * music z - candidate motion z)^2 (the least-squares line of "
              "each pair, in training z units). Ridge, the traversal's cost: traversal.correspondence_cost with the "
              "fitted coef and the CV weights (a Gaussian log-likelihood ratio). "
              "Ridge, squared distance: distance_cost, "
              "a comparison, not what the add-on uses: a squared distance to the prediction favours candidates near "
              "the average motion whatever the music, which the likelihood ratio does not.", "",
              "Top feature pairs (train r): " + "; ".join(f"{a} -> {b} ({r:+.2f})"
                                                         for a, b, r in m_o["pairs_low"]["ranked"][:8]) + ".",
              "Top high-level pairs: " + "; ".join(f"{a} -> {b} ({r:+.2f})"
                                                   for a, b, r in m_o["pairs_high"]["ranked"][:4]) + ".", "",
              f"High-level statistics (over the whole pair, the same for all its spans): {', '.join(hf)}.", "",
              "Plots: correspondence_matrix.png, correspondence_accuracy.png (Figure 6), "
              "correspondence_levels.png (Figure 7).", "", "## Verdict", "", verdict(res), "",
              "## Caveat: span length", "", length_caveat(res), ""]
    return "\n".join(lines)


def verdict(res: dict) -> str:
    """Two sentences on the paper's two claims, from the numbers."""
    m_o, m_s = res["matching"]["other"], res["matching"]["same"]
    ao = np.array(m_o["pairs_low"]["accuracy"])
    k = m_o["pairs_low"]["best_k"]
    best = ao[k - 1]
    top = m_o["pairs_low"]["ranked"][0]
    rises = best > ao[0] + 0.02
    falls = ao[-1] < best - 0.02
    shape = (f"top-1 pair {ao[0]:.3f}, best {best:.3f} at k = {k}, all {len(ao)} pairs {ao[-1]:.3f}; "
             f"chance {res['data']['chance']:.3f}")
    if rises and falls:
        s1 = f"More matched pairs help up to a point and then hurt, as the paper says ({shape})."
    elif falls:
        s1 = (f"Only half of the paper's first claim holds: adding weakly related pairs lowers the accuracy, but "
              f"more pairs barely help before that: one relation ({top[0]} -> {top[1]}, r = {top[2]:+.2f} on the "
              f"training spans) carries nearly all of it ({shape}).")
    elif rises:
        s1 = f"More matched pairs help and do not hurt within the {len(ao)} pairs ({shape})."
    else:
        s1 = f"The number of matched pairs makes little difference ({shape})."
    d_o = m_o["difference_low_minus_high"]["ridge"]
    d_l = m_o["difference_low_minus_high"]["ridge_distance"]
    acc_o, acc_s, iv_s = m_o["accuracy"], m_s["accuracy"], m_s["interval95"]
    chance = res["data"]["chance"]
    at_chance = all(iv_s[k][0] <= chance + 0.01 for k in ("ridge_low", "ridge_high"))
    within = (f"within one song both are {'at' if at_chance else 'near'} chance "
              f"({acc_s['ridge_low']:.3f}, {acc_s['ridge_high']:.3f})")
    cost = (f"with the traversal's cost {acc_o['ridge_low']:.3f} against {acc_o['ridge_high']:.3f}, "
            f"difference {d_o[0]:+.3f}, 95% {d_o[1]:+.3f} to {d_o[2]:+.3f}")
    lik = (f"with a squared distance to the prediction {acc_o['ridge_low_distance']:.3f} against "
           f"{acc_o['ridge_high_distance']:.3f}, {d_l[0]:+.3f}, {d_l[1]:+.3f} to {d_l[2]:+.3f}")
    as_well = "does as well" if acc_o["ridge_length"] >= acc_o["ridge_low"] - 0.01 else "does less well"
    length = (f"the span's length alone, with no music, {as_well} ({acc_o['ridge_length']:.3f}, squared distance "
              f"{acc_o['ridge_length_distance']:.3f}: see the caveat)")
    if d_o[1] > 0 or d_l[1] > 0:
        s2 = (f"Low-level span features match better than high-level pair statistics across songs ({cost}; {lik}), "
              f"as the paper says, but {length}, and {within}.")
    elif d_o[0] > 0:
        s2 = (f"Low-level span features match slightly better than high-level pair statistics across songs, within "
              f"the noise ({cost}; {lik}), so the paper's second claim is not confirmed; {length}, and {within}.")
    else:
        s2 = (f"Against the paper, high-level pair statistics match at least as well as the span features across "
              f"songs ({cost}; {lik}); {length}, and {within}.")
    return s1 + " " + s2


def length_caveat(res: dict) -> str:
    """How much of the matching the span's length alone explains (the controls of `analyze`)."""
    a, iv = res["matching"]["other"]["accuracy"], res["matching"]["other"]["interval95"]
    r = np.array(res["correlation_train"])
    rate = res["music_features"].index("beats_per_second")
    j = int(np.argmax(np.abs(r[rate])))
    return (f"The strongest relation, beats_per_second -> {res['motion_features'][j]} (r = {r[rate, j]:+.2f}), is "
            "mostly the span's length: at a given number of beats the beat rate is beats / length, and motion "
            "features measured over a window (spacing, density, steps per second) depend on the window's length "
            f"whatever the music. Across songs, the span's length alone, with no music, matches "
            f"{a['ridge_length']:.3f} ({iv['ridge_length'][0]:.3f}-{iv['ridge_length'][1]:.3f}) with the traversal's "
            f"cost and {a['ridge_length_distance']:.3f} with the squared distance, against {a['ridge_low']:.3f} and "
            f"{a['ridge_low_distance']:.3f} for all span features; the span features without the beat rate match "
            f"{a['ridge_low_no_rate']:.3f} and {a['ridge_low_no_rate_distance']:.3f} (chance "
            f"{res['data']['chance']:.3f}). In the traversal a segment is laid over as many beats as fit its own "
            "length, so this part of the data cost repeats what the stretch cost already asks for.")


# ----------------------------------------------------------------------------- plots

def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_matrix(res: dict, path: Path) -> None:
    plt = _pyplot()
    r = np.array(res["correlation_train"])
    mf, yf = res["music_features"], res["motion_features"]
    fig, ax = plt.subplots(figsize=(13, 5.2))
    lim = max(0.3, float(np.abs(r).max()))
    im = ax.imshow(r, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    for i in range(r.shape[0]):
        for j in range(r.shape[1]):
            ax.text(j, i, f"{r[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if abs(r[i, j]) > 0.6 * lim else "black")
    ax.set_xticks(range(len(yf)), yf, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(mf)), mf, fontsize=8)
    ax.set_xlabel("motion feature of the span")
    ax.set_ylabel("music feature of the span")
    d = res["data"]["train"]
    ax.set_title(f"Correlation of music and motion features over {d['spans']} training spans "
                 f"({d['pairs']} pairs, {d['tracks']} tracks; spans of 2-4 beats)", fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.03, pad=0.01, label="r")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_accuracy(res: dict, path: Path) -> None:
    plt = _pyplot()
    chance = res["data"]["chance"]
    fig, ax = plt.subplots(figsize=(10, 5.2))
    for scheme, colour, label in (("other", "C0", "distractors from other pairs"),
                                  ("same", "C1", "distractors from the same pair")):
        m = res["matching"][scheme]
        acc = np.array(m["pairs_low"]["accuracy"])
        ax.plot(np.arange(1, len(acc) + 1), acc, color=colour, marker=".", ms=3, label=f"top-k feature pairs, {label}")
        ax.axhline(m["accuracy"]["ridge_low"], color=colour, ls="--", lw=1,
                   label=f"ridge, the traversal's cost, {label}: {m['accuracy']['ridge_low']:.3f}")
        ax.axhline(m["accuracy"]["ridge_low_distance"], color=colour, ls="-.", lw=1,
                   label=f"ridge, squared distance to the prediction, {label}: "
                         f"{m['accuracy']['ridge_low_distance']:.3f}")
    ax.axhline(chance, color="grey", ls=":", label=f"chance 1/{res['data']['candidates']}")
    ax.set_xscale("log")
    ax.set_xlabel("matched (music feature, motion feature) pairs, ranked by |r| on the training spans")
    ax.set_ylabel("correspondence accuracy on held-out spans")
    d = res["data"]["heldout"]
    ax.set_title(f"Correspondence accuracy as the number of matched feature pairs grows (paper's Fig. 6); "
                 f"{d['spans']} held-out spans, 1 of {res['data']['candidates']} candidates", fontsize=9)
    ranked = res["matching"]["other"]["pairs_low"]["ranked"]
    ax.text(0.01, 0.02, "first pairs: " + "; ".join(f"{k + 1}. {a} -> {b} ({r:+.2f})"
                                                    for k, (a, b, r) in enumerate(ranked[:3])),
            transform=ax.transAxes, fontsize=7)
    ax.legend(fontsize=7, loc="upper right")
    ax.set_ylim(0, max(0.3, ax.get_ylim()[1] * 1.1))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_levels(res: dict, path: Path) -> None:
    plt = _pyplot()
    chance = res["data"]["chance"]
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(14, 5.2), gridspec_kw={"width_ratios": [3, 2.4]})
    for level, colour, label in (("low", "C0", "low-level span features"),
                                 ("high", "C3", "high-level pair statistics")):
        for scheme, ls in (("other", "-"), ("same", "--")):
            acc = np.array(res["matching"][scheme]["pairs_" + level]["accuracy"])
            ax0.plot(np.arange(1, len(acc) + 1), acc, color=colour, ls=ls,
                     label=f"{label}, distractors from {'other pairs' if scheme == 'other' else 'the same pair'}")
    ax0.axhline(chance, color="grey", ls=":", label="chance")
    ax0.set_xscale("log")
    ax0.set_xlabel("matched feature pairs (top-k by |r| on the training spans)")
    ax0.set_ylabel("correspondence accuracy on held-out spans")
    ax0.legend(fontsize=7)
    ax0.set_ylim(0, max(0.3, ax0.get_ylim()[1] * 1.1))
    levels = ("low", "high", "both", "low_no_rate", "length")
    x = np.arange(len(levels))
    for off, scheme, colour in ((-0.2, "other", "C0"), (0.2, "same", "C1")):
        m = res["matching"][scheme]
        vals = np.array([m["accuracy"][f"ridge_{lv}"] for lv in levels])
        ci = np.array([m["interval95"][f"ridge_{lv}"] for lv in levels])
        ax1.bar(x + off, vals, 0.38, color=colour, yerr=[vals - ci[:, 0], ci[:, 1] - vals], capsize=3,
                label="distractors from " + ("other pairs" if scheme == "other" else "the same pair"))
        for bx, v in zip(x + off, vals):
            ax1.text(bx, 0.006, f"{v:.3f}", ha="center", va="bottom", rotation=90, fontsize=7, color="white")
    ax1.axhline(chance, color="grey", ls=":", label="chance")
    ax1.set_xticks(x, ["low-level\nspan\nfeatures", "high-level\npair\nstatistics", "both",
                       "span features\nwithout\nbeat rate", "control:\nspan length\nalone"], fontsize=8)
    ax1.set_ylabel("accuracy, ridge with the traversal's cost (95% interval)")
    ax1.legend(fontsize=7)
    fig.suptitle("Low-level span features against high-level statistics of the whole pair (paper's Fig. 7)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ----------------------------------------------------------------------------- command line

def main(argv: list[str] | None = None) -> None:
    import sys

    parser = argparse.ArgumentParser(description="How well the music predicts the motion (the paper's Figures 6, 7).")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for correspondence.md/.json and plots")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    train = load_spans("train", log=print)
    test = load_spans("heldout", log=print)
    res = analyze(train, test)
    seconds = time.perf_counter() - started
    command = " ".join(["python -m training.graph.correspondence", *(sys.argv[1:] if argv is None else argv)]).strip()
    args.out.mkdir(parents=True, exist_ok=True)
    text = markdown(res, seconds, command)
    (args.out / "correspondence.md").write_text(text)
    (args.out / "correspondence.json").write_text(json.dumps(
        {"command": command, "seconds": round(seconds, 1), "verdict": verdict(res), **res}, indent=1))
    plot_matrix(res, args.out / "correspondence_matrix.png")
    plot_accuracy(res, args.out / "correspondence_accuracy.png")
    plot_levels(res, args.out / "correspondence_levels.png")
    print(text)
    print(f"wrote {args.out}/correspondence.md, correspondence.json, correspondence_matrix.png, "
          f"correspondence_accuracy.png, correspondence_levels.png ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
