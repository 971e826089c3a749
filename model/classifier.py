"""Lessons 15-16: turn the pretrained GPT into a spam classifier.

Labels everywhere: 0 = ham (a normal message), 1 = spam.
"""

import torch
import torch.nn as nn
from torch.utils.data import Dataset

LABELS = ("ham", "spam")


class SpamDataset(Dataset):
    """Messages as equal-length rows of token ids, right-padded, with their labels."""

    def __init__(self, texts, labels, tokenizer, max_length=None, *, pad_token_id):
        # Lesson 15: your code here (`tutor hint 15` helps).
        raise NotImplementedError("SpamDataset.__init__ is not written yet (lesson 15: Spam data)")

    def __len__(self) -> int:
        # Lesson 15: your code here (`tutor hint 15` helps).
        raise NotImplementedError("SpamDataset.__len__ is not written yet (lesson 15: Spam data)")

    def __getitem__(self, i: int):
        # Lesson 15: your code here (`tutor hint 15` helps).
        raise NotImplementedError("SpamDataset.__getitem__ is not written yet (lesson 15: Spam data)")


def last_token_index(input_ids: torch.Tensor, pad_token_id: int) -> torch.Tensor:
    """(b, t) right-padded ids -> (b,) index of each row's last non-padding token."""
    # Lesson 16: your code here (`tutor hint 16` helps).
    raise NotImplementedError("last_token_index is not written yet (lesson 16: The classifier head)")


def make_classifier(model, num_classes: int = 2, trainable_blocks=1):
    """Swap the output head for a num_classes head; train only it, final_norm and the last blocks."""
    # Lesson 16: your code here (`tutor hint 16` helps).
    raise NotImplementedError("make_classifier is not written yet (lesson 16: The classifier head)")


def class_logits(model, input_ids: torch.Tensor, pad_token_id: int) -> torch.Tensor:
    """(b, num_classes): the model's logits at each row's last real token."""
    # Lesson 16: your code here (`tutor hint 16` helps).
    raise NotImplementedError("class_logits is not written yet (lesson 16: The classifier head)")


def calc_accuracy_loader(data_loader, model, device, pad_token_id: int, num_batches=None) -> float:
    """Correct predictions / examples seen, over the first num_batches batches; nan if empty."""
    # Lesson 16: your code here (`tutor hint 16` helps).
    raise NotImplementedError("calc_accuracy_loader is not written yet (lesson 16: The classifier head)")


def classify(text: str, model, tokenizer, device, max_length: int, pad_token_id: int):
    """("spam" or "ham", the probability of that label) for one message."""
    # Lesson 16: your code here (`tutor hint 16` helps).
    raise NotImplementedError("classify is not written yet (lesson 16: The classifier head)")
