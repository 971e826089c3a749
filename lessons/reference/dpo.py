"""Lesson 33: preference tuning with DPO, the loss that needs no reward model.

For each prompt there are two answers, one preferred (chosen) and one not
(rejected). DPO raises the model's log-probability of the chosen answer and
lowers that of the rejected one, each measured against a frozen copy of the
model (the reference), so that the model moves towards what people prefer
without wandering far from what it already knows.
"""

import torch
import torch.nn.functional as F


def compute_logprobs(logits, labels, selection_mask=None):
    """The mean log-probability, per sequence, that the model gives its labels.

    logits (b, t, V), labels (b, t): position i's logits score token i + 1, so
    logits[:, :-1] are compared with labels[:, 1:]. With selection_mask (b, t),
    1 where a token counts, the mask is shifted the same way and the mean taken
    over the tokens that count; without, over all t - 1. Returns (b,).
    """
    # BEGIN SOLUTION
    logits = logits[:, :-1, :]
    labels = labels[:, 1:]
    log_probs = F.log_softmax(logits, dim=-1)
    picked = torch.gather(log_probs, dim=-1, index=labels.unsqueeze(-1)).squeeze(-1)
    if selection_mask is None:
        return picked.mean(dim=-1)
    mask = selection_mask[:, 1:].to(picked.dtype)
    return (picked * mask).sum(dim=-1) / mask.sum(dim=-1)
    # END SOLUTION


def compute_dpo_loss(model_chosen_logprobs, model_rejected_logprobs, reference_chosen_logprobs,
                     reference_rejected_logprobs, beta=0.1):
    """The DPO loss of a batch of preference pairs, and the mean rewards.

    Each input is (b,): a sequence's log-probability under the model being tuned
    or under the frozen reference. Returns (loss, chosen_rewards, rejected_rewards),
    three scalar tensors; the rewards are for watching only (no gradient).
    """
    # BEGIN SOLUTION
    model_margin = model_chosen_logprobs - model_rejected_logprobs
    reference_margin = reference_chosen_logprobs - reference_rejected_logprobs
    logits = model_margin - reference_margin
    loss = -F.logsigmoid(beta * logits).mean()
    chosen_rewards = (model_chosen_logprobs - reference_chosen_logprobs).detach().mean()
    rejected_rewards = (model_rejected_logprobs - reference_rejected_logprobs).detach().mean()
    return loss, chosen_rewards, rejected_rewards
    # END SOLUTION
