"""Checks for lesson 32: LoRA (LoRALayer, LinearWithLoRA, replace_linear_with_lora).

The references are the contract's formulas, computed here on the weights the layers
hold; tolerances: outputs within 1e-5 (absolute and relative 1e-5), the output at
initialisation within 1e-6 of the frozen model's; counts exact.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from tutor.checks import as_built, assert_close, beside_learner, check, expect_equal, fail, learner, place, probe

GPT2_RANK16_TRAINABLE = 2_666_528  # GPT-2 124M with a 2-class head, every Linear wrapped at rank 16


def _lora():
    return learner("lora")


def _build_layer(in_dim, out_dim, rank, alpha):
    try:
        return _lora().LoRALayer(in_dim, out_dim, rank, alpha)
    except TypeError as exc:
        fail(f"LoRALayer({in_dim}, {out_dim}, rank={rank}, alpha={alpha}) could not be built: {exc}")


@check("LoRALayer: A (in_dim, rank) Kaiming-uniform and B (rank, out_dim) zeros at first; rank and alpha kept")
def layer_init():
    with as_built():  # the weights its __init__ gives it
        layer = _build_layer(7, 5, 3, 6)
        big = _build_layer(300, 20, 16, 16)
    for got, want, name in ((layer.A, (7, 3), "A"), (layer.B, (3, 5), "B")):
        if not isinstance(got, torch.Tensor):
            fail(f"LoRALayer(7, 5, rank=3, alpha=6).{name} should be a parameter, got {type(got).__name__}")
        expect_equal(tuple(got.shape), want, f"shape of LoRALayer(7, 5, rank=3, alpha=6).{name}")
    expect_equal((layer.rank, layer.alpha), (3, 6), "(layer.rank, layer.alpha) of LoRALayer(7, 5, rank=3, alpha=6)")
    if bool((big.B != 0).any()):
        fail("B is not zero at initialisation: B starts at zero, so that the wrapped model starts exactly where the "
             "pretrained one is (its update x @ A @ B is 0) and training moves it from there.")
    bound = 1 / math.sqrt(16)  # kaiming_uniform_(A, a=sqrt(5)) on (in_dim, rank): fan_in is rank
    a = big.A.detach().double()
    if bool((a == 0).all()):
        fail("A is all zeros at initialisation: with B zero too, no gradient reaches either. "
             "Initialise A with nn.init.kaiming_uniform_(A, a=math.sqrt(5)).")
    if a.abs().max().item() > bound + 1e-6 or abs(a.std().item() - bound / math.sqrt(3)) > 0.15 * bound / math.sqrt(3):
        fail(f"A does not look Kaiming-uniform: for A of shape (300, 16), nn.init.kaiming_uniform_(A, a=math.sqrt(5)) "
             f"draws from U(-{bound:.3f}, {bound:.3f}) (std {bound / math.sqrt(3):.3f}); got values up to "
             f"{a.abs().max().item():.3f}, std {a.std().item():.3f}")


@check("LoRALayer.forward is (alpha / rank) * (x @ A @ B), on any number of leading dimensions")
def layer_forward():
    layer = _build_layer(7, 5, 4, 6)  # alpha / rank = 1.5: no whole number
    for shape in ((4, 7), (2, 3, 7)):
        x = torch.randn(*shape)
        try:
            got = layer(x)
        except RuntimeError as exc:
            fail(f"LoRALayer(7, 5, rank=4, alpha=6) on x of shape {shape} raised: {exc}\n"
                 "Multiply x by A (in_dim, rank) first, then by B (rank, out_dim): x @ A @ B.")
        product = x @ layer.A @ layer.B
        want = (6 / 4) * product
        if isinstance(got, torch.Tensor) and tuple(got.shape) == tuple(want.shape) and not torch.allclose(got, want, atol=1e-5):
            if torch.allclose(got, product, atol=1e-5):
                fail("the output is x @ A @ B without its scale: multiply by alpha / rank (here 6 / 4 = 1.5); "
                     "alpha // rank, a whole-number division, gives 1 here")
            if torch.allclose(got, 6 * product, atol=1e-5) or torch.allclose(got, (4 / 6) * product, atol=1e-5):
                fail("the scale is not alpha / rank (here 6 / 4 = 1.5)")
        assert_close(got, want, f"LoRALayer(7, 5, rank=4, alpha=6) on x of shape {shape}", atol=1e-5, rtol=1e-5)


@check("LinearWithLoRA: the given layer plus its LoRA update; equal to the layer at initialisation")
def linear_with_lora():
    base = nn.Linear(6, 4)
    x = torch.randn(3, 6)
    with as_built():
        wrapped = _lora().LinearWithLoRA(base, 2, 4)
    expect_equal((wrapped.lora.rank, wrapped.lora.alpha), (2, 4), "(lora.rank, lora.alpha) of LinearWithLoRA(linear, 2, 4)")
    expect_equal(tuple(wrapped.lora.A.shape), (6, 2), "shape of LinearWithLoRA(nn.Linear(6, 4), 2, 4).lora.A")
    assert_close(wrapped(x), F.linear(x, base.weight, base.bias),
                 "LinearWithLoRA at initialisation (B is zero): the layer's own output", atol=1e-6, rtol=0)
    wrapped = _lora().LinearWithLoRA(nn.Linear(6, 4), 2, 4)
    frozen = F.linear(x, wrapped.linear.weight, wrapped.linear.bias)
    update = (4 / 2) * (x @ wrapped.lora.A @ wrapped.lora.B)
    got = wrapped(x)
    if isinstance(got, torch.Tensor) and tuple(got.shape) == (3, 4):
        if torch.allclose(got, frozen, atol=1e-5):
            fail("LinearWithLoRA returns the layer's output alone: add the LoRA update, linear(x) + lora(x)")
        if torch.allclose(got, update, atol=1e-5):
            fail("LinearWithLoRA returns the LoRA update alone: the frozen layer's output comes first, linear(x) + lora(x)")
    assert_close(got, frozen + update, "LinearWithLoRA(linear, 2, 4)(x) = linear(x) + lora(x)", atol=1e-5, rtol=1e-5)


def _stand_in():
    """A model with Linear layers at three depths and others that are not Linear."""
    return nn.Sequential(nn.Linear(5, 8), nn.GELU(), nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 3)))


def _wrapped(rank=4, alpha=8):
    model = _stand_in()
    placed = place(model)
    placed.requires_grad_(False)  # the caller freezes the pretrained weights first
    with as_built():
        _lora().replace_linear_with_lora(placed, rank, alpha)
    return model, placed


@check("replace_linear_with_lora: every nn.Linear, however deep, wrapped in place under its own name")
def replace_everywhere():
    model, placed = _wrapped()
    names = [name for name, _shape, _dtype in probe("shapes", placed)]
    if "0.weight" in names:
        fail("the model it was given still has its own nn.Linear layers: replace_linear_with_lora changes that model "
             "in place (setattr on it, or on the module that holds each layer), it does not build a new one."
             f"\nParameters now: {names}")
    if "2.0.weight" in names or "2.2.weight" in names:
        fail("only the model's top-level layers were wrapped: nested ones (2.0 and 2.2 here, inside a Sequential) "
             "were left as they were. Replace every nn.Linear however deep: recurse into the children that are not "
             f"nn.Linear.\nParameters now: {names}")
    want = [f"{p}.{part}" for p in ("0", "2.0", "2.2") for part in ("linear.weight", "linear.bias", "lora.A", "lora.B")]
    expect_equal(sorted(names), sorted(want), "the parameters' names after replace_linear_with_lora (each Linear "
                 "becomes LinearWithLoRA under the same name: .linear and .lora)")
    x = torch.randn(4, 5)
    assert_close(placed(x), model(x), "the wrapped model's output at initialisation (every B is zero): the original's",
                 atol=1e-6, rtol=0)


@check("only the LoRA matrices train: rank * (in + out) per layer, and the gradient reaches A and B alone")
def trainable():
    _model, placed = _wrapped(rank=4)
    counted = [(tuple(p.shape), bool(p.requires_grad)) for p in placed.parameters()]
    got = sum(math.prod(shape) for shape, grad in counted if grad)
    want = 4 * (5 + 8) + 4 * (8 + 8) + 4 * (8 + 3)
    if got != want:
        frozen_total = sum(math.prod(shape) for shape, _grad in counted)
        why = ""
        if got > want:
            why = ("\nThe pretrained weights are trainable again: keep the given layer itself (self.linear = linear), "
                   "as the caller froze it, rather than a new nn.Linear with its weights copied in.")
        fail(f"trainable parameters after freezing the model and wrapping it at rank 4: expected {want} "
             f"(4 * (5 + 8) + 4 * (8 + 8) + 4 * (8 + 3)), got {got} of {frozen_total}{why}")
    found = probe("grads", placed, [torch.randn(4, 5)])
    grads = found.get("grads") if isinstance(found, dict) else None
    if not isinstance(grads, dict):
        fail("the gradients could not be read back")
    expect_equal(sorted(grads), sorted(f"{p}.lora.{m}" for p in ("0", "2.0", "2.2") for m in ("A", "B")),
                 "the parameters that receive a gradient")
    missing = [name for name, g in grads.items() if g is None]
    if missing:
        fail(f"no gradient reaches {missing}: the LoRA update must be part of the output (linear(x) + lora(x))")


def learner_side_gpt2_trainable(rank: int, alpha: int) -> int:
    """GPT-2 124M's shape, with a 2-class head, frozen and wrapped: the trainable count. Built
    on the meta device (shapes only, no memory), beside the learner's code it uses."""
    from model.gpt import GPTModel
    from model.lora import replace_linear_with_lora

    cfg = {"vocab_size": 50257, "context_length": 1024, "emb_dim": 768, "n_heads": 12, "n_layers": 12,
           "drop_rate": 0.0, "qkv_bias": True}
    with torch.device("meta"):
        model = GPTModel(cfg)
        model.out_head = nn.Linear(768, 2)
        model.requires_grad_(False)
        replace_linear_with_lora(model, rank, alpha)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@check("GPT-2 124M with a 2-class head at rank 16: 2,666,528 trainable parameters, the book's figure")
def gpt2_count():
    got = beside_learner(learner_side_gpt2_trainable, 16, 16)
    if type(got) is not int:
        fail(f"the count came back as {type(got).__name__}")
    if got != GPT2_RANK16_TRAINABLE:
        fail(f"GPT-2 124M's shape (your GPTModel with qkv_bias=True and a 2-class head), frozen and wrapped at rank 16: "
             f"expected {GPT2_RANK16_TRAINABLE:,} trainable parameters, got {got:,}. Each nn.Linear of in and out "
             "features adds 16 * (in + out); are all of them (the 12 blocks' six, and the head) wrapped?")
