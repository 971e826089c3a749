"""Lessons 12-13: the loss, and one step of training."""

import math

import torch
import torch.nn.functional as F


def calc_loss_batch(input_batch, target_batch, model, device):
    """Mean cross-entropy of the next-token logits over every position of the batch."""
    # BEGIN SOLUTION
    input_batch, target_batch = input_batch.to(device), target_batch.to(device)
    logits = model(input_batch)  # (b, t, V)
    return F.cross_entropy(logits.flatten(0, 1), target_batch.flatten())  # (b*t, V) against (b*t,)
    # END SOLUTION


def calc_loss_loader(data_loader, model, device, num_batches=None):
    """Mean of the batch losses over the first num_batches batches (all if None); nan if empty."""
    # BEGIN SOLUTION
    n = len(data_loader) if num_batches is None else min(num_batches, len(data_loader))
    if n == 0:
        return float("nan")
    total = 0.0
    with torch.no_grad():
        for i, (input_batch, target_batch) in enumerate(data_loader):
            if i >= n:
                break
            total += calc_loss_batch(input_batch, target_batch, model, device).item()
    return total / n
    # END SOLUTION


def lr_at(step, *, peak_lr, warmup_steps, total_steps, min_lr=0.0):
    """Linear warm-up to peak_lr, then cosine decay to min_lr at total_steps, flat after."""
    # BEGIN SOLUTION
    if step < warmup_steps:
        return peak_lr * (step + 1) / warmup_steps
    if step >= total_steps:
        return min_lr
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return min_lr + 0.5 * (peak_lr - min_lr) * (1 + math.cos(math.pi * progress))
    # END SOLUTION


def train_step(model, optimizer, input_batch, target_batch, device, max_grad_norm=1.0):
    """Zero the gradients, compute the loss, backpropagate, clip, step; return the loss."""
    # BEGIN SOLUTION
    optimizer.zero_grad()
    loss = calc_loss_batch(input_batch, target_batch, model, device)
    loss.backward()
    if max_grad_norm is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()
    return loss.item()
    # END SOLUTION
