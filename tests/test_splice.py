"""core/choreography/splice.py: a stretch of one dance replaced by the same stretch of another,
without bpy. The joins are measured as the largest joint move from one frame to the next (forward
kinematics with the root, metres), against the dance's own 99th percentile of that move."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dance_addon.core.choreography.splice import MIN_FRAMES, headings, splice
from dance_addon.core.motion.rotations import quat_continuity, rotvec_to_quat
from dance_addon.core.motion.skeleton import forward_kinematics
from rig_helpers import smooth_motion

FPS = 30.0


def frame_steps(rotvecs: np.ndarray, root: np.ndarray) -> np.ndarray:
    """(T - 1,) the largest distance any joint moves from frame f to f + 1 (metres)."""
    pos = forward_kinematics(rotvecs, root)
    return np.linalg.norm(np.diff(pos, axis=0), axis=-1).max(axis=1)


def _travelling(n: int, seed: int, turn_per_s: float, speed: float):
    """A smooth random dance that turns steadily and walks the way it faces."""
    rv, root = smooth_motion(n, seed)
    rv = rv * 0.5
    yaw = np.arange(n) / FPS * turn_per_s + seed
    rv[:, 0] = np.stack([np.zeros(n), yaw, np.zeros(n)], axis=1)
    step = speed / FPS * np.stack([np.sin(yaw), np.cos(yaw)], axis=1)
    root[:, [0, 2]] = np.cumsum(step, axis=0)
    return rv, root


@pytest.fixture(scope="module")
def graph_dances(music_tracks):
    """Two dances of one 12 s song by the shipped action graph (seeds 0 and 1, one genre)."""
    from dance_addon.core.choreography.compose import compose_many
    from dance_addon.core.choreography.graph import load_graph
    from dance_addon.core.choreography.model_folders import shipped_graph_dirs
    from dance_addon.core.music import features as music
    from dance_addon.core.music.pitch import f0

    graph = load_graph(shipped_graph_dirs()[0])
    y = music.load_audio(Path(music_tracks[3]))[: 12 * music.ANALYSIS_SR]
    feats = music.extract_features(y, music.ANALYSIS_SR, graph.fps)
    hz = f0(y, music.ANALYSIS_SR, graph.fps).hz
    old, new = compose_many("graph", feats.matrix, graph.fps, feats.beat_times, hz, graph, seeds=[0, 7],
                            styles=[None, "cmu-salsa"])
    return old, new


def test_frames_outside_the_stretch_are_the_old_dance_bit_for_bit():
    old = _travelling(200, 0, 0.8, 0.6)
    new = _travelling(200, 1, -1.5, 1.1)
    out = splice(*old, *new, 60, 140, FPS)
    for a, b in ((out.rotvecs, old[0]), (out.root, old[1])):
        assert np.array_equal(a[:60], b[:60]) and np.array_equal(a[140:], b[140:])
        assert not np.allclose(a[60:140], b[60:140])


@pytest.mark.parametrize("start, stop", [(40, 200), (150, 300), (100, 116), (0, 120), (200, 361)],
                         ids=["early", "late", "half-second", "from-the-first-frame", "to-the-last-frame"])
def test_joins_are_no_larger_than_the_dance_s_own_99th_percentile(graph_dances, start, stop):
    """Real graph dances of one song: the moves at the two joins (the last kept frame to the first
    new one, the last new frame to the first kept one) are no larger than the old dance's own
    99th-percentile frame-to-frame move."""
    old, new = graph_dances
    out = splice(old.rotvecs, old.root, new.rotvecs, new.root, start, stop, FPS)
    limit = np.percentile(frame_steps(old.rotvecs, old.root), 99)
    steps = frame_steps(out.rotvecs, out.root)
    joins = [f for f in (start - 1, stop - 1) if 0 <= f < len(steps)]
    assert joins and all(steps[f] <= limit for f in joins), (steps[joins], limit)
    # the stretch keeps dancing: it is not a frozen or averaged pose
    inner = steps[start:stop - 1]
    assert np.median(inner) > 0.25 * np.median(frame_steps(new.rotvecs, new.root))


def test_the_stretch_is_the_new_dance_away_from_the_joins(graph_dances):
    """Two seconds or more from either join, the stretch has the new dance's own joint rotations (all
    but the pelvis, which is turned to the old dance's heading) and pelvis heights."""
    old, new = graph_dances
    start, stop = 60, 300
    out = splice(old.rotvecs, old.root, new.rotvecs, new.root, start, stop, FPS)
    mid = slice(start + 60, stop - 60)
    q_out = quat_continuity(rotvec_to_quat(out.rotvecs[mid, 1:]))
    q_new = rotvec_to_quat(new.rotvecs[mid, 1:].astype(np.float64))
    assert np.abs(np.abs(np.sum(q_out * q_new, axis=-1)) - 1).max() < 1e-6
    assert np.allclose(out.root[mid, 1], new.root[mid, 1], atol=1e-5)
    assert not np.allclose(out.rotvecs[mid, 1:], old.rotvecs[mid, 1:], atol=0.1)


def test_first_new_frame_continues_the_old_dance_and_the_stretch_arrives_where_it_resumes():
    """The first frame of the stretch is the old dance's (inertialization starts from it), its
    last arrives next to the old dance's next frame, though the new dance is elsewhere on the
    floor, faces elsewhere and turns the other way."""
    old = _travelling(240, 0, 1.0, 0.5)
    new = _travelling(240, 3, -2.0, 1.4)
    start, stop = 50, 170
    out = splice(*old, *new, start, stop, FPS)
    assert np.allclose(out.rotvecs[start], old[0][start], atol=1e-6)
    assert np.allclose(out.root[start], old[1][start], atol=1e-9)
    limit = np.percentile(frame_steps(*old), 99)
    steps = frame_steps(out.rotvecs, out.root)
    assert steps[start - 1] <= limit and steps[stop - 1] <= limit
    assert np.abs(out.root[stop - 1] - old[1][stop]).max() < 0.05            # metres, the last step


@pytest.mark.parametrize("old_turn, taken", [(200.0, 200.0), (300.0, -60.0)])
def test_the_turn_taken_keeps_the_pelvis_quaternion_sign_when_it_costs_little(old_turn, taken):
    """The old dance turns `old_turn` degrees over the stretch and the new one not at all. 200:
    the shorter way (-160) would bring the pelvis's quaternion path to the kept frames with the
    other sign (a rig's keys would flip between two frames), and the other way costs only 40
    degrees more, so the splice turns +200. 300: the other way would cost 240 degrees more than
    -60, so it turns -60 (the sign changes between the last new frame and the first kept one)."""
    n = 200
    old = _travelling(n, 0, 0.0, 0.0)
    old[0][:, 0, 1] = np.radians(old_turn) * np.clip((np.arange(n) - 50) / 100, 0, 1)   # turns in 50..150
    new = _travelling(n, 1, 0.0, 0.0)
    new[0][:, 0, 1] = 0.0
    out = splice(*old, *new, 40, 160, FPS)
    assert np.isclose(np.degrees(out.turn), taken, atol=1e-6)
    lift_old = quat_continuity(rotvec_to_quat(old[0][39:161, 0]))
    lift_new = quat_continuity(rotvec_to_quat(out.rotvecs[39:161, 0]))
    assert np.sign(np.dot(lift_old[-1], lift_new[-1])) == (1 if taken == old_turn else -1)
    heading = np.unwrap(headings(rotvec_to_quat(out.rotvecs[:, 0])))
    assert np.abs(np.diff(heading)).max() < np.radians(6)                         # a steady turn, no snap
    assert np.isclose(heading[160] - heading[39], np.radians(taken), atol=np.radians(8))


@pytest.mark.parametrize("start, stop", [(-1, 50), (10, 10 + MIN_FRAMES - 1), (190, 201)])
def test_a_stretch_outside_the_dance_is_refused(start, stop):
    old, new = _travelling(200, 0, 0.5, 0.5), _travelling(200, 1, 0.5, 0.5)
    with pytest.raises(ValueError, match="not a stretch"):
        splice(*old, *new, start, stop, FPS)
    with pytest.raises(ValueError, match="same frames"):
        splice(*old, new[0][:100], new[1][:100], 10, 50, FPS)


def test_offset_velocity_gives_the_product_the_asked_angular_velocity():
    """exp(o(t)) q(t) turns at `target` when o changes at offset_velocity(o, target, moving) and q
    turns at `moving`: checked by finite differences, for offsets up to 170 degrees."""
    from dance_addon.core.choreography.inertialize import rotation_offset
    from dance_addon.core.choreography.splice import offset_velocity
    from dance_addon.core.motion.rotations import quat_multiply

    rng = np.random.default_rng(4)
    axes = rng.normal(size=(50, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    o = axes * np.radians(rng.uniform(0, 170, size=(50, 1)))
    moving, target = rng.normal(size=(50, 3)) * 3, rng.normal(size=(50, 3)) * 3
    q = rotvec_to_quat(rng.normal(size=(50, 3)))
    dt = 1e-6
    rate = offset_velocity(o, target, moving)
    p0 = quat_multiply(rotvec_to_quat(o), q)
    p1 = quat_multiply(rotvec_to_quat(o + rate * dt), quat_multiply(rotvec_to_quat(moving * dt), q))
    assert np.allclose(rotation_offset(p1, p0) / dt, target, atol=1e-4)
    assert np.allclose(offset_velocity(np.zeros(3), target[0], moving[0]), target[0] - moving[0])
