"""The Hugging Face layout itself: the reference load_gpt2_weights on a tiny random
transformers.GPT2LMHeadModel gives its logits (skipped when transformers is absent)."""

from __future__ import annotations

import pytest
import torch

transformers = pytest.importorskip("transformers")


def _tiny_hf_model():
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=64, n_positions=16, n_embd=16, n_layer=2, n_head=4,
                                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    model = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias") or ".ln_" in name:
                p.add_(0.2 * torch.randn_like(p))  # biases and norms away from their 0 and 1
    return model, config


def test_reference_loader_reproduces_gpt2lmheadmodel(tmp_path):
    from lessons.reference.gpt import GPTModel
    from lessons.reference.gpt2_weights import load_gpt2_weights

    hf, config = _tiny_hf_model()
    cfg = {"vocab_size": 64, "context_length": 16, "emb_dim": 16, "n_heads": 4, "n_layers": 2, "drop_rate": 0.0,
           "qkv_bias": True}
    idx = torch.randint(0, 64, (2, 11))
    with torch.no_grad():
        want = hf(idx).logits
        ours = load_gpt2_weights(GPTModel(cfg), hf.state_dict()).eval()  # names with the transformer. prefix
        assert torch.allclose(ours(idx), want, atol=1e-5)


def test_a_saved_transformers_model_passes_the_structure_check_and_loads(tmp_path, monkeypatch):
    from lessons.reference.gpt import GPTModel
    from lessons.reference.gpt2_weights import load_gpt2_weights
    from tutor.data import gpt2

    monkeypatch.setenv("TUTOR_HOME", str(tmp_path / "home"))
    hf, _ = _tiny_hf_model()
    hf.save_pretrained(tmp_path / "saved", safe_serialization=True)
    weights = gpt2.import_folder(tmp_path / "saved")
    assert (weights.config.emb_dim, weights.config.n_layers, weights.config.n_heads) == (16, 2, 4)
    model = load_gpt2_weights(GPTModel(weights.config.model_cfg()), gpt2.load_state_dict(weights)).eval()
    idx = torch.randint(0, 64, (1, 16))
    with torch.no_grad():
        assert torch.allclose(model(idx), hf(idx).logits, atol=1e-5)
