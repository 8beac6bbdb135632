"""Motion features of a dance segment, after the paper's section 3.2 (numpy and stdlib only).

Dynamic features: joint speed and acceleration. Static features: movement ("action") spacing,
density, arm shape, the footstep track (steps and time off the ground) and balance; plus knee
and ankle motion, which the paper pairs with music features (its T5-T8). segment_features packs
them into one fixed-length vector per segment, in SEGMENT_FEATURE_NAMES order.

Conventions are skeleton.py's: positions are (T, 20, 3) canonical joint positions in metres
(JOINT_NAMES order), Y up, +Z forward, root translation included, the floor at Y = 0; fps is
frames per second. Every per-frame function also accepts leading batch axes, (..., T, 20, 3),
with time on axis -3; segment_features_batch relies on that. Time derivatives are central
differences, one-sided at the first and last frame (see _time_derivative).
"""
from __future__ import annotations

import numpy as np

from .skeleton import NUM_JOINTS

# Foot contact thresholds (the rule is foot_contacts'). The floor is estimated per segment from the
# ankles' own low heights, the lower foot's, so that a foot held up all segment is not taken for
# standing; the absolute cap keeps a segment spent in the air (or on the hands) off the ground.
# Short runs off the ground are a planted foot pivoting or rolling past the thresholds, or a
# one-frame capture spike, which central differences spread over 3 frames; a step's swing is longer.
FLOOR_PERCENTILE = 5.0
CONTACT_HEIGHT = 0.05        # m above the floor estimate (a flat foot's ankle rolls and lifts a few cm)
CONTACT_MAX_HEIGHT = 0.25    # m above Y = 0: an ankle higher than this is never on the ground
CONTACT_SPEED = 0.5          # m/s: a planted ankle pivots and slides below this; a swinging one is faster
MIN_AIR_TIME = 0.15          # s: runs off the ground of up to MIN_AIR_TIME * fps frames, rounded down
                             # to an even count, are filled (up to 4 frames at 30 fps)

SPACING_FLOOR = 0.01         # m: density divides by max(spacing, SPACING_FLOOR), so a still pose gives 0

# joint indices (skeleton.JOINT_NAMES)
PELVIS = 0
HIPS = (1, 2)
KNEES = (4, 5)
ANKLES = (7, 8)
NECK, HEAD = 10, 13
SHOULDERS = (14, 15)
ELBOWS = (16, 17)
WRISTS = (18, 19)

# Body segments for the centre of mass, after Winter's anthropometric table (Biomechanics and Motor
# Control of Human Movement, 4th ed., table 4.1): (segment, proximal end, distal end, mass as a
# fraction of the body's, centre of mass as a fraction of the way from the proximal end). An end
# given as several joints is their mean. The trunk runs from the hip centre (greater trochanters)
# to the shoulder centre (glenohumeral joints); head and neck sit at the head joint (Winter: the
# ear canal); hand and foot, whose end points the 20 joints lack, sit at the wrist and the ankle.
BODY_SEGMENTS: tuple[tuple[str, tuple[int, ...], tuple[int, ...], float, float], ...] = (
    ("trunk", HIPS, SHOULDERS, 0.497, 0.50),
    ("head and neck", (NECK,), (HEAD,), 0.081, 1.0),
    ("left upper arm", (14,), (16,), 0.028, 0.436),
    ("right upper arm", (15,), (17,), 0.028, 0.436),
    ("left forearm", (16,), (18,), 0.016, 0.430),
    ("right forearm", (17,), (19,), 0.016, 0.430),
    ("left hand", (18,), (18,), 0.006, 0.0),
    ("right hand", (19,), (19,), 0.006, 0.0),
    ("left thigh", (1,), (4,), 0.100, 0.433),
    ("right thigh", (2,), (5,), 0.100, 0.433),
    ("left leg", (4,), (7,), 0.0465, 0.433),
    ("right leg", (5,), (8,), 0.0465, 0.433),
    ("left foot", (7,), (7,), 0.0145, 0.0),
    ("right foot", (8,), (8,), 0.0145, 0.0),
)


def _com_weights() -> np.ndarray:
    w = np.zeros(NUM_JOINTS)
    for _, prox, dist, mass, frac in BODY_SEGMENTS:
        for j in prox:
            w[j] += mass * (1.0 - frac) / len(prox)
        for j in dist:
            w[j] += mass * frac / len(dist)
    return w / w.sum()       # Winter's fractions sum to 1.000; keep it exact


COM_WEIGHTS = _com_weights()  # (20,): the COM is this weighted sum of the joint positions

SEGMENT_FEATURE_NAMES: tuple[str, ...] = (
    "mean_speed",           # m/s, mean of joint_speed over frames and joints
    "mean_acceleration",    # m/s^2, mean of joint_acceleration
    "spacing",              # m, movement_spacing
    "density",              # 1/s, density
    "left_arm_out",         # m, arm_shape means over the segment (body frame)
    "left_arm_up",
    "left_arm_forward",
    "right_arm_out",
    "right_arm_up",
    "right_arm_forward",
    "steps_per_second",     # footsteps' steps / (T / fps)
    "airborne_fraction",    # footsteps' share of (foot, frame) pairs off the ground
    "balance",              # m, mean of balance
    "knee_angular_speed",   # rad/s, mean |d knee_angles / dt| over frames and both knees
    "ankle_speed",          # m/s, mean joint_speed of the two ankles
    "pelvis_height",        # m, mean pelvis Y
    "travel_speed",         # m/s, horizontal distance from the pelvis's first to last position / ((T - 1) / fps)
    "turn_speed",           # rad/s, mean |d body_heading / dt| (heading unwrapped)
)
NUM_SEGMENT_FEATURES = len(SEGMENT_FEATURE_NAMES)

_BATCH_ELEMENTS = 1 << 18    # position values gathered at once by segment_features_batch (2 MiB: stays in cache)


def _positions(positions, min_frames: int = 1) -> np.ndarray:
    p = np.asarray(positions, dtype=np.float64)
    if p.ndim < 3 or p.shape[-1] != 3:
        raise ValueError(f"expected positions of shape (T, J, 3), got {p.shape}")
    if p.shape[-3] < min_frames:
        raise ValueError(f"need at least {min_frames} frame(s), got {p.shape[-3]}")
    return p


def _canonical(positions, min_frames: int = 1) -> np.ndarray:
    p = _positions(positions, min_frames)
    if p.shape[-2] != NUM_JOINTS:
        raise ValueError(f"expected the {NUM_JOINTS} canonical joints, got positions of shape {p.shape}")
    return p


def _check_fps(fps) -> float:
    fps = float(fps)
    if not np.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    return fps


def _norm(v: np.ndarray) -> np.ndarray:
    """|v| over a last axis of 3 (several times faster than np.linalg.norm's reduction)."""
    out = v[..., 0] * v[..., 0]
    out += v[..., 1] * v[..., 1]
    out += v[..., 2] * v[..., 2]
    return np.sqrt(out, out=out)


def _time_derivative(x: np.ndarray, fps: float, axis: int) -> np.ndarray:
    """dx/dt along `axis`: (x[t+1] - x[t-1]) * fps / 2 inside, (x[1] - x[0]) * fps at the first
    frame and (x[T-1] - x[T-2]) * fps at the last; all zero for a single frame."""
    x = np.moveaxis(x, axis, 0)
    if x.shape[0] < 2:
        return np.moveaxis(np.zeros_like(x), 0, axis)
    d = np.empty_like(x)
    np.subtract(x[2:], x[:-2], out=d[1:-1])
    d[1:-1] *= fps / 2.0
    np.subtract(x[1], x[0], out=d[0])
    np.subtract(x[-1], x[-2], out=d[-1])
    d[[0, -1]] *= fps
    return np.moveaxis(d, 0, axis)


def joint_velocity(positions: np.ndarray, fps: float) -> np.ndarray:
    """(T, J, 3) m/s: v[t] = dp/dt by _time_derivative (central differences, one-sided at the ends)."""
    return _time_derivative(_positions(positions), _check_fps(fps), axis=-3)


def joint_speed(positions: np.ndarray, fps: float) -> np.ndarray:
    """(T, J) m/s, the paper's movement speed: s[t, j] = |dp[t, j]/dt|, p the (T, J, 3) positions."""
    return _norm(joint_velocity(positions, fps))


def joint_acceleration(positions: np.ndarray, fps: float) -> np.ndarray:
    """(T, J) m/s^2, the paper's acceleration: a[t, j] = |dv[t, j]/dt|, v = joint_velocity (the
    same differences applied twice)."""
    fps = _check_fps(fps)
    return _norm(_time_derivative(joint_velocity(positions, fps), fps, axis=-3))


def _spacing(p: np.ndarray) -> np.ndarray:
    centroid = p.mean(axis=-3, keepdims=True)                              # (..., 1, J, 3)
    return _norm(p - centroid).mean(axis=(-2, -1))       # (...)


def movement_spacing(positions: np.ndarray) -> float:
    """The paper's action spacing (m): the mean distance of each joint from its own centroid,
    averaged over joints:
        spacing = 1/J * sum_j 1/T * sum_t |p[t, j] - c[j]|,   c[j] = 1/T * sum_t p[t, j].
    0 for a still pose; r for every joint going round whole circles of radius r."""
    return float(_spacing(_positions(positions)))


def _density(mean_speed, spacing):
    return mean_speed / np.maximum(spacing, SPACING_FLOOR)


def density(positions: np.ndarray, fps: float) -> float:
    """The paper's action density (1/s): mean joint speed over spacing,
        density = mean_{t, j} joint_speed[t, j] / max(movement_spacing, SPACING_FLOOR).
    High for much movement in a small space (joints going round circles at angular frequency w
    give about w); 0 for a still pose."""
    p = _positions(positions)
    return float(_density(joint_speed(p, fps).mean(), _spacing(p)))


def body_heading(positions: np.ndarray) -> np.ndarray:
    """(T,) radians about +Y, 0 = facing +Z, from the hips: with l = left_hip - right_hip
    (horizontal part, the body's left), forward = l x up = (-l_z, 0, l_x) and
        heading = atan2(-l_z, l_x),   so forward = (sin heading, 0, cos heading).
    (The rest pose's hips give 0.035 rad, SMPL's hips being slightly staggered.)"""
    p = _canonical(positions)
    left = p[..., HIPS[0], :] - p[..., HIPS[1], :]
    return np.arctan2(-left[..., 2], left[..., 0])


def arm_shape(positions: np.ndarray) -> np.ndarray:
    """(T, 6) m: per arm (left, then right) the wrist relative to the shoulder, d = p_wrist - p_shoulder,
    in the body frame of body_heading h (forward f = (sin h, 0, cos h), body's left l = (cos h, 0, -sin h)):
        out     = +d.l for the left arm, -d.l for the right (away from the midline, > 0 spread),
        up      = d_y                                        (> 0 raised),
        forward = d.f                                        (> 0 in front).
    Columns: left out, up, forward, right out, up, forward. T-pose: out ~ 0.53, up ~ forward ~ 0."""
    p = _canonical(positions)
    h = body_heading(p)[..., None]                                          # (..., T, 1)
    d = p[..., WRISTS, :] - p[..., SHOULDERS, :]                            # (..., T, 2, 3)
    c, s = np.cos(h), np.sin(h)
    lateral = d[..., 0] * c - d[..., 2] * s                                 # (..., T, 2) along l
    forward = d[..., 0] * s + d[..., 2] * c
    out = lateral * np.array([1.0, -1.0])
    return np.stack([out, d[..., 1], forward], axis=-1).reshape(*p.shape[:-2], 6)


def _close_air_gaps(ground: np.ndarray, radius: int) -> np.ndarray:
    """Morphological closing of `ground` (..., T) with a window of 2 * radius + 1 frames: runs off
    the ground of up to 2 * radius frames between ground frames (up to radius at the segment's
    ends) become ground; everything else is kept."""
    if radius <= 0 or ground.shape[-1] < 2:
        return ground
    grown = ground.copy()
    for s in range(1, radius + 1):
        grown[..., s:] |= ground[..., :-s]
        grown[..., :-s] |= ground[..., s:]
    closed = grown.copy()
    for s in range(1, radius + 1):
        closed[..., s:] &= grown[..., :-s]
        closed[..., :-s] &= grown[..., s:]
    return closed


def _contacts(ankle_height: np.ndarray, ankle_speed: np.ndarray, fps: float,
              height: float, speed: float) -> np.ndarray:
    """(..., T, 2) ankle heights and speeds -> (..., T, 2) bool on the ground (see foot_contacts)."""
    floor = np.percentile(ankle_height, FLOOR_PERCENTILE, axis=-2).min(axis=-1)       # (...)
    limit = np.minimum(floor + height, CONTACT_MAX_HEIGHT)[..., None, None]
    ground = (ankle_height <= limit) & (ankle_speed < speed)
    radius = int(np.floor(MIN_AIR_TIME * fps / 2.0 + 1e-9))
    return np.swapaxes(_close_air_gaps(np.swapaxes(ground, -1, -2), radius), -1, -2)


def foot_contacts(positions: np.ndarray, fps: float, height: float = CONTACT_HEIGHT,
                  speed: float = CONTACT_SPEED) -> np.ndarray:
    """(T, 2) bool, left and right foot on the ground. With y[t, k] the ankle's height and s[t, k]
    its joint_speed:
        floor     = min_k percentile_t(y[:, k], FLOOR_PERCENTILE)
        ground    = y[t, k] <= min(floor + height, CONTACT_MAX_HEIGHT)  and  s[t, k] < speed
    then runs off the ground shorter than MIN_AIR_TIME are filled (_close_air_gaps, radius
    floor(MIN_AIR_TIME * fps / 2) frames). height in m (CONTACT_HEIGHT), speed in m/s (CONTACT_SPEED)."""
    p = _canonical(positions)
    fps = _check_fps(fps)
    ankles = p[..., ANKLES, :]
    return _contacts(ankles[..., 1], joint_speed(ankles, fps), fps, height, speed)


def _count_steps(contacts: np.ndarray) -> np.ndarray:
    """(..., T, 2) bool -> (...) int: per foot the touch-downs after its first lift-off, summed."""
    g = np.swapaxes(contacts, -1, -2).astype(np.int8)                      # (..., 2, T)
    if g.shape[-1] < 2:
        return np.zeros(g.shape[:-2], dtype=np.int64)
    change = np.diff(g, axis=-1)                                           # +1 touch-down, -1 lift-off
    lift = change == -1
    touch = change == 1
    first_lift = np.where(lift.any(axis=-1), lift.argmax(axis=-1), change.shape[-1])  # (..., 2)
    after = np.arange(change.shape[-1]) > first_lift[..., None]
    return (touch & after).sum(axis=(-2, -1))


def footsteps(positions: np.ndarray, fps: float) -> tuple[int, float]:
    """The paper's footstep track: (steps, airborne_fraction) from c = foot_contacts (T, 2):
        steps             = sum_k #{lift-off of foot k (c goes 1 -> 0) followed later by a touch-down (0 -> 1)}
                          = per foot, the complete runs off the ground inside the segment;
        airborne_fraction = 1/(2T) * sum_{t, k} (1 - c[t, k])   (time off the ground)."""
    c = foot_contacts(positions, fps)
    return int(_count_steps(c)), float((~c).mean())


def centre_of_mass(positions: np.ndarray) -> np.ndarray:
    """(T, 3) m: com[t] = sum_s m_s * (prox_s[t] + f_s * (dist_s[t] - prox_s[t])) over the
    BODY_SEGMENTS (Winter's mass fractions m_s, summing to 1, and centre-of-mass fractions f_s),
    i.e. sum_j COM_WEIGHTS[j] * p[t, j]."""
    return COM_WEIGHTS @ _canonical(positions)


def balance(positions: np.ndarray) -> np.ndarray:
    """(T,) m, the paper's balance: the horizontal distance between the centre of mass's ground
    projection and the centre of the rectangle the two heels (ankles) span,
        balance[t] = |(com[t] - (p[t, left_ankle] + p[t, right_ankle]) / 2)_xz|.
    0.022 m standing in the rest pose; grows as the body leans off its feet."""
    p = _canonical(positions)
    d = centre_of_mass(p) - 0.5 * (p[..., ANKLES[0], :] + p[..., ANKLES[1], :])
    return np.hypot(d[..., 0], d[..., 2])


def knee_angles(positions: np.ndarray) -> np.ndarray:
    """(T, 2) rad, knee flexion (left, right): the angle between the thigh u = knee - hip and the
    shin w = ankle - knee, atan2(|u x w|, u.w); 0 = straight leg (SMPL's rest legs: 0.17-0.18 rad)."""
    p = _canonical(positions)
    u = p[..., KNEES, :] - p[..., HIPS, :]
    w = p[..., ANKLES, :] - p[..., KNEES, :]
    return np.arctan2(_norm(np.cross(u, w)), (u * w).sum(axis=-1))


def knee_angular_speed(positions: np.ndarray, fps: float) -> np.ndarray:
    """(T, 2) rad/s: |d knee_angles / dt| (same differences as joint_speed)."""
    return np.abs(_time_derivative(knee_angles(positions), _check_fps(fps), axis=-2))


def _turn_speed(heading: np.ndarray, fps: float) -> np.ndarray:
    return np.abs(_time_derivative(np.unwrap(heading, axis=-1), fps, axis=-1))


def _features(p: np.ndarray, fps: float) -> np.ndarray:
    """(N, T, 20, 3) float64 segments of equal length -> (N, F) in SEGMENT_FEATURE_NAMES order."""
    n, t = p.shape[0], p.shape[1]
    vel = _time_derivative(p, fps, axis=-3)
    speed = _norm(vel)                                                     # (N, T, J)
    accel = _norm(_time_derivative(vel, fps, axis=-3))
    mean_speed = speed.mean(axis=(-2, -1))
    spacing = _spacing(p)
    arms = arm_shape(p).mean(axis=-2)                                      # (N, 6)
    contacts = _contacts(p[..., ANKLES, 1], speed[..., ANKLES], fps, CONTACT_HEIGHT, CONTACT_SPEED)
    duration = t / fps
    travel_time = (t - 1) / fps
    travel = np.hypot(p[:, -1, PELVIS, 0] - p[:, 0, PELVIS, 0], p[:, -1, PELVIS, 2] - p[:, 0, PELVIS, 2])
    columns = [
        mean_speed,
        accel.mean(axis=(-2, -1)),
        spacing,
        _density(mean_speed, spacing),
        *arms.T,
        _count_steps(contacts) / duration,
        (~contacts).mean(axis=(-2, -1)),
        balance(p).mean(axis=-1),
        knee_angular_speed(p, fps).mean(axis=(-2, -1)),
        speed[..., ANKLES].mean(axis=(-2, -1)),
        p[:, :, PELVIS, 1].mean(axis=-1),
        travel / travel_time if t > 1 else np.zeros(n),
        _turn_speed(body_heading(p), fps).mean(axis=-1),
    ]
    return np.stack([np.asarray(c, dtype=np.float64) for c in columns], axis=-1)


def segment_features(positions: np.ndarray, fps: float) -> np.ndarray:
    """(F,) float64 features of one segment of (T, 20, 3) positions, in SEGMENT_FEATURE_NAMES order
    (each column's formula is at the function named there). Finite for any T >= 1; the speeds of
    a still pose are 0."""
    p = _canonical(positions)
    if p.ndim != 3:
        raise ValueError(f"expected one segment of shape (T, {NUM_JOINTS}, 3), got {p.shape}; "
                         "see segment_features_batch")
    return _features(p[None], _check_fps(fps))[0]


def segment_features_batch(positions: np.ndarray, fps: float, bounds: np.ndarray) -> np.ndarray:
    """(N, F) features of N segments [start, stop) of one motion: row i equals
    segment_features(positions[start_i:stop_i], fps). positions: (T, 20, 3); bounds: (N, 2) ints,
    0 <= start < stop <= T. Segments of equal length are gathered and computed together in chunks."""
    p = _canonical(positions)
    if p.ndim != 3:
        raise ValueError(f"expected one motion of shape (T, {NUM_JOINTS}, 3), got {p.shape}")
    fps = _check_fps(fps)
    b = np.asarray(bounds)
    if b.size == 0:
        return np.zeros((0, NUM_SEGMENT_FEATURES))
    if b.ndim != 2 or b.shape[1] != 2 or not np.issubdtype(b.dtype, np.integer):
        raise ValueError(f"bounds must be an (N, 2) integer array of [start, stop), got {b.dtype} {b.shape}")
    starts, stops = b[:, 0].astype(np.int64), b[:, 1].astype(np.int64)
    if (starts < 0).any() or (stops > len(p)).any() or (stops <= starts).any():
        raise ValueError(f"every segment needs 0 <= start < stop <= {len(p)}")
    out = np.empty((len(b), NUM_SEGMENT_FEATURES))
    lengths = stops - starts
    for length in np.unique(lengths):
        rows = np.flatnonzero(lengths == length)
        chunk = max(1, _BATCH_ELEMENTS // (int(length) * p.shape[1] * 3))
        offsets = np.arange(length)
        for i in range(0, len(rows), chunk):
            sel = rows[i:i + chunk]
            out[sel] = _features(p[starts[sel, None] + offsets], fps)
    return out
