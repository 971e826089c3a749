"""Checks for lesson 14: the pretraining milestone, measured, never taken on trust.

The check reloads the learner's checkpoint into their own GPTModel (or LlamaModel,
for a run made with --arch llama: the checkpoint records which), tokenizes the
held-out split of the default corpus with the checkpoint's ranks, and computes
the loss itself with F.cross_entropy. The metrics file is never read, so editing
it changes nothing.
"""

import math

import torch
import torch.nn.functional as F

from tutor.checks import check, checkpoint_encoding, checkpoint_model, fail, run_checkpoint

# The tiny preset reaches 1.30 nats per character in its default budget (docs/benchmarks.md),
# and passes 1.5 around step 300 of 1,200: a margin for other machines, seeds and implementations.
THRESHOLD = 1.5  # nats per character of held-out text
MAX_TOKENS = 40_000


def _checkpoint():
    return run_checkpoint("pretrain",
                          "Train one: tutor train pretrain --preset tiny (about 5 minutes on a laptop CPU).")


@check("a checkpoint from the default corpus loads into your model (GPTModel, or LlamaModel for --arch llama)")
def loads():
    c = _checkpoint()
    if c.header.get("corpus", {}).get("name") != "pydoc":
        fail(f"The milestone is measured on the default corpus; your run used {c.header.get('corpus', {}).get('name')!r}. "
             "Train without --corpus.")
    checkpoint_model(c)


@check(f"held-out loss, recomputed here, is below {THRESHOLD} nats per character")
def held_out_loss():
    from tutor.data.corpus import load_corpus

    c = _checkpoint()
    corpus = load_corpus("pydoc")
    if corpus.sha256 != c.header["corpus"]["sha256"]:
        fail("The default corpus on this machine differs from the one your run used (another Python version?). "
             "Train again: tutor train pretrain --preset tiny")
    model = checkpoint_model(c)
    enc = checkpoint_encoding(c)
    text = corpus.val_text()
    ids = enc.encode_ordinary(text)[: MAX_TOKENS + 1]
    ctx = c.model_cfg["context_length"]
    n = (len(ids) - 1) // ctx * ctx
    x = torch.tensor(ids[:n]).view(-1, ctx)
    y = torch.tensor(ids[1 : n + 1]).view(-1, ctx)
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(x), 32):
            logits = model(x[i : i + 32])
            total += F.cross_entropy(logits.flatten(0, 1).float(), y[i : i + 32].flatten(), reduction="sum").item()
    tokens = y.numel()
    chars = len(enc.decode(ids[1 : n + 1]))
    per_token, per_char = total / tokens, total / chars
    if not math.isfinite(per_token):
        fail("The held-out loss is not a finite number: the weights hold NaN or inf. Train again with a lower --set peak_lr.")
    summary = (f"{tokens:,} held-out tokens: loss {per_token:.3f} per token (perplexity {math.exp(per_token):.1f}), "
               f"{per_char:.3f} nats per character")
    if per_char > THRESHOLD:
        fail(f"{summary}; the milestone is {THRESHOLD}. Train longer (tutor train pretrain --resume --max-steps N) "
             "or start again with the tiny preset.")
    return summary
