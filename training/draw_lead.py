"""How many frames before each beat the LSTM should draw its latents, measured on the training songs.

    python -m training.draw_lead MODEL_FOLDER [--write]

The runtime draws a new latent at the music's beats (`dance_addon.core.choreography.lstm.
latent_draws`). Where the spans meet, the dance changes its move: for a network trained on beat
spans that change sits on the beat (lead 0), but a network trained on other spans (session 6's
every 15 frames) has its own timing between a draw and the accent it makes. This dances every
fourth training pair (music the evaluation never uses) with each lead from 0 to latent_frames // 2
and keeps the lead with the best Beat Align Score own minus mismatched (Bailando's score on the
dance's own music minus on the other training tracks: `training.evaluation.run.beat_gap`) among
the leads whose Beat Align Score is at most `LOCK_MARGIN` above the real pairs' on the same
songs (the issue's bound on locking onto the beat); `--write` puts it in the folder's
model.json (and the graphs' copies of it).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from dance_addon.core.choreography.compose import lstm_dance
from dance_addon.core.choreography.lstm import DanceModel, load_model
from training.evaluation.beats import beat_align_score_bailando
from training.evaluation.evaluate import Dance
from training.evaluation.run import HeldoutSet, beat_gap, paired_set
from training.export import update_metadata

LOCK_MARGIN = 0.15      # the dance's Beat Align Score may exceed the real dances' by this much, no more


def lead_scores(model: DanceModel, pairs: HeldoutSet, leads: range) -> dict[int, tuple[float, float]]:
    """lead -> (mean Bailando BAS on the dances' own music, mean own - mismatched) over `pairs`
    (seed = the pair's index, as `make eval` does)."""
    scores = {}
    kept = model.draw_lead
    try:
        for lead in leads:
            model.draw_lead = lead
            own, gap = [], []
            for i, p in enumerate(pairs.pairs):
                d = lstm_dance(model, p.music, seed=i)
                dance = Dance.from_motion(d.rotvecs, d.root, p.fps, p.beats_s, name=p.name)
                own.append(beat_align_score_bailando(dance.positions, dance.fps, dance.music_beats_s))
                gap.append(beat_gap(dance, p.track, pairs.track_beats))
            scores[lead] = (float(np.mean(own)), float(np.mean(gap)))
    finally:
        model.draw_lead = kept
    return scores


def choose_lead(folder: Path, write: bool = False) -> tuple[int, str]:
    """Measure every lead on every fourth training pair -> (the best lead, a report of the
    scores); with `write`, put it into the model folder."""
    model = load_model(folder)
    train = paired_set("train", per_clip=4, pitch=False)
    pairs = HeldoutSet(train.pairs[::4], train.track_beats, train.features_version, train.feature_columns)
    scores = lead_scores(model, pairs, range(model.latent_frames // 2 + 1))
    real = float(np.mean([beat_align_score_bailando(d.positions, d.fps, d.music_beats_s) for d in
                          (Dance.from_motion(q.rotvecs, q.root_translation, q.fps, q.beats_s) for q in pairs.pairs)]))
    allowed = [k for k in scores if scores[k][0] <= real + LOCK_MARGIN] or [min(scores, key=lambda k: scores[k][0])]
    best = max(allowed, key=lambda k: scores[k][1])
    lines = [f"{len(pairs.pairs)} training pairs (their own motion: BAS {real:.3f}); lead in frames: BAS, "
             f"own - mismatched"]
    lines += [f"  {lead:2d}: {own:.3f}  {gap:+.3f}{'  <- chosen' if lead == best else ''}"
              for lead, (own, gap) in scores.items()]
    if write:
        update_metadata(folder, draw_lead_frames=best)
        lines.append(f"wrote draw_lead_frames={best} into {Path(folder) / 'model.json'}")
    return best, "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", type=Path, help="an exported model folder (model.json, music_coder.onnx, rollout.onnx)")
    p.add_argument("--write", action="store_true", help="write the best lead into the model folder")
    a = p.parse_args(argv)
    print(choose_lead(a.model, a.write)[1])


if __name__ == "__main__":
    main()
