"""Fréchet distance between feature sets (FID_k, FID_g) and diversity (Div_k, Div_g).

Recipe of Bailando's `utils/metrics_new.py` (quantized_metrics): both sets of per-dance features
are normalised by the REFERENCE (real) set's per-dimension mean and std (std + 1e-10), then
FID = Fréchet distance between Gaussians fitted to the two normalised sets (sample mean,
np.cov with N-1), and Div = mean Euclidean distance over all pairs of dances within a set,
in the same normalised space.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.distance import pdist

_STD_EPS = 1e-10


def normalise(features: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(features, reference) scaled by the reference set's per-dimension mean and std; (N, D), (M, D)."""
    features, reference = _check_set(features, "features"), _check_set(reference, "reference features")
    if features.shape[1] != reference.shape[1]:
        raise ValueError(f"feature sets differ in dimension: {features.shape[1]} vs {reference.shape[1]}")
    mean, std = reference.mean(axis=0), reference.std(axis=0) + _STD_EPS
    return (features - mean) / std, (reference - mean) / std


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """d^2 = |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)) between N(mu1, S1) and N(mu2, S2).

    tr((S1 S2)^(1/2)) is computed as tr((A S2 A)^(1/2)) with A = S1^(1/2): the matrices S1 S2 and
    A S2 A are similar, and the second is symmetric PSD, so its square root comes from eigh
    without the complex round-off of a general sqrtm. Tiny negative round-off is clipped to 0.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, float)), np.atleast_1d(np.asarray(mu2, float))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, float)), np.atleast_2d(np.asarray(sigma2, float))
    d = len(mu1)
    if mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(f"Fréchet distance: means {mu1.shape}, {mu2.shape} and covariances "
                         f"{sigma1.shape}, {sigma2.shape} do not agree")
    root1 = _psd_sqrt(sigma1)
    middle = root1 @ sigma2 @ root1
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)).sum()
    diff = mu1 - mu2
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean
    return float(max(value, 0.0))


def fid(features: np.ndarray, reference: np.ndarray) -> float:
    """FID between generated features (N, D) and reference features (M, D), both normalised by the reference."""
    gen, ref = normalise(features, reference)
    if len(gen) < 2 or len(ref) < 2:
        raise ValueError(f"FID needs at least 2 dances per set to fit a covariance, got {len(gen)} and {len(ref)}")
    return frechet_distance(gen.mean(axis=0), np.cov(gen, rowvar=False),
                            ref.mean(axis=0), np.cov(ref, rowvar=False))


def diversity(features: np.ndarray, reference: np.ndarray) -> float:
    """Mean pairwise Euclidean distance between the dances of a set (N, D), normalised by the reference set."""
    gen, _ = normalise(features, reference)
    if len(gen) < 2:
        raise ValueError(f"diversity needs at least 2 dances, got {len(gen)}")
    return float(pdist(gen).mean())


def _psd_sqrt(sigma: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh((sigma + sigma.T) / 2)
    return (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T


def _check_set(features, what: str) -> np.ndarray:
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or len(f) == 0:
        raise ValueError(f"{what}: expected a (dances, dims) array, got shape {f.shape}")
    if not np.isfinite(f).all():
        raise ValueError(f"{what}: non-finite value in dance {np.argwhere(~np.isfinite(f))[0][0]}")
    return f
