"""Checks for lesson 24: load_gpt2_weights.

A tiny random checkpoint in the Hugging Face layout (real names, Conv1D weights
(in, out), the fused c_attn) is made here (tutor.checks.gpt2_refs), loaded by the
learner's function, and the model's logits are compared with a GPT-2 forward
pass written in the checks from the state dict alone. When they differ, the
loaded parameters are compared with the checkpoint's tensors one by one, so the
message can name the mistake.
"""

import torch

from tutor.checks import assert_close, check, fail, learner, place, probe
from tutor.checks.gpt2_refs import ContractGPT, gpt2_config, gpt2_forward, gpt2_state_dict

V, CTX, D, HEADS, LAYERS = 48, 16, 16, 4, 3
CFG = gpt2_config(V, CTX, D, HEADS, LAYERS)


def _load(model, sd, what):
    """The learner's loader on a complete checkpoint; an exception becomes a named failure."""
    try:
        out = learner("gpt2_weights").load_gpt2_weights(model, sd)
    except NotImplementedError:
        raise
    except (KeyError, ValueError, RuntimeError) as exc:
        fail(f"{what}: your load_gpt2_weights raised {type(exc).__name__}: {exc}\n{_why_error(str(exc), sd)}")
    return out


def _why_error(text, sd):
    prefixed = any(k.startswith("transformer.") for k in sd)
    if f"h.{LAYERS}." in text or "h.-1." in text:
        return (f"Looks like the blocks are off by one: trf_blocks[i] takes the keys h.{{i}}. "
                f"(h.0 to h.{LAYERS - 1} here).")
    if prefixed and "transformer." not in text and ("wte" in text or "h.0" in text):
        return ("Looks like the 'transformer.' prefix is not stripped: GPT2LMHeadModel.state_dict() names its "
                "tensors transformer.wte.weight, transformer.h.0...; strip a leading 'transformer.' from every key.")
    if any(n in text for n in ("c_fc", "c_attn", "c_proj")) or ("(16, 64)" in text or "(64, 16)" in text):
        return ("Looks like a Conv1D weight is not transposed: GPT-2 stores c_attn, c_proj and c_fc as (in, out), "
                "nn.Linear keeps (out, in); copy weight.T.")
    return "The checkpoint is complete and every shape fits a GPTModel built with qkv_bias=True."


def _close(a, b):
    return tuple(a.shape) == tuple(b.shape) and torch.allclose(a.detach().double(), b.detach().double(), atol=1e-6)


def diagnose(model, sd):
    """The first loaded parameter that is not the checkpoint's tensor, and the likely mistake."""
    if not _close(model.out_head.weight, sd["wte.weight"]):
        return ("out_head is left random: GPT-2 has no head of its own, it ties it to the token embedding; "
                "copy wte.weight into out_head.weight")
    for i, block in enumerate(model.trf_blocks):
        p = f"h.{i}."
        w, b = sd[p + "attn.c_attn.weight"], sd[p + "attn.c_attn.bias"]
        parts = w.split(D, dim=1)
        att = block.att
        loaded = [att.W_query.weight, att.W_key.weight, att.W_value.weight]
        if not all(_close(l, part.T) for l, part in zip(loaded, parts)):
            if any(_close(l, part) for l in loaded for part in parts):
                return "c_attn's weights are not transposed: Conv1D stores (in, out); W_query.weight is the query part's .T"
            if all(any(_close(l, part.T) for part in parts) for l in loaded):
                return ("query, key and value are taken in the wrong order: c_attn's columns hold the query, "
                        "then the key, then the value")
            for j in range(LAYERS):
                if j != i and _close(att.W_query.weight, sd[f"h.{j}.attn.c_attn.weight"].split(D, dim=1)[0].T):
                    return f"the blocks are off by one: trf_blocks[{i}] holds h.{j}'s weights; block i takes h.{{i}}."
            return f"trf_blocks[{i}].att's query, key, value weights are not c_attn's three parts (split dim=1, .T)"
        if not all(_close(l.bias, part) for l, part in zip((att.W_query, att.W_key, att.W_value), b.split(D))):
            return "the biases of c_attn are not loaded (or split wrongly): W_query.bias is c_attn.bias[:d], and so on"
        if _close(block.norm1.scale, sd[p + "ln_2.weight"]) and _close(block.norm2.scale, sd[p + "ln_1.weight"]):
            return "ln_1 and ln_2 are swapped: ln_1 is norm1 (before attention), ln_2 is norm2 (before the feed-forward)"
        pairs = [("norm1.scale", block.norm1.scale, sd[p + "ln_1.weight"]),
                 ("norm2.scale", block.norm2.scale, sd[p + "ln_2.weight"]),
                 ("att.out_proj.weight", att.out_proj.weight, sd[p + "attn.c_proj.weight"].T),
                 ("ff.layers[0].weight", block.ff.layers[0].weight, sd[p + "mlp.c_fc.weight"].T),
                 ("ff.layers[2].weight", block.ff.layers[2].weight, sd[p + "mlp.c_proj.weight"].T)]
        for name, got, want in pairs:
            if not _close(got, want):
                if _close(got, want.T):
                    return f"{p}{'attn.c_proj' if 'out_proj' in name else 'mlp'} weight is not transposed into {name}: Conv1D stores (in, out), use .T"  # noqa: E501
                return f"trf_blocks[{i}].{name} does not hold the checkpoint's tensor"
        biases = [("norm1.shift", block.norm1.shift, sd[p + "ln_1.bias"]),
                  ("norm2.shift", block.norm2.shift, sd[p + "ln_2.bias"]),
                  ("att.out_proj.bias", att.out_proj.bias, sd[p + "attn.c_proj.bias"]),
                  ("ff.layers[0].bias", block.ff.layers[0].bias, sd[p + "mlp.c_fc.bias"]),
                  ("ff.layers[2].bias", block.ff.layers[2].bias, sd[p + "mlp.c_proj.bias"])]
        for name, got, want in biases:
            if not _close(got, want):
                return f"the biases are not loaded: trf_blocks[{i}].{name} should hold the checkpoint's {p}... bias"
    for name, got, want in (("tok_emb", model.tok_emb.weight, sd["wte.weight"]), ("pos_emb", model.pos_emb.weight, sd["wpe.weight"]),
                            ("final_norm.scale", model.final_norm.scale, sd["ln_f.weight"]),
                            ("final_norm.shift", model.final_norm.shift, sd["ln_f.bias"])):
        if not _close(got, want):
            return f"{name} does not hold the checkpoint's tensor"
    return None


def _logits_check(model, sd, plain, what):
    model = place(model)
    out = _load(model, sd, what)
    if out is not model:
        fail(f"{what}: load_gpt2_weights should return the model it was given (it fills it in place).")
    idx = torch.randint(0, V, (2, 11), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        got = model.eval()(idx)
        want = gpt2_forward(plain, HEADS, idx)
    if not torch.allclose(got.double(), want.double(), atol=1e-4, rtol=1e-3):  # only then is a diagnosis needed
        mistake = diagnose(model, plain)
        if mistake:
            fail(f"Looks like {mistake}.\n{what}: your model's logits differ from GPT-2's on the same checkpoint.")
    assert_close(got, want, f"{what}: logits for ids (2, 11)", atol=1e-4, rtol=1e-3)


@check("a missing key raises KeyError and a shape that does not fit raises ValueError, each naming the checkpoint's key")
def errors_name_the_key():
    load = learner("gpt2_weights").load_gpt2_weights
    for missing in ("h.1.mlp.c_fc.bias", "ln_f.weight"):
        sd = gpt2_state_dict(V, CTX, D, LAYERS, seed=3)
        del sd[missing]
        try:
            load(ContractGPT(CFG), sd)
        except NotImplementedError:
            raise
        except (KeyError, ValueError) as exc:
            if missing not in str(exc):
                fail(f"without {missing!r} your loader raised {type(exc).__name__}({exc}); name the checkpoint's key "
                     f"{missing!r} in the message, so the user knows what their file lacks.")
        except Exception as exc:
            fail(f"without {missing!r} your loader raised {type(exc).__name__}: {exc}; raise KeyError naming the key.")
        else:
            fail(f"a checkpoint without {missing!r} loaded without an error: raise KeyError naming the key.")
    sd = gpt2_state_dict(V, CTX, D, LAYERS, seed=3)
    sd["h.2.mlp.c_proj.weight"] = torch.randn(4 * D, D + 1)
    try:
        load(ContractGPT(CFG), sd)
    except (KeyError, ValueError) as exc:
        if "h.2.mlp.c_proj.weight" not in str(exc):
            fail(f"with h.2.mlp.c_proj.weight of shape (64, 17) instead of (64, 16) your loader raised "
                 f"{type(exc).__name__}({exc}); name the checkpoint's key in the message.")
    except Exception as exc:
        fail(f"with h.2.mlp.c_proj.weight of the wrong shape your loader raised {type(exc).__name__}: {exc}; compare "
             "the shapes first and raise ValueError naming the key.")
    else:
        fail("a checkpoint whose h.2.mlp.c_proj.weight has the wrong shape (64, 17) loaded without an error.")


@check("a GPT-2 checkpoint in a stand-in model with the contract's names gives GPT-2's logits")
def contract_model_logits():
    sd = gpt2_state_dict(V, CTX, D, LAYERS, seed=4)
    _logits_check(ContractGPT(CFG), sd, sd, "a stand-in GPT with the contract's attribute names")


@check("your GPTModel (qkv_bias=True) holding a GPT-2 checkpoint gives GPT-2's logits")
def gpt_model_logits():
    torch.manual_seed(0)
    sd = gpt2_state_dict(V, CTX, D, LAYERS, seed=5)
    _logits_check(learner("gpt").GPTModel(CFG), sd, sd, "your GPTModel")


@check("the 'transformer.' prefix of GPT2LMHeadModel's state_dict is accepted")
def prefix():
    plain = gpt2_state_dict(V, CTX, D, LAYERS, seed=6)
    prefixed = {"transformer." + k: v for k, v in plain.items()}
    prefixed["lm_head.weight"] = plain["wte.weight"]
    _logits_check(learner("gpt").GPTModel(CFG), prefixed, plain, "a checkpoint with the 'transformer.' prefix")


@check("out_head gets a copy of the token embedding, not the same Parameter")
def head_is_a_copy():
    sd = gpt2_state_dict(V, CTX, D, LAYERS, seed=7)
    try:
        found = probe("load_and_aliases", learner("gpt2_weights").load_gpt2_weights, learner("gpt").GPTModel(CFG), sd,
                      [("out_head.weight", "tok_emb.weight")])
    except (KeyError, ValueError, RuntimeError) as exc:
        fail(f"your GPTModel: your load_gpt2_weights raised {type(exc).__name__}: {exc}\n{_why_error(str(exc), sd)}")
    model = found["result"]
    head = model.out_head.weight
    if found["shared_pairs"]:
        fail("out_head.weight is the same tensor as tok_emb.weight. GPT-2 ties them, but the contract asks for a "
             "copy: the classifier later replaces the head, and a shared matrix would be trained from both ends.")
    if found["shares_state"]:
        fail("the model's parameters share memory with the checkpoint's tensors; copy the values in "
             "(param.copy_(tensor)) so that the model owns its weights.")
    if not _close(head, sd["wte.weight"]):
        fail("out_head.weight should equal wte.weight (GPT-2's head is tied to its token embedding).")
