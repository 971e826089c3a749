"""Lesson 26: data-parallel training, written with torch.distributed's collectives.

Every function runs inside each process of a process group that is already
initialised (gloo on CPUs, nccl on GPUs): `dist.get_rank()` is this process's
number, from 0, and `dist.get_world_size()` how many processes there are. A
collective (`dist.all_reduce`, `dist.broadcast`) returns only once every rank
has called it, so every rank must make the same calls in the same order.
"""

import torch
import torch.distributed as dist

from .train import calc_loss_batch


def shard(batch, rank, world_size):
    """The rank-th of world_size contiguous, equal slices of batch along dimension 0."""
    # BEGIN SOLUTION
    if batch.shape[0] % world_size != 0:
        raise ValueError(f"a batch of {batch.shape[0]} rows cannot be split into {world_size} equal shards")
    size = batch.shape[0] // world_size
    return batch[rank * size:(rank + 1) * size]
    # END SOLUTION


def broadcast_parameters(model, src=0):
    """Every parameter and buffer of model takes rank src's values, in place."""
    # BEGIN SOLUTION
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            dist.broadcast(tensor.data, src=src)
    # END SOLUTION


def all_reduce_gradients(model):
    """Each parameter's .grad becomes its mean over all ranks; parameters without one are skipped."""
    # BEGIN SOLUTION
    world_size = dist.get_world_size()
    for param in model.parameters():
        if param.grad is None:
            continue
        dist.all_reduce(param.grad, op=dist.ReduceOp.SUM)
        param.grad /= world_size
    # END SOLUTION


def ddp_train_step(model, optimizer, input_batch, target_batch, device, max_grad_norm=1.0):
    """One step on this rank's shard of the full batch, gradients averaged over the ranks;
    returns the mean loss over all ranks."""
    # BEGIN SOLUTION
    rank, world_size = dist.get_rank(), dist.get_world_size()
    optimizer.zero_grad()
    inputs = shard(input_batch, rank, world_size)
    targets = shard(target_batch, rank, world_size)
    loss = calc_loss_batch(inputs, targets, model, device)
    loss.backward()
    all_reduce_gradients(model)
    if max_grad_norm is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()
    mean = loss.detach().clone()
    dist.all_reduce(mean, op=dist.ReduceOp.SUM)
    return (mean / world_size).item()
    # END SOLUTION
