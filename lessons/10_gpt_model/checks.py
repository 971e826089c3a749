"""Checks for lesson 10: GPTModel."""

import torch
import torch.nn as nn

from tutor.checks import assert_close, check, expect_equal, fail, learner
from tutor.checks.torch_refs import Counting, check_dropout_modes, check_grads_reach

CFG = {"vocab_size": 40, "context_length": 8, "emb_dim": 12, "n_heads": 2, "n_layers": 2, "drop_rate": 0.0, "qkv_bias": True}


def _gpt(**over):
    return learner("gpt").GPTModel({**CFG, **over})


def _expected_names(cfg):
    names = {"tok_emb.weight", "pos_emb.weight", "final_norm.scale", "final_norm.shift", "out_head.weight"}
    for i in range(cfg["n_layers"]):
        p = f"trf_blocks.{i}."
        for lin in ("W_query", "W_key", "W_value"):
            names.add(p + f"att.{lin}.weight")
            if cfg["qkv_bias"]:
                names.add(p + f"att.{lin}.bias")
        names |= {p + "att.out_proj.weight", p + "att.out_proj.bias"}
        names |= {p + f"ff.layers.{j}.{w}" for j in (0, 2) for w in ("weight", "bias")}
        names |= {p + f"{n}.{w}" for n in ("norm1", "norm2") for w in ("scale", "shift")}
    return names


@check("parameter names are exactly those of the contract's attributes")
def parameter_names():
    for qkv_bias in (True, False):
        m = _gpt(qkv_bias=qkv_bias)
        got = {n for n, _ in m.named_parameters()}
        want = _expected_names({**CFG, "qkv_bias": qkv_bias})
        if got != want:
            extra, missing = sorted(got - want), sorted(want - got)
            why = ""
            if "out_head.bias" in extra:
                why = "\nout_head has a bias: make it nn.Linear(emb_dim, vocab_size, bias=False)."
            elif any(n.startswith("pos_emb") for n in missing):
                why = "\nThere is no pos_emb: an nn.Embedding(context_length, emb_dim) of learned positions."
            fail(f"GPTModel(cfg with qkv_bias={qkv_bias}) parameters differ.\n  unexpected: {extra[:6]}\n  missing:    {missing[:6]}{why}")


@check("embeddings, blocks, final norm and head have the right kinds and sizes")
def attributes():
    lay = learner("layers")
    m = _gpt(drop_rate=0.3)
    for name, kind in (("tok_emb", nn.Embedding), ("pos_emb", nn.Embedding), ("drop_emb", nn.Dropout),
                       ("trf_blocks", nn.Sequential), ("final_norm", lay.LayerNorm), ("out_head", nn.Linear)):
        if not isinstance(getattr(m, name, None), kind):
            fail(f"GPTModel(cfg).{name} should be a {kind.__name__}, got {type(getattr(m, name, None)).__name__}")
    expect_equal(tuple(m.tok_emb.weight.shape), (40, 12), "tok_emb.weight shape (vocab_size, emb_dim)")
    expect_equal(tuple(m.pos_emb.weight.shape), (8, 12), "pos_emb.weight shape (context_length, emb_dim)")
    expect_equal(len(m.trf_blocks), 2, "number of trf_blocks (n_layers)")
    expect_equal(m.drop_emb.p, 0.3, "drop_emb.p (cfg['drop_rate'])")


@check("forward: (b, t) ids to (b, t, vocab_size) logits, for t < context_length too")
def forward():
    m = _gpt().eval()
    idx = torch.randint(0, 40, (2, 5))
    try:
        out = m(idx)
    except RuntimeError as exc:
        full = torch.randint(0, 40, (2, 8))
        try:
            m(full)
        except RuntimeError:
            raise exc from None
        fail(f"GPTModel fails on t=5 < context_length=8 but works on t=8: {exc}\n"
             "Looks like the position embeddings are built for the full context length: "
             "use pos_emb(torch.arange(t)) with t = in_idx.shape[1].")
    expect_equal(tuple(out.shape), (2, 5, 40), "logits shape for in_idx of shape (2, 5)")
    with torch.no_grad():
        x = m.tok_emb(idx) + m.pos_emb(torch.arange(5))
        want = m.out_head(m.final_norm(m.trf_blocks(m.drop_emb(x))))
        mistakes = {
            "the positions are the token ids: pos_emb must be indexed by torch.arange(t), the position of each token":
                lambda: m.out_head(m.final_norm(m.trf_blocks(m.tok_emb(idx) + m.pos_emb(idx.clamp(max=7))))),
            "there are no position embeddings: add pos_emb(torch.arange(t)) to the token embeddings":
                lambda: m.out_head(m.final_norm(m.trf_blocks(m.tok_emb(idx)))),
            "final_norm is not applied before out_head":
                lambda: m.out_head(m.trf_blocks(x)),
            "the transformer blocks are skipped": lambda: m.out_head(m.final_norm(x)),
        }
        assert_close(out, want, "GPTModel logits", atol=1e-4, mistakes=mistakes)



@check("the model is causal; dropout follows train()/eval(); gradients reach every parameter")
def behaviour():
    idx = torch.randint(0, 40, (2, 6))
    m = _gpt(drop_rate=0.5)
    m.drop_emb = Counting()
    counting = m.drop_emb  # judged, the child's copy: it counts where forward runs
    m(idx)
    if counting.calls != 1:
        fail(f"forward used drop_emb {counting.calls} time(s): apply drop_emb once, to tok_emb + pos_emb, "
             "before the transformer blocks.")
    check_dropout_modes(_gpt(drop_rate=0.5), idx, "GPTModel(drop_rate=0.5)", "is drop_emb (and each block's dropout) applied?")
    m = _gpt().eval()
    base = m(idx)
    for cut in range(1, 6):
        changed = idx.clone()
        changed[:, cut:] = (changed[:, cut:] + 7) % 40
        diff = (m(changed)[:, :cut] - base[:, :cut]).abs().max()
        if diff > 1e-5:
            fail(f"changing only the tokens from position {cut} on changed the logits before it: the GPT must be causal.")
    check_grads_reach(m, idx, "GPTModel")
