"""The three ways to make a dance, one call each: `lstm`, `graph` and `guided`.

    dance = compose(method, music=features, f0=pitch, graph=graph, model=lstm_model, seed=0)

- lstm: the network's own frames (lstm.DanceModel.generate_frames): its rotations and the
  horizontal travel it danced; several seeds run together in one batch (`lstm_dances`).
- graph: real segments of the action graph chosen by the music-motion correspondence
  (traversal.correspondence_cost), time-warped onto the beats and joined by inertialization.
- guided: the LSTM dances the song first; the traversal then picks, for each stretch of music,
  the real segments whose motion features are closest to what the LSTM made there
  (traversal.feature_distance), under the same transition, stretch, repetition and floor costs.
  The network says what kind of movement the music asks for; the graph keeps the motion real.
All three return a `Dance` at the music features' frame rate. `compose_many` makes several dances
of one song (one per seed: the variations) in one pass: the LSTM's as one batch, the graph's
from one analysis of the song (`analyse_song`), only the traversal and synthesis run per seed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..motion.features import segment_features_batch
from ..motion.skeleton import forward_kinematics, grounded_pelvis_height
from ..music.segments import MUSIC_SEGMENT_FEATURE_NAMES, segment_music_features
from .graph import ActionGraph
from .lstm import decode_frames
from .synthesis import Move, synthesize
from .traversal import MAX_BEATS, Costs, DataCost, beat_grid, feature_distance, traverse

METHODS = ("graph", "guided", "lstm")
USES_MODEL = ("lstm", "guided")     # the methods that run the LSTM
USES_GRAPH = ("graph", "guided")    # the methods that walk the action graph
DEFAULT_METHOD = "graph"     # the best held-out figures (README, make eval)
METHOD_LABELS = {
    "graph": "Action graph: real moves chosen by the music",
    "guided": "Guided: real moves chosen to match the LSTM's dance",
    "lstm": "LSTM: the network's own frames",
}
FLOOR_RADIUS = 2.5      # metres: the default radius the dancer stays within


class ComposeError(ValueError):
    """The dance cannot be made as asked; the message says what to do."""


@dataclass(frozen=True)
class Dance:
    """rotvecs (T, 20, 3) local rotations and root (T, 3) pelvis position in metres at fps;
    the method that made it, the LSTM style it danced (lstm and guided) and, for the graph
    methods, its moves."""
    rotvecs: np.ndarray
    root: np.ndarray
    fps: float
    method: str
    style: str = ""
    moves: tuple[Move, ...] = field(default_factory=tuple)

    def summary(self) -> str:
        """One line: the method and, for the graph methods, how many moves from how many clips."""
        if not self.moves:
            return f"{self.method}" + (f", style {self.style}" if self.style else "")
        counts = self.clip_counts()
        extra = ""
        if self.style:
            extra = f", guided by style {self.style}" if self.method == "guided" else f", genre {self.style}"
        return f"{self.method}: {len(self.moves)} moves from {len(counts)} clips (most from {counts[0][0]}){extra}"

    def clip_counts(self) -> tuple[tuple[str, int], ...]:
        """(clip, number of moves from it) over the moves, most used first (a mirrored clip counts
        as its clip)."""
        counts: dict[str, int] = {}
        for m in self.moves:
            clip = m.clip.replace(" (mirrored)", "")
            counts[clip] = counts.get(clip, 0) + 1
        return tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


MUSIC_SPAN_FEATURE_NAMES: tuple[str, ...] = MUSIC_SEGMENT_FEATURE_NAMES + ("beats_per_second",)


def span_bounds(grid: np.ndarray, n_frames: int, fps: float, min_frames: int = 3) -> np.ndarray:
    """(I, MAX_BEATS, 2) frames [start, stop) of the span from beat i over m = 1 .. MAX_BEATS beats
    of `grid` (seconds), clipped to the song's n_frames and at least min_frames long."""
    frames = np.clip(np.rint(np.asarray(grid) * fps).astype(np.int64), 0, n_frames)
    i = np.arange(len(grid))[:, None]
    j = np.minimum(i + np.arange(1, MAX_BEATS + 1)[None], len(grid) - 1)
    lo = np.minimum(np.broadcast_to(frames[i], j.shape), n_frames - min_frames)
    hi = np.minimum(np.maximum(frames[j], lo + min_frames), n_frames)
    return np.stack([np.maximum(lo, 0), hi], axis=-1)


def music_span_features(matrix: np.ndarray, f0_hz: np.ndarray, grid: np.ndarray, fps: float) -> np.ndarray:
    """(I, MAX_BEATS, Fa) music features (MUSIC_SPAN_FEATURE_NAMES) of every span from beat i over
    m = 1 .. MAX_BEATS beats of `grid`: music.segments' features of its frames, and its beat rate
    (m / its length in seconds)."""
    bounds = span_bounds(grid, len(matrix), fps)
    feats = segment_music_features(matrix, f0_hz, bounds.reshape(-1, 2), fps).reshape(len(grid), MAX_BEATS, -1)
    spans = np.asarray(grid)[np.minimum(np.arange(len(grid))[:, None] + np.arange(1, MAX_BEATS + 1), len(grid) - 1)]
    length = np.maximum(spans - np.asarray(grid)[:, None], 1.0 / fps)
    rate = np.arange(1, MAX_BEATS + 1)[None] / length
    return np.concatenate([feats, rate[..., None]], axis=-1)


def _zscore(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    return (x - mean) / np.where(std > 1e-9, std, 1.0)


MIN_GENRE_SEGMENTS = 200    # a genre with fewer segments is danced only when asked for by name


def graph_genres(graph: ActionGraph, all_genres: bool = False) -> tuple[str, ...]:
    """The genres seeds pick, in the order they pick them (a fixed shuffle, as the LSTM's styles):
    those with at least MIN_GENRE_SEGMENTS segments (a smaller one runs out of moves within a
    song and drifts into other genres). With all_genres, every genre of the graph, sorted."""
    counts = graph.genre_counts()
    if all_genres:
        return tuple(sorted(counts))
    genres = sorted(g for g, n in counts.items() if n >= MIN_GENRE_SEGMENTS) or sorted(counts)
    return tuple(genres[i] for i in np.random.default_rng(0).permutation(len(genres)))


def pick_genre(graph: ActionGraph, seed: int) -> str:
    """The genre seed `seed` dances in: seeds 0 .. G-1 pick G different genres, then the order repeats."""
    order = graph_genres(graph)
    return order[seed % len(order)]


REPEAT_SIMILARITY = 0.92     # cosine similarity of two 4-beat stretches' music for one to repeat the other
REPEAT_MIN_BEATS = 8          # ... at least this many beats apart (two bars)


def music_repeats(matrix: np.ndarray, grid: np.ndarray, fps: float, span: int = 4,
                  similarity: float = REPEAT_SIMILARITY, min_beats: int = REPEAT_MIN_BEATS) -> np.ndarray:
    """(I,) for each beat of `grid`, the earlier beat whose music the next `span` beats repeat, or -1.

    Each beat is described by the music of the `span` beats from it: the mean chroma (12) and MFCCs
    1-12 over those frames, each column z-scored over the song, so the description says how this
    stretch differs from the rest of the song. Beat i repeats beat j (j <= i - min_beats) when
    their descriptions' cosine similarity is the highest of all such j and at least `similarity`.
    """
    from ..music.features import FEATURE_COLUMNS

    cols = [FEATURE_COLUMNS.index(c) for c in FEATURE_COLUMNS
            if c.startswith("chroma_") or c in {f"mfcc_{k:02d}" for k in range(1, 13)}]
    x = np.asarray(matrix, np.float64)[:, cols]
    x = (x - x.mean(0)) / np.maximum(x.std(0), 1e-9)
    n = len(x)
    frames = np.clip(np.rint(np.asarray(grid) * fps).astype(np.int64), 0, n)
    csum = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0)])
    ends = frames[np.minimum(np.arange(len(grid)) + span, len(grid) - 1)]
    length = np.maximum(ends - frames, 1)[:, None]
    desc = (csum[ends] - csum[frames]) / length                                  # (I, C)
    desc /= np.maximum(np.linalg.norm(desc, axis=1, keepdims=True), 1e-9)
    sim = desc @ desc.T
    i = np.arange(len(grid))
    sim[i[None] > i[:, None] - min_beats] = -np.inf                             # only earlier beats, far enough
    valid = frames < n - 1                                                       # beats inside the song
    sim[:, ~valid] = -np.inf
    best = np.argmax(sim, axis=1)
    ok = valid & (sim[i, best] >= similarity)
    return np.where(ok, best, -1)


def graph_data_cost(graph: ActionGraph, matrix: np.ndarray, f0_hz: np.ndarray, grid: np.ndarray, fps: float,
                    target: np.ndarray | None = None) -> DataCost:
    """The traversal's data cost over the spans of `grid`: the music-motion correspondence of the
    song's music (traversal.likelihood_cost), or, with target (T, 20, 3) positions of a dance, the
    distance of each segment's motion features to that dance's over the same span (guided)."""
    n = len(matrix)
    seg_z_all = _zscore(graph.seg_features, graph.corr["motion_mean"], graph.corr["motion_std"])
    if target is None:
        span = music_span_features(matrix, f0_hz, grid, fps)                    # (I, M, Fa)
        span_z = _zscore(span, graph.corr["music_mean"], graph.corr["music_std"])
        coef, weight = graph.corr["coef"], graph.corr["weight"]
        # traversal.likelihood_cost, expanded so that all but one dot product is worked out once:
        # sum_f (y - p)^2 / (1 - w) - y^2 = sum_f y^2 w / (1 - w) + sum_f p^2 / (1 - w) - 2 sum_f y p / (1 - w)
        # over the features the music predicts at all (w > 1e-3)
        used = weight > 1e-3
        w = np.clip(weight[used], 0.0, 0.999)
        pred = (span_z @ coef[:-1] + coef[-1])[..., used]                       # (I, M, F')
        y = seg_z_all[:, used]                                                   # (S, F')
        seg_part = (y * y * (w / (1.0 - w))).sum(axis=1)                         # (S,)
        span_part = (pred * pred / (1.0 - w)).sum(axis=-1)                       # (I, M)
        y_scaled = -2.0 * y / (1.0 - w)                                          # (S, F')

        def data_cost(seg, first, m):
            return seg_part[seg] + span_part[first, m - 1] + np.einsum("nf,nf->n", y_scaled[seg], pred[first, m - 1])
        return data_cost
    bounds = span_bounds(grid, n, fps).reshape(-1, 2)
    tf = segment_features_batch(target, fps, bounds).reshape(len(grid), MAX_BEATS, -1)
    tz = _zscore(tf, graph.corr["motion_mean"], graph.corr["motion_std"])

    def guided_cost(seg, first, m):
        return feature_distance(tz[first, m - 1], seg_z_all[seg])
    return guided_cost


@dataclass(frozen=True)
class SongAnalysis:
    """What the graph methods need of a song whatever the seed, worked out once (`analyse_song`)
    and shared by every dance of that song (`compose_many`): the beat grid, the song's length,
    where its music repeats and, for the graph method, the data cost of every span (the
    music-motion correspondence; the guided method's depends on each LSTM dance instead)."""
    fps: float
    n_frames: int
    duration: float                 # seconds
    grid: np.ndarray                # traversal.beat_grid
    repeats: np.ndarray             # music_repeats
    data_cost: DataCost | None      # None: guided (graph_data_cost of each dance's target)


def analyse_song(graph: ActionGraph, matrix: np.ndarray, f0_hz: np.ndarray | None, beat_times: np.ndarray,
                 fps: float, music_cost: bool = True) -> SongAnalysis:
    """The song's analysis for the graph methods: matrix (T, F) music features at fps, f0_hz (T,)
    its pitch track (needed when music_cost), beat_times (seconds); with music_cost, the data cost
    of the correspondence (the graph method), else none (guided)."""
    if abs(graph.fps - fps) > 1e-9:
        raise ComposeError(f"the action graph is at {graph.fps:g} fps but the music features are at {fps:g}; "
                           "compute the features at the graph's frame rate")
    if graph.music_feature_names != MUSIC_SPAN_FEATURE_NAMES:
        raise ComposeError(f"the action graph {graph.folder} matches other music features than this add-on "
                           "computes; use the graph that ships with this version of the add-on")
    n = len(matrix)
    if n < 2:
        raise ComposeError("the song is too short to dance to; pick at least a second of music")
    duration = (n - 1) / fps
    grid = beat_grid(beat_times, duration)
    cost = graph_data_cost(graph, matrix, f0_hz, grid, fps) if music_cost else None
    return SongAnalysis(fps, n, duration, grid, music_repeats(matrix, grid, fps), cost)


def walk_graph(graph: ActionGraph, song: SongAnalysis, seed: int = 0, floor_radius: float = FLOOR_RADIUS,
               costs: Costs = Costs(), genre: str | None = None, data_cost: DataCost | None = None,
               method: str = "graph") -> Dance:
    """One dance of an analysed song: the traversal (seeded) and the synthesis. data_cost:
    instead of the song's own (guided: graph_data_cost of the LSTM's dance)."""
    path = traverse(graph, song.grid, song.duration, data_cost or song.data_cost, seed=seed, costs=costs,
                    floor_radius=floor_radius, genre=genre, repeats=song.repeats)
    synth = synthesize(graph, path, song.grid, song.n_frames, song.fps)
    return Dance(synth.rotvecs, synth.root, song.fps, method, genre or "", moves=synth.moves)


def compose_graph(graph: ActionGraph, matrix: np.ndarray, f0_hz: np.ndarray, beat_times: np.ndarray, fps: float,
                  seed: int = 0, floor_radius: float = FLOOR_RADIUS, costs: Costs = Costs(),
                  target: np.ndarray | None = None, genre: str | None = None) -> Dance:
    """The graph method's dance of a song: matrix (T, F) music features at fps, f0_hz (T,) the
    song's pitch track, beat_times (seconds). The dance keeps mostly to one genre of the graph's
    clips, `genre` or the seed's (pick_genre). With `target` (T, 20, 3) positions of a dance (the
    LSTM's), this is the guided method: segments are matched to that dance instead of the music,
    in any genre."""
    song = analyse_song(graph, matrix, f0_hz, beat_times, fps, music_cost=target is None)
    if target is None:
        return walk_graph(graph, song, seed, floor_radius, costs, genre or pick_genre(graph, seed))
    cost = graph_data_cost(graph, matrix, f0_hz, song.grid, fps, target)
    return walk_graph(graph, song, seed, floor_radius, costs, data_cost=cost, method="guided")


def method_fps(graph: ActionGraph | None, model=None) -> float:
    """The frame rate a dance is made at: the graph's, else the model's; ComposeError when a method
    that uses both (guided) is given a graph and a model of different rates."""
    if graph is not None and model is not None and abs(graph.fps - model.fps) > 1e-9:
        raise ComposeError(f"the action graph dances at {graph.fps:g} fps but the model at {model.fps:g} fps; "
                           "the guided method needs both at one frame rate: pick another model")
    if graph is None and model is None:
        raise ComposeError("neither an action graph nor an LSTM model was given")
    return graph.fps if graph is not None else model.fps


def lstm_dances(model, matrix: np.ndarray, seeds: Sequence[int], styles=None, progress=None) -> list[Dance]:
    """The LSTM's own dances of one song, one per seed, generated together in one batch: the
    rotations and the horizontal travel the network danced, the pelvis at the height that puts
    the lowest foot on the floor. styles: None (each seed picks) or one style per seed."""
    indices = [model.pick_style(s) for s in seeds] if styles is None else [model.style_index(s) for s in styles]
    frames = model.generate_frames(matrix, seeds, progress, styles=indices)         # (B, T, D)
    dances = []
    for f, index in zip(frames, indices):
        rotvecs, root = decode_frames(f, model.fps)
        root[:, 1] = grounded_pelvis_height(rotvecs)
        dances.append(Dance(rotvecs, root, model.fps, "lstm", model.style_names[index]))
    return dances


def lstm_dance(model, matrix: np.ndarray, seed: int = 0, style=None, progress=None) -> Dance:
    """One LSTM dance (`lstm_dances` of one seed)."""
    return lstm_dances(model, matrix, [seed], None if style is None else [style], progress)[0]


def _check(method: str, seeds: Sequence[int], graph, model, f0_hz) -> None:
    if method not in METHODS:
        raise ComposeError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if not len(seeds):
        raise ComposeError("no seeds: give at least one")
    for seed in seeds:
        if seed < 0:
            raise ComposeError(f"the seed must be a whole number 0 or above, got {seed}")
    if method in ("lstm", "guided") and model is None:
        raise ComposeError(f"the {method} method needs an LSTM model folder")
    if method in ("graph", "guided") and graph is None:
        raise ComposeError(f"the {method} method needs the action graph (models/dance-graph)")
    if method == "graph" and f0_hz is None:
        raise ComposeError("the graph method needs the song's pitch track (music.pitch.f0)")


def compose(method: str, matrix: np.ndarray, fps: float, beat_times: np.ndarray, f0_hz: np.ndarray | None = None,
            graph: ActionGraph | None = None, model=None, seed: int = 0, style=None,
            floor_radius: float = FLOOR_RADIUS, progress=None) -> Dance:
    """A dance of the song by `method` (one of METHODS); see the module docstring.

    matrix: (T, F) music features at fps (music.features.extract_features); beat_times: seconds;
    f0_hz: (T,) pitch track (music.pitch.f0), needed by "graph"; graph: the action graph (graph
    and guided); model: the LSTM (lstm and guided); style: instead of the seed's, the LSTM style
    (index or name; lstm and guided) or the genre (graph, e.g. "cmu-salsa"); progress: the
    LSTM's progress callback.
    """
    return compose_many(method, matrix, fps, beat_times, f0_hz, graph, model, [seed],
                        None if style is None else [style], floor_radius, progress)[0]


def compose_many(method: str, matrix: np.ndarray, fps: float, beat_times: np.ndarray,
                 f0_hz: np.ndarray | None = None, graph: ActionGraph | None = None, model=None,
                 seeds: Sequence[int] = (0,), styles: Sequence | None = None, floor_radius: float = FLOOR_RADIUS,
                 progress=None) -> list[Dance]:
    """Dances of one song by `method`, one per seed, each the same as `compose` of that seed
    makes, in one pass: the LSTM's dances run as one batch (lstm_dances), and the graph methods
    analyse the song once (analyse_song: beat grid, repeats and, for the graph method, the data
    cost of every span) and run only the traversal and the synthesis per seed. styles: one per
    seed (None: the seed's own), as compose's style."""
    seeds = [int(s) for s in seeds]
    _check(method, seeds, graph, model, f0_hz)
    styles = [None] * len(seeds) if styles is None else list(styles)
    if len(styles) != len(seeds):
        raise ComposeError(f"{len(styles)} styles for {len(seeds)} seeds: give one per seed")
    lstm: list[Dance] = []
    if method in USES_MODEL:
        try:
            indices = [model.pick_style(s) if st is None else model.style_index(st) for s, st in zip(seeds, styles)]
        except ValueError as e:
            raise ComposeError(str(e)) from None
        lstm = lstm_dances(model, matrix, seeds, indices, progress)
    if method == "lstm":
        return lstm
    if method == "graph":
        genres = graph_genres(graph, all_genres=True)
        for st in styles:
            if st is not None and str(st) not in genres:
                raise ComposeError(f"unknown style {st!r} for the graph method; its genres are {', '.join(genres)}")
        song = analyse_song(graph, matrix, f0_hz, beat_times, fps)
        return [walk_graph(graph, song, seed, floor_radius, genre=pick_genre(graph, seed) if st is None else str(st))
                for seed, st in zip(seeds, styles)]
    song = analyse_song(graph, matrix, None, beat_times, fps, music_cost=False)
    dances = []
    for seed, led in zip(seeds, lstm):
        cost = graph_data_cost(graph, matrix, None, song.grid, fps, forward_kinematics(led.rotvecs, led.root))
        dance = walk_graph(graph, song, seed, floor_radius, data_cost=cost, method="guided")
        dances.append(Dance(dance.rotvecs, dance.root, dance.fps, "guided", led.style, dance.moves))
    return dances
