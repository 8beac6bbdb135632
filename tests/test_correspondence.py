"""The music-motion correspondence (training/graph/correspondence.py): the fit on synthetic spans
with a known answer, the matching accuracy at its two ends, and the real fit's shapes."""
from __future__ import annotations

import numpy as np
import pytest

from dance_addon.core.choreography.compose import MUSIC_SPAN_FEATURE_NAMES, music_span_features, span_bounds
from dance_addon.core.choreography.traversal import beat_grid, correspondence_cost
from dance_addon.core.motion.features import SEGMENT_FEATURE_NAMES
from dance_addon.core.motion.skeleton import forward_kinematics
from dance_addon.core.music.features import FEATURE_COLUMNS
from training.graph import correspondence as C

N_TRACKS = 12


def synthetic(n: int = 6000, slope: float = 1.0, noise: float = 1.0, seed: int = 0):
    """Music (n, 4) and motion (n, 3) spans over N_TRACKS tracks: motion 0 = slope * music 1 +
    noise (r = slope / sqrt(slope^2 + noise^2)), motions 1 and 2 unrelated to the music."""
    rng = np.random.default_rng(seed)
    music = rng.normal(size=(n, 4)) * [1.0, 2.0, 0.5, 3.0] + [0.0, 5.0, -1.0, 10.0]
    motion = rng.normal(size=(n, 3))
    motion[:, 0] = slope * (music[:, 1] - 5.0) / 2.0 + noise * rng.normal(size=n)
    motion = motion * [0.3, 1.0, 2.0] + [1.0, 0.0, -4.0]                   # units of their own
    tracks = np.repeat(np.arange(N_TRACKS), -(-n // N_TRACKS))[:n]
    return music, motion, tracks


def test_fit_recovers_a_known_linear_map():
    music, motion, tracks = synthetic()
    r_true = 1.0 / np.sqrt(2.0)
    fit = C.fit_map(music, motion, tracks)
    # z-scored music 1 -> z-scored motion 0 with slope r; nothing else
    assert fit.coef.shape == (5, 3)
    assert fit.coef[1, 0] == pytest.approx(r_true, abs=0.03)
    assert np.abs(np.delete(fit.coef[:-1, 0], 1)).max() < 0.03
    assert np.abs(fit.coef[:-1, 1:]).max() < 0.05
    assert np.abs(fit.coef[-1]).max() < 1e-9                               # z-scored: no intercept left
    # weights: r^2 for the predictable feature, about 0 for the unrelated ones
    assert fit.weight[0] == pytest.approx(r_true ** 2, abs=0.04)
    assert fit.weight[1] < 0.005 and fit.weight[2] < 0.005
    assert fit.cv_r[0] == pytest.approx(r_true, abs=0.03)
    assert fit.music_mean == pytest.approx(music.mean(axis=0))
    assert fit.motion_std == pytest.approx(motion.std(axis=0))
    assert fit.alpha.shape == (3,) and np.isin(fit.alpha, fit.alphas).all()
    # the traversal's cost (a likelihood ratio): the predicted motion beats the average motion
    corr = fit.as_dict()
    assert tuple(corr) == C.CORR_KEYS
    xz = (music[:5] - corr["music_mean"]) / corr["music_std"]
    pred = xz @ corr["coef"][:-1] + corr["coef"][-1]
    own = correspondence_cost(xz, pred, corr["coef"], corr["weight"])
    average = correspondence_cost(xz, np.zeros_like(pred), corr["coef"], corr["weight"])
    assert (own < average).all()
    # deterministic
    again = C.fit_map(music, motion, tracks).as_dict()
    for k in C.CORR_KEYS:
        np.testing.assert_array_equal(corr[k], again[k])


def test_weight_follows_the_strength_of_the_relation():
    weights = []
    for noise in (0.5, 1.0, 2.0):
        music, motion, tracks = synthetic(noise=noise, seed=1)
        weights.append(C.fit_map(music, motion, tracks).weight[0])
        assert weights[-1] == pytest.approx(1.0 / (1.0 + noise ** 2), abs=0.04)
    assert weights[0] > weights[1] > weights[2]


def test_folds_keep_every_track_together():
    tracks = np.array([3, 3, 1, 7, 1, 9, 9, 2, 5, 5, 4])
    fold = C.grouped_folds(tracks, 3)
    for t in np.unique(tracks):
        assert len(set(fold[tracks == t])) == 1
    assert set(fold) == {0, 1, 2}
    with pytest.raises(ValueError):
        C.grouped_folds(np.zeros(5), 3)


def matching_set(n_pairs: int = 40, per_pair: int = 50, informative: bool = True, seed: int = 0):
    rng = np.random.default_rng(seed)
    n = n_pairs * per_pair
    pair = np.repeat(np.arange(n_pairs), per_pair)
    beats = np.tile([2, 3, 4, 2, 3], n // 5)
    music = rng.normal(size=(n, 3))
    motion = music * [2.0, -1.0, 0.5] + [1.0, 0.0, 3.0] if informative else rng.normal(size=(n, 3))
    return music, motion, pair, beats


def test_draw_candidates():
    _, _, pair, beats = matching_set(n_pairs=5, per_pair=40)
    bounds = np.stack([np.arange(len(pair)) % 40 * 10, np.arange(len(pair)) % 40 * 10 + 25], axis=1)
    rows, cands = C.draw_candidates(pair, beats, 10, seed=3, scheme="other")
    assert len(rows) == len(pair) and cands.shape == (len(pair), 10)
    assert (cands[:, 0] == rows).all()
    assert (pair[cands[:, 1:]] != pair[rows][:, None]).all()
    assert (beats[cands] == beats[rows][:, None]).all()
    assert all(len(set(c)) == 10 for c in cands)
    rows2, cands2 = C.draw_candidates(pair, beats, 10, seed=3, scheme="other")
    np.testing.assert_array_equal(cands, cands2)                         # seeded
    rows, cands = C.draw_candidates(pair, beats, 5, seed=0, scheme="same", bounds=bounds)
    assert len(rows) > 0
    assert (pair[cands] == pair[rows][:, None]).all()
    b, own = bounds[cands[:, 1:]], bounds[rows][:, None]
    assert ((b[..., 1] <= own[..., 0]) | (b[..., 0] >= own[..., 1])).all()  # no overlap with the true span


def test_matching_accuracy_is_one_with_an_informative_feature_and_chance_with_noise():
    music, motion, pair, beats = matching_set(informative=True)
    draws = C.candidate_draws(pair, beats, scheme="other", n_candidates=10, repeats=3)
    curve = C.pair_curve_wins(music, motion, music, motion, draws)
    assert curve["accuracy"][0] == 1.0
    assert curve["r"][0] == pytest.approx(1.0)
    fit = C.fit_map(music, motion, pair).as_dict()
    assert C.model_accuracy(fit, music, motion, draws) >= 0.99
    assert C.model_accuracy(fit, music, motion, draws, score="distance") >= 0.99

    music, motion, pair, beats = matching_set(informative=False, seed=1)
    draws = C.candidate_draws(pair, beats, scheme="other", n_candidates=10, repeats=5)
    test_music, test_motion = matching_set(informative=False, seed=2)[:2]
    curve = C.pair_curve_wins(music, motion, test_music, test_motion, draws)
    assert np.abs(curve["accuracy"] - 0.1).max() < 0.03
    fit = C.fit_map(music, motion, pair).as_dict()
    assert C.model_accuracy(fit, test_music, test_motion, draws) == pytest.approx(0.1, abs=0.03)


def test_ties_share_the_win_and_the_interval_brackets_the_mean():
    costs = np.array([[0.0, 1.0, 2.0], [1.0, 1.0, 3.0], [2.0, 0.0, 0.5], [1.0, 1.0, 1.0]])
    np.testing.assert_allclose(C.span_wins(costs), [1.0, 0.5, 0.0, 1.0 / 3.0])
    wins = np.random.default_rng(0).random(300)
    groups = np.repeat(np.arange(10), 30)
    lo, hi = C.bootstrap_interval(wins, groups)
    assert lo < wins.mean() < hi
    assert C.bootstrap_interval(np.full(300, 0.25), groups) == pytest.approx((0.25, 0.25))


def test_pair_spans_match_the_add_on_and_stay_inside_the_pair():
    fps, n = 30.0, 200
    matrix = np.zeros((n, len(FEATURE_COLUMNS)), np.float32)
    matrix[5::16, FEATURE_COLUMNS.index("beat")] = 1.0
    rng = np.random.default_rng(0)
    matrix[:, FEATURE_COLUMNS.index("rms")] = rng.random(n)
    f0 = np.where(rng.random(n) > 0.3, 110.0 + 50 * rng.random(n), 0.0)
    rot = 0.2 * np.sin(np.arange(n)[:, None, None] / 7.0 + np.arange(60).reshape(1, 20, 3))
    root = np.zeros((n, 3))
    root[:, 1] = 0.9
    root[:, 0] = np.linspace(0, 1, n)
    pos = forward_kinematics(rot, root)
    sp = C.pair_spans(matrix, f0, pos, fps)
    assert sp["music"].shape[1] == len(MUSIC_SPAN_FEATURE_NAMES)
    assert sp["motion"].shape == (len(sp["beats"]), len(SEGMENT_FEATURE_NAMES))
    assert set(sp["beats"]) == set(C.SPAN_BEATS)
    assert (sp["bounds"][:, 1] <= n).all() and (sp["bounds"][:, 0] >= 0).all()
    # the music features are the add-on's own, row for row
    grid = beat_grid(np.flatnonzero(matrix[:, FEATURE_COLUMNS.index("beat")]) / fps, (n - 1) / fps)
    full = music_span_features(matrix, f0, grid, fps)
    bounds = span_bounds(grid, n, fps)
    starts = np.rint(grid * fps)
    for m in C.SPAN_BEATS:
        sel = sp["beats"] == m
        first = np.searchsorted(starts, sp["bounds"][sel, 0])
        np.testing.assert_array_equal(sp["music"][sel], full[first, m - 1])
        np.testing.assert_array_equal(sp["bounds"][sel], bounds[first, m - 1])
        # every span ending inside the pair is there, none past it
        inside = np.flatnonzero((np.arange(len(grid)) + m < len(grid))
                                & (np.rint(grid[np.minimum(np.arange(len(grid)) + m, len(grid) - 1)] * fps) <= n))
        np.testing.assert_array_equal(first, inside)


def test_fit_correspondence_on_the_real_pairs():
    corr = C.fit_correspondence()
    fa, f = len(MUSIC_SPAN_FEATURE_NAMES), len(SEGMENT_FEATURE_NAMES)
    assert tuple(corr) == C.CORR_KEYS
    shapes = {"coef": (fa + 1, f), "weight": (f,), "music_mean": (fa,), "music_std": (fa,),
              "motion_mean": (f,), "motion_std": (f,)}
    for k, shape in shapes.items():
        assert corr[k].shape == shape, k
        assert np.isfinite(corr[k]).all(), k
    assert ((corr["weight"] >= 0) & (corr["weight"] <= 1)).all()
    assert (corr["music_std"] > 0).all() and (corr["motion_std"] > 0).all()
    # a subset of the motion features, in the caller's order (what the graph passes)
    names = ("density", "mean_speed", "spacing")
    sub = C.fit_correspondence(names)
    assert sub["coef"].shape == (fa + 1, 3)
    cols = [SEGMENT_FEATURE_NAMES.index(n) for n in names]
    np.testing.assert_allclose(sub["motion_mean"], corr["motion_mean"][cols])
    np.testing.assert_allclose(sub["weight"], corr["weight"][cols], atol=1e-9)
    with pytest.raises(ValueError, match="unknown motion features"):
        C.fit_correspondence(("density", "not_a_feature"))
