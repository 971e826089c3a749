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
    # Lesson 29: your code here (`tutor hint 29` helps).
    raise NotImplementedError("histogram is not written yet (lesson 29: Watch for drift)")


def psi(expected, actual, eps=1e-4):
    """The population stability index of `actual` counts against `expected` counts.

    Both are normalised to shares, each share floored at `eps` (an empty bin would
    make the logarithm infinite); returns sum((q - p) * log(q / p)) as a float.
    """
    # Lesson 29: your code here (`tutor hint 29` helps).
    raise NotImplementedError("psi is not written yet (lesson 29: Watch for drift)")


def ks_statistic(a, b):
    """The two-sample Kolmogorov-Smirnov distance: the largest gap between the two
    samples' empirical CDFs, a float from 0 (the same) to 1 (no overlap)."""
    # Lesson 29: your code here (`tutor hint 29` helps).
    raise NotImplementedError("ks_statistic is not written yet (lesson 29: Watch for drift)")
