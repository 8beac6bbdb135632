"""`make train`'s step: from the mocap and the music to a model folder with its model card.

    python -m training.pipeline [--name dance-lstm] [--steps N] [--ramp-steps N] [--lstm-hidden N]
                                [--resume] [--no-eval] [--teacher-forcing-only] [--beat-spans]
                                [--init-from runs/OTHER/checkpoint.pt] [--models-dir baselines]

1. Pairs: the training split's music-motion pairs (training/data/pairs.py), built into
   cache/pairs/train unless already there.
2. Training: training/train.py's trainer on those pairs (GeneratorConfig's default size, or
   --lstm-hidden), checkpoints and loss log in runs/<name>/ (resumable with --resume: only
   --steps may change); --init-from starts from another run's weights (a fine-tune).
3. Export: the checkpoint in 8 bits to models/<name>/ (model.json, music_coder.onnx,
   rollout.onnx), carrying its provenance and licence.
4. Evaluation: `make eval`'s table with the new model beside the real baselines, written into
   the model card models/<name>/MODEL_CARD.md with the data, licences and how to retrain.

With no options it trains session 6's recipe (fixed latent spans, the style at the music
coder's input). `--beat-spans` trains session 7's variant (latent spans at the music's beats,
the style after the coder's convolutions, an acceleration term; `beat_recipe`). The shipped
model is made by `make train` as three runs: the beat-span recipe, then two fine-tunes of it
(`--init-from`, longer windows, heavier speed and acceleration terms, then the pose-drift term);
the first two stay as evaluation rows in baselines/. `--teacher-forcing-only` trains with every
input frame taken from the ground truth (no self-fed frames): `make train-baseline` makes the
evaluation's "LSTM, teacher forcing only" baseline this way, as the same three runs as `make train`,
the last into baselines/ (which the add-on does not offer). `make train-paper-size` trains the paper's
2 x 1024 network with session 6's recipe for as long as that recipe's 2 x 256 run took, into
baselines/ too.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from dance_addon.core.music import features as music_mod
from training.data.clips import REPO
from training.draw_lead import choose_lead
from training.export import export_checkpoint
from training.model import GeneratorConfig
from training.train import PairedWindows, TrainConfig, load_pairs, train

PAIRS_DIR = REPO / "cache" / "pairs"
RUNS_DIR = REPO / "runs"
MODELS_DIR = REPO / "models"
MODEL_LICENCE = ("GPL-3.0-or-later, as the add-on. Trained on CMU Graphics Lab motion capture "
                 "(mocap.cs.cmu.edu, free for all uses, may not be resold) paired with "
                 "immich-memories-music tracks (MIT).")


# The runtime's Gaussian low-pass of the rollout's frames (sigma in frames; lstm.smooth_frames):
# the network leaves a frame-to-frame jitter (jerk ~3.5x the real pairs' on the held-out songs);
# this sigma brings the shipped model's jerk to about the real pairs' (README, Measured).
OUTPUT_SMOOTHING = 1.0


@dataclass
class PipelineConfig:
    name: str = "dance-lstm"
    model: GeneratorConfig = field(default_factory=lambda: GeneratorConfig(music_dim=len(music_mod.FEATURE_COLUMNS)))
    train: TrainConfig = field(default_factory=TrainConfig)
    precision: str = "int8"
    pairs_per_clip: int = 4
    pairs_seed: int = 0
    size_comparison: bool = False       # another size than the shipped one, trained for the evaluation
    output_smoothing: float = OUTPUT_SMOOTHING  # the runtime's low-pass of the frames (Gaussian sigma, frames)
    init_from: Path | None = None       # a checkpoint of the same architecture to fine-tune (train.train)


def beat_recipe(model: GeneratorConfig, train: TrainConfig) -> tuple[GeneratorConfig, TrainConfig]:
    """The beat-span variant of the recipe: spans at the beats, the style by FiLM, the acceleration term."""
    return replace(model, beat_spans=True, style_film=True), replace(train, accel_weight=20.0)


def teacher_forcing_only(cfg: TrainConfig) -> TrainConfig:
    """`cfg` with every input frame from the ground truth (no scheduled sampling)."""
    return replace(cfg, self_fed_max=0.0, ramp_steps=0)


def ensure_pairs(pairs_dir: Path, per_clip: int, seed: int) -> Path:
    """The training pairs folder, built (train and held-out) when it holds no pairs yet."""
    train_dir = Path(pairs_dir) / "train"
    if not any(train_dir.glob("*.npz")):
        from training.data.pairs import main as build

        build(["--out", str(pairs_dir), "--per-clip", str(per_clip), "--seed", str(seed)])
    return train_dir


def cpu_name() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), or the platform's processor string."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def fine_tune_flags(cfg: PipelineConfig) -> str:
    """The command-line flags of `main` that set cfg's training options away from their defaults
    (and the checkpoint it starts from), for the model card's Retrain line."""
    out = f" --init-from {cfg.init_from}" if cfg.init_from is not None else ""
    recipe = beat_recipe(cfg.model, TrainConfig())[1] if cfg.model.beat_spans else TrainConfig()
    for name in ("window", "batch_size", "lr", "travel_weight", "energy_weight", "accel_weight", "drift_weight"):
        value = getattr(cfg.train, name)
        if value != getattr(recipe, name):
            out += f" --{name.replace('_', '-')} {value:g}"
    return out


def write_model_card(folder: Path, cfg: PipelineConfig, meta: dict, eval_table: str | None, seconds: float,
                     leads: str = "") -> Path:
    prov = meta.get("provenance", {})
    recordings = prov.get("recordings", [])
    clips = sorted({r.get("clip", "?") for r in recordings})
    tracks = sorted({r.get("track", "?") for r in recordings})
    baseline = cfg.train == teacher_forcing_only(cfg.train)
    if baseline:
        recipe = ("the shipped model: the last of `make train-baseline`'s runs, which repeat `make train`'s "
                  "chain (Makefile), each fine-tuning the one before it" if cfg.init_from is not None
                  else "the beat-span recipe" if cfg.model.beat_spans
                  else "session 6's recipe (the pipeline's default)")
        role = ("A baseline for the evaluation, not offered by the add-on: trained with teacher forcing only "
                f"(every input frame from the ground truth), otherwise as {recipe}.")
        beat_flag = " --beat-spans" if cfg.model.beat_spans else ""
        flags, make = f" --teacher-forcing-only{beat_flag} --models-dir baselines", "`make train-baseline`"
    elif cfg.model.beat_spans and cfg.name != PipelineConfig.name:
        role = ("A comparison for the evaluation, not offered by the add-on: the beat-span variant of the recipe "
                "(latent spans at the music's beats, the style after the music coder's convolutions, an "
                "acceleration term): an earlier run of `make train`'s chain, or a variant of one (README).")
        flags, make = (f" --beat-spans --ramp-steps {cfg.train.ramp_steps} --models-dir baselines",
                       "the command above")
    elif cfg.size_comparison:
        role = (f"A comparison for the evaluation, not offered by the add-on: the {cfg.model.lstm_hidden}-unit "
                f"network trained with session 6's recipe (the pipeline's default), its steps cut to fit about "
                f"the time that recipe's 2 x 256 run took on our 2 cores.")
        flags = (f" --lstm-hidden {cfg.model.lstm_hidden} --ramp-steps {cfg.train.ramp_steps} "
                 f"--models-dir baselines")
        make = "`make train-paper-size`"
    else:
        role, make = "The dance generator the add-on ships.", "`make train`"
        if cfg.init_from is not None:
            role += (" It is the last of `make train`'s runs (Makefile), each of which fine-tunes the one "
                     "before it.")
        flags = ((" --beat-spans" if cfg.model.beat_spans else "")
                 + (f" --ramp-steps {cfg.train.ramp_steps}" if cfg.train.ramp_steps != TrainConfig.ramp_steps else ""))
    flags += fine_tune_flags(cfg)
    fine = (f", fine-tuning {prov['init_from']} ({prov.get('init_steps', '?')} steps of its own run)"
            if "init_from" in prov else "")
    trained = (f" in {prov['training_seconds'] / 60:.0f} min of training" if "training_seconds" in prov else "")
    spans = ("the frames from one beat to the next, as at run time" if cfg.model.beat_spans
             else f"{cfg.model.latent_frames} frames")
    card = f"""# {cfg.name}

{role} It is the paper's action generation sub-network (encoder, a
{cfg.model.lstm_layers}-layer LSTM of {cfg.model.lstm_hidden} units, decoder) behind our dilated-convolution music
coder, trained as a conditional VAE (a {cfg.model.latent_dim}-number latent drawn from a prior learned with it;
in training each latent holds for {spans}; at run time one is drawn at each beat of the music,
{meta.get('draw_lead_frames', 0)} frame(s) early), exported
in {cfg.precision} for onnxruntime
(model.json, music_coder.onnx, rollout.onnx: a Scan over chunks of frames, several dances in one batch);
the runtime low-passes the frames it makes by a Gaussian of sigma {cfg.output_smoothing:g} frame(s) (not fed back).

- Motion: the canonical 20-joint skeleton's rotation vectors at {meta.get('fps')} fps, the pelvis coded as its
  tilt plus its heading change per frame, then the pelvis's travel in its own heading frame and its height
  (`{meta.get('motion_code')}`, dance_addon/core/motion/motion_code.py): the dancer travels.
- Music: features `{meta.get('features_version')}` ({len(meta.get('feature_columns', []))} columns,
  dance_addon/core/music/features.py).
- Styles: {len(meta.get('style_names', []))} learned style vectors, one per training clip; the seed picks one
  (seeds 0 to {len(meta.get('style_names', [])) - 1} each pick a different one) and the latents.
- Training data: {len(recordings)} music-motion pairs from {len(clips)} CMU clips warped onto the beats of
  {len(tracks)} immich-memories-music tracks (training/data/pairs.py), each also mirrored left to right;
  the held-out clips and tracks of training/data/split.json were never seen.
- Licence: {MODEL_LICENCE}
- Training: {prov.get('training_step', '?')} steps{trained}{fine}, on this project's 2-core CPU machine
  ({cpu_name()}), the CPU shared with other jobs; this pipeline run took {seconds / 60:.0f} min in all
  with the export and evaluation; the recipe is training/train.py's module doc; configuration:

```
{json.dumps({'model': cfg.model.to_dict(), 'train': asdict(cfg.train)}, indent=1)}
```

## When the latents are drawn (`python -m training.draw_lead`)

{leads or 'not measured'}

## Held-out evaluation (`make eval`)

{eval_table or 'not run (--no-eval)'}

## Retrain

`python -m training.pipeline --name {cfg.name} --steps {cfg.train.steps}{flags}`
({make}); `--resume` continues from runs/{cfg.name}/checkpoint.pt.
"""
    path = Path(folder) / "MODEL_CARD.md"
    path.write_text(card)
    return path


def run_pipeline(cfg: PipelineConfig, pairs_dir: Path = PAIRS_DIR, runs_dir: Path = RUNS_DIR,
                 models_dir: Path = MODELS_DIR, resume: bool = False, evaluate: bool = True,
                 progress: bool = True) -> Path:
    """Pairs -> training -> export -> evaluation -> model card; returns the model folder."""
    started = time.perf_counter()
    pairs = load_pairs(ensure_pairs(pairs_dir, cfg.pairs_per_clip, cfg.pairs_seed))
    data = PairedWindows.from_motion(pairs.motions, pairs.roots, pairs.musics, pairs.fps, pairs.styles,
                                     mirror=cfg.train.mirror, beat_column=pairs.beat_column)
    cfg = replace(cfg, model=replace(cfg.model, styles=len(data.style_names)))
    ckpt = train(data, cfg.model, cfg.train, Path(runs_dir) / cfg.name, fps=pairs.fps,
                 features_version=pairs.features_version, feature_columns=pairs.feature_columns, resume=resume,
                 init_from=cfg.init_from, provenance={"pairs": str(pairs_dir), "recordings": pairs.provenance},
                 progress=progress)
    folder = Path(models_dir) / cfg.name
    export_checkpoint(ckpt, folder, licence=MODEL_LICENCE, model_version=cfg.name, precision=cfg.precision,
                      output_smoothing=cfg.output_smoothing)
    _, leads = choose_lead(folder, write=True)
    print(leads)
    meta = json.loads((folder / "model.json").read_text())
    table = None
    if evaluate:
        from training.evaluation import long_run
        from training.evaluation import run as eval_run

        heldout, clips, reference = eval_run.load_heldout_data()
        reference_stats = eval_run.ReferenceStats.from_dances(reference)
        result = eval_run.run_evaluation(heldout, reference_stats, clips, [folder], Path(runs_dir) / cfg.name / "eval")
        medley = long_run.heldout_medley()
        long_table = long_run.format_long_table({cfg.name: long_run.long_run(folder, medley, reference_stats)}, medley)
        table = (eval_run.format_table(result.rows) + "\n\n" + eval_run.table_notes(result.rows, len(reference))
                 + "\n\n" + long_table)
    write_model_card(folder, cfg, meta, table, time.perf_counter() - started, leads)
    return folder


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--name", default=PipelineConfig.name, help="model name: runs/<name>/ and models/<name>/")
    p.add_argument("--steps", type=int, default=TrainConfig.steps, help="optimiser steps in all")
    p.add_argument("--resume", action="store_true", help="continue runs/<name>/checkpoint.pt")
    p.add_argument("--no-eval", action="store_true", help="skip the held-out evaluation in the model card")
    p.add_argument("--teacher-forcing-only", action="store_true",
                   help="the baseline recipe: every input frame from the ground truth (see the module doc)")
    p.add_argument("--models-dir", type=Path, default=MODELS_DIR, help="where the model folder goes (default: models/)")
    p.add_argument("--ramp-steps", type=int, default=TrainConfig.ramp_steps,
                   help="steps over which the share of self-fed input frames ramps to all")
    p.add_argument("--beat-spans", action="store_true",
                   help="the beat-span variant of the recipe (see the module doc), for the evaluation")
    p.add_argument("--lstm-hidden", type=int, default=GeneratorConfig.lstm_hidden,
                   help=f"LSTM units per layer (default {GeneratorConfig.lstm_hidden}; the paper's is 1024)")
    p.add_argument("--init-from", type=Path, help="start the run from this checkpoint's weights (fine-tuning; "
                   "same architecture); with --resume the run continues its own checkpoint")
    p.add_argument("--window", type=int, default=TrainConfig.window, help="frames per training window")
    p.add_argument("--batch-size", type=int, default=TrainConfig.batch_size, help="windows per step")
    p.add_argument("--lr", type=float, default=TrainConfig.lr, help="peak learning rate")
    p.add_argument("--travel-weight", type=float,
                   help="weight of the pelvis's mean horizontal speed term (default: the recipe's)")
    p.add_argument("--energy-weight", type=float, help="weight of each joint's mean speed term (default: the recipe's)")
    p.add_argument("--accel-weight", type=float,
                   help="weight of each joint's mean acceleration term (default: the recipe's)")
    p.add_argument("--drift-weight", type=float,
                   help="weight of the term on how far the mean pose moves over a window (default: the recipe's)")
    a = p.parse_args(argv)
    if a.init_from is not None and not a.init_from.is_file():
        p.error(f"--init-from {a.init_from}: no such checkpoint; pass a runs/<name>/checkpoint.pt")
    train_cfg = TrainConfig(steps=a.steps, ramp_steps=a.ramp_steps, window=a.window, batch_size=a.batch_size,
                            lr=a.lr)
    if a.teacher_forcing_only:
        train_cfg = teacher_forcing_only(train_cfg)
    model_cfg = replace(PipelineConfig().model, lstm_hidden=a.lstm_hidden)
    if a.beat_spans:
        model_cfg, train_cfg = beat_recipe(model_cfg, train_cfg)
    for name in ("travel_weight", "energy_weight", "accel_weight", "drift_weight"):    # the recipe's unless given
        if getattr(a, name) is not None:
            train_cfg = replace(train_cfg, **{name: getattr(a, name)})
    cfg = PipelineConfig(name=a.name, model=model_cfg, train=train_cfg, init_from=a.init_from,
                         size_comparison=not a.teacher_forcing_only and a.lstm_hidden != GeneratorConfig.lstm_hidden)
    folder = run_pipeline(cfg, models_dir=a.models_dir, resume=a.resume, evaluate=not a.no_eval)
    print(f"model: {folder} (card: {folder / 'MODEL_CARD.md'})")


if __name__ == "__main__":
    main()
