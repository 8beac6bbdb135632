"""One table row of quality metrics for a set of dances, measured against a set of real dances.

`make eval` builds ReferenceStats once from the real mocap, then calls evaluate_set per baseline.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from dance_addon.core.motion.skeleton import NUM_JOINTS, grounded_pelvis_height

from .beats import beat_align_score_bailando, beat_align_score_fact
from .dynamics import freezing_windows, jerk, joint_speeds
from .features import geometric_features, kinetic_features
from .feet import foot_skating, physical_foot_contact
from .fid import diversity, fid
from .joints import check_fps, check_positions, evaluation_positions
from .realism import pelvis_travel_m_min, planted_skate_cm_s, pose_diversity
from .rotation_range import RotationRange


@dataclass(frozen=True)
class Dance:
    """One dance to measure.

    positions: (T, 24, 3) metres, Y up, the layout of joints.evaluation_positions.
    fps: frames per second of positions (and rotvecs).
    music_beats_s: beat times (seconds) of the music the dance goes with, or None.
    rotvecs: (T, 20, 3) local rotation vectors for the rotation-range check, or None.
    """
    positions: np.ndarray
    fps: float
    music_beats_s: np.ndarray | None = None
    rotvecs: np.ndarray | None = None
    name: str = "dance"

    def __post_init__(self) -> None:
        pos = check_positions(self.positions, what=f"dance '{self.name}'", need_smpl24=True, min_frames=4)
        object.__setattr__(self, "positions", pos)
        object.__setattr__(self, "fps", check_fps(self.fps, what=f"dance '{self.name}': fps"))
        if self.rotvecs is not None and len(self.rotvecs) != len(pos):
            raise ValueError(f"dance '{self.name}': {len(self.rotvecs)} rotation frames but {len(pos)} position frames")

    @classmethod
    def from_motion(cls, rotvecs: np.ndarray, root_translation: np.ndarray | None, fps: float,
                    music_beats_s: np.ndarray | None = None, name: str = "dance") -> "Dance":
        """A dance from our motion: rotvecs (T, 20, 3) or (T, 60), root_translation (T, 3) metres."""
        positions = evaluation_positions(rotvecs, root_translation)     # validates the shapes
        rotvecs = np.asarray(rotvecs, dtype=np.float64).reshape(len(positions), NUM_JOINTS, 3)
        return cls(positions, fps, music_beats_s, rotvecs, name)


    @classmethod
    def grounded(cls, rotvecs: np.ndarray, fps: float, music_beats_s: np.ndarray | None = None,
                 name: str = "dance") -> "Dance":
        """A generated dance (rotations only): pelvis above the origin at the height that keeps
        the lowest foot on the floor, as the add-on's default "ground" floor does."""
        root = np.zeros((len(rotvecs), 3))
        root[:, 1] = grounded_pelvis_height(rotvecs)
        return cls.from_motion(rotvecs, root, fps, music_beats_s, name)


@dataclass(frozen=True)
class ReferenceStats:
    """What the metrics need from the real dances.

    kinetic: (M, 72) and geometric: (M, 32) features of the real dances;
    mean_speed: mean joint speed of the real dances in m/s (frame-weighted over all of them);
    rotation_range: per-dimension rotation range, None when the real dances carry no rotvecs.
    """
    kinetic: np.ndarray
    geometric: np.ndarray
    mean_speed: float
    rotation_range: RotationRange | None = field(default=None)

    @classmethod
    def from_dances(cls, dances: Sequence[Dance]) -> "ReferenceStats":
        if len(dances) < 2:
            raise ValueError(f"the reference set needs at least 2 real dances, got {len(dances)}")
        speeds = np.concatenate([joint_speeds(d.positions, d.fps) for d in dances])
        with_rot = [d.rotvecs for d in dances if d.rotvecs is not None]
        return cls(kinetic=np.stack([kinetic_features(d.positions, d.fps) for d in dances]),
                   geometric=np.stack([geometric_features(d.positions, d.fps) for d in dances]),
                   mean_speed=float(speeds.mean()),
                   rotation_range=RotationRange.fit(with_rot) if with_rot else None)


def evaluate_set(dances: Sequence[Dance], reference: ReferenceStats) -> dict[str, float | int | None]:
    """The metrics of a set of dances, as one table row.

    Keys (means over the dances unless said otherwise):
      n_dances;
      fid_k, fid_g: Fréchet distance to the reference features (Bailando's normalisation);
      div_k, div_g: diversity of this set; div_k_ref, div_g_ref: of the reference set;
      bas_bailando, bas_fact: Beat Align Score, Bailando's and FACT's recipes (beats.py), None
        when no dance carries music beats;
      pfc: EDGE's Physical Foot Contact (x 10000, lower is better);
      foot_skate_cm_s: mean horizontal speed of feet in contact; foot_skate_fraction: share of
        contact frames sliding faster than feet.SKATE_SPEED;
      jerk_m_s3: mean jerk magnitude;
      speed_ratio_min, speed_ratio_max: extreme 10 s window mean joint speed / reference, over all
        dances; frozen_fraction, exploding_fraction: share of dances with a window below 25% /
        above 200% of the reference speed;
      rotation_outside: share of frames with a joint rotation outside the reference range, None
        without rotvecs;
      pose_diversity: mean distance between the dance's 2 s window-average poses (joint-pair
        distances plus pelvis height, realism.py); planted_skate_cm_s: mean horizontal speed of
        the ankles while planted (cm/s); travel_m_min: smoothed horizontal pelvis path per minute.
    """
    if len(dances) < 2:
        raise ValueError(f"evaluate_set needs at least 2 dances (FID fits a covariance), got {len(dances)}")
    kinetic = np.stack([kinetic_features(d.positions, d.fps) for d in dances])      # (N, 72)
    geometric = np.stack([geometric_features(d.positions, d.fps) for d in dances])  # (N, 32)
    row: dict[str, float | int | None] = {
        "n_dances": len(dances),
        "fid_k": fid(kinetic, reference.kinetic),
        "fid_g": fid(geometric, reference.geometric),
        "div_k": diversity(kinetic, reference.kinetic),
        "div_g": diversity(geometric, reference.geometric),
        "div_k_ref": diversity(reference.kinetic, reference.kinetic),
        "div_g_ref": diversity(reference.geometric, reference.geometric),
    }
    with_beats = [d for d in dances if d.music_beats_s is not None]
    if with_beats and len(with_beats) != len(dances):
        missing = next(d.name for d in dances if d.music_beats_s is None)
        raise ValueError(f"dance '{missing}' has no music beats while others do; give every dance its beats or none")
    row["bas_bailando"] = _mean([beat_align_score_bailando(d.positions, d.fps, d.music_beats_s) for d in with_beats])
    row["bas_fact"] = _mean([beat_align_score_fact(d.positions, d.fps, d.music_beats_s) for d in with_beats])
    row["pfc"] = _mean([physical_foot_contact(d.positions, d.fps) for d in dances])
    skating = [foot_skating(d.positions, d.fps) for d in dances]
    row["foot_skate_cm_s"] = _mean([s.speed_cm_s for s in skating])
    row["foot_skate_fraction"] = _mean([s.skate_fraction for s in skating])
    row["jerk_m_s3"] = _mean([jerk(d.positions, d.fps) for d in dances])
    freeze = [freezing_windows(d.positions, d.fps, reference.mean_speed) for d in dances]
    ratios = np.concatenate([f.ratios for f in freeze])
    row["speed_ratio_min"] = float(ratios.min())
    row["speed_ratio_max"] = float(ratios.max())
    row["frozen_fraction"] = _mean([float(f.frozen) for f in freeze])
    row["exploding_fraction"] = _mean([float(f.exploding) for f in freeze])
    with_rot = [d for d in dances if d.rotvecs is not None]
    row["rotation_outside"] = (
        _mean([reference.rotation_range.fraction_outside(d.rotvecs) for d in with_rot])
        if with_rot and reference.rotation_range is not None else None)
    row["pose_diversity"] = _mean([pose_diversity(d.positions, d.fps) for d in dances])
    row["planted_skate_cm_s"] = _mean([planted_skate_cm_s(d.positions, d.fps) for d in dances])
    row["travel_m_min"] = _mean([pelvis_travel_m_min(d.positions, d.fps) for d in dances])
    return row


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None
