"""Lesson 29's common mistakes: watch for drift."""

from tests.mutants import mutant

MUTANTS = [
    mutant(29, "out-of-range-dropped", "drift.py",
           ("    index = index.clamp(0, k - 1)", "    index = index[(index >= 0) & (index < k)]"),
           expect="values outside the edges are dropped"),
    mutant(29, "bins-open-on-the-left", "drift.py",
           ("    index = torch.bucketize(values, edges, right=True) - 1", "    index = torch.bucketize(values, edges) - 1"),
           expect="belongs to the bin it starts"),
    mutant(29, "counts-not-normalised", "drift.py",
           ("    p = (p / p.sum()).clamp(min=eps)", "    p = p.clamp(min=eps)"),
           ("    q = (q / q.sum()).clamp(min=eps)", "    q = q.clamp(min=eps)"),
           expect="not normalised"),
    mutant(29, "eps-added-everywhere", "drift.py",
           ("    p = (p / p.sum()).clamp(min=eps)", "    p = p / p.sum() + eps"),
           ("    q = (q / q.sum()).clamp(min=eps)", "    q = q / q.sum() + eps"),
           expect="eps is added to every share"),
    mutant(29, "ratio-upside-down", "drift.py",
           ("    return float(((q - p) * torch.log(q / p)).sum())", "    return float(((q - p) * torch.log(p / q)).sum())"),
           expect="sign is flipped"),
    mutant(29, "ks-one-side-only", "drift.py",
           ("    points = torch.cat([a, b]).unique()", "    points = a.unique()"),
           expect="only at one sample's values"),
    mutant(29, "ks-one-denominator", "drift.py",
           ("    cdf_b = torch.searchsorted(b, points, right=True) / b.numel()",
            "    cdf_b = torch.searchsorted(b, points, right=True) / a.numel()"),
           expect="divided by one sample's size"),
]
