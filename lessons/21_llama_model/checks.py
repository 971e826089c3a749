"""Checks for lesson 21: TransformerBlock (with Phi's parallel switch) and LlamaModel.

The whole model is compared with a functional forward pass written from the
contract's parameter names (tutor.checks.llama_refs.llama_forward), which uses
torch's own RMSNorm and attention, never the learner's modules.
"""

import torch
import torch.nn as nn

from tutor.checks import assert_close, check, expect_equal, fail, learner, probe
from tutor.checks.llama_refs import expected_llama_names, llama_forward, rope_tables
from tutor.checks.torch_refs import check_grads_reach, randomise, set_weights

CFG = {"vocab_size": 40, "context_length": 12, "emb_dim": 16, "n_heads": 4, "n_kv_groups": 2, "n_layers": 2,
       "hidden_dim": 24, "rope_base": 10_000}


def _llama():
    return learner("llama")


def _model(**over):
    return _llama().LlamaModel({**CFG, **over})


def _params(model):
    return {n: p.detach() for n, p in model.named_parameters()}


@check("LlamaModel's parameter names are exactly the contract's (no position embedding; no norm2 when parallel)")
def parameter_names():
    for over in ({}, {"parallel": True}, {"window_size": 4, "n_kv_groups": 1}):
        cfg = {**CFG, **over}
        got = {n for n, _ in _llama().LlamaModel(cfg).named_parameters()}
        want = expected_llama_names(cfg)
        if got == want:
            continue
        extra, missing = sorted(got - want), sorted(want - got)
        why = ""
        if any(n.startswith("pos_emb") or "pos" in n.split(".")[0] for n in extra):
            why = ("\nLooks like a position embedding is left in: a Llama has no learned positions; they enter "
                   "through RoPE in each attention.")
        elif any(n.split(".")[-1] in ("cos", "sin") for n in extra):
            why = ("\nThe RoPE tables are parameters: the optimiser would train them. Register them as buffers: "
                   "self.register_buffer('cos', cos, persistent=False).")
        elif any(n.endswith(".bias") for n in extra):
            why = "\nThere are biases: every nn.Linear of this file takes bias=False."
        elif any(n.endswith("norm2.weight") for n in extra) and cfg.get("parallel"):
            why = ("\nWith parallel (Phi's block) there is no norm2: attention and feed-forward share norm1's "
                   "output, so only create norm2 when not parallel.")
        elif any(n.endswith("norm2.weight") for n in missing):
            why = "\nThe sequential block (parallel False) needs norm2 before the feed-forward."
        fail(f"LlamaModel(cfg with {over or 'the defaults'}) parameters differ.\n  unexpected: {extra[:6]}\n"
             f"  missing:    {missing[:6]}{why}")


@check("the parts have the right kinds; the RoPE tables are buffers from precompute_rope_params(head_dim, ...)")
def attributes():
    lm = _llama()
    m = _model(window_size=5)
    for name, kind in (("tok_emb", nn.Embedding), ("trf_blocks", nn.ModuleList), ("final_norm", lm.RMSNorm),
                       ("out_head", nn.Linear)):
        if not isinstance(getattr(m, name, None), kind):
            fail(f"LlamaModel(cfg).{name} should be a {kind.__name__}, got {type(getattr(m, name, None)).__name__}")
    expect_equal(len(m.trf_blocks), 2, "number of trf_blocks (n_layers)")
    block = m.trf_blocks[0]
    if not isinstance(block, lm.TransformerBlock):
        fail(f"trf_blocks should hold TransformerBlocks, got {type(block).__name__}")
    if not isinstance(getattr(block, "att", None), lm.GroupedQueryAttention):
        fail(f"TransformerBlock.att should be a GroupedQueryAttention, got {type(getattr(block, 'att', None)).__name__}")
    expect_equal(tuple(block.att.W_key.weight.shape), (8, 16), "att.W_key.weight shape with n_kv_groups=2, head_dim=4")
    x = torch.randn(1, 9, 16)
    cos, sin = rope_tables(4, 10_000, 12)
    with torch.no_grad():
        seen = block.att(x, cos, sin)
        x2 = x.clone()
        x2[:, 2] += 5.0
        if not torch.allclose(block.att(x2, cos, sin)[:, 8], seen[:, 8], atol=1e-6):
            fail("cfg['window_size'] = 5 did not reach the attention: position 8 still sees position 2. "
                 "Pass cfg.get('window_size') to GroupedQueryAttention.")
    want_cos, want_sin = rope_tables(4, 10_000, 12)
    for label, want in (("cos", want_cos), ("sin", want_sin)):
        found = [n for n, b in m.named_buffers() if tuple(b.shape) == tuple(want.shape) and torch.allclose(b.float(), want, atol=1e-5)]
        if not found:
            if any(tuple(p.shape) == tuple(want.shape) and torch.allclose(p.detach().float(), want, atol=1e-5) for p in m.parameters()):
                fail(f"the {label} table is an nn.Parameter, so the optimiser would train it; "
                     "register it as a buffer (self.register_buffer).")
            shapes = [(n, tuple(b.shape)) for n, b in m.named_buffers()]
            fail(f"no buffer holds the {label} table of precompute_rope_params(head_dim=4, rope_base, context_length=12) "
                 f"(shape (12, 4)); buffers found: {shapes}. head_dim is emb_dim // n_heads, not emb_dim.")
        if probe("buffers_also_parameters", m):
            fail("a RoPE table is both a buffer and a parameter; keep it a buffer only.")
    # A base other than the usual 10,000 (Llama 3 uses 500,000): the tables must follow cfg["rope_base"].
    m = _model(rope_base=500)
    want_cos, _ = rope_tables(4, 500, 12)
    usual_cos, _ = rope_tables(4, 10_000, 12)
    buffers = [b.float() for _, b in m.named_buffers() if tuple(b.shape) == (12, 4)]
    if not any(torch.allclose(b, want_cos, atol=1e-5) for b in buffers):
        if any(torch.allclose(b, usual_cos, atol=1e-5) for b in buffers):
            fail("with cfg['rope_base'] = 500 the cos table is the one of base 10,000: cfg['rope_base'] is ignored. "
                 "Pass it as theta_base to precompute_rope_params.")
        fail("with cfg['rope_base'] = 500 no buffer holds precompute_rope_params(4, 500, 12)'s cos table.")


def _block_mistakes(b, x, cos, sin, parallel):
    att = lambda z: b.att(z, cos, sin)  # noqa: E731
    n1, ff = b.norm1, b.ff
    if parallel:
        return {
            "the parallel block applies two norms in sequence: Phi's block normalises once, h = norm1(x), and adds "
            "both branches at once: x + att(h, cos, sin) + ff(h)":
                lambda: (lambda y: y + ff(n1(y)))(x + att(n1(x))),
            "the parallel block runs in sequence: both branches read h = norm1(x) of the block's input, and are "
            "added to x together": lambda: (lambda y: y + ff(n1(x)))(x + att(n1(x))),
            "the residual is missing: the parallel block returns x + att(h) + ff(h)": lambda: att(n1(x)) + ff(n1(x)),
            "the branches read x, not the normalised h = norm1(x)": lambda: x + att(x) + ff(x),
        }
    n2 = b.norm2
    return {
        "the attention residual is missing: x = x + att(norm1(x), cos, sin)": lambda: (lambda h: h + ff(n2(h)))(att(n1(x))),
        "the feed-forward residual is missing: x = x + ff(norm2(x))": lambda: ff(n2(x + att(n1(x)))),
        "the feed-forward reads the block's input instead of the output of the attention step":
            lambda: x + att(n1(x)) + ff(n2(x)),
        "norm1 and norm2 are swapped": lambda: (lambda h: h + ff(n1(h)))(x + att(n2(x))),
        "this is post-norm (norm after the residual add); a Llama is pre-norm: x + att(norm1(x)), then x + ff(norm2(x))":
            lambda: (lambda h: n2(h + ff(h)))(n1(x + att(x))),
    }


@check("TransformerBlock: pre-norm with two shortcuts; with parallel, x + att(h) + ff(h) for h = norm1(x)")
def block_forward():
    cos, sin = rope_tables(4, 10_000, 12)
    for parallel in (False, True):
        b = _llama().TransformerBlock({**CFG, "parallel": parallel})
        for norm in ("norm1", "norm2"):
            if hasattr(b, norm):
                randomise(getattr(b, norm), 0.7)
        x = torch.randn(2, 7, 16)
        with torch.no_grad():
            if parallel:
                h = b.norm1(x)
                want = x + b.att(h, cos, sin) + b.ff(h)
            else:
                y = x + b.att(b.norm1(x), cos, sin)
                want = y + b.ff(b.norm2(y))
            assert_close(b(x, cos, sin), want, f"TransformerBlock(cfg with parallel={parallel}) on x (2, 7, 16)",
                         atol=1e-5, mistakes=_block_mistakes(b, x, cos, sin, parallel))


@check("LlamaModel's logits equal a functional forward pass built from its parameters (sequential, windowed, parallel)")
def model_forward():
    torch.manual_seed(5)
    for over in ({}, {"window_size": 3, "n_kv_groups": 4}, {"parallel": True, "n_kv_groups": 1}):
        cfg = {**CFG, **over}
        m = _llama().LlamaModel(cfg).eval()
        # Weights drawn here, so that no choice of the model's own makes the logits easy to match.
        set_weights(m, {name: (1 + 0.3 * torch.randn(p.shape) if name.endswith(("norm1.weight", "norm2.weight", "final_norm.weight"))
                               else 0.1 * torch.randn(p.shape)) for name, p in m.named_parameters()})
        idx = torch.randint(0, 40, (2, 9))
        with torch.no_grad():
            got = m(idx)
            params = _params(m)
            mistakes = {}
            if cfg.get("parallel"):
                mistakes = {
                    "the parallel block applies two norms in sequence: Phi's block normalises once, h = norm1(x), "
                    "and adds both branches at once: x + att(h, cos, sin) + ff(h)":
                        lambda: llama_forward(params, cfg, idx, norms_in_sequence=True),
                    "the parallel block runs in sequence: both branches read h = norm1(x) of the block's input":
                        lambda: llama_forward(params, cfg, idx, sequential=True),
                }
            assert_close(got, llama_forward(params, cfg, idx), f"LlamaModel logits (cfg with {over or 'the defaults'}), "
                         "in_idx (2, 9) with context_length 12", atol=1e-4, mistakes=mistakes)
    m = _model().eval()
    for t in (1, 12):
        expect_equal(tuple(m(torch.randint(0, 40, (1, t))).shape), (1, t, 40), f"logits shape for t={t}")


@check("your generate (lesson 11) runs on LlamaModel unchanged; the model is causal; gradients reach every parameter")
def generate_and_behaviour():
    gen = learner("gpt").generate
    torch.manual_seed(6)
    cfg = {**CFG, "context_length": 6, "n_layers": 1}
    m = _llama().LlamaModel(cfg).eval()
    params = _params(m)
    idx = torch.randint(0, 40, (1, 3))
    out = gen(m, idx, max_new_tokens=5, context_size=cfg["context_length"])
    seq = idx.clone()
    with torch.no_grad():
        for _ in range(5):
            nxt = llama_forward(params, cfg, seq[:, -cfg["context_length"]:])[:, -1].argmax(-1, keepdim=True)
            seq = torch.cat([seq, nxt], dim=1)
    if not isinstance(out, torch.Tensor) or not torch.equal(out, seq):
        fail(f"greedy generate on your LlamaModel gave {out.tolist() if isinstance(out, torch.Tensor) else out}, "
             f"the functional forward pass gives {seq.tolist()} (the sequence grows past context_length=6).")
    m = _model().eval()
    idx = torch.randint(0, 40, (2, 8))
    with torch.no_grad():
        base = m(idx)
        for cut in (1, 4, 7):
            changed = idx.clone()
            changed[:, cut:] = (changed[:, cut:] + 7) % 40
            if (m(changed)[:, :cut] - base[:, :cut]).abs().max() > 1e-5:
                fail(f"changing only the tokens from position {cut} on changed the logits before it: the model must be causal.")
    check_grads_reach(m, idx, "LlamaModel")
