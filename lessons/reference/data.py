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
        # BEGIN SOLUTION
        ids = torch.as_tensor(token_ids, dtype=torch.long)
        self.inputs = []
        self.targets = []
        # A window needs context_length inputs plus one more token for its last target.
        for start in range(0, len(ids) - context_length, stride):
            self.inputs.append(ids[start : start + context_length])
            self.targets.append(ids[start + 1 : start + context_length + 1])
        # END SOLUTION

    def __len__(self) -> int:
        # BEGIN SOLUTION
        return len(self.inputs)
        # END SOLUTION

    def __getitem__(self, i: int):
        # BEGIN SOLUTION
        return self.inputs[i], self.targets[i]
        # END SOLUTION


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
    # BEGIN SOLUTION
    dataset = NextTokenDataset(token_ids, context_length, stride)
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=drop_last,
        num_workers=num_workers,
        generator=generator,
    )
    # END SOLUTION
