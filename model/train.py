"""Lessons 12-13: the loss, and one step of training."""

import math

import torch
import torch.nn.functional as F


def calc_loss_batch(input_batch, target_batch, model, device):
    """Mean cross-entropy of the next-token logits over every position of the batch."""
    # Lesson 12: your code here (`tutor hint 12` helps).
    raise NotImplementedError("calc_loss_batch is not written yet (lesson 12: The loss)")


def calc_loss_loader(data_loader, model, device, num_batches=None):
    """Mean of the batch losses over the first num_batches batches (all if None); nan if empty."""
    # Lesson 12: your code here (`tutor hint 12` helps).
    raise NotImplementedError("calc_loss_loader is not written yet (lesson 12: The loss)")


def lr_at(step, *, peak_lr, warmup_steps, total_steps, min_lr=0.0):
    """Linear warm-up to peak_lr, then cosine decay to min_lr at total_steps, flat after."""
    # Lesson 13: your code here (`tutor hint 13` helps).
    raise NotImplementedError("lr_at is not written yet (lesson 13: The training step)")


def train_step(model, optimizer, input_batch, target_batch, device, max_grad_norm=1.0):
    """Zero the gradients, compute the loss, backpropagate, clip, step; return the loss."""
    # Lesson 13: your code here (`tutor hint 13` helps).
    raise NotImplementedError("train_step is not written yet (lesson 13: The training step)")
