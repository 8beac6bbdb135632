"""Time warps put a clip's kinematic beats on the music's beats, within the stretch bound."""
import numpy as np

from dance_addon.core.motion.skeleton import forward_kinematics
from dance_addon.core.music import features as music_mod
from training.data.clips import Clip
from training.data.pairs import Track, make_pair
from training.data.warp import MAX_STRETCH, match_beats, warp_positions
from training.evaluation.beats import kinematic_beats_bailando


def _swing_clip(beat_times, fps=30.0, seconds=20.0):
    """Arms swinging with a stop at each given time (speed minima there)."""
    t = np.arange(int(seconds * fps)) / fps
    # phase advances by pi between consecutive stops: cos has zero speed at each stop
    phase = np.interp(t, beat_times, np.arange(len(beat_times)) * np.pi)
    rv = np.zeros((len(t), 20, 3))
    for j in (14, 15, 16, 17, 4, 5):
        rv[:, j, 2] = 0.6 * np.cos(phase)
    return Clip("test/swing", rv.astype(np.float32), np.tile([0, 0.93, 0], (len(t), 1)).astype(np.float32), fps)


def test_match_beats_respects_the_stretch_bound():
    rng = np.random.default_rng(0)
    motion = np.cumsum(rng.uniform(0.35, 0.8, size=60))
    music = np.arange(0.3, 25, 0.52)
    pairs = np.array(match_beats(motion, music))
    assert len(pairs) > 30
    rates = np.diff(pairs[:, 1]) / np.diff(pairs[:, 0])
    assert np.all(rates <= MAX_STRETCH + 1e-9) and np.all(rates >= 1 / MAX_STRETCH - 1e-9)
    assert set(pairs[:, 0]) <= set(music)        # every anchor is on a music beat


def test_warp_positions_are_monotonic_and_cover_the_clip():
    pairs = [(1.0, 0.5), (2.0, 1.4), (3.0, 2.5)]
    t = warp_positions(pairs, 120, 30.0, motion_duration=3.0)
    ok = np.isfinite(t)
    assert np.all(np.diff(t[ok]) > 0)
    assert np.isclose(t[30], 0.5) and np.isclose(t[60], 1.4)
    assert not ok[-1]                             # past the end of the motion: no motion


def test_pair_moves_the_kinematic_beats_onto_the_music_beats():
    fps = 30.0
    clip_beats = np.cumsum(np.full(40, 0.4513)) + 0.2137  # the dancer's own tempo: 133 BPM, off the frame grid
    clip = _swing_clip(clip_beats, fps)
    music_beats = np.arange(0.5, 25, 0.5)               # the song: 120 BPM
    n = int(25 * fps)
    matrix = np.zeros((n, len(music_mod.FEATURE_COLUMNS)), np.float32)
    feats = music_mod.MusicFeatures(matrix, fps, 120.0, np.rint(music_beats * fps).astype(int), music_beats,
                                    np.zeros(0, int))
    pair = make_pair(clip, Track("click", None, feats, music_beats))
    assert pair is not None and len(pair.rotvecs) == len(pair.music)
    pos = forward_kinematics(pair.rotvecs, pair.root_translation)
    kin = kinematic_beats_bailando(pos, fps) / 60.0 + pair.music_start
    inside = music_beats[(music_beats > pair.music_start + 1) & (music_beats < pair.music_start + len(pos) / fps - 1)]
    dist = np.abs(inside[:, None] - kin[None, :]).min(axis=1)
    assert np.median(dist) < 1.5 / fps                # stops now land on the song's beats
    assert pair.provenance["stretch_max"] <= MAX_STRETCH + 1e-6


def test_glitches_are_trimmed_and_bridged():
    from training.data.clips import glitch_steps, repair_glitches

    fps = 30.0
    t = np.arange(120) / fps
    rv = np.zeros((120, 20, 3))
    rv[:, 16, 2] = 0.5 * np.sin(2 * np.pi * t)             # an elbow swinging at 1 Hz
    root = np.tile([0.0, 0.93, 0.0], (120, 1))
    clean_rv = rv.copy()
    rv[0, 14, 2] = 1.5                                      # a first frame in another pose
    rv[60:63, 0, 0] = 2.0                                   # a three-frame capture spike
    root[60:63, 0] += 0.3
    assert list(glitch_steps(rv, root, fps)) == [0, 59, 62]
    out_rv, out_root, notes = repair_glitches(rv, root, fps)
    assert notes == ["dropped 1 leading frame(s)", "bridged frames 59-61"]
    assert len(out_rv) == 119 and len(glitch_steps(out_rv, out_root, fps)) == 0
    # frames away from the glitches are untouched; bridged ones follow the motion closely
    assert np.allclose(out_rv[:50], clean_rv[1:51], atol=1e-6)
    assert np.abs(out_rv[58:63] - clean_rv[59:64]).max() < 0.05
