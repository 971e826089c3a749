"""Lesson 29: watch a deployed model for drift, with the statistics monitors use.

A model is trained on one sample of the world and served on another that keeps
changing. Two numbers say how far today's inputs are from the training data: the
population stability index between two histograms, and the Kolmogorov-Smirnov
distance between two samples.
"""

import torch


def histogram(values, edges):
    """Counts of `values` in the k bins that k + 1 increasing `edges` make.

    Bin i holds edges[i] <= v < edges[i + 1]; the last bin holds v == edges[k] too.
    Values below the first edge count in the first bin, above the last in the last.
    Returns k float counts.
    """
    # BEGIN SOLUTION
    values = torch.as_tensor(values, dtype=torch.float64).flatten()
    edges = torch.as_tensor(edges, dtype=torch.float64)
    k = edges.numel() - 1
    index = torch.bucketize(values, edges, right=True) - 1
    index = index.clamp(0, k - 1)
    return torch.bincount(index, minlength=k).to(torch.float32)
    # END SOLUTION


def psi(expected, actual, eps=1e-4):
    """The population stability index of `actual` counts against `expected` counts.

    Both are normalised to shares, each share floored at `eps` (an empty bin would
    make the logarithm infinite); returns sum((q - p) * log(q / p)) as a float.
    """
    # BEGIN SOLUTION
    p = torch.as_tensor(expected, dtype=torch.float64)
    q = torch.as_tensor(actual, dtype=torch.float64)
    p = (p / p.sum()).clamp(min=eps)
    q = (q / q.sum()).clamp(min=eps)
    return float(((q - p) * torch.log(q / p)).sum())
    # END SOLUTION


def ks_statistic(a, b):
    """The two-sample Kolmogorov-Smirnov distance: the largest gap between the two
    samples' empirical CDFs, a float from 0 (the same) to 1 (no overlap)."""
    # BEGIN SOLUTION
    a = torch.sort(torch.as_tensor(a, dtype=torch.float64).flatten()).values
    b = torch.sort(torch.as_tensor(b, dtype=torch.float64).flatten()).values
    points = torch.cat([a, b]).unique()
    cdf_a = torch.searchsorted(a, points, right=True).double() / a.numel()
    cdf_b = torch.searchsorted(b, points, right=True).double() / b.numel()
    return float((cdf_a - cdf_b).abs().max())
    # END SOLUTION
