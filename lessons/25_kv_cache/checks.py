"""Checks for lesson 25: generate_cached.

The output is compared with greedy decoding by definition (tutor.checks.gpt2_refs)
and with the learner's own generate; forward hooks on each block's modules count
the positions that reach them, so that a "cache" that runs the whole sequence
again fails; two cached decodings with a named mistake each (computed in the
checks) let a wrong output name its mistake.
"""

import torch

from tutor.checks import check, fail, learner, place, probe
from tutor.checks.gpt2_refs import ContractGPT, cached_greedy_variant, gpt2_config, greedy_reference
from tutor.checks.torch_refs import set_weights

V, CTX = 40, 12


def _cached():
    return learner("kv_cache").generate_cached


def _model(seed, make=None, layers=2, drop=0.0):
    torch.manual_seed(seed)
    cfg = {**gpt2_config(V, CTX, 16, 4, layers), "drop_rate": drop}
    model = (make or ContractGPT)(cfg).double()
    set_weights(model, {name: p.detach() + 0.3 * torch.randn_like(p) for name, p in model.named_parameters()
                        if name.endswith(("scale", "shift", "bias"))})
    return model.eval()


def _ids(b, t, seed=0):
    return torch.randint(0, V, (b, t), generator=torch.Generator().manual_seed(seed))


def _run(model, idx, steps, context, **kw):
    try:
        return _cached()(model, idx, steps, context, **kw)
    except NotImplementedError:
        raise
    except IndexError as exc:
        if idx.shape[1] + steps > context:
            fail(f"generate_cached raised IndexError ({exc}) once the sequence outgrew context_size={context}. Looks "
                 "like the cache is kept past context_size: the positions shift there, so encode the last "
                 "context_size tokens afresh.")
        raise


def _same(got, want, what, model=None, idx=None, steps=0, context=CTX):
    if isinstance(got, torch.Tensor) and torch.equal(got, want):
        return
    shown = got.tolist() if isinstance(got, torch.Tensor) else got
    why = ""
    if model is not None and isinstance(got, torch.Tensor):
        for mistake, text in (("position_zero", "the new token is embedded at position 0: its position is "
                               "idx.shape[1] - 1, the length of the sequence before it"),
                              ("cache_kept", "the cache is kept past context_size: once the sequence outgrows it the "
                               "positions shift, so encode the last context_size tokens afresh")):
            if torch.equal(got, cached_greedy_variant(model, idx, steps, context, mistake)):
                why = f"Looks like {text}.\n"
                break
    fail(f"{why}{what}:\n  expected {want.tolist()}\n  got      {shown}")


class Counter:
    """Forward hooks on each block's projections and feed-forward: positions seen, per block."""

    def __init__(self, model):
        self.seen = {}
        self.handles = []
        for i, block in enumerate(model.trf_blocks):
            for name, module in (("att.W_query", block.att.W_query), ("att.W_key", block.att.W_key),
                                 ("att.W_value", block.att.W_value), ("ff", block.ff)):
                key = (i, name)
                self.seen[key] = 0
                self.handles.append(module.register_forward_hook(self._hook(key)))

    def _hook(self, key):
        def hook(module, args, output):
            self.seen[key] += args[0].shape[:-1].numel() // args[0].shape[0]
        return hook

    def remove(self):
        for h in self.handles:
            h.remove()


@check("while the sequence fits in context_size, each new token costs one position per block")
def one_position_per_token():
    local = _model(1)
    model = place(local)  # the learner's code runs on a copy; the reference on the checks' own
    idx = _ids(2, 4, seed=1)
    steps = 7
    counter = place(Counter)(model)  # hooks where the model runs
    try:
        got = _run(model, idx, steps, CTX)
    finally:
        counter.remove()
    want = greedy_reference(local, idx, steps, CTX)
    _same(got, want, "generate_cached(model, ids (2, 4), 7, context_size=12), greedy", model, idx, steps)
    budget = idx.shape[1] + steps - 1  # the prompt once, then each new token but the last
    for (block, name), seen in counter.seen.items():
        if seen == 0:
            fail(f"no position reached trf_blocks[{block}].{name}: call the block's modules (att.W_query, att.W_key, "
                 "att.W_value, ff, ...) rather than F.linear on their weights, so that the model's own modules "
                 "do the work.")
        if seen > budget:
            full = sum(min(t, CTX) for t in range(idx.shape[1], idx.shape[1] + steps))
            fail(f"trf_blocks[{block}].{name} saw {seen} positions for a 4-token prompt and 7 new tokens; with a "
                 f"KV cache it sees the prompt once and then one position per step, {budget} in all (plain "
                 f"decoding: {full}). Looks like the cache re-runs the whole sequence: feed only the newest token "
                 "and keep the keys and values of the earlier ones.")
    return f"{budget} positions reached each block's modules for 7 new tokens (plain decoding: 34)"


@check("your MultiHeadAttention keeps num_heads and head_dim (lesson 7), which the cache splits heads with")
def head_attributes():
    model = _model(2, learner("gpt").GPTModel, layers=1)
    att = model.trf_blocks[0].att
    for name, want in (("num_heads", 4), ("head_dim", 4)):
        got = getattr(att, name, None)
        if got != want:
            fail(f"your GPTModel's trf_blocks[0].att.{name} is {got!r}, expected {want} (emb_dim 16, 4 heads). "
                 "Keep self.num_heads = num_heads and self.head_dim = d_out // num_heads in MultiHeadAttention "
                 "(model/attention.py, lesson 7): generate_cached splits the keys and values into heads with them.")


@check("greedy, generate_cached writes what your generate writes on your GPTModel, batches included")
def same_as_generate():
    gen = learner("gpt").generate
    for seed, (b, t, steps) in enumerate(((1, 1, 6), (3, 5, 4))):
        model = _model(10 + seed, learner("gpt").GPTModel, layers=1)
        idx = _ids(b, t, seed=seed)
        want = gen(model, idx, steps, CTX)
        _same(_run(model, idx, steps, CTX), want, f"generate_cached vs your generate, ids ({b}, {t}), {steps} new tokens",
              model, idx, steps)


@check("past context_size the output still equals generate's (the window shifts)")
def past_the_context():
    gen = learner("gpt").generate
    for context, steps in ((CTX, 11), (6, 6)):
        model = _model(20 + context, learner("gpt").GPTModel, layers=1)
        idx = _ids(2, 3, seed=context)
        want = gen(model, idx, steps, context)
        _same(_run(model, idx, steps, context), want,
              f"generate_cached with context_size={context} and 3 + {steps} tokens, vs your generate",
              model, idx, steps, context)


@check("eos_id stops early as in generate (that token is not appended)")
def eos_stops():
    gen = learner("gpt").generate
    model = _model(30, learner("gpt").GPTModel, layers=1)
    idx = _ids(1, 3, seed=3)
    free = gen(model, idx, 6, CTX)
    eos = int(free[0, 5])
    want = gen(model, idx, 6, CTX, eos_id=eos)
    got = _run(model, idx, 6, CTX, eos_id=eos)
    if isinstance(got, torch.Tensor) and got.shape[1] > want.shape[1]:
        fail(f"with eos_id={eos} generate stops after {want.shape[1]} tokens, generate_cached went on to "
             f"{got.shape[1]}: when every row's new token is eos_id, stop without appending it.")
    _same(got, want, f"generate_cached(..., eos_id={eos})")


@check("no gradients, model.training restored, dropout off while it runs")
def mode_and_gradients():
    model = _model(40, learner("gpt").GPTModel, layers=1, drop=0.5)
    model.train()
    idx = _ids(2, 4, seed=4)
    found = probe("grad_mode_in", model, "trf_blocks.0.ff", _cached(), model, idx, 5, CTX)
    got = found["result"]
    if any(found["seen"]):
        fail("generate_cached runs the model with gradients on: autograd keeps every step's activations for a "
             "backward pass that never comes. Run it under torch.no_grad().")
    if not model.training:
        fail("after generate_cached the model is left in eval mode; it was in training mode before. Remember "
             "model.training first and restore it with model.train(was_training) at the end.")
    if isinstance(got, torch.Tensor) and got.requires_grad:
        fail("generate_cached's output requires a gradient: run it under torch.no_grad().")
    if probe("grads_present", model):
        fail("generate_cached left gradients on the parameters: run it under torch.no_grad().")
    model.eval()
    want = greedy_reference(model, idx, 5, CTX)
    _same(got, want, "greedy output of a model with dropout 0.5 that was in train() mode (dropout must be off)")
    with torch.no_grad():
        model.train()
        out = _run(model, idx, 5, CTX, temperature=1.0, top_k=1)
    _same(out, want, "with temperature=1.0 and top_k=1 sampling can only pick the greedy token")


@check("temperature samples and top_k keeps only the k largest logits, as in generate")
def sampling():
    model = _model(50, learner("gpt").GPTModel, layers=1)
    idx = _ids(64, 3, seed=5)
    steps, k = 4, 3
    out = _run(model, idx, steps, CTX, temperature=2.0, top_k=k)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (64, 3 + steps):
        fail(f"generate_cached(ids (64, 3), {steps}, temperature=2.0, top_k={k}) should give ids of shape "
             f"(64, {3 + steps}), got {getattr(out, 'shape', out)}")
    greedy = True
    with torch.no_grad():
        for step in range(steps):
            logits = model(out[:, : 3 + step][:, -CTX:])[:, -1, :]
            chosen = out[:, 3 + step]
            allowed = torch.topk(logits, k, dim=-1).indices
            if not (allowed == chosen[:, None]).any(dim=1).all():
                fail(f"with top_k={k}, new token {step} is not among the {k} largest logits in some rows: top_k is "
                     "ignored. As in generate, set every logit below the k-th largest to -inf before sampling.")
            greedy = greedy and bool((logits.argmax(dim=-1) == chosen).all())
    if greedy:
        fail(f"with temperature=2.0 and top_k={k}, all 64 rows took the argmax at each of {steps} steps: temperature "
             "is ignored (always greedy). As in generate, divide the logits by the temperature and sample with "
             "torch.multinomial.")
