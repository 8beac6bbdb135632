"""The generator: model shapes, training determinism and resume, ONNX export parity with
PyTorch, and the add-on runtime (validation, determinism, progress, cancellation).

Music features here are synthetic (the real ones come from dance_addon.core.music.features)."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from dance_addon.core.choreography.lstm import Cancelled, ModelError, decode_frames, latent_draws, load_model
from dance_addon.core.motion import motion_code
from dance_addon.core.motion.motion_code import FRAME_DIM
from dance_addon.core.motion.skeleton import JOINT_NAMES, forward_kinematics
from training.export import export_checkpoint, export_model
from training.kinematics import body_positions, world_positions
from training.model import DanceGenerator, GeneratorConfig, MusicCoderConfig
from training.pipeline import teacher_forcing_only
from training.train import (
    NormStats,
    PairedWindows,
    TrainConfig,
    learning_rate,
    load_pairs,
    self_fed,
    train,
    window_loss,
    window_terms,
)

F = 8
VERSION = "test-features-1"
COLUMNS = ("beat",) + tuple(f"col{i}" for i in range(1, F))   # column 0 marks beats, as the real features' does
TINY = GeneratorConfig(music_dim=F, enc_hidden=(16, 16), lstm_hidden=32, dec_hidden=(16, 16), styles=3,
                       latent_frames=4, posterior_hidden=16, prior_hidden=16,
                       coder=MusicCoderConfig(channels=8, dilations=(1, 2)))
STYLE0 = torch.zeros(2, dtype=torch.long)          # style index 0 for a batch of two
STYLE_NAMES = ("salsa/a", "modern/b", "modern/c")


def _song(frames: int, seed: int = 0) -> np.ndarray:
    """Sinusoidal 'music features' at 2 Hz plus noise, and a beat column (1 at the beats, every
    13 frames from frame 5, else 0): (frames, F)."""
    t = np.arange(frames)[:, None] / 30.0
    rng = np.random.default_rng(seed)
    song = np.sin(2 * np.pi * 2.0 * t * np.arange(1, F + 1) / 4) + 0.1 * rng.standard_normal((frames, F))
    song[:, 0] = 0.0
    song[5::13, 0] = 1.0
    return song


def _export(model: DanceGenerator, folder: Path, precision: str, output_smoothing: float = 0.0) -> Path:
    rng = np.random.default_rng(1)
    norm = {"motion_mean": rng.normal(0, 0.2, FRAME_DIM), "motion_std": rng.uniform(0.1, 0.6, FRAME_DIM),
            "music_mean": np.zeros(F), "music_std": np.ones(F)}
    return export_model(model, folder, fps=30.0, features_version=VERSION, feature_columns=COLUMNS, norm=norm,
                        start_poses=rng.normal(size=(6, FRAME_DIM)),
                        provenance={"data": "random init, synthetic test"}, licence="MIT",
                        model_version="test", precision=precision,
                        style_names=STYLE_NAMES[:model.cfg.styles] if model.cfg.styles > 1 else None,
                        output_smoothing=output_smoothing)


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
    z = torch.randn(2, 50, TINY.latent_dim)
    y, (h, c) = model(torch.randn(2, 50, FRAME_DIM), code, z)
    assert y.shape == (2, 50, FRAME_DIM) and h.shape == c.shape == (2, 2, 32)
    y1, _ = model.step(torch.randn(2, FRAME_DIM), code[:, 0], z[:, 0])
    assert y1.shape == (2, FRAME_DIM)
    mu, logvar = model.posterior(torch.randn(2, FRAME_DIM), torch.randn(2, 3, FRAME_DIM), code[:, :3].mean(1))
    assert mu.shape == logvar.shape == (2, TINY.latent_dim)
    with torch.no_grad():                                                # the latent changes the frame
        other, _ = model.step(torch.zeros(2, FRAME_DIM), code[:, 0], z[:, 0] + 1.0)
        same, _ = model.step(torch.zeros(2, FRAME_DIM), code[:, 0], z[:, 0])
        assert (other - same).abs().max() > 1e-4
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


@pytest.mark.parametrize("film", [False, True])
def test_the_style_changes_the_music_code(film):
    model = DanceGenerator(replace(TINY, style_film=film)).eval()
    music = torch.randn(1, 30, F)
    with torch.no_grad():
        codes = [model.code_music(music, torch.tensor([k])) for k in range(TINY.styles)]
    assert not torch.allclose(codes[0], codes[1]) and not torch.allclose(codes[1], codes[2])
    with torch.no_grad():                  # one reading of the song serves every style (the add-on's variations)
        shared = model.code_music(music, torch.arange(TINY.styles))
    assert shared.shape == (TINY.styles, 30, 60)
    for k in range(TINY.styles):
        torch.testing.assert_close(shared[k], codes[k][0], rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="styles must be at least 1"):
        DanceGenerator(GeneratorConfig(music_dim=F, styles=0))


def test_config_round_trip():
    assert GeneratorConfig.from_dict(json.loads(json.dumps(TINY.to_dict()))) == TINY


def test_scheduled_sampling_ramps():
    cfg = TrainConfig(self_fed_max=0.8, ramp_steps=100)
    assert self_fed(0, cfg) == 0.0 and self_fed(50, cfg) == pytest.approx(0.4)
    assert self_fed(100, cfg) == self_fed(10**6, cfg) == pytest.approx(0.8)
    assert self_fed(0, teacher_forcing_only(cfg)) == self_fed(10**6, teacher_forcing_only(cfg)) == 0.0


# ------------------------------------------------------------------------------- training

def _batch(seed: int = 0, length: int = 16):
    g = torch.Generator().manual_seed(seed)
    frames = torch.randn(2, length, FRAME_DIM, generator=g) * 0.3
    music = torch.randn(2, length, F, generator=g)
    contacts = torch.rand(2, length, 2, generator=g) < 0.5
    eps = torch.randn(2, length - 1, TINY.latent_dim, generator=g)
    coin = torch.rand(2, length - 1, generator=g)
    beats = torch.zeros(2, length, dtype=torch.bool)
    beats[0, 4::5] = True                  # window 0: a beat every 5 frames; window 1: none (spans of 8)
    return frames, music, contacts, beats, eps, coin


STATS = (torch.zeros(FRAME_DIM), torch.ones(FRAME_DIM))


HELD, FREE = torch.tensor([False, False]), torch.tensor([False, True])   # windows drawing from the prior


@pytest.mark.parametrize("self_fed_max", [0.5, 0.0])
@pytest.mark.parametrize("beat_spans", [False, True])
def test_window_loss_equals_a_plain_step_by_step_rollout(beat_spans, self_fed_max):
    """A naive frame-by-frame loop agrees with the trainer, including which inputs are the
    network's own, the spans (every latent_frames; with beat spans one per beat in window 0 and
    every 2 x latent_frames in window 1 whose music has no beats), the latent held over each
    span, the prior the KL term is taken against, and the free window, whose latents come from
    that prior and which no per-frame term sees. With teacher forcing only (self_fed_max 0) the
    trainer runs each span in one call; the loop still steps frame by frame."""
    torch.manual_seed(0)
    model = DanceGenerator(replace(TINY, beat_spans=beat_spans)).eval()
    cfg = TrainConfig(warm_frames=5, self_fed_max=self_fed_max, ramp_steps=0, kl_weight=0.3, position_weight=0.0,
                      velocity_weight=0.0, skate_weight=0.0, energy_weight=0.0, envelope_weight=0.0, travel_weight=0.0,
                      turn_weight=0.0, spread_weight=0.0, accel_weight=0.0)
    frames, music, contacts, beats, eps, coin = _batch(length=20)
    starts = [[0, 3, 8, 13, 18], [0, 8, 16]]  # target t is frame t + 1: beats at frames 4, 9, 14, 19; spans of 8
    if not beat_spans:
        starts = [[0, 4, 8, 12, 16]] * 2
    with torch.no_grad():
        got, terms = window_loss(model, frames, music, contacts, STYLE0, beats, eps, coin, FREE, 0, cfg, STATS, 30.0)
        code = model.code_music(music, STYLE0)
        preds, kls = [], []
        for w in range(2):                 # each window alone: window 1 is free
            state, last, out = None, None, []
            own = coin[w] < self_fed_max
            for t in range(19):
                x = frames[w, t] if t < 5 else (last if own[t] else frames[w, t])   # warm frames: truth
                if t in starts[w]:
                    end = next((s for s in starts[w] if s > t), 19)
                    span = slice(t + 1, end + 1)
                    mu, logvar = model.posterior(x[None], frames[w, span][None], code[w, span].mean(0)[None])
                    h = torch.zeros(TINY.lstm_layers, 1, TINY.lstm_hidden) if state is None else state[0]
                    mu_p, logvar_p = model.prior(torch.cat([h[-1], x[None], code[w, t + 1][None]], -1)).chunk(2, -1)
                    logvar_p = logvar_p.clamp(-8, 4)
                    kls.append(0.5 * (logvar_p - logvar + (logvar.exp() + (mu - mu_p) ** 2) / logvar_p.exp() - 1).sum())
                    if w == 1:
                        mu, logvar = mu_p, logvar_p
                    z = mu + eps[w, t][None] * (0.5 * logvar).exp()
                last, state = model.step(x[None], code[w, t + 1][None], z, state)
                last = last[0]
                out.append(last)
            preds.append(torch.stack(out))
        want_frame = ((preds[0] - frames[0, 1:]) ** 2).mean()                      # the held window only
        want = want_frame + 0.3 * torch.stack(kls).sum() / (2 * 19 * FRAME_DIM)
    assert terms["frame"] == pytest.approx(want_frame.item(), rel=1e-5)
    assert torch.allclose(got, want, rtol=1e-5, atol=1e-6)


def test_free_windows_answer_only_to_the_window_level_terms():
    """What the truth of a free window is changes no per-frame term, only the window-level ones."""
    torch.manual_seed(0)
    model = DanceGenerator(TINY).eval()
    cfg = TrainConfig(warm_frames=5, self_fed_max=1.0, ramp_steps=0)
    frames, music, contacts, beats, eps, coin = _batch(length=24)
    other = frames.clone()
    other[1, 6:] = torch.roll(frames[1, 6:], 5, dims=0) * 1.5            # free window's truth after its warm frames
    with torch.no_grad():
        _, a = window_loss(model, frames, music, contacts, STYLE0, beats, eps, coin, FREE, 0, cfg, STATS, 30.0)
        _, b = window_loss(model, other, music, contacts, STYLE0, beats, eps, coin, FREE, 0, cfg, STATS, 30.0)
        _, c = window_loss(model, other, music, contacts, STYLE0, beats, eps, coin, HELD, 0, cfg, STATS, 30.0)
    for k in ("frame", "position", "velocity", "skate"):
        assert a[k] == pytest.approx(b[k], rel=1e-6), k
    assert a["energy"] != pytest.approx(b["energy"], rel=1e-3) and a["travel"] != pytest.approx(b["travel"], rel=1e-3)
    assert c["frame"] != pytest.approx(b["frame"], rel=1e-3)             # held, the same window counts


def test_window_terms_ask_for_the_truths_motion_not_its_poses():
    t = np.arange(90) / 30.0
    rv = np.zeros((90, 20, 3))
    rv[:, 16, 2] = 0.8 * np.sin(2 * np.pi * 2 * t) ** 2                   # an arm that swings twice a second
    rv[:, 4, 0] = 0.5 * np.sin(2 * np.pi * t)
    root = np.c_[np.linspace(0, 2, 90), np.full(90, 0.9), np.zeros(90)]   # 2 m in 3 s

    def frames_of(rv):
        return torch.tensor(np.concatenate([motion_code.encode(rv), motion_code.encode_root(rv, root, 30.0)], 1)[None])
    truth = frames_of(rv)

    def terms(frames):
        return {k: float(v) for k, v in window_terms(frames, truth, body_positions(frames), body_positions(truth),
                                                     10, 30.0).items()}
    assert all(v == pytest.approx(0, abs=1e-4) for v in terms(truth).values())
    still = truth.clone()
    still[:, :, :60] = truth[:, :1, :60]                                 # the same pose held, travelling
    frozen = terms(still)
    speed = body_positions(truth).diff(dim=1).norm(dim=-1)[:, 10:]     # (1, T', 20) the truth's joint speeds
    assert frozen["energy"] == pytest.approx(float(speed.mean()), rel=1e-3) and frozen["energy"] > 0.002
    assert frozen["travel"] == pytest.approx(0, abs=1e-6)
    assert frozen["envelope"] == pytest.approx(1, abs=0.05)              # no rise and fall: no correlation
    assert terms(frames_of(-rv))["energy"] == pytest.approx(0, abs=1e-4)       # other poses, the same motion
    half = truth.clone()
    half[:, :, 60:62] *= 0.5
    assert terms(half)["travel"] == pytest.approx(float(np.linalg.norm(truth[0, 20, 60:62])) / 2, rel=0.05)
    late = terms(torch.cat([truth[:, 2:], truth[:, -2:]], 1))    # the same swings, the arm's speed 1/2 period late
    assert late["envelope"] > 1.2 and late["energy"] == pytest.approx(0, abs=1e-4)
    # drift: the truth stands, then raises its left arm for the second half; a dance that keeps
    # standing pays the move, one that raises the other arm as far pays nothing: how far, not where
    still_rv = np.zeros((90, 20, 3))
    moves = still_rv.copy()
    moves[50:, 14, 2] += 1.2
    truth = frames_of(moves)
    other = still_rv.copy()
    other[50:, 15, 2] -= 1.2                                                # the right arm, mirrored
    bt = body_positions(truth)[:, 10:]
    want = float((((bt[:, 40:].mean(1) - bt[:, :40].mean(1)) ** 2).sum(-1).mean(-1)).sqrt())
    assert want > 0.05, want
    assert terms(frames_of(still_rv))["drift"] == pytest.approx(want, rel=1e-3)
    assert terms(frames_of(other))["drift"] < 0.05 * want                 # (the skeleton is not quite symmetric)


def test_skate_term_counts_only_planted_feet_that_move():
    model = DanceGenerator(TINY).eval()
    cfg = TrainConfig(warm_frames=20, self_fed_max=0.0, ramp_steps=0)
    frames, music, contacts, beats, eps, coin = _batch(length=20)
    with torch.no_grad():
        _, planted = window_loss(model, frames, music, torch.ones_like(contacts), STYLE0, beats, eps, coin, HELD, 0,
                                 cfg, STATS, 30.0)
        _, lifted = window_loss(model, frames, music, torch.zeros_like(contacts), STYLE0, beats, eps, coin, HELD, 0,
                                cfg, STATS, 30.0)
    assert planted["skate"] > 0 and lifted["skate"] == 0.0
    assert planted["frame"] == lifted["frame"]


def test_torch_kinematics_match_the_numpy_skeleton():
    rng = np.random.default_rng(0)
    rv = rng.normal(0, 0.4, (40, 20, 3))
    rv[:, 0] = motion_code.join_heading(np.linspace(0.5, 3, 40), np.stack([rng.normal(0, .1, 40), np.zeros(40),
                                                                          rng.normal(0, .1, 40)], -1))
    root = np.cumsum(rng.normal(0, .02, (40, 3)), 0)
    root[:, 1] = 0.9
    frames = np.concatenate([motion_code.encode(rv), motion_code.encode_root(rv, root, 30.0)], 1)
    got = world_positions(torch.tensor(frames[None]), 30.0)[0].numpy()
    decoded = motion_code.decode(frames[:, :60], 0.0)
    want = forward_kinematics(decoded, motion_code.decode_root(frames[:, 60:], motion_code.headings(frames), 30.0))
    np.testing.assert_allclose(got, want, atol=1e-9)


def _data(seed: int = 0) -> PairedWindows:
    rng = np.random.default_rng(seed)
    frames = [np.sin(np.arange(n)[:, None] / 7 + rng.uniform(0, 6, FRAME_DIM)) for n in (80, 60)]
    musics = [_song(n, i) for i, n in enumerate((80, 60), start=seed)]
    contacts = [rng.uniform(size=(len(f), 2)) < 0.5 for f in frames]
    return PairedWindows(frames + frames, musics + musics, contacts + contacts, NormStats.compute(frames, musics),
                         styles=["modern/c", "salsa/a", "modern/b", "salsa/a"], beat_column=0)


def test_windows_carry_the_style_of_their_recording():
    data = _data()
    assert data.style_names == ("modern/b", "modern/c", "salsa/a")       # sorted: index -> name
    assert data.styles.tolist() == [1, 2, 0, 2]
    frames, music, contacts, style, beats = data.sample(50, 12, torch.Generator().manual_seed(0))
    assert contacts.shape == (50, 12, 2) and contacts.dtype == torch.bool
    assert beats.shape == (50, 12) and beats.dtype == torch.bool
    raw = music * torch.tensor(data.stats.music_std[0]) + torch.tensor(data.stats.music_mean[0])
    assert torch.equal(beats, raw[:, :, 0] > 0.5)                        # the windows' own beats
    recordings = {k: [i for i, m in enumerate(data.frames) if data.styles[i] == k] for k in range(3)}
    for b in range(50):                     # each window comes from a recording of its style
        assert any(bool((data.frames[r].unfold(0, 12, 1).transpose(1, 2) == frames[b]).all((1, 2)).any())
                   for r in recordings[int(style[b])])
    assert set(style.tolist()) == {0, 1, 2}
    with pytest.raises(ValueError, match="one style name per recording"):
        PairedWindows(data.frames[:1], data.musics[:1], data.contacts[:1], data.stats, styles=["a", "b"])


def test_mirrored_recordings_double_the_data_with_the_same_style():
    rng = np.random.default_rng(0)
    rv = [rng.normal(0, 0.2, (40, 20, 3))]
    root = [np.c_[np.linspace(0, 1, 40), np.full(40, 0.9), np.zeros(40)]]
    plain = PairedWindows.from_motion(rv, root, [_song(40)], 30.0, ["salsa/a"])
    both = PairedWindows.from_motion(rv, root, [_song(40)], 30.0, ["salsa/a"], mirror=True)
    assert len(plain.frames) == 1 and len(both.frames) == 2 and both.styles.tolist() == [0, 0]
    travel = both.frames[1][:, 60] * both.stats.motion_std[60] + both.stats.motion_mean[60]   # body-frame x velocity
    first = both.frames[0][:, 60] * both.stats.motion_std[60] + both.stats.motion_mean[60]
    np.testing.assert_allclose(travel.numpy(), -first.numpy(), atol=1e-5)   # the mirror travels the other way


def _train(out: Path, steps: int, seed: int = 0, resume: bool = False) -> dict[str, torch.Tensor]:
    cfg = TrainConfig(window=12, batch_size=4, steps=steps, ramp_steps=2, warm_frames=3, seed=seed, log_every=1,
                      checkpoint_every=100)
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
    first = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=False)["train_seconds"]
    resumed = _train(tmp_path / "r", 4, resume=True)
    assert all(torch.equal(a[k], resumed[k]) for k in a)
    total = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=False)["train_seconds"]
    assert 0 < first < total                          # the training time adds up over the resumes
    log = [json.loads(line) for line in (tmp_path / "r" / "loss.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in log if "step" in r]
    assert steps == [1, 2, 3, 4] and all(np.isfinite(r["loss"]) for r in log if "step" in r)
    assert {"frame", "kl", "position", "velocity", "skate"} <= set(log[0])
    args = json.loads((tmp_path / "r" / "args.json").read_text())
    assert args["resume"] and GeneratorConfig.from_dict(args["model_config"]) == TINY
    # the checkpoint alone makes a model the add-on loads
    folder = export_checkpoint(tmp_path / "r" / "checkpoint.pt", tmp_path / "model", licence="MIT",
                               model_version="t", precision="int8").parent
    dm = load_model(folder, features_version=VERSION, feature_columns=COLUMNS)
    assert dm.start_poses.shape == (32, FRAME_DIM)
    assert dm.meta["provenance"]["training_seconds"] == round(total, 1)   # for the model card
    assert dm.generate(_song(40)).shape == (40, 20, 3)
    assert dm.style_names == ("modern/b", "modern/c", "salsa/a")         # the checkpoint's names ...
    np.testing.assert_array_equal(dm.style_vectors, resumed["style.weight"].numpy())  # ... and vectors
    with pytest.raises(ValueError, match="styles=2 but the data has 3 style names"):
        train(_data(), GeneratorConfig(**{**TINY.to_dict(), "coder": TINY.coder, "styles": 2}),
              TrainConfig(steps=1), tmp_path / "x", fps=30.0, features_version=VERSION, feature_columns=COLUMNS,
              progress=False)


def test_a_fine_tune_starts_from_the_checkpoint_it_is_given(tmp_path):
    """train(init_from=...): the weights and start poses of the given checkpoint, a fresh optimiser
    and step count, its origin in the provenance; another architecture is refused."""
    base = _train(tmp_path / "base", 2)
    cfg = TrainConfig(window=16, batch_size=4, steps=1, ramp_steps=0, warm_frames=3, lr=0.0, log_every=1)
    ckpt = train(_data(), TINY, cfg, tmp_path / "fine", fps=30.0, features_version=VERSION, feature_columns=COLUMNS,
                 init_from=tmp_path / "base" / "checkpoint.pt", progress=False)
    fine = torch.load(ckpt, weights_only=False)
    assert fine["step"] == 1                                                 # its own count, not 2 + 1
    assert all(torch.equal(base[k], fine["model"][k]) for k in base)         # lr 0: the weights it started from
    base_ck = torch.load(tmp_path / "base" / "checkpoint.pt", weights_only=False)
    assert torch.equal(fine["start_poses"], base_ck["start_poses"])
    assert fine["provenance"]["init_from"] == str(tmp_path / "base" / "checkpoint.pt")
    assert fine["provenance"]["init_steps"] == 2
    moved = train(_data(), TINY, replace(cfg, lr=1e-2), tmp_path / "moved", fps=30.0, features_version=VERSION,
                  feature_columns=COLUMNS, init_from=tmp_path / "base" / "checkpoint.pt", progress=False)
    assert not all(torch.equal(base[k], torch.load(moved, weights_only=False)["model"][k]) for k in base)
    wider = GeneratorConfig(**{**TINY.to_dict(), "coder": TINY.coder, "lstm_hidden": 48})
    with pytest.raises(ValueError, match="another architecture"):
        train(_data(), wider, cfg, tmp_path / "x", fps=30.0, features_version=VERSION, feature_columns=COLUMNS,
              init_from=tmp_path / "base" / "checkpoint.pt", progress=False)


def test_load_pairs_reads_the_documented_format(tmp_path):
    rv = np.random.default_rng(0).normal(size=(40, 20, 3))
    root = np.c_[np.linspace(0, 1, 40), np.full(40, 0.9), np.zeros(40)]
    np.savez(tmp_path / "take1.npz", rotvecs=rv, root_translation=root, music=_song(40), fps=30.0,
             features_version=VERSION, feature_columns=np.array(COLUMNS))
    (tmp_path / "take1.json").write_text(json.dumps({"source": "synthetic", "licence": "CC0"}))
    pairs = load_pairs(tmp_path)
    assert pairs.motions[0].shape == (40, 60) and np.array_equal(pairs.motions[0][:, 3:6], rv[:, 1])
    assert np.array_equal(pairs.roots[0], root)
    assert pairs.musics[0].shape == (40, F) and pairs.feature_columns == COLUMNS and pairs.fps == 30.0
    assert pairs.provenance == [{"file": "take1.npz", "source": "synthetic", "licence": "CC0"}]
    assert pairs.styles == ["take1"]                     # no source clip named: the file is the style
    (tmp_path / "take1.json").write_text(json.dumps({"clip": "cmu-salsa/60_01"}))
    assert load_pairs(tmp_path).styles == ["cmu-salsa/60_01"]
    np.savez(tmp_path / "take2.npz", rotvecs=rv, root_translation=root, music=_song(40), fps=60.0,
             features_version=VERSION, feature_columns=np.array(COLUMNS))
    with pytest.raises(ValueError, match="mix frame rates"):
        load_pairs(tmp_path)


# ------------------------------------------------------------------------------- export parity

def _torch_rollout(model: DanceGenerator, dm, music: np.ndarray, seed: int) -> np.ndarray:
    """The dance of `seed` computed frame by frame in PyTorch with the runtime's draws (start
    pose, the prior's latent at each span start, held over the span), in normalised units (T, D)."""
    rng = np.random.default_rng(seed)
    start = dm.start_poses[rng.integers(len(dm.start_poses))]
    eps = torch.tensor(rng.standard_normal((len(music), model.cfg.latent_dim), dtype=np.float32))
    with torch.no_grad():
        code = model.code_music(torch.tensor(music[None], dtype=torch.float32),
                                torch.tensor([dm.pick_style(seed)]))[0]        # music mean 0, std 1
        prev, state, ref = torch.tensor(start)[None], None, []
        draws = latent_draws(np.flatnonzero(music[:, 0] > 0.5), len(music), model.cfg.latent_frames, dm.draw_lead)
        for t in range(len(music)):
            if draws[t]:
                mu, logvar = model.prior_dist(state, prev, code[t][None])
                z = mu + (0.5 * logvar).exp() * eps[t][None]
            prev, state = model.step(prev, code[t][None], z, state)
            ref.append(prev[0].numpy())
    return np.array(ref)


def test_onnx_rollout_matches_torch_over_300_frames_paper_size(tmp_path):
    torch.manual_seed(0)
    model = DanceGenerator(GeneratorConfig(music_dim=F, lstm_hidden=1024)).eval()   # paper size: 2 x 1024
    dm = load_model(_export(model, tmp_path / "paper", "float32"), features_version=VERSION)
    music = _song(300)
    got = (dm.generate_frames(music, [3])[0] - dm.motion_mean) / dm.motion_std   # normalised units
    err = np.abs(_torch_rollout(model, dm, music, 3) - got).max()
    assert err <= 1e-4, f"onnxruntime vs torch max abs error {err:.2e} (normalised units)"
    assert np.abs(np.diff(got, axis=0)).max() > 5e-4                     # it did not freeze on a constant


def test_variations_run_in_one_batch_and_match_their_single_runs(tiny_model):
    dm = load_model(tiny_model)
    music = _song(70)
    together = dm.generate_frames(music, [4, 9, 4])
    assert together.shape == (3, 70, FRAME_DIM)
    np.testing.assert_allclose(together[0], dm.generate_frames(music, [4])[0], atol=1e-5)
    np.testing.assert_allclose(together[1], dm.generate_frames(music, [9])[0], atol=1e-5)
    np.testing.assert_array_equal(together[0], together[2])              # same seed, same dance
    rotvecs, root = decode_frames(together[1], dm.fps)
    assert rotvecs.shape == (70, 20, 3) and root.shape == (70, 3)
    np.testing.assert_allclose(rotvecs, dm.generate(music, seed=9), atol=1e-5)


def test_two_threads_dance_a_batch_in_two_parts_as_one_thread_does(tiny_model, tmp_path):
    one, two = load_model(tiny_model, threads=1), load_model(tiny_model, threads=2)
    assert len(one._rollouts) == 1 and len(two._rollouts) == 2 and not one.coder_shares_music
    music = _song(70)
    np.testing.assert_array_equal(one.generate_frames(music, [4, 9, 2]), two.generate_frames(music, [4, 9, 2]))
    np.testing.assert_array_equal(one.generate_frames(music, [5]), two.generate_frames(music, [5]))
    torch.manual_seed(0)                     # a FiLM coder: the song coded once for every style of a batch
    film = DanceGenerator(replace(TINY, style_film=True)).eval()
    dm = load_model(_export(film, tmp_path / "film", "float32"))
    assert dm.coder_shares_music
    together = dm.generate_frames(music, [4, 9, 2])
    for k, seed in enumerate((4, 9, 2)):
        np.testing.assert_allclose(together[k], dm.generate_frames(music, [seed])[0], atol=1e-5)


def test_latents_are_drawn_at_the_beats_with_the_models_lead(tiny_model, tmp_path):
    from training.export import update_metadata

    # frame 0, `lead` frames before each beat at least span // 2 after the last draw, and after
    # 2 x span frames without one
    assert np.flatnonzero(latent_draws([10, 25, 27, 60], 100, 8, lead=2)).tolist() == [0, 8, 23, 39, 55, 71, 87]
    assert np.flatnonzero(latent_draws([3, 12, 21], 30, 8)).tolist() == [0, 12, 21]   # 3: too soon after 0
    assert np.flatnonzero(latent_draws([], 40, 5)).tolist() == [0, 10, 20, 30]        # no beats: every 2 x span
    with pytest.raises(ValueError, match="lead >= 0"):
        latent_draws([5], 10, 4, lead=-1)
    folder = _copy(tiny_model, tmp_path / "m")
    update_metadata(folder, draw_lead_frames=3)         # model.json and the graphs' copies, new checksums
    early, plain = load_model(folder), load_model(tiny_model)
    assert early.draw_lead == 3 and plain.draw_lead == 0
    music = _song(60)
    a, b = plain.generate_frames(music, [1])[0], early.generate_frames(music, [1])[0]
    first = int(np.flatnonzero(music[:, 0] > 0.5)[0])    # the first beat (frame 5): lead 3 draws at frame 2
    np.testing.assert_array_equal(a[:first - 3], b[:first - 3])
    assert np.abs(a[first - 3:] - b[first - 3:]).max() > 1e-5
    _edit_manifest(folder, draw_lead_frames=99)
    with pytest.raises(ModelError, match="'draw_lead_frames' should be a whole number from 0 to latent_frames"):
        load_model(folder)


def test_the_latents_make_the_variety_and_temperature_scales_them(tiny_model):
    dm = load_model(tiny_model)
    music = _song(40)
    cold, warm, hot = (dm.generate_frames(music, [0], temperature=t)[0] for t in (0.0, 1.0, 2.0))
    assert np.abs(warm - cold).max() > 1e-4
    assert np.abs(hot - cold).mean() > np.abs(warm - cold).mean()        # farther from the latent-free dance
    with pytest.raises(ValueError, match="temperature"):
        dm.generate_frames(music, [0], temperature=-1.0)
    with pytest.raises(ValueError, match="no seeds"):
        dm.generate_frames(music, [])


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


def test_output_smoothing_low_passes_the_frames_without_feeding_them_back(tiny_model, tmp_path):
    from dance_addon.core.choreography.lstm import smooth_frames

    t = np.arange(120)
    slow = np.sin(2 * np.pi * t / 30.0)[None, :, None]                   # 1 Hz at 30 fps
    jitter = 0.2 * (-1.0) ** t[None, :, None]                            # the frame-to-frame zigzag
    out = smooth_frames((slow + jitter).astype(np.float32), 1.2)
    assert out.shape == (1, 120, 1)
    assert np.abs(out - slow)[:, 5:-5].max() < 0.05                      # the 1 Hz move within 5 % ...
    assert np.abs(smooth_frames(jitter.astype(np.float32), 1.2))[:, 5:-5].max() < 0.002   # ... the zigzag gone
    assert np.array_equal(smooth_frames(slow, 0.0), slow)
    np.testing.assert_allclose(smooth_frames(np.full((2, 9, 3), 4.0, np.float32), 2.0), 4.0, rtol=1e-6)
    torch.manual_seed(0)
    folder = _export(DanceGenerator(TINY).eval(), tmp_path / "m", "float32", output_smoothing=1.2).parent
    plain, smoothed = load_model(tiny_model), load_model(folder)                # the same weights
    assert plain.output_smoothing == 0.0 and smoothed.output_smoothing == 1.2
    music = _song(90)
    raw = plain.generate_frames(music, [3, 4])
    want = smooth_frames((raw - plain.motion_mean) / plain.motion_std, 1.2) * plain.motion_std + plain.motion_mean
    np.testing.assert_allclose(smoothed.generate_frames(music, [3, 4]), want, atol=1e-5)   # the same rollout
    bad = _export(DanceGenerator(TINY).eval(), tmp_path / "bad", "float32", output_smoothing=-1).parent
    with pytest.raises(ModelError, match="'output_smoothing' should be 0 to 10 frames, got -1.0"):
        load_model(bad)


def test_progress_counts_up_and_cancel_stops(tiny_model):
    dm = load_model(tiny_model)
    seen: list[tuple[int, int]] = []
    dm.generate_frames(_song(100), [0, 1], progress=lambda done, total: seen.append((done, total)), chunk=30)
    assert seen == [(30, 100), (60, 100), (90, 100), (100, 100)]
    calls: list[int] = []

    def stop_at_60(done: int, total: int) -> bool:
        calls.append(done)
        return done < 60

    with pytest.raises(Cancelled, match="60 of 100"):
        dm.generate_frames(_song(100), [0], progress=stop_at_60, chunk=30)
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
    data = bytearray((folder / "rollout.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "rollout.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="rollout.onnx: is corrupt"):
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



# ------------------------------------------------------------------------------- distributed

def test_two_gloo_processes_train_as_one(tmp_path):
    """torchrun with two CPU processes (gloo) splits each batch in two and averages the
    gradients: the weights after three steps are those of one process on the whole batch."""
    import os
    import subprocess
    import sys

    probe = Path(__file__).with_name("ddp_probe.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    subprocess.run([sys.executable, str(probe), str(tmp_path / "one")], check=True, env=env, timeout=300)
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(probe),
                    str(tmp_path / "two")], check=True, env=env, timeout=300, capture_output=True)
    one = torch.load(tmp_path / "one" / "checkpoint.pt", weights_only=False)
    two = torch.load(tmp_path / "two" / "checkpoint.pt", weights_only=False)
    assert json.loads((tmp_path / "two" / "args.json").read_text())["world_size"] == 2
    assert two["step"] == one["step"] == 3
    # Adam moves a weight by at most about lr a step, whatever its gradient: where a gradient is
    # near zero, rounding in the gradient's sum (one process, or two halves averaged) can turn
    # its small step around, so the weights agree to 5% of the most three steps can move them
    cfg = TrainConfig(window=16, batch_size=4, steps=3, warmup_steps=50)
    reach = sum(learning_rate(s, cfg) for s in range(3))
    for k in one["model"]:
        torch.testing.assert_close(two["model"][k], one["model"][k], rtol=0, atol=0.05 * reach, msg=k)
    logs = [[json.loads(line)["loss"] for line in (tmp_path / run / "loss.jsonl").read_text().splitlines()
             if "loss" in line] for run in ("one", "two")]
    np.testing.assert_allclose(logs[1], logs[0], rtol=1e-5)              # rank 0 logs the whole batch's loss
    moved = max((one["model"][k] - DanceGenerator(TINY).state_dict()[k]).abs().max().item() for k in one["model"])
    assert moved > 1e-4                                                  # training did change the weights


def test_lead_scores_dance_each_lead_and_leave_the_model_as_it_was(tiny_model):
    from training.draw_lead import lead_scores
    from training.evaluation.run import HeldoutPair, HeldoutSet

    dm = load_model(tiny_model)
    rng = np.random.default_rng(0)
    beats = {"a": np.arange(5, 80, 13) / 30.0, "b": np.arange(2, 80, 11) / 30.0}
    pairs = tuple(HeldoutPair(f"p{i}", "clip", track, rng.normal(0, 0.1, (80, 20, 3)), np.zeros((80, 3)), _song(80, i),
                              beats[track], 30.0) for i, track in enumerate(("a", "b")))
    scores = lead_scores(dm, HeldoutSet(pairs, beats, VERSION, COLUMNS), range(3))
    assert sorted(scores) == [0, 1, 2] and dm.draw_lead == 0
    assert all(0.0 <= own <= 1.0 and -1.0 <= gap <= 1.0 for own, gap in scores.values())
    assert len({round(own, 6) for own, _ in scores.values()}) > 1     # the lead moves the dance's accents
