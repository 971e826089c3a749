"""Lesson 4: sliding windows over a token stream.

A GPT learns to predict the next token at every position. The training data is
therefore the token stream cut into windows, each paired with the same window
shifted one token to the right.
"""

import torch
from torch.utils.data import DataLoader, Dataset


class NextTokenDataset(Dataset):
    """Item i: (ids[i*stride : i*stride+context_length], the same window shifted by one)."""

    def __init__(self, token_ids, context_length: int, stride: int):
        # Lesson 4: your code here (`tutor hint 4` helps).
        raise NotImplementedError("NextTokenDataset.__init__ is not written yet (lesson 4: Sliding windows)")

    def __len__(self) -> int:
        # Lesson 4: your code here (`tutor hint 4` helps).
        raise NotImplementedError("NextTokenDataset.__len__ is not written yet (lesson 4: Sliding windows)")

    def __getitem__(self, i: int):
        # Lesson 4: your code here (`tutor hint 4` helps).
        raise NotImplementedError("NextTokenDataset.__getitem__ is not written yet (lesson 4: Sliding windows)")


def create_dataloader(
    token_ids,
    batch_size: int = 4,
    context_length: int = 256,
    stride: int = 128,
    shuffle: bool = True,
    drop_last: bool = True,
    num_workers: int = 0,
    seed: int | None = None,
) -> DataLoader:
    """A DataLoader of (input, target) batches; with `seed` set, the order is reproducible."""
    # Lesson 4: your code here (`tutor hint 4` helps).
    raise NotImplementedError("create_dataloader is not written yet (lesson 4: Sliding windows)")
