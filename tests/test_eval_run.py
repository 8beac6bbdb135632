"""`make eval`'s core (training/evaluation/run.py) on a tiny synthetic held-out set.

The "real" dances swing arms and chest to stop exactly on their track's beats; a real (tiny,
randomly initialised) ONNX model is exported and evaluated through load_model(...).generate.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from dance_addon.core.choreography.lstm import load_model
from dance_addon.core.motion import motion_code as mc
from dance_addon.core.motion import skeleton as sk
from dance_addon.core.motion.motion_code import FRAME_DIM
from training.evaluation.evaluate import Dance, ReferenceStats
from training.evaluation.run import (
    COLUMNS,
    RANDOM,
    REAL,
    HeldoutPair,
    HeldoutSet,
    SourceClip,
    find_models,
    format_table,
    model_dances,
    random_clip_dances,
    run_evaluation,
    write_results,
)
from training.export import export_model
from training.model import DanceGenerator, GeneratorConfig, MusicCoderConfig

FPS = 30.0
F = 8
VERSION = "test-features-1"
COLUMN_NAMES = tuple(f"col{i}" for i in range(F))
BEAT_PERIODS = {"t0": 0.5, "t1": 0.62, "t2": 0.44}     # seconds between the synthetic tracks' beats
SWINGING = {"left_shoulder": (0.0, 0.0, 1.0), "right_shoulder": (0.0, 0.0, -1.0),
            "left_elbow": (0.0, 1.0, 0.0), "spine2": (0.0, 0.5, 0.0), "left_knee": (0.4, 0.0, 0.0)}


def dance_on(turns_s: np.ndarray, frames: int, travel: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(T, 20, 3) rotations swinging between +-0.6 rad and stopping at each turn time, (T, 3) root."""
    t = np.arange(frames) / FPS
    k = np.clip(np.searchsorted(turns_s, t, side="right") - 1, 0, len(turns_s) - 2)
    phase = np.clip((t - turns_s[k]) / (turns_s[k + 1] - turns_s[k]), 0.0, 1.0)
    theta = 0.6 * (-1.0) ** k * np.cos(np.pi * phase)
    rv = np.zeros((frames, sk.NUM_JOINTS, 3))
    for name, axis in SWINGING.items():
        rv[:, sk.joint_index(name)] = theta[:, None] * np.array(axis)
    root = np.column_stack([travel * t, np.full(frames, sk.STANDING_HEIGHT), np.zeros(frames)])
    return rv, root


def beats_of(period: float, seconds: float, first: float = 0.3) -> np.ndarray:
    return first + period * np.arange(int((seconds - first) / period) + 1)


@pytest.fixture(scope="module")
def heldout() -> HeldoutSet:
    pairs, rng = [], np.random.default_rng(0)
    for i, (track, period) in enumerate(BEAT_PERIODS.items()):
        frames = 240 + 15 * i
        beats = beats_of(period, frames / FPS)
        rv, root = dance_on(np.concatenate([[-period], beats, beats[-1] + period * np.arange(1, 3)]), frames)
        music = np.sin(2 * np.pi * np.arange(frames)[:, None] / FPS / period + np.arange(F)) \
            + 0.1 * rng.standard_normal((frames, F))
        pairs.append(HeldoutPair(f"c{i}__{track}", f"c{i}", track, rv, root, music, beats, FPS))
    return HeldoutSet(tuple(pairs), {t: beats_of(p, 30.0) for t, p in BEAT_PERIODS.items()}, VERSION, COLUMN_NAMES)


@pytest.fixture(scope="module")
def clips() -> list[SourceClip]:
    """The held-out clips at captured timing: longer than the pairs, swinging at their own pace."""
    out = []
    for i, period in enumerate((0.55, 0.7, 0.47)):
        rv, root = dance_on(beats_of(period, 16.0, first=-period), 400, travel=0.1 * i)
        out.append(SourceClip(f"c{i}", rv, root, FPS))
    return out


@pytest.fixture(scope="module")
def reference_dances() -> list[Dance]:
    dances = []
    for i, period in enumerate((0.4, 0.5, 0.6, 0.75)):
        rv, root = dance_on(beats_of(period, 12.0, first=-period), 300, travel=0.05 * i)
        dances.append(Dance.from_motion(rv, root, FPS, name=f"train{i}"))
    return dances


@pytest.fixture(scope="module")
def reference(reference_dances) -> ReferenceStats:
    return ReferenceStats.from_dances(reference_dances)


@pytest.fixture(scope="module")
def judge(reference_dances):
    """A real (tiny, randomly initialised) two-stream recognizer as the judge of style; the synthetic
    clips and the tiny model's one style are each asked to be genre "a" or "b"."""
    from training.recognition.judge import StyleJudge
    from training.recognition.models import RecognizerConfig, build_model

    torch.manual_seed(0)
    model = build_model(RecognizerConfig("two-stream", 2, channels=(8, 8, 8), fusion_hidden=4)).eval()
    asks = {"c0": "a", "c1": "b", "c2": "a", "style 0": "b"}
    return StyleJudge(model, ("a", "b"), FPS, 60, asks).with_reference(reference_dances)


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    """A real exported generator (random weights) in models/<name>/ of a temporary repo."""
    torch.manual_seed(0)
    cfg = GeneratorConfig(music_dim=F, enc_hidden=(16, 16), lstm_hidden=32, dec_hidden=(16, 16),
                          coder=MusicCoderConfig(channels=8, dilations=(1, 2)))
    rng = np.random.default_rng(1)
    norm = {"motion_mean": np.zeros(FRAME_DIM), "motion_std": np.full(FRAME_DIM, 0.3),
            "music_mean": np.zeros(F), "music_std": np.ones(F)}
    folder = tmp_path_factory.mktemp("repo") / "models" / "tiny-lstm"
    export_model(DanceGenerator(cfg).eval(), folder, fps=FPS, features_version=VERSION,
                 feature_columns=COLUMN_NAMES, norm=norm, start_poses=rng.normal(0, 0.5, (4, FRAME_DIM)),
                 provenance={"data": "random init, synthetic test"}, licence="MIT",
                 model_version="test", precision="float32")
    return folder


def test_every_baseline_is_measured_and_written(heldout, clips, reference, model_folder, judge, tmp_path):
    models = find_models(model_folder.parent)
    assert models == [model_folder]
    result = run_evaluation(heldout, reference, clips, models, tmp_path, judge=judge)
    assert list(result.rows) == [REAL, RANDOM, "tiny-lstm", "tiny-lstm + feet locked"]
    # the locked row is the same dances with their planted feet held: no more skate than unlocked
    assert (result.rows["tiny-lstm + feet locked"]["planted_skate_cm_s"]
            <= result.rows["tiny-lstm"]["planted_skate_cm_s"])
    for name, row in result.rows.items():
        assert row["n_dances"] == len(heldout.pairs)
        for key, _, _ in COLUMNS:
            assert row[key] is not None and math.isfinite(row[key]), (name, key)
        assert row["style_n"] == len(heldout.pairs) and 0.0 <= row["style_acc"] <= 1.0   # every dance judged
    # the real dances stop on their own beats, not on the other tracks' beats
    assert result.rows[REAL]["bas_bailando"] > 0.8
    assert result.rows[REAL]["bas_gap"] > 0.2
    assert result.rows[REAL]["bas_gap"] > result.rows[RANDOM]["bas_gap"] + 0.1

    # the model's dances are load_model(...).generate on each pair's music, seed = pair index, same length
    model = load_model(model_folder)
    for i, (dance, pair) in enumerate(zip(result.dances["tiny-lstm"], heldout.pairs)):
        np.testing.assert_array_equal(dance.rotvecs, model.generate(pair.music, seed=i))
        feet_low = dance.positions[:, [7, 8, 10, 11], 1].min(axis=1)   # grounded: lowest foot point near the floor
        assert np.abs(feet_low).max() < 0.05

    text = write_results(tmp_path, result, {"reference_pairs": 4}, "python -m training.evaluation.run")
    assert format_table(result.rows) in text and (tmp_path / "eval.md").read_text() == text
    saved = json.loads((tmp_path / "eval.json").read_text())
    assert saved["rows"][REAL]["bas_gap"] == pytest.approx(result.rows[REAL]["bas_gap"])
    for png in ("beats.png", "speed.png", "filmstrip.png"):
        data = (tmp_path / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_random_clips_are_other_clips_at_captured_timing_on_the_pairs_music(heldout, clips):
    dances = random_clip_dances(heldout, clips, seed=3)
    by_name = {c.name: c for c in clips}
    for dance, pair in zip(dances, heldout.pairs):
        clip_name, cut = dance.name.split("[")[0], dance.name.split("[")[1].split("]")[0]
        start, stop = map(int, cut.split(":"))
        assert clip_name != pair.clip and stop - start == pair.frames
        np.testing.assert_allclose(dance.rotvecs, by_name[clip_name].rotvecs[start:stop])
        np.testing.assert_array_equal(dance.music_beats_s, pair.beats_s)
    assert [d.name for d in random_clip_dances(heldout, clips, seed=3)] == [d.name for d in dances]


def test_unusable_inputs_are_refused_with_a_reason(heldout, clips, model_folder):
    short = [SourceClip(c.name, c.rotvecs[:100], c.root_translation[:100], FPS) for c in clips]
    with pytest.raises(ValueError, match="no held-out clip of at least"):
        random_clip_dances(heldout, short)
    other = HeldoutSet(heldout.pairs, heldout.track_beats, "music-other", COLUMN_NAMES)
    with pytest.raises(ValueError, match="trained on music features"):
        model_dances(model_folder, other)


def test_long_run_measures_every_window_of_every_seed(reference, model_folder):
    """The 3-minute check's row is freezing_windows / rotation ranges of each seed's dance as the add-on
    makes it (compose.lstm_dance: the network's travel, the pelvis grounded)."""
    from dance_addon.core.choreography.compose import lstm_dance
    from training.evaluation.dynamics import freezing_windows
    from training.evaluation.long_run import Medley, format_long_table, long_run

    music = np.sin(np.arange(900)[:, None] / 7.0 + np.arange(F))               # 30 s at 30 fps
    medley = Medley(music, FPS, ("t0", "t1"), 30.0, np.zeros(900))
    row = long_run(model_folder, medley, reference, seeds=(0, 1))
    model, ratios, outside = load_model(model_folder), [], []
    for seed in (0, 1):
        d = lstm_dance(model, music, seed=seed)
        rv = d.rotvecs
        assert np.abs(d.root[:, 1] - sk.grounded_pelvis_height(rv)).max() < 1e-5
        dance = Dance.from_motion(rv, d.root, FPS)
        ratios.append(freezing_windows(dance.positions, FPS, reference.mean_speed).ratios)
        outside.append(reference.rotation_range.fraction_outside(rv))
    ratios = np.concatenate(ratios)
    assert row["windows"] == 6 and row["seeds"] == 2
    assert row["ratio_min"] == pytest.approx(ratios.min()) and row["ratio_max"] == pytest.approx(ratios.max())
    assert row["windows_outside"] == int(np.sum((ratios < 0.25) | (ratios > 2.0)))
    assert row["rotation_outside"] == pytest.approx(np.mean(outside))
    assert row["reference_speed_m_s"] == reference.mean_speed
    # with the heading held the pelvis only tilts: the body's own motion, never more than with turning
    code = model.generate_frames(music, [0])[0][:, :60]
    still = code.copy()
    still[:, 1] = 0.0
    rv = mc.decode(still)
    root = np.zeros((900, 3))
    root[:, 1] = sk.grounded_pelvis_height(rv)
    held = freezing_windows(Dance.from_motion(rv, root, FPS).positions, FPS, reference.mean_speed).ratios
    assert row["held_ratio_min"] <= held.min() + 1e-12
    assert row["turning_deg_s"] > 0
    assert "| tiny-lstm | 6 |" in format_long_table({"tiny-lstm": row}, medley)


def test_heldout_medley_is_three_minutes_of_the_heldout_tracks(tmp_path):
    from dance_addon.core.music.features import FEATURE_COLUMNS
    from training.data.clips import load_split
    from training.evaluation.long_run import heldout_medley

    medley = heldout_medley(cache_dir=tmp_path)
    assert medley.music.shape[1] == len(FEATURE_COLUMNS) and medley.fps == 30.0
    assert abs(len(medley.music) - 5400) <= 1                                    # 180 s at 30 fps
    assert set(medley.tracks) <= set(load_split().heldout_tracks) and len(medley.tracks) >= 6
    again = heldout_medley(cache_dir=tmp_path)                                  # from the cache
    np.testing.assert_array_equal(again.music, medley.music)
    assert again.tracks == medley.tracks
    assert medley.f0_hz.shape == (len(medley.music),) and (medley.f0_hz > 0).any()
    np.testing.assert_array_equal(again.f0_hz, medley.f0_hz)
