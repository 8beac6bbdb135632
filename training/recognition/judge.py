"""`make eval`'s judge of style: the dance recognizer of `make recognize` reads every dance.

- Style accuracy: the share of a row's dances that the recognizer reads as the genre they were
  asked for. A dance is read window by window (data.WINDOW_SECONDS every EVAL_STRIDE_SECONDS,
  as the held-out windows of `make recognize`); its genre is the class of the highest mean
  probability over its windows. What a dance was asked for is given as a source name: a clip
  (cmu-salsa/60_13, an LSTM style learned from that clip) or a genre of the action graph
  (cmu-salsa); `genre_of` turns either into the recognizer's class (None: unknown, not counted).
- FID_r: Fréchet distance (evaluation/fid.py, Bailando's normalisation by the reference set)
  between the dances' and the reference dances' features in the recognizer's space: per dance
  the mean over its windows of the two-stream model's fusion layer (models.TwoStream.embed).

The checkpoint lives in baselines/dance-recognizer/ (eval-only models; the add-on does not ship
them); `load_judge` trains it when it is missing and says so.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from dance_addon.core.motion.rotations import resample_linear
from dance_addon.core.motion.skeleton import NUM_JOINTS, SMPL_INDEX
from training.evaluation.fid import fid

from .data import EVAL_STRIDE_SECONDS, fixed_windows
from .models import load_checkpoint
from .train import embed, predict, set_threads

REPO = Path(__file__).resolve().parents[2]
JUDGE_DIR = REPO / "baselines" / "dance-recognizer"
CHECKPOINT_NAME = "recognizer.pt"


@dataclass(frozen=True)
class Reading:
    """What the recognizer makes of one dance: mean class probabilities (C,) and mean features (D,)."""
    probs: np.ndarray
    features: np.ndarray


@dataclass(frozen=True)
class StyleJudge:
    """A trained recognizer (model, its classes, its frame rate and window in frames), the map from
    source names to its classes, and the reference dances' features (M, D) for FID_r."""
    model: object
    classes: tuple[str, ...]
    fps: float
    window: int
    genre_of_source: dict[str, str]
    reference: np.ndarray | None = None

    def genre_of(self, source: str | None) -> str | None:
        """The class a source name asks for: the name itself, else its part before '/' (the dataset)."""
        if not source:
            return None
        return self.genre_of_source.get(source, self.genre_of_source.get(source.split("/")[0]))

    def read(self, positions: np.ndarray, fps: float) -> Reading:
        """positions (T, 20, 3), or (T, 24, 3) in evaluation/joints.py's SMPL layout, metres at fps."""
        pos = np.asarray(positions, dtype=np.float64)
        if pos.ndim == 3 and pos.shape[1] == 24:
            pos = pos[:, list(SMPL_INDEX)]
        if pos.ndim != 3 or pos.shape[1:] != (NUM_JOINTS, 3):
            raise ValueError(f"expected positions (T, 20, 3) or (T, 24, 3), got {pos.shape}")
        if abs(fps - self.fps) > 1e-9:
            pos = resample_linear(pos, fps, self.fps)
        windows, _ = fixed_windows([pos.astype(np.float32)], self.window, int(round(EVAL_STRIDE_SECONDS * self.fps)))
        return Reading(predict(self.model, windows, self.fps).mean(axis=0),
                       embed(self.model, windows, self.fps).mean(axis=0))

    def with_reference(self, dances: Sequence) -> "StyleJudge":
        """The judge with the features of reference dances (objects with .positions and .fps) for FID_r."""
        return replace(self, reference=np.stack([self.read(d.positions, d.fps).features for d in dances]))

    def row(self, dances: Sequence, asked: Sequence[str | None]) -> dict[str, float | int | None]:
        """style_acc (None when no dance's asked genre is known), style_prob (mean probability of the
        asked genre), style_n (dances with a known asked genre), fid_r (None without a reference)."""
        if len(asked) != len(dances):
            raise ValueError(f"{len(asked)} asked styles for {len(dances)} dances")
        readings = [self.read(d.positions, d.fps) for d in dances]
        hits, probs = [], []
        for r, source in zip(readings, asked):
            genre = self.genre_of(source)
            if genre is None or genre not in self.classes:
                continue
            k = self.classes.index(genre)
            hits.append(float(int(np.argmax(r.probs)) == k))
            probs.append(float(r.probs[k]))
        feats = np.stack([r.features for r in readings])
        return {"style_acc": float(np.mean(hits)) if hits else None,
                "style_prob": float(np.mean(probs)) if probs else None,
                "style_n": len(hits),
                "fid_r": fid(feats, self.reference) if self.reference is not None and len(feats) >= 2 else None}


def judge_from_checkpoint(path: Path) -> StyleJudge:
    model, classes, meta = load_checkpoint(path)
    return StyleJudge(model, classes, float(meta["fps"]), int(meta["window_frames"]), dict(meta["genre_of_source"]))


def load_judge(reference_dances: Sequence | None = None, folder: Path = JUDGE_DIR,
               log: Callable[[str], None] = print) -> StyleJudge:
    """The judge from folder/recognizer.pt, trained first (and said so) when it is missing; with the
    reference dances' features when given."""
    set_threads()
    path = Path(folder) / CHECKPOINT_NAME
    if not path.is_file():
        from .run import train_judge

        log(f"no dance recognizer at {path}: training it now (the two-stream genre model of `make recognize`)")
        train_judge(Path(folder), log=log)
    judge = judge_from_checkpoint(path)
    return judge.with_reference(reference_dances) if reference_dances is not None else judge
