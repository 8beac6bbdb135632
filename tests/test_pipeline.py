"""training.pipeline: pairs in, a loadable model folder with its model card out (tiny model, few steps)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dance_addon.core.choreography.lstm import load_model
from dance_addon.core.music import features as music_mod
from training.model import GeneratorConfig, MusicCoderConfig
from training.pipeline import MODEL_LICENCE, PipelineConfig, run_pipeline, teacher_forcing_only
from training.train import TrainConfig

F = len(music_mod.FEATURE_COLUMNS)


def _pairs(folder, n=3, frames=150):
    rng = np.random.default_rng(0)
    (folder / "train").mkdir(parents=True)
    for i in range(n):
        t = np.arange(frames)[:, None, None] / 30.0
        rv = 0.3 * np.sin(2 * np.pi * t * (1 + np.arange(20)[None, :, None] / 10)) * np.ones((1, 1, 3))
        root = np.c_[0.3 * np.sin(t[:, 0, 0]), np.full(frames, 0.9), 0.1 * t[:, 0, 0]]
        np.savez(folder / "train" / f"p{i}.npz", rotvecs=rv.astype(np.float32), root_translation=root,
                 music=rng.normal(size=(frames, F)).astype(np.float32), fps=30.0,
                 features_version=music_mod.FEATURES_VERSION, feature_columns=np.array(music_mod.FEATURE_COLUMNS))
        (folder / "train" / f"p{i}.json").write_text(json.dumps({"clip": f"test/clip{i}", "track": "t0"}))


TINY = GeneratorConfig(music_dim=F, enc_hidden=(16, 16), lstm_hidden=32, dec_hidden=(16, 16), latent_frames=4,
                       posterior_hidden=16, prior_hidden=16, coder=MusicCoderConfig(channels=8, dilations=(1, 2)))


def test_pipeline_trains_exports_and_writes_the_card(tmp_path):
    _pairs(tmp_path / "pairs")
    cfg = PipelineConfig(name="tiny", model=TINY,
                         train=TrainConfig(steps=3, batch_size=2, window=20, ramp_steps=2, checkpoint_every=2,
                                           warm_frames=4))
    folder = run_pipeline(cfg, tmp_path / "pairs", tmp_path / "runs", tmp_path / "models", evaluate=False,
                          progress=False)
    assert folder == tmp_path / "models" / "tiny"
    model = load_model(folder, features_version=music_mod.FEATURES_VERSION, feature_columns=music_mod.FEATURE_COLUMNS)
    assert model.meta["licence"] == MODEL_LICENCE
    assert model.generate(np.zeros((20, F), np.float32), seed=1).shape == (20, 20, 3)
    card = (folder / "MODEL_CARD.md").read_text()
    assert "3 music-motion pairs from 3 CMU clips" in card and "3 steps" in card and "MIT" in card
    assert card.count("The dance generator the add-on ships.") == 1 and "3 learned style vectors" in card
    assert model.style_names == ("test/clip0", "test/clip1", "test/clip2")   # one style per source clip
    log = [json.loads(line) for line in (tmp_path / "runs" / "tiny" / "loss.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "step" in r][-1] == 3
    # resume to more steps continues the same run
    cfg.train = TrainConfig(steps=5, batch_size=2, window=20, ramp_steps=2, checkpoint_every=2, warm_frames=4)
    run_pipeline(cfg, tmp_path / "pairs", tmp_path / "runs", tmp_path / "models", resume=True, evaluate=False,
                 progress=False)
    assert "5 steps" in (folder / "MODEL_CARD.md").read_text()


def test_teacher_forcing_only_baseline(tmp_path):
    """The evaluation's baseline: same network and steps, every input frame from the ground truth."""
    _pairs(tmp_path / "pairs")
    shipped = TrainConfig(steps=6, batch_size=2, window=20, ramp_steps=2, warm_frames=4, log_every=1)
    cfg = PipelineConfig(name="tf", model=TINY, train=teacher_forcing_only(shipped))
    folder = run_pipeline(cfg, tmp_path / "pairs", tmp_path / "runs", tmp_path / "baselines", evaluate=False,
                          progress=False)
    log = [json.loads(line) for line in (tmp_path / "runs" / "tf" / "loss.jsonl").read_text().splitlines()]
    assert [r["self_fed"] for r in log if "step" in r] == [0.0] * 6
    assert cfg.train.steps == 6 and cfg.train.skate_weight == shipped.skate_weight   # only the feeding differs
    card = (folder / "MODEL_CARD.md").read_text()
    assert "A baseline for the evaluation, not offered by the add-on" in card and "--teacher-forcing-only" in card
    assert "otherwise as session 6's recipe" in card and "--beat-spans" not in card


def test_the_teacher_forcing_twin_of_the_chain_says_so(tmp_path):
    """`make train-baseline`'s last run: the chain's fine-tune with teacher forcing only; its card says
    which recipe it twins and gives every flag that retrains it."""
    from dataclasses import replace

    from training.pipeline import beat_recipe, write_model_card

    model, train = beat_recipe(TINY, TrainConfig(steps=300))
    cfg = PipelineConfig(name="lstm-teacher-forced", model=model, init_from=Path("runs/tf-long/checkpoint.pt"),
                         train=teacher_forcing_only(replace(train, window=152, drift_weight=30.0)))
    card = write_model_card(tmp_path, cfg, {}, None, 60.0).read_text()
    assert "otherwise as the shipped model: the last of `make train-baseline`'s runs" in card
    assert ("--name lstm-teacher-forced --steps 300 --teacher-forcing-only --beat-spans --models-dir baselines "
            "--init-from runs/tf-long/checkpoint.pt --window 152 --drift-weight 30") in card
    assert "The dance generator the add-on ships." not in card


def test_the_paper_size_comparison_says_what_it_is(tmp_path):
    """`make train-paper-size`'s card: a comparison in baselines/, not the shipped model, and how to retrain it."""
    from dataclasses import replace

    from training.pipeline import write_model_card

    cfg = PipelineConfig(name="lstm-paper-size", model=replace(TINY, lstm_hidden=1024),
                         train=TrainConfig(steps=450, ramp_steps=90), size_comparison=True)
    card = write_model_card(tmp_path, cfg, {"provenance": {"training_step": 450}}, None, 3000.0).read_text()
    assert "A comparison for the evaluation, not offered by the add-on: the 1024-unit network" in card
    assert "The dance generator the add-on ships." not in card
    assert "--lstm-hidden 1024 --ramp-steps 90 --models-dir baselines" in card and "make train-paper-size" in card
    shipped = write_model_card(tmp_path, replace(cfg, size_comparison=False), {}, None, 60.0).read_text()
    assert "The dance generator the add-on ships." in shipped and "--lstm-hidden" not in shipped


def test_a_fine_tune_card_says_how_to_retrain_it(tmp_path, capsys):
    """A fine-tuned run's card names the checkpoint and the options it changed; a missing checkpoint
    is one line from the command, before any work."""
    from dataclasses import replace

    import pytest

    from training.pipeline import main, write_model_card

    cfg = PipelineConfig(name="dance-lstm", model=TINY, init_from=tmp_path / "base.pt",
                         train=TrainConfig(window=152, batch_size=16, lr=3e-4, ramp_steps=0))
    meta = {"provenance": {"training_step": 900, "init_from": "runs/base/checkpoint.pt", "init_steps": 2000,
                           "training_seconds": 3840.0}}
    card = write_model_card(tmp_path, cfg, meta, None, 60.0).read_text()
    assert "fine-tuning runs/base/checkpoint.pt (2000 steps of its own run)" in card
    assert "900 steps in 64 min of training, fine-tuning runs/base/checkpoint.pt" in card
    assert "this pipeline run took 1 min in all" in card
    assert "the last of `make train`'s runs" in card
    assert f"--init-from {tmp_path / 'base.pt'} --window 152 --batch-size 16 --lr 0.0003" in card
    assert "--travel-weight" not in card
    plain = write_model_card(tmp_path, replace(cfg, init_from=None, train=TrainConfig()), {}, None, 60.0).read_text()
    assert "--init-from" not in plain and "--window" not in plain
    with pytest.raises(SystemExit):
        main(["--init-from", str(tmp_path / "none.pt")])
    assert "no such checkpoint" in capsys.readouterr().err
