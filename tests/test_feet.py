"""Foot contacts and foot locking (dance_addon/core/motion/feet.py) on known motions and real mocap."""
import numpy as np

from dance_addon.core.motion import feet
from dance_addon.core.motion.skeleton import REST_OFFSETS, forward_kinematics, grounded_pelvis_height

FPS = 30.0


def stepping(seconds=6.0, lift_every=1.0, lift_for=0.4, seed=0):
    """A body standing still whose left foot lifts (hip and knee bend) for `lift_for` s every
    `lift_every` s; returns rotvecs, root and the known left-foot contacts (T,) bool."""
    n = int(seconds * FPS)
    t = np.arange(n) / FPS
    phase = (t % lift_every) / lift_for
    up = phase < 1.0
    bend = np.where(up, np.sin(np.pi * np.clip(phase, 0, 1)), 0.0)       # 0 -> 1 -> 0 over a lift
    rv = np.zeros((n, 20, 3))
    rv[:, 1, 0] = -0.9 * bend            # left hip flexes forward
    rv[:, 4, 0] = 1.6 * bend             # left knee bends
    root = np.zeros((n, 3))
    root[:, 1] = grounded_pelvis_height(rv)
    return rv, root, ~up


def test_contacts_of_a_stepping_body_are_the_known_ones():
    rv, root, down = stepping()
    c = feet.contacts(forward_kinematics(rv, root), FPS)
    agree = (c[:, 0] == down).mean()
    assert agree > 0.85                                       # the edges of a lift are low and slow too
    assert len(feet._runs(c[:, 0])) == len(feet._runs(down))   # one contact per stance, no flicker
    assert c[:, 1].all()                                      # the right foot never leaves the floor


def test_hysteresis_keeps_a_hovering_foot_from_flickering():
    """An ankle hovering around the entry height with 1 cm noise stays one contact."""
    rv, root, _ = stepping(lift_for=0.0001)                   # both feet down throughout
    pos = forward_kinematics(rv, root)
    rng = np.random.default_rng(0)
    pos[:, 7, 1] += feet.ENTER_HEIGHT + rng.normal(0, 0.004, len(pos)) + 0.002
    pos[:60, 7, 1] -= feet.ENTER_HEIGHT + 0.01               # starts well down, so the contact begins
    c = feet.contacts(pos, FPS)
    assert len(feet._runs(c[:, 0])) <= 2


def test_contacts_on_real_salsa_match_hand_checked_stretches(shared_data):
    """cmu-salsa/60_06 at 30 fps, stretches read off a printout of its left ankle's height and speed
    by hand: frames 42-59 and 140-149 the ankle rests within 2 cm of its floor level (steps
    landed), frames 70-79 and 160-169 it is 7-18 cm up and moving 1-2 m/s (steps in the air)."""
    from training.data.clips import load_clips

    clip = next(c for c in load_clips() if c.name == "cmu-salsa/60_06")
    pos = forward_kinematics(clip.rotvecs, clip.root_translation)
    c = feet.contacts(pos, clip.fps)
    floor = np.percentile(pos[:, 7, 1], 5)
    for a, b in ((42, 60), (140, 150)):
        assert (pos[a:b, 7, 1] - floor).max() < 0.02 and c[a:b, 0].all()
    for a, b in ((70, 80), (160, 170)):
        assert (pos[a:b, 7, 1] - floor).min() > 0.06 and not c[a:b, 0].any()
    assert 0.3 < c.mean() < 0.9


def test_two_bone_ik_reaches_and_keeps_the_knee_on_its_side():
    rng = np.random.default_rng(1)
    thigh, shin = 0.39, 0.42
    hip = rng.normal(0, 0.1, (200, 3))
    direction = rng.normal(0, 1, (200, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    target = hip + direction * rng.uniform(0.1, 0.78, (200, 1))        # all within reach
    pole = np.cross(direction, rng.normal(0, 1, (200, 3)))
    knee = feet.two_bone_ik(hip, target, pole, thigh, shin)
    np.testing.assert_allclose(np.linalg.norm(knee - hip, axis=1), thigh, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(target - knee, axis=1), shin, atol=1e-9)
    assert (np.sum((knee - hip) * pole, axis=1) > 0).all()              # bent towards the pole


def test_soft_reach_eases_into_full_extension_without_a_jump():
    full = 0.81
    d = np.linspace(0.5, 1.2, 2000)
    r = feet.soft_reach(d, full)
    assert (r <= full).all() and np.all(np.diff(r) >= 0)
    assert np.abs(np.diff(r) / np.diff(d)).max() <= 1.0 + 1e-9          # never faster than the target moves
    np.testing.assert_allclose(r[d < feet.REACH * full], d[d < feet.REACH * full])


def test_locking_holds_sliding_feet():
    """A body gliding at 0.4 m/s with both feet down: unlocked the ankles skate at 40 cm/s;
    locked they stay put while they can reach, and the legs keep their lengths."""
    n = 60
    rv = np.zeros((n, 20, 3))
    rv[:, 1, 0] = rv[:, 2, 0] = -0.5                                    # a crouch: room to reach back
    rv[:, 4, 0] = rv[:, 5, 0] = 1.0
    root = np.zeros((n, 3))
    root[:, 1] = grounded_pelvis_height(rv)
    root[:, 2] = 0.4 * np.arange(n) / FPS
    locked = feet.lock_feet(rv, root, FPS)
    before = forward_kinematics(rv, root)
    after = forward_kinematics(locked.rotvecs, root)
    assert locked.count >= 2 and locked.contacts[:12].all()        # held, let go, planted again
    drift = np.linalg.norm(after[:12, [7, 8]] - after[0, [7, 8]], axis=-1)
    assert drift.max() < 1e-3                                           # held for the first 0.4 s
    assert np.linalg.norm(before[:12, [7, 8]] - before[0, [7, 8]], axis=-1).max() > 0.14
    # bones keep their lengths, joints other than the legs are untouched
    np.testing.assert_allclose(np.linalg.norm(after[:, 4] - after[:, 1], axis=1), np.linalg.norm(REST_OFFSETS[4]))
    np.testing.assert_array_equal(locked.rotvecs[:, [0, 3, 6, 9, 10]], rv[:, [0, 3, 6, 9, 10]])


def test_locking_a_real_graph_dance_stops_skating_without_knee_pops():
    from dance_addon.core.choreography.compose import compose
    from dance_addon.core.choreography.graph import load_graph
    from dance_addon.core.choreography.model_folders import shipped_graph_dirs
    from training.evaluation.realism import planted_skate_cm_s

    graph = load_graph(shipped_graph_dirs()[0])
    n = 900
    beats = np.arange(0.3, 30.0, 0.5)
    dance = compose("graph", np.zeros((n, 43)) + 0.1, FPS, beats, f0_hz=np.zeros(n), graph=graph, seed=2)
    before = forward_kinematics(dance.rotvecs, dance.root)
    locked = feet.lock_feet(dance.rotvecs, dance.root, FPS)
    after = forward_kinematics(locked.rotvecs, dance.root)
    assert planted_skate_cm_s(after, FPS) < 0.8 * planted_skate_cm_s(before, FPS)

    def knee_angle(p):
        a, b = p[:, 4] - p[:, 1], p[:, 7] - p[:, 4]
        cos = np.sum(a * b, 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
        return np.degrees(np.arccos(np.clip(cos, -1, 1)))
    # locking adds no jump larger than the dance's own largest knee step
    assert np.abs(np.diff(knee_angle(after))).max() <= np.abs(np.diff(knee_angle(before))).max() + 10.0


def test_contacts_of_a_synthetic_walk_are_its_stances():
    """The walk of tests/test_motion_features.py (4 cycles, each foot swings 4 times, the stance
    ankle pinned where it touched down): each foot is in contact in one run per stance (5), never
    in the middle of a swing (where it is highest), and both feet are down in double support."""
    from dance_addon.core.motion.skeleton import end_positions
    from test_motion_features import walk

    positions, steps, rot = walk(with_rotations=True)
    ends = end_positions(rot, positions)
    c = feet.contacts(positions, FPS, np.stack([ends[7], ends[8]], axis=1))
    for f, ankle in ((0, 7), (1, 8)):
        runs = feet._runs(c[:, f])
        assert len(runs) == steps // 2 + 1                       # 4 swings: 5 stances
        height = positions[:, ankle, 1]
        peaks = [a + int(np.argmax(height[a:b])) for a, b in feet._runs(~c[:, f])]
        assert all(height[p] - height.min() > 0.05 for p in peaks)   # what is not contact is a swing
    assert c[0].all() and c[-1].all()                            # standing at both ends
