"""The action graph: mirror, inertialization, the traversal's cost terms, the search and the
synthesis, on the shipped graph (models/dance-graph) and small known cases."""
import json
import shutil

import numpy as np
import pytest

from dance_addon.core.choreography import inertialize as inz
from dance_addon.core.choreography import traversal as tv
from dance_addon.core.choreography.graph import GraphError, load_graph
from dance_addon.core.choreography.model_folders import shipped_graph_dirs
from dance_addon.core.choreography.synthesis import synthesize, time_map
from dance_addon.core.motion.mirror import mirror_rotvecs, mirror_translation
from dance_addon.core.motion.rotations import quat_to_rotvec, rotvec_to_quat
from dance_addon.core.motion.skeleton import forward_kinematics


@pytest.fixture(scope="module")
def graph():
    found = shipped_graph_dirs()
    assert found, "models/dance-graph is missing: build it with python -m training.graph.build"
    return load_graph(found[0])


def zero_cost(seg, first, m):
    return np.zeros(len(seg))


# ------------------------------------------------------------------------------ mirror

def test_mirror_reflects_the_body_and_twice_is_identity():
    rng = np.random.default_rng(0)
    rv = rng.normal(0, 0.4, (50, 20, 3))
    root = rng.normal(0, 1, (50, 3))
    assert np.allclose(mirror_rotvecs(mirror_rotvecs(rv)), rv)
    pos = forward_kinematics(rv, root)
    mpos = forward_kinematics(mirror_rotvecs(rv), mirror_translation(root))
    reflected = pos * np.array([-1.0, 1.0, 1.0])
    from dance_addon.core.motion.mirror import MIRROR_ORDER
    # SMPL's left and right rest offsets differ by a few millimetres
    assert np.abs(mpos - reflected[:, MIRROR_ORDER]).max() < 0.03


# ------------------------------------------------------------------------------ inertialization

def test_spring_starts_at_the_offset_and_decays_to_zero():
    x0, v0 = np.array([0.3, -0.2]), np.array([1.0, 0.0])
    t = np.linspace(0, 2, 201)
    x, v = inz.decay_spring_damper(x0, v0, 0.12, t)
    assert np.allclose(x[0], x0) and np.allclose(v[0], v0)
    assert np.abs(x[-1]).max() < 1e-6
    # the velocity is the derivative of the offset
    assert np.allclose(np.gradient(x[:, 0], t)[1:-1], v[1:-1, 0], atol=0.05)
    # a still offset decays monotonically (critically damped: no overshoot)
    xs, _ = inz.decay_spring_damper(np.array([1.0]), np.array([0.0]), 0.12, t)
    assert np.all(np.diff(xs[:, 0]) <= 1e-12) and xs.min() >= 0


def test_rotation_offset_round_trip():
    rng = np.random.default_rng(1)
    a, b = rotvec_to_quat(rng.normal(0, 1, (10, 3))), rotvec_to_quat(rng.normal(0, 1, (10, 3)))
    off = inz.rotation_offset(a, b)
    back = inz.apply_rotation_offset(off, b)
    assert np.allclose(quat_to_rotvec(back), quat_to_rotvec(a), atol=1e-9)


# ------------------------------------------------------------------------------ cost terms

def test_beat_grid_covers_the_song_and_thins_fast_beats():
    grid = tv.beat_grid(np.arange(1.0, 20.0, 0.5), 30.0)
    assert grid[0] <= 0.5 and grid[-1] >= 30.0 + 0.5 * (tv.MAX_BEATS - 1)
    assert np.allclose(np.diff(grid), 0.5)
    fast = tv.beat_grid(np.arange(0.0, 10.0, 0.2), 10.0)        # 300 BPM: every other beat
    assert np.allclose(np.diff(fast), 0.4)
    none = tv.beat_grid(np.array([]), 5.0)                      # no beats: 100 BPM
    assert np.allclose(np.diff(none), 0.6)


def test_beats_for_picks_the_closest_span():
    spans = tv.span_lengths(np.arange(0, 10, 0.5))
    lengths = np.array([1.0, 1.4, 2.1, 0.3, 9.0])
    m, logr = tv.beats_for(np.log(lengths), spans[0])
    assert list(m) == [2, 3, 4, 1, 8]
    assert np.allclose(logr, np.log([1.0, 1.5 / 1.4, 2.0 / 2.1, 0.5 / 0.3, 4.0 / 9.0]))
    # on every other beat only: spans of 2, 4, 6, 8 beats
    m, logr = tv.beats_for(np.log(lengths), spans[0], step=2)
    assert list(m) == [2, 2, 4, 2, 8]
    assert np.allclose(logr, np.log([1.0, 1.0 / 1.4, 2.0 / 2.1, 1.0 / 0.3, 4.0 / 9.0]))


def test_cost_terms():
    assert np.isinf(tv.stretch_cost(np.array([np.log(1.5)])))[0]
    assert tv.stretch_cost(np.array([np.log(1.2)]))[0] == pytest.approx(np.log(1.2) ** 2)
    # a candidate half-covered by a recent segment of the same clip, and one of another clip
    rep = tv.repeat_cost(np.array([3, 4]), np.array([100, 100]), np.array([200, 200]),
                         np.array([[3, -1], [3, -1]]), np.array([[150, 0], [150, 0]]),
                         np.array([[400, 0], [400, 0]]), np.ones((2, 2), bool))
    assert np.allclose(rep, [0.5, 0.0])
    assert np.allclose(tv.floor_cost(np.array([1.0, 3.0]), np.array([0.0, 4.0]), 2.0), [0.0, 9.0])
    coef = np.vstack([np.eye(2), np.zeros((1, 2))])
    music = np.array([[1.0, 2.0]])
    # a likelihood ratio: the predicted motion is cheaper than the average motion, and only the
    # features the music predicts (weight > 0) count
    w = np.array([0.5, 0.0])
    predicted = tv.correspondence_cost(music, music, coef, w)[0]
    assert predicted == pytest.approx(-1.0)                        # 0 / (1 - 0.5) - 1^2
    assert tv.correspondence_cost(music, np.zeros((1, 2)), coef, w)[0] == pytest.approx(2.0)  # 1 / 0.5 - 0
    assert tv.correspondence_cost(music, music + [0.0, 5.0], coef, w)[0] == pytest.approx(predicted)


def test_time_map_lands_beats_on_beats():
    at, af = time_map(np.array([0, 20, 41, 60]), np.array([1.0, 1.7, 2.4, 3.1]), 30.0)
    assert at[0] == 1.0 and af[0] == 0 and at[-1] == 3.1 and af[-1] == 60
    assert list(at) == [1.0, 1.7, 2.4, 3.1] and list(af) == [0, 20, 41, 60]
    # an interior beat too far from any music beat is left to the warp
    at, af = time_map(np.array([0, 5, 60]), np.array([1.0, 2.0, 3.0]), 30.0)
    assert list(af) == [0, 60]


# ------------------------------------------------------------------------------ the graph

def test_the_shipped_graph_is_strongly_connected_and_credited(graph):
    assert graph.n_segments > 1000 and graph.edge_count() > graph.n_segments
    # every segment can go on: its last boundary has at least one join target that starts a segment
    off, seg, _ = graph.successors()
    assert np.all(off[graph.seg_last + 1] - off[graph.seg_last] > 0)
    assert np.all(graph.seg_clip == graph.boundary_clip[graph.seg_last])
    card = (graph.folder / "MODEL_CARD.md").read_text()
    assert "mocap.cs.cmu.edu" in card and "NSF EIA-0196217" in card
    assert set(graph.corr) >= {"coef", "weight", "music_mean", "music_std", "motion_mean", "motion_std"}
    assert sum(p.stat().st_size for p in graph.folder.iterdir()) < 10 * 2 ** 20


def test_load_graph_says_what_is_wrong(tmp_path, graph):
    with pytest.raises(GraphError, match="no graph.json"):
        load_graph(tmp_path)
    bad = tmp_path / "g"
    shutil.copytree(graph.folder, bad)
    data = bytearray((bad / "graph.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (bad / "graph.npz").write_bytes(bytes(data))
    with pytest.raises(GraphError, match="corrupt"):
        load_graph(bad)
    meta = json.loads((graph.folder / "graph.json").read_text())
    meta["format"] = 99
    shutil.copy(graph.folder / "graph.npz", bad / "graph.npz")
    (bad / "graph.json").write_text(json.dumps(meta))
    with pytest.raises(GraphError, match="format 99"):
        load_graph(bad)


def _song(seconds=60.0, bpm=118.0):
    beats = np.arange(0.4, seconds, 60.0 / bpm)
    return tv.beat_grid(beats, seconds), seconds


def test_traversal_follows_the_edges_and_does_not_repeat(graph):
    grid, seconds = _song()
    path = tv.traverse(graph, grid, seconds, zero_cost, seed=3)
    # consecutive segments join: the next one starts at a join target of the previous one's end
    for a, b in zip(path.segments[:-1], path.segments[1:]):
        lo, hi = graph.join_offsets[graph.seg_last[a]], graph.join_offsets[graph.seg_last[a] + 1]
        assert graph.seg_first[b] in graph.join_target[lo:hi]
    # contiguous over the beats, to the song's end
    assert path.first_beat[0] == 0
    assert np.all(path.first_beat[1:] == path.first_beat[:-1] + path.beats[:-1])
    assert grid[path.first_beat[-1] + path.beats[-1]] >= seconds - 1e-6
    # no source frames danced twice within the repeat window
    frames = [(graph.seg_clip[s], graph.seg_start_frame[s], graph.seg_end_frame[s], grid[i])
              for s, i in zip(path.segments, path.first_beat)]
    for k, (c, lo, hi, t) in enumerate(frames):
        for c2, lo2, hi2, t2 in frames[:k]:
            if c2 == c and t - t2 < tv.Costs().repeat_seconds:
                assert min(hi, hi2) - max(lo, lo2) <= 0
    other = tv.traverse(graph, grid, seconds, zero_cost, seed=4)
    assert list(other.segments) != list(path.segments)


def test_synthesis_joins_without_jumps_and_travels(graph):
    grid, seconds = _song(45.0)
    n = int(seconds * graph.fps)
    path = tv.traverse(graph, grid, seconds, zero_cost, seed=1)
    syn = synthesize(graph, path, grid, n, graph.fps)
    assert syn.rotvecs.shape == (n, 20, 3) and syn.root.shape == (n, 3)
    assert np.isfinite(syn.rotvecs).all() and np.isfinite(syn.root).all()
    pos = forward_kinematics(syn.rotvecs, syn.root)
    step = np.linalg.norm(np.diff(pos, axis=0), axis=-1).max(axis=1)      # (n - 1,) largest joint step
    switches = np.array([m.frame for m in syn.moves[1:]])
    inside = np.setdiff1d(np.arange(n - 1), np.concatenate([switches - 1, switches]))
    # the joins are no larger than the dance's own large steps
    assert step[switches - 1].max() <= np.percentile(step[inside], 99.5) * 1.5
    # moves are laid end to end on the beats
    assert syn.moves[0].frame == 0 and syn.moves[-1].frame_end == n
    assert all(a.frame_end == b.frame for a, b in zip(syn.moves[:-1], syn.moves[1:]))
    # the dancer travels the floor, within about its radius
    horizontal = syn.root[:, [0, 2]]
    assert np.linalg.norm(np.diff(horizontal, axis=0), axis=1).sum() > 5.0
    assert np.linalg.norm(horizontal, axis=1).max() < 2.5 + 1.5


def test_music_that_repeats_is_found():
    """A song whose second half is its first half again: every beat of the second half repeats
    the beat one half earlier, and a song without repeats (the first half alone) has none."""
    from dance_addon.core.choreography.compose import music_repeats
    from dance_addon.core.music.features import FEATURE_COLUMNS

    rng = np.random.default_rng(0)
    half = rng.normal(size=(600, len(FEATURE_COLUMNS)))                 # 20 s of changing "music"
    half = np.cumsum(half, axis=0) / 10.0                               # slowly varying, like music
    song = np.concatenate([half, half])                                 # 40 s: the second half repeats
    grid = tv.beat_grid(np.arange(0.0, 40.0, 0.5), 40.0)                # 40 beats per half
    rep = music_repeats(song, grid, 30.0)
    second = (grid >= 20.0) & (grid < 38.0)
    assert np.all(rep[second] == np.flatnonzero(second) - 40)
    assert np.all(rep[grid < 19.0] == -1)


def test_repeated_music_dances_the_same_move_again(graph):
    """Where the music repeats (beats 32 on repeat beats 0 on), the structure term dances again
    the moves danced there; without it the repetition cost never lets a move come back."""
    grid = tv.beat_grid(np.arange(0.4, 40.0, 0.5), 40.0)
    rep = np.full(len(grid), -1)
    rep[32:] = np.arange(32, len(grid)) - 32

    def echoes(path):
        started = {int(i): s for s, i in zip(path.segments, path.first_beat)}
        count = 0
        for s, i in zip(path.segments, path.first_beat):
            a = started.get(int(rep[i])) if rep[i] >= 0 else None
            if a is not None and graph.seg_clip[a] == graph.seg_clip[s] and \
                    min(graph.seg_end_frame[a], graph.seg_end_frame[s]) > \
                    max(graph.seg_start_frame[a], graph.seg_start_frame[s]):
                count += 1
        return count

    found = 0
    for seed in range(4):                  # a seed may find no move started on the repeated beat
        with_structure = tv.traverse(graph, grid, 40.0, zero_cost, seed=seed, costs=tv.Costs(structure=10.0),
                                     repeats=rep, genre="cmu-salsa")
        without = tv.traverse(graph, grid, 40.0, zero_cost, seed=seed, costs=tv.Costs(structure=0.0),
                              repeats=rep, genre="cmu-salsa")
        found += echoes(with_structure)
        assert (echoes(with_structure) > 0) == (with_structure.terms["structure"] < 0)
        assert echoes(without) == 0 and without.terms["structure"] == 0.0
    assert found >= 6


def test_the_graph_methods_data_cost_is_the_likelihood_ratio_of_the_fitted_correspondence(graph):
    """compose.graph_data_cost expands traversal.correspondence_cost for speed; both give the same costs."""
    from dance_addon.core.choreography.compose import _zscore, graph_data_cost, music_span_features
    from dance_addon.core.music.features import FEATURE_COLUMNS

    rng = np.random.default_rng(0)
    matrix = np.abs(np.cumsum(rng.normal(size=(900, len(FEATURE_COLUMNS))), axis=0)) / 10.0
    f0 = np.where(rng.random(900) < 0.5, 220.0 * 2 ** rng.normal(0, 0.3, 900), 0.0)
    grid = tv.beat_grid(np.arange(0.3, 30.0, 0.5), 29.97)
    cost = graph_data_cost(graph, matrix, f0, grid, graph.fps)
    seg = rng.integers(0, graph.n_segments, 300)
    first = rng.integers(0, len(grid), 300)
    m = rng.integers(1, tv.MAX_BEATS + 1, 300)
    span = _zscore(music_span_features(matrix, f0, grid, graph.fps), graph.corr["music_mean"], graph.corr["music_std"])
    seg_z = _zscore(graph.seg_features, graph.corr["motion_mean"], graph.corr["motion_std"])
    expected = tv.correspondence_cost(span[first, m - 1], seg_z[seg], graph.corr["coef"], graph.corr["weight"])
    # features the music predicts below r^2 = 0.001 are left out of the expanded form
    small = (graph.corr["weight"] > 0) & (graph.corr["weight"] <= 1e-3)
    w = np.clip(graph.corr["weight"][small], 0, 0.999)
    pred = (span[first, m - 1] @ graph.corr["coef"][:-1] + graph.corr["coef"][-1])[:, small]
    left_out = ((seg_z[seg][:, small] - pred) ** 2 / (1 - w) - seg_z[seg][:, small] ** 2).sum(axis=1)
    np.testing.assert_allclose(cost(seg, first, m), expected - left_out, atol=1e-9)


def test_the_method_rate_is_the_graphs_or_the_models_and_guided_needs_them_equal(graph):
    from types import SimpleNamespace

    from dance_addon.core.choreography.compose import ComposeError, method_fps

    assert method_fps(graph) == graph.fps
    assert method_fps(None, SimpleNamespace(fps=25.0)) == 25.0
    assert method_fps(graph, SimpleNamespace(fps=graph.fps)) == graph.fps
    with pytest.raises(ComposeError, match="one frame rate"):
        method_fps(graph, SimpleNamespace(fps=25.0))
