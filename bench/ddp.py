"""Training on several processes: tokens/s of the reference GPT with DistributedDataParallel.

For each process count N, N ranks (gloo on CPUs, nccl on CUDA GPUs, one GPU each)
train the course's reference GPTModel with the trainer's step and AdamW, on the
same global batch (the preset's, split in N equal parts, as `tutor train
pretrain --nproc N` splits it), on random ids. N = 1 is the plain model, without
DDP. tokens/s counts the global batch; the time is rank 0's over the measured
steps, after warm-up steps. On CUDA, MFU = model FLOPs per second over N times
the measured bf16 (or fp32) matmul rate of one GPU.

On CPUs, extra processes share the same cores: with 2 cores, 2 processes of one
thread each do the work that 1 process does with 2 threads, plus an all-reduce
per step, so no speed-up is expected (there may be a slow-down).

Run: python bench/ddp.py [--preset tiny] [--nproc 1,2] [--steps 10] [--device cpu] [--threads 1]
     python bench/ddp.py --preset gpt2-124m --device cuda --nproc 1,2,4 --precision bf16
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _reference import load_reference  # noqa: E402
from pretrain_speed import flops_per_token, matmul_rate  # noqa: E402

from tutor.training.distributed import free_port  # noqa: E402
from tutor.training.presets import PRESETS  # noqa: E402
from tutor.training.pretrain import adamw  # noqa: E402


def rank_main(rank: int, world: int, args, port: int, results) -> None:
    device = args.device
    threads = (args.threads or max(1, (os.cpu_count() or 1) // world)) if device == "cpu" else 1
    torch.set_num_threads(threads)
    if world > 1:
        if device == "cuda":
            torch.cuda.set_device(rank)
        dist.init_process_group("nccl" if device == "cuda" else "gloo", init_method=f"tcp://127.0.0.1:{port}",
                                rank=rank, world_size=world)
    gpt, train = load_reference()
    s = PRESETS[args.preset]
    cfg = s.model_cfg()
    torch.manual_seed(0)
    model = gpt.GPTModel(cfg).to(device)
    optimizer = adamw(model, s)
    stepper = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        stepper = DistributedDataParallel(model, device_ids=[rank] if device == "cuda" else None)
    rows = s.batch_size // world
    g = torch.Generator().manual_seed(rank)
    x = torch.randint(0, cfg["vocab_size"], (rows, cfg["context_length"]), generator=g).to(device)
    y = torch.randint(0, cfg["vocab_size"], (rows, cfg["context_length"]), generator=g).to(device)
    autocast = torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=args.precision == "bf16")
    started = 0.0
    for i in range(args.steps + args.warmup):
        if i == args.warmup:
            if device == "cuda":
                torch.cuda.synchronize()
            if world > 1:
                dist.barrier()
            started = time.perf_counter()
        with autocast:
            train.train_step(stepper, optimizer, x, y, device, max_grad_norm=s.max_grad_norm)
    if device == "cuda":
        torch.cuda.synchronize()
    if world > 1:
        dist.barrier()
    elapsed = time.perf_counter() - started
    if rank == 0:
        n = sum(p.numel() for p in model.parameters())
        results.put((s.batch_size * cfg["context_length"] * args.steps / elapsed, n, threads))
    if world > 1:
        dist.destroy_process_group()


def measure(world: int, args) -> tuple[float, int, int]:
    results = mp.get_context("spawn").SimpleQueue()
    mp.spawn(rank_main, args=(world, args, free_port(), results), nprocs=world, join=True)
    return results.get()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny", choices=list(PRESETS))
    parser.add_argument("--nproc", default="1,2", help="process counts to measure, e.g. 1,2,4")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--threads", type=int, default=0, help="threads per CPU process (default: the cores shared out)")
    args = parser.parse_args()
    if args.precision == "auto":
        args.precision = "bf16" if args.device == "cuda" else "fp32"
    counts = [int(n) for n in args.nproc.split(",")]
    if args.device == "cuda":
        counts = [n for n in counts if n <= torch.cuda.device_count()]
    s = PRESETS[args.preset]
    cfg = s.model_cfg()
    print(f"device {args.device} ({os.cpu_count()} CPU cores"
          + (f", {torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}" if args.device == "cuda" else "")
          + f"), torch {torch.__version__}, preset {args.preset}: {cfg['n_layers']} layers, width {cfg['emb_dim']}, "
          f"context {cfg['context_length']}, global batch {s.batch_size}, {args.precision}")
    peak = None
    if args.device == "cuda":
        peak = matmul_rate("cuda", torch.bfloat16 if args.precision == "bf16" else torch.float32, n=8192)
        print(f"measured matmul rate of one GPU: {peak / 1e12:,.0f} TFLOP/s")
    print(f"\n{'processes':>9} {'threads each':>12} {'tokens/s':>10} {'vs 1':>6}" + (f" {'MFU':>6}" if peak else ""))
    base = None
    for world in counts:
        if s.batch_size % world:
            print(f"{world:>9}  (the batch of {s.batch_size} does not split into {world})")
            continue
        rate, n, threads = measure(world, args)
        base = base or rate
        mfu = f" {rate * flops_per_token(n, cfg) / (peak * world):6.1%}" if peak else ""
        print(f"{world:>9} {threads:>12} {rate:10,.0f} {rate / base:5.2f}x{mfu}")


if __name__ == "__main__":
    main()
