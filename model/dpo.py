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
    # Lesson 33: your code here (`tutor hint 33` helps).
    raise NotImplementedError("compute_logprobs is not written yet (lesson 33: Preference tuning (DPO))")


def compute_dpo_loss(model_chosen_logprobs, model_rejected_logprobs, reference_chosen_logprobs,
                     reference_rejected_logprobs, beta=0.1):
    """The DPO loss of a batch of preference pairs, and the mean rewards.

    Each input is (b,): a sequence's log-probability under the model being tuned
    or under the frozen reference. Returns (loss, chosen_rewards, rejected_rewards),
    three scalar tensors; the rewards are for watching only (no gradient).
    """
    # Lesson 33: your code here (`tutor hint 33` helps).
    raise NotImplementedError("compute_dpo_loss is not written yet (lesson 33: Preference tuning (DPO))")
