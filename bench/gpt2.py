"""Generation speed with and without the KV cache: the reference generate (lesson 11)
against the reference generate_cached (lesson 25), greedy, batch 1.

Models: the tiny training preset's GPT (random weights; speed does not depend on the
values), GPT-2 124M's shape with random weights when --random-124m is given, and
OpenAI's GPT-2 (the smallest size on this machine, loaded with the reference
load_gpt2_weights) when its weights are here (`tutor data download gpt2`). Each row
also says whether the two outputs were identical.

Run: python bench/gpt2.py [--new 64,256] [--prompt-tokens 16] [--random-124m] [--device cpu|cuda] [--threads N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._reference import load_reference  # noqa: E402


def rate(x: float) -> str:
    return f"{x:,.0f}" if x >= 10 else f"{x:.2f}"


def timed(fn, device: str) -> tuple[object, float]:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new", default="64,256", help="numbers of new tokens, comma-separated")
    parser.add_argument("--prompt-tokens", type=int, default=16)
    parser.add_argument("--random-124m", action="store_true", help="also GPT-2 124M's shape with random weights")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--bf16", action="store_true", help="run the models in bfloat16 (on a GPU)")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    gpt, _ = load_reference()
    import model.gpt2_weights as loader
    import model.kv_cache as kv
    from tutor.data import gpt2 as weights_data
    from tutor.training.presets import PRESETS

    models = []
    tiny = {**PRESETS["tiny"].model_cfg(), "drop_rate": 0.0, "qkv_bias": True}
    models.append(("tiny preset (random)", tiny, None))
    if args.random_124m:
        models.append(("GPT-2 124M shape (random)", weights_data.Config(50257, 1024, 768, 12, 12).model_cfg(), None))
    found = weights_data.find_weights()
    if found is not None:
        models.append((f"GPT-2 {found.name} (OpenAI's weights)", found.config.model_cfg(), found))
    else:
        print("GPT-2's weights are not on this machine (tutor data download gpt2): that row is skipped.")
    news = [int(n) for n in args.new.split(",")]
    dtype = torch.bfloat16 if args.bf16 else torch.float32
    print(f"\nGreedy decoding, batch 1, a {args.prompt_tokens}-token prompt, {args.device}, {str(dtype)[6:]}, "
          f"{torch.get_num_threads()} threads\n")
    head = "| model | parameters | new tokens | generate tok/s | generate_cached tok/s | speed-up | same output |"
    print(head)
    print("|---|---|---|---|---|---|---|")
    for name, cfg, weights in models:
        torch.manual_seed(0)
        m = gpt.GPTModel(cfg)
        if weights is not None:
            loader.load_gpt2_weights(m, weights_data.load_state_dict(weights))
        m = m.to(args.device, dtype).eval()
        n_params = sum(p.numel() for p in m.parameters()) - m.out_head.weight.numel()  # tied count
        prompt = torch.randint(0, cfg["vocab_size"], (1, args.prompt_tokens), device=args.device)
        kv.generate_cached(m, prompt, 4, cfg["context_length"])  # warm up
        gpt.generate(m, prompt, 4, cfg["context_length"])
        for n in news:
            plain, t_plain = timed(lambda: gpt.generate(m, prompt, n, cfg["context_length"]), args.device)
            cached, t_cached = timed(lambda: kv.generate_cached(m, prompt, n, cfg["context_length"]), args.device)
            same = "yes" if torch.equal(plain, cached) else "no"
            print(f"| {name} | {n_params / 1e6:.1f} M | {n} | {rate(n / t_plain)} | {rate(n / t_cached)} | "
                  f"{t_plain / t_cached:.1f}x | {same} |", flush=True)


if __name__ == "__main__":
    main()
