"""Classification scores of a recognizer (numpy only): accuracy and macro precision, recall, F1.

Macro averages run over the classes that occur in the truth (`labels`), as
sklearn.metrics.precision_recall_fscore_support(average="macro", labels=..., zero_division=0):
a class with no held-out window (lambada here) is not scored itself, but windows wrongly
given to it still count against the recall of their true class. Per class: precision =
TP / predicted (0 when nothing is predicted as it), recall = TP / true, F1 = 2PR / (P + R)
(0 when both are 0); the macro F1 is the mean of the per-class F1s.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> np.ndarray:
    """(C, C) counts, rows the true class, columns the predicted one."""
    t, p = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    if t.shape != p.shape:
        raise ValueError(f"{len(t)} true labels but {len(p)} predictions")
    if len(t) and (min(t.min(), p.min()) < 0 or max(t.max(), p.max()) >= n_classes):
        raise ValueError(f"labels must lie in 0..{n_classes - 1}")
    out = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(out, (t, p), 1)
    return out


def scores(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int,
           labels: Sequence[int] | None = None) -> dict[str, float | list[float]]:
    """accuracy, precision, recall, f1 (macro over `labels`, default the classes in y_true) and
    the per-class lists (per_class_precision, ...; over all n_classes)."""
    cm = confusion_matrix(y_true, y_pred, n_classes)
    if cm.sum() == 0:
        raise ValueError("no labels to score")
    tp = np.diag(cm).astype(np.float64)
    predicted, true = cm.sum(axis=0).astype(np.float64), cm.sum(axis=1).astype(np.float64)
    precision = np.divide(tp, predicted, out=np.zeros(n_classes), where=predicted > 0)
    recall = np.divide(tp, true, out=np.zeros(n_classes), where=true > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(n_classes), where=denom > 0)
    labels = np.flatnonzero(true > 0) if labels is None else np.asarray(labels, dtype=np.int64)
    return {"accuracy": float(tp.sum() / cm.sum()),
            "precision": float(precision[labels].mean()), "recall": float(recall[labels].mean()),
            "f1": float(f1[labels].mean()),
            "per_class_precision": precision.tolist(), "per_class_recall": recall.tolist(),
            "per_class_f1": f1.tolist()}
