"""Checks for lesson 29: watch for drift (histogram, psi, ks_statistic).

The references are the contract's definitions, computed here in float64;
tolerances: counts exact, PSI within 1e-6 (relative) and KS within 1e-6 of the
reference (float32 arithmetic passes).
"""

import math
import random

import torch

from tutor.checks import check, expect_equal, fail, learner


def _drift():
    return learner("drift")


# --- references ---------------------------------------------------------------


def _histogram(values, edges, clip=True, right=True):
    values = torch.as_tensor(values, dtype=torch.float64).flatten()
    edges = torch.as_tensor(edges, dtype=torch.float64)
    k = edges.numel() - 1
    index = torch.bucketize(values, edges, right=right) - 1
    if clip:
        index = index.clamp(0, k - 1)
    else:
        index = index[(index >= 0) & (index < k)]
    return torch.bincount(index, minlength=k)[:k].double()


def _psi(expected, actual, eps=1e-4, normalise=True, floor="clamp"):
    p = torch.as_tensor(expected, dtype=torch.float64)
    q = torch.as_tensor(actual, dtype=torch.float64)
    if normalise:
        p, q = p / p.sum(), q / q.sum()
    if floor == "clamp":
        p, q = p.clamp(min=eps), q.clamp(min=eps)
    elif floor == "add":
        p, q = p + eps, q + eps
    else:  # only the empty bins
        p, q = torch.where(p == 0, eps, p), torch.where(q == 0, eps, q)
    return float(((q - p) * torch.log(q / p)).sum())


def _close(got, want):
    return math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-9)


def _ks(a, b, points_of="both", one_size=False, one_direction=False):
    a = torch.sort(torch.as_tensor(a, dtype=torch.float64).flatten()).values
    b = torch.sort(torch.as_tensor(b, dtype=torch.float64).flatten()).values
    points = {"both": torch.cat([a, b]), "a": a, "b": b}[points_of].unique()
    fa = torch.searchsorted(a, points, right=True).double() / a.numel()
    fb = torch.searchsorted(b, points, right=True).double() / (a if one_size else b).numel()
    return float((fa - fb).max() if one_direction else (fa - fb).abs().max())


def _float(value, what):
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        fail(f"{what} should return a number (a Python float), got {type(value).__name__}")
    if not math.isfinite(value):
        fail(f"{what} returned {value}: an empty bin or a zero total left a log(0) or 0/0 in it")
    return float(value)


# --- histogram ------------------------------------------------------------------------


def _call_histogram(values, edges, what):
    got = _drift().histogram(values, edges)
    if not isinstance(got, torch.Tensor):
        fail(f"{what} should return a tensor of counts, got {type(got).__name__}")
    k = len(edges) - 1
    if tuple(got.shape) != (k,):
        fail(f"{what}: expected {k} counts (one per bin between {k + 1} edges), got shape {tuple(got.shape)}")
    if not got.is_floating_point():
        fail(f"{what}: the counts should be floats (they are divided into shares next), got {got.dtype}")
    return got.double()


def _expect_histogram(values, edges, what):
    got = _call_histogram(values, edges, what)
    want = _histogram(values, edges)
    if torch.equal(got, want):
        return
    why = ""
    if torch.equal(got, _histogram(values, edges, clip=False)):
        why = ("values outside the edges are dropped: a value below the first edge counts in the first bin, one at or "
               "above the last edge in the last bin (a monitor must count every request)")
    elif torch.equal(got, _histogram(values, edges, right=False)):
        why = ("a value on an edge belongs to the bin it starts: bin i is edges[i] <= v < edges[i+1] "
               "(bucketize with right=True)")
    fail(f"{what}:\n  expected {want.tolist()}\n  got      {got.tolist()}" + (f"\nLooks like {why}." if why else ""))


@check("histogram: bin i holds edges[i] <= v < edges[i+1]; the last edge and values outside count in the end bins")
def histogram_edges():
    edges = torch.tensor([0.0, 10.0, 20.0, 30.0])
    cases = [
        ([-4.0, 0.0, 9.9, 10.0, 30.0, 95.0], "values on, below and above the edges"),
        ([10.0, 20.0, 20.0, 19.999], "values on the inner edges"),
        ([30.0, 30.0], "the last edge itself"),
        ([-1e9, 1e9], "values far outside"),
    ]
    for values, why in cases:
        _expect_histogram(torch.tensor(values), edges, f"histogram({values}, edges {edges.tolist()}) ({why})")
    _expect_histogram([1.0, 2.0, 35.0], edges.tolist(), "histogram of lists")


@check("histogram: random values and uneven edges, every value counted once")
def histogram_random():
    for _ in range(5):
        k = random.randint(1, 9)
        edges = torch.sort(torch.rand(k + 1) * 40 - 10).values
        values = torch.randn(random.randint(1, 300)) * 15 + 10
        values[: len(values) // 5] = edges[torch.randint(0, k + 1, (len(values) // 5,))]  # some exactly on edges
        _expect_histogram(values, edges, f"histogram of {len(values)} values over {k} bins")
        got = _call_histogram(values, edges, "histogram")
        expect_equal(int(got.sum().item()), len(values), "the total of the counts (every value counted once)")


# --- psi ------------------------------------------------------------------------------


def _call_psi(expected, actual, what, **kwargs):
    return _float(_drift().psi(expected, actual, **kwargs), what)


def _psi_mistake(got, expected, actual, eps=1e-4):
    if _close(got, _psi(expected, actual, eps, normalise=False)):
        return "the counts are not normalised: divide each vector by its own sum, so that both are shares"
    if _close(got, _psi(expected, actual, eps, floor="add")):
        return "eps is added to every share: floor the shares at eps instead (clamp(min=eps)), which leaves the others as they are"
    if _close(got, _psi(expected, actual, eps, floor="empty")):
        return ("only the empty bins are floored: every share below eps is raised to eps (clamp(min=eps)), "
                "a share of 1e-5 as well as a share of 0")
    if _close(got, -_psi(expected, actual, eps)):
        return "the sign is flipped (log(p / q) with q - p?): each term (q - p) * log(q / p) is positive or zero"
    return ""


def _expect_psi(expected, actual, what, **kwargs):
    got = _call_psi(expected, actual, what, **kwargs)
    want = _psi(expected, actual, **kwargs)
    if not _close(got, want):
        why = _psi_mistake(got, expected, actual, **kwargs)
        fail(f"{what}: expected {want:.10f}, got {got:.10f}" + (f"\nLooks like {why}." if why else ""))
    return got


@check("psi: 0 for the same shares, the known value, symmetric, an empty bin floored at eps")
def psi_values():
    counts = torch.tensor([10.0, 20.0, 30.0, 40.0])
    got = _expect_psi(counts, counts * 3, "psi of the same shares with three times the total")
    if abs(got) > 1e-9:
        fail(f"psi of two histograms with the same shares should be 0, got {got}")
    _expect_psi(torch.tensor([25.0, 25.0, 25.0, 25.0]), torch.tensor([10.0, 20.0, 30.0, 40.0]),
                "psi([25, 25, 25, 25], [10, 20, 30, 40])")
    _expect_psi(torch.tensor([50.0, 30.0, 20.0, 0.0]), torch.tensor([40.0, 30.0, 20.0, 10.0]),
                "psi with an empty bin in the expected counts")
    _expect_psi([5.0, 1.0, 0.0], [0.0, 1.0, 5.0], "psi of lists, empty bins on both sides, eps=1e-3", eps=1e-3)
    _expect_psi(torch.tensor([1.0, 20000.0, 30000.0, 49999.0]), torch.tensor([30.0, 20000.0, 30000.0, 49970.0]),
                "psi with a share of 1e-5 in the expected counts (below eps = 1e-4)")
    p, q = torch.rand(6) * 100 + 1, torch.rand(6) * 100 + 1
    forward = _call_psi(p, q, "psi(p, q)")
    backward = _call_psi(q, p, "psi(q, p)")
    if not _close(forward, backward):
        fail(f"psi(p, q) = {forward:.8f} but psi(q, p) = {backward:.8f}: (q - p) * log(q / p) is symmetric; "
             "check that both vectors are normalised and floored the same way")


@check("psi: grows as a sample moves further from the training data")
def psi_grows():
    edges = torch.linspace(-4, 4, 11)
    base = torch.randn(4000)
    expected = _histogram(base, edges)
    values = []
    for shift in (0.0, 0.25, 0.5, 1.0, 2.0):
        actual = _histogram(torch.randn(4000) + shift, edges)
        values.append(_expect_psi(expected, actual, f"psi of a sample shifted by {shift}"))
    if any(later <= earlier for earlier, later in zip(values[1:], values[2:])):
        fail(f"psi should grow with the shift (0.25, 0.5, 1, 2): got {[round(v, 4) for v in values[1:]]}")


# --- ks_statistic -------------------------------------------------------------------------


def _expect_ks(a, b, what):
    got = _float(_drift().ks_statistic(a, b), what)
    want = _ks(a, b)
    if not math.isclose(got, want, abs_tol=1e-6):
        def near(*values):
            return any(math.isclose(got, v, abs_tol=1e-6) for v in values)

        # Every mistake these numbers fit (on one input, two mistakes can give the same number).
        fits = []
        if near(_ks(a, b, one_direction=True), _ks(b, a, one_direction=True)):
            fits.append("the gap is measured in one direction only: take the absolute difference, "
                        "max |F_a(x) - F_b(x)|, since either sample's CDF may be the higher one")
        if near(_ks(a, b, points_of="a"), _ks(a, b, points_of="b")):
            fits.append("the CDFs are compared only at one sample's values: the largest gap can sit at a value of the "
                        "other sample, so look at every distinct value of both")
        if len(a) != len(b) and near(_ks(a, b, one_size=True), _ks(b, a, one_size=True)):
            fits.append("both CDFs are divided by one sample's size: each sample's CDF is its count <= x over its own size")
        why = "; or ".join(fits)
        fail(f"{what}: expected {want:.6f}, got {got:.6f}" + (f"\nLooks like {why}." if why else ""))
    if not -1e-6 <= got <= 1.0 + 1e-6:
        fail(f"{what}: a KS distance lies between 0 and 1, got {got}")
    return got


@check("ks_statistic: 0 for the same sample, 1 for samples that do not overlap, known values with ties")
def ks_values():
    a = torch.randn(50)
    expect_equal(round(_expect_ks(a, a[torch.randperm(50)], "ks_statistic of a sample and itself, shuffled"), 6), 0.0,
                 "the KS distance of a sample and itself")
    expect_equal(round(_expect_ks(torch.rand(30), torch.rand(20) + 5, "ks_statistic of samples that do not overlap"), 6),
                 1.0, "the KS distance of samples that do not overlap")
    _expect_ks(torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.tensor([3.0, 4.0, 5.0, 6.0]), "ks_statistic([1, 2, 3, 4], [3, 4, 5, 6])")
    _expect_ks(torch.tensor([1.0, 1.0, 1.0, 2.0]), torch.tensor([1.0, 2.0, 2.0, 2.0]),
               "ks_statistic([1, 1, 1, 2], [1, 2, 2, 2]) (ties within and across the samples)")
    _expect_ks([0.0, 5.0, 5.0, 9.0], [1.0, 2.0, 5.0], "ks_statistic of lists of different lengths")


@check("ks_statistic: random samples of different sizes, against the definition")
def ks_random():
    for _ in range(6):
        a = torch.randint(0, 12, (random.randint(1, 60),)).double() / 2
        b = torch.randint(0, 12, (random.randint(1, 60),)).double() / 2 + random.choice((0.0, 0.5, 1.5))
        _expect_ks(a, b, f"ks_statistic of samples of {len(a)} and {len(b)} values with ties")
    _expect_ks(torch.randn(500), torch.randn(300) * 1.5 + 0.3, "ks_statistic of two normal samples")
