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
    # Lesson 26: your code here (`tutor hint 26` helps).
    raise NotImplementedError("shard is not written yet (lesson 26: Training on several processes)")


def broadcast_parameters(model, src=0):
    """Every parameter and buffer of model takes rank src's values, in place."""
    # Lesson 26: your code here (`tutor hint 26` helps).
    raise NotImplementedError("broadcast_parameters is not written yet (lesson 26: Training on several processes)")


def all_reduce_gradients(model):
    """Each parameter's .grad becomes its mean over all ranks; parameters without one are skipped."""
    # Lesson 26: your code here (`tutor hint 26` helps).
    raise NotImplementedError("all_reduce_gradients is not written yet (lesson 26: Training on several processes)")


def ddp_train_step(model, optimizer, input_batch, target_batch, device, max_grad_norm=1.0):
    """One step on this rank's shard of the full batch, gradients averaged over the ranks;
    returns the mean loss over all ranks."""
    # Lesson 26: your code here (`tutor hint 26` helps).
    raise NotImplementedError("ddp_train_step is not written yet (lesson 26: Training on several processes)")
