"""Mistakes newcomers made by hand in lessons 3, 5 and 7, each named by the checks."""

from tests.mutants import mutant

MHA_SPLIT = "return y.view(b, t, self.num_heads, self.head_dim).transpose(1, 2)"
MHA_DROPOUT = ("        weights = self.dropout(weights)\n"
               "        context = (weights @ values).transpose(1, 2).reshape(b, t, self.d_out)  # heads back side by side")

MUTANTS = [
    mutant(3, "ties-first-seen", "tokenizer.py",
           ("best = max(pairs, key=lambda pair: (pairs[pair], pair))", "best = max(pairs, key=pairs.get)"),
           expect="ties go to the pair seen first"),
    mutant(3, "encode-rightmost-first", "tokenizer.py",
           ("_rank, i = min(candidates)", "_rank, i = min(candidates, key=lambda c: (c[0], -c[1]))"),
           expect="merged rightmost first"),
    mutant(5, "keys-dot-T", "attention.py",
           ("scores = queries @ keys.transpose(-2, -1)  # (b, t, t): row i = how much query i matches each key",
            "scores = queries @ keys.T"),
           expect=".T on a batch"),
    mutant(7, "split-without-transpose", "attention.py",
           (MHA_SPLIT, "return y.view(b, self.num_heads, t, self.head_dim)"),
           expect="straight to (b, num_heads, t, head_dim)"),
    mutant(7, "interleaved-split-contiguous-merge", "attention.py",
           (MHA_SPLIT, "return y.view(b, t, self.head_dim, self.num_heads).permute(0, 3, 1, 2)"),
           expect="merged back contiguously"),
    mutant(7, "dropout-on-context", "attention.py",
           (MHA_DROPOUT, "        context = self.dropout((weights @ values).transpose(1, 2).reshape(b, t, self.d_out))"),
           expect="context vectors"),
]
