"""The generator: model shapes, training determinism and resume, ONNX export parity with
PyTorch, and the add-on runtime (validation, determinism, progress, cancellation).

Music features here are synthetic (the real ones come from dance_addon.core.music.features)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dance_addon.core.choreography.lstm import Cancelled, ModelError, load_model
from dance_addon.core.motion.skeleton import JOINT_NAMES, MOTION_DIM
from training.export import export_checkpoint, export_model
from training.model import DanceGenerator, GeneratorConfig, MusicCoderConfig
from training.train import (NormStats, PairedWindows, TrainConfig, load_pairs, self_fed_mask, train,
                            window_loss)

F = 8
VERSION = "test-features-1"
COLUMNS = tuple(f"col{i}" for i in range(F))
TINY = GeneratorConfig(music_dim=F, enc_hidden=(16, 16), lstm_hidden=32, dec_hidden=(16, 16), styles=3,
                       coder=MusicCoderConfig(channels=8, dilations=(1, 2)))
STYLE0 = torch.zeros(2, dtype=torch.long)          # style index 0 for a batch of two
STYLE_NAMES = ("salsa/a", "modern/b", "modern/c")


def _song(frames: int, seed: int = 0) -> np.ndarray:
    """Sinusoidal 'music features' with a beat at 2 Hz, plus noise: (frames, F)."""
    t = np.arange(frames)[:, None] / 30.0
    rng = np.random.default_rng(seed)
    return np.sin(2 * np.pi * 2.0 * t * np.arange(1, F + 1) / 4) + 0.1 * rng.standard_normal((frames, F))


def _export(model: DanceGenerator, folder: Path, precision: str) -> Path:
    rng = np.random.default_rng(1)
    norm = {"motion_mean": rng.normal(0, 0.2, MOTION_DIM), "motion_std": rng.uniform(0.1, 0.6, MOTION_DIM),
            "music_mean": np.zeros(F), "music_std": np.ones(F)}
    return export_model(model, folder, fps=30.0, features_version=VERSION, feature_columns=COLUMNS, norm=norm,
                        start_poses=rng.normal(size=(6, MOTION_DIM)), feedback_noise_std=0.05,
                        provenance={"data": "random init, synthetic test"}, licence="MIT",
                        model_version="test", precision=precision,
                        style_names=STYLE_NAMES[:model.cfg.styles] if model.cfg.styles > 1 else None)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    return _export(DanceGenerator(TINY).eval(), tmp_path_factory.mktemp("tiny"), "float32").parent


def _copy(folder: Path, dst: Path) -> Path:
    dst.mkdir()
    for f in folder.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


# ------------------------------------------------------------------------------- the model

def test_model_shapes_and_lookahead():
    model = DanceGenerator(TINY).eval()
    music = torch.randn(2, 50, F)
    code = model.code_music(music, STYLE0)
    assert code.shape == (2, 50, 60)
    y, (h, c) = model(torch.randn(2, 50, MOTION_DIM), code)
    assert y.shape == (2, 50, MOTION_DIM) and h.shape == c.shape == (2, 2, 32)
    y1, _ = model.step(torch.randn(2, MOTION_DIM), code[:, 0])
    assert y1.shape == (2, MOTION_DIM)
    # the coder looks ahead: changing the music 3 frames later changes the code now,
    # changing it beyond half the receptive field does not
    half = TINY.coder.receptive_field // 2
    with torch.no_grad():
        base = model.code_music(music, STYLE0)
        ahead = music.clone()
        ahead[:, 20 + 3] += 1.0
        far = music.clone()
        far[:, 20 + half + 1] += 1.0
        assert not torch.allclose(model.code_music(ahead, STYLE0)[:, 20], base[:, 20])
        assert torch.equal(model.code_music(far, STYLE0)[:, 20], base[:, 20])


def test_the_style_changes_the_music_code():
    model = DanceGenerator(TINY).eval()
    music = torch.randn(1, 30, F)
    with torch.no_grad():
        codes = [model.code_music(music, torch.tensor([k])) for k in range(TINY.styles)]
    assert not torch.allclose(codes[0], codes[1]) and not torch.allclose(codes[1], codes[2])
    with pytest.raises(ValueError, match="styles must be at least 1"):
        DanceGenerator(GeneratorConfig(music_dim=F, styles=0))


def test_config_round_trip():
    assert GeneratorConfig.from_dict(json.loads(json.dumps(TINY.to_dict()))) == TINY


def test_auto_conditioning_schedule_ramps():
    cfg = TrainConfig(gt_frames=2, self_frames=3, ramp_steps=100, free_from_step=-1)
    assert not any(self_fed_mask(20, 0, cfg))
    assert self_fed_mask(11, 100, cfg) == [False, False, True, True, True] * 2
    assert 0 < sum(self_fed_mask(101, 50, cfg)) < sum(self_fed_mask(101, 100, cfg))
    assert self_fed_mask(11, 10**6, cfg) == [False, False, True, True, True] * 2   # never phase 2


def test_phase_two_runs_free_for_long_stretches():
    cfg = TrainConfig(gt_frames=2, self_frames=3, ramp_steps=10, free_from_step=50, free_gt_frames=3,
                      free_self_frames=4)
    assert self_fed_mask(11, 49, cfg) == [False, False, True, True, True] * 2
    assert self_fed_mask(15, 50, cfg) == [False, False, False, True, True, True, True] * 2


# ------------------------------------------------------------------------------- training

def test_window_loss_equals_a_plain_step_by_step_rollout():
    """The trainer batches runs of ground-truth inputs; a naive frame-by-frame loop agrees."""
    torch.manual_seed(0)
    model = DanceGenerator(TINY).eval()
    cfg = TrainConfig(gt_frames=3, self_frames=2, ramp_steps=0, input_noise_std=0.1, velocity_weight=0.5,
                      speed_weight=0.7, speed_lag=3)
    motion, music = torch.randn(2, 16, MOTION_DIM), torch.randn(2, 16, F)
    with torch.no_grad():
        got = window_loss(model, motion, music, STYLE0, 0, cfg, torch.Generator().manual_seed(5))
        noise = torch.randn(2, 15, MOTION_DIM, generator=torch.Generator().manual_seed(5)) * 0.1
        code = model.code_music(music, STYLE0)
        state, prev, preds = None, motion[:, 0], []
        for t in range(1, 16):
            fed = prev if (t - 1) % 5 >= 3 else motion[:, t - 1]
            prev, state = model.step(fed + noise[:, t - 1], code[:, t], state)
            preds.append(prev)
        pred, target = torch.stack(preds, 1), motion[:, 1:]
        want = ((pred - target) ** 2).mean() + 0.5 * ((pred.diff(dim=1) - target.diff(dim=1)) ** 2).mean()
        for lag in (1, 3):                       # speed term: per joint, |change over lag frames|
            gaps = []
            for j in range(MOTION_DIM // 3):
                sp = (pred[:, lag:, 3 * j:3 * j + 3] - pred[:, :-lag, 3 * j:3 * j + 3]).norm(dim=-1)
                st = (target[:, lag:, 3 * j:3 * j + 3] - target[:, :-lag, 3 * j:3 * j + 3]).norm(dim=-1)
                gaps.append((sp - st).abs())
            want = want + 0.7 * torch.stack(gaps).mean()
    assert torch.allclose(got, want, rtol=1e-5, atol=1e-6)


def test_phase_two_loss_down_weights_free_outputs_and_matches_moments():
    torch.manual_seed(0)
    model = DanceGenerator(TINY).eval()
    cfg = TrainConfig(ramp_steps=0, input_noise_std=0.0, speed_weight=0.0, free_from_step=3, free_gt_frames=4,
                      free_self_frames=6, free_mse_weight=0.3, moment_weight=0.5)
    motion, music = torch.randn(2, 16, MOTION_DIM), torch.randn(2, 16, F)
    with torch.no_grad():
        got = window_loss(model, motion, music, STYLE0, 3, cfg, torch.Generator().manual_seed(5))
        code = model.code_music(music, STYLE0)
        state, prev, preds, free = None, motion[:, 0], [], []
        for t in range(1, 16):
            own = (t - 1) % 10 >= 4
            prev, state = model.step(prev if own else motion[:, t - 1], code[:, t], state)
            preds.append(prev)
            free.append(own)
        pred, target = torch.stack(preds, 1), motion[:, 1:]
        w = torch.tensor([0.3 if f else 1.0 for f in free])[None, :, None]
        want = (w * (pred - target) ** 2).mean() + 0.5 * ((pred.mean(1) - target.mean(1)).abs()
                                                          + (pred.std(1) - target.std(1)).abs()).mean()
    assert torch.allclose(got, want, rtol=1e-5, atol=1e-6)


def _data(seed: int = 0) -> PairedWindows:
    rng = np.random.default_rng(seed)
    motions = [np.sin(np.arange(n)[:, None] / 7 + rng.uniform(0, 6, MOTION_DIM)) for n in (80, 60)]
    musics = [_song(n, i) for i, n in enumerate((80, 60), start=seed)]
    return PairedWindows(motions + motions, musics + musics, NormStats.compute(motions, musics),
                         styles=["modern/c", "salsa/a", "modern/b", "salsa/a"])


def test_windows_carry_the_style_of_their_recording():
    data = _data()
    assert data.style_names == ("modern/b", "modern/c", "salsa/a")       # sorted: index -> name
    assert data.styles.tolist() == [1, 2, 0, 2]
    motion, music, style = data.sample(50, 12, torch.Generator().manual_seed(0))
    recordings = {k: [i for i, m in enumerate(data.motions) if data.styles[i] == k] for k in range(3)}
    for b in range(50):                     # each window comes from a recording of its style
        assert any(bool((data.motions[r].unfold(0, 12, 1).transpose(1, 2) == motion[b]).all((1, 2)).any())
                   for r in recordings[int(style[b])])
    assert set(style.tolist()) == {0, 1, 2}
    with pytest.raises(ValueError, match="one style name per recording"):
        PairedWindows(data.motions[:1], data.musics[:1], data.stats, styles=["a", "b"])


def _train(out: Path, steps: int, seed: int = 0, resume: bool = False) -> dict[str, torch.Tensor]:
    cfg = TrainConfig(window=12, batch_size=3, steps=steps, ramp_steps=2, gt_frames=2, self_frames=2,
                      seed=seed, log_every=1, checkpoint_every=100)
    ckpt = train(_data(), TINY, cfg, out, fps=30.0, features_version=VERSION, feature_columns=COLUMNS,
                 resume=resume, progress=False)
    return torch.load(ckpt, weights_only=False)["model"]


def test_training_is_deterministic_and_resumes_exactly(tmp_path):
    a = _train(tmp_path / "a", 4)
    b = _train(tmp_path / "b", 4)
    other = _train(tmp_path / "other", 4, seed=1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], other[k]) for k in a)
    _train(tmp_path / "r", 2)
    resumed = _train(tmp_path / "r", 4, resume=True)
    assert all(torch.equal(a[k], resumed[k]) for k in a)
    log = [json.loads(line) for line in (tmp_path / "r" / "loss.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4] and all(np.isfinite(r["loss"]) for r in log)
    args = json.loads((tmp_path / "r" / "args.json").read_text())
    assert args["resume"] and GeneratorConfig.from_dict(args["model_config"]) == TINY
    # the checkpoint alone makes a model the add-on loads
    folder = export_checkpoint(tmp_path / "r" / "checkpoint.pt", tmp_path / "model", licence="MIT",
                               model_version="t", precision="int8").parent
    dm = load_model(folder, features_version=VERSION, feature_columns=COLUMNS)
    assert dm.start_poses.shape == (32, MOTION_DIM) and dm.noise_std == 0.05
    assert dm.generate(_song(40)).shape == (40, 20, 3)
    assert dm.style_names == ("modern/b", "modern/c", "salsa/a")         # the checkpoint's names ...
    np.testing.assert_array_equal(dm.style_vectors, resumed["style.weight"].numpy())  # ... and vectors
    with pytest.raises(ValueError, match="styles=2 but the data has 3 style names"):
        train(_data(), GeneratorConfig(**{**TINY.to_dict(), "coder": TINY.coder, "styles": 2}),
              TrainConfig(steps=1), tmp_path / "x", fps=30.0, features_version=VERSION, feature_columns=COLUMNS,
              progress=False)


def test_load_pairs_reads_the_documented_format(tmp_path):
    rv = np.random.default_rng(0).normal(size=(40, 20, 3))
    np.savez(tmp_path / "take1.npz", rotvecs=rv, music=_song(40), fps=30.0, features_version=VERSION,
             feature_columns=np.array(COLUMNS))
    (tmp_path / "take1.json").write_text(json.dumps({"source": "synthetic", "licence": "CC0"}))
    pairs = load_pairs(tmp_path)
    assert pairs.motions[0].shape == (40, 60) and np.array_equal(pairs.motions[0][:, 3:6], rv[:, 1])
    assert pairs.musics[0].shape == (40, F) and pairs.feature_columns == COLUMNS and pairs.fps == 30.0
    assert pairs.provenance == [{"file": "take1.npz", "source": "synthetic", "licence": "CC0"}]
    assert pairs.styles == ["take1"]                     # no source clip named: the file is the style
    (tmp_path / "take1.json").write_text(json.dumps({"clip": "cmu-salsa/60_01"}))
    assert load_pairs(tmp_path).styles == ["cmu-salsa/60_01"]
    np.savez(tmp_path / "take2.npz", rotvecs=rv, music=_song(40), fps=60.0, features_version=VERSION,
             feature_columns=np.array(COLUMNS))
    with pytest.raises(ValueError, match="mix frame rates"):
        load_pairs(tmp_path)


# ------------------------------------------------------------------------------- export parity

def test_onnx_matches_torch_over_300_autoregressive_steps_paper_size(tmp_path):
    torch.manual_seed(0)
    model = DanceGenerator(GeneratorConfig(music_dim=F)).eval()   # paper size: 2 x 1024 LSTM
    dm = load_model(_export(model, tmp_path / "paper", "float32"), features_version=VERSION)
    music = _song(300)
    got = dm.generate_code(music, seed=3, noise_scale=0.0)
    got = (got - dm.motion_mean) / dm.motion_std                            # normalised units
    start = dm.start_poses[np.random.default_rng(3).integers(len(dm.start_poses))]
    with torch.no_grad():
        code = model.code_music(torch.tensor(music[None], dtype=torch.float32), STYLE0[:1])[0]   # music mean 0, std 1
        assert np.abs(code.numpy() - dm.code_music(music)).max() <= 1e-4
        prev, state, ref = torch.tensor(start)[None], None, []
        for t in range(300):
            prev, state = model.step(prev, code[t][None], state)
            ref.append(prev[0].numpy())
    err = np.abs(np.array(ref) - got).max()
    assert err <= 1e-4, f"onnxruntime vs torch max abs error {err:.2e} (normalised units)"
    assert np.abs(np.diff(got, axis=0)).max() > 5e-4                     # it did not freeze on a constant


# ------------------------------------------------------------------------------- runtime

def test_generate_is_deterministic_per_seed(tiny_model):
    dm = load_model(tiny_model, features_version=VERSION, feature_columns=COLUMNS)
    music = _song(90)
    a, b, c = dm.generate(music, seed=7), dm.generate(music, seed=7), dm.generate(music, seed=8)
    assert a.shape == (90, 20, 3) and a.dtype == np.float32 and np.isfinite(a).all()
    assert np.array_equal(a, b)
    assert np.abs(a - c).max() > 1e-5   # an untrained tiny net barely reacts; any change is the seed


def test_the_seed_picks_the_style(tiny_model):
    dm = load_model(tiny_model)
    assert dm.style_names == STYLE_NAMES
    assert sorted(dm.pick_style(seed) for seed in range(3)) == [0, 1, 2]   # consecutive seeds: all styles
    assert [dm.pick_style(seed) for seed in range(3, 6)] == [dm.pick_style(seed) for seed in range(3)]
    music = _song(60)
    for seed in range(3):
        by_seed = dm.generate(music, seed=seed)
        by_name = dm.generate(music, seed=seed, style=STYLE_NAMES[dm.pick_style(seed)])
        np.testing.assert_array_equal(by_seed, by_name)
    a = dm.generate(music, seed=0, style=0)
    assert np.abs(a - dm.generate(music, seed=0, style=1)).max() > 1e-4
    with pytest.raises(ValueError, match="unknown style 'tango'.*salsa/a, modern/b, modern/c"):
        dm.generate(music, style="tango")
    with pytest.raises(ValueError, match="out of range: this model has 3 styles"):
        dm.generate(music, style=3)


def test_style_vectors_that_do_not_match_the_names(tiny_model, tmp_path):
    folder = _copy(tiny_model, tmp_path / "m")
    meta = json.loads((folder / "model.json").read_text())
    _edit_manifest(folder, style_vectors=meta["style_vectors"][:2])
    with pytest.raises(ModelError, match="'style_names' and 'style_vectors' should list the same styles"):
        load_model(folder)


def test_progress_counts_up_and_cancel_stops(tiny_model):
    dm = load_model(tiny_model)
    seen: list[tuple[int, int]] = []
    dm.generate(_song(100), progress=lambda done, total: seen.append((done, total)), progress_every=30)
    assert seen == [(30, 100), (60, 100), (90, 100), (100, 100)]
    calls: list[int] = []

    def stop_at_60(done: int, total: int) -> bool:
        calls.append(done)
        return done < 60

    with pytest.raises(Cancelled, match="60 of 100"):
        dm.generate(_song(100), progress=stop_at_60, progress_every=30)
    assert calls == [30, 60]


def test_bad_music_is_refused(tiny_model):
    dm = load_model(tiny_model)
    with pytest.raises(ValueError, match=rf"\(T, {F}\)"):
        dm.generate(np.zeros((10, F + 1)))
    bad = _song(10)
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        dm.generate(bad)


def test_missing_model_folder(tmp_path):
    with pytest.raises(ModelError, match="no model.json"):
        load_model(tmp_path / "nowhere")


def test_corrupt_graph_file(tiny_model, tmp_path):
    folder = _copy(tiny_model, tmp_path / "m")
    data = bytearray((folder / "step.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "step.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="step.onnx: is corrupt"):
        load_model(folder)


def test_truncated_manifest(tiny_model, tmp_path):
    folder = _copy(tiny_model, tmp_path / "m")
    (folder / "model.json").write_text((folder / "model.json").read_text()[:100])
    with pytest.raises(ModelError, match="cannot be read as JSON"):
        load_model(folder)


def _edit_manifest(folder: Path, **changes) -> None:
    meta = json.loads((folder / "model.json").read_text())
    meta.update(changes)
    (folder / "model.json").write_text(json.dumps(meta))


def test_wrong_joint_names(tiny_model, tmp_path):
    folder = _copy(tiny_model, tmp_path / "m")
    _edit_manifest(folder, joint_names=["hips", *JOINT_NAMES[1:]])
    with pytest.raises(ModelError, match="canonical 20-joint skeleton"):
        load_model(folder)


def test_other_motion_code(tiny_model, tmp_path):
    folder = _copy(tiny_model, tmp_path / "m")
    _edit_manifest(folder, motion_code="rotvec-0")
    with pytest.raises(ModelError, match="motion code is 'rotvec-0'.*made for this version"):
        load_model(folder)


def test_wrong_feature_version_and_columns(tiny_model):
    with pytest.raises(ModelError, match="features version 'test-features-1'.*'v2'"):
        load_model(tiny_model, features_version="v2")
    with pytest.raises(ModelError, match="feature columns"):
        load_model(tiny_model, feature_columns=[*COLUMNS[:-1], "other"])


def test_manifest_edited_without_the_graphs(tiny_model, tmp_path):
    folder = _copy(tiny_model, tmp_path / "m")
    _edit_manifest(folder, fps=60.0)
    with pytest.raises(ModelError, match="embedded metadata differs"):
        load_model(folder)

