"""Lesson 22: instruction data, from an entry to a padded, masked batch.

An entry is a dict with `instruction`, `input` (may be empty) and `output`
strings. The model learns to continue the fixed prompt format below with the
response, then to stop (its end-of-text token).
"""

import torch
from torch.utils.data import Dataset

PREAMBLE = ("Below is an instruction that describes a task. "
            "Write a response that appropriately completes the request.")
RESPONSE_HEADER = "### Response:"


def format_input(entry: dict) -> str:
    """The preamble and the instruction, then the Input section only when there is an input."""
    # BEGIN SOLUTION
    text = f"{PREAMBLE}\n\n### Instruction:\n{entry['instruction']}"
    extra = entry.get("input", "")
    if extra:
        text += f"\n\n### Input:\n{extra}"
    return text
    # END SOLUTION


def format_response(entry: dict) -> str:
    """The Response header and the expected output: what the model should learn to write."""
    # BEGIN SOLUTION
    return f"\n\n{RESPONSE_HEADER}\n{entry['output']}"
    # END SOLUTION


class InstructionDataset(Dataset):
    """Every entry encoded once, prompt and response together, as a list of ids."""

    def __init__(self, data, tokenizer):
        # BEGIN SOLUTION
        self.encoded = [tokenizer.encode(format_input(entry) + format_response(entry)) for entry in data]
        # END SOLUTION

    def __len__(self) -> int:
        # BEGIN SOLUTION
        return len(self.encoded)
        # END SOLUTION

    def __getitem__(self, i: int) -> list:
        # BEGIN SOLUTION
        return self.encoded[i]
        # END SOLUTION


def collate_instructions(batch, pad_token_id: int, ignore_index: int = -100, allowed_max_length=None):
    """(inputs, targets), both (b, L) long: padded with the end-of-text id, the target shifted by
    one, and every padding target after the first replaced by ignore_index."""
    # BEGIN SOLUTION
    longest = max(len(ids) + 1 for ids in batch)  # + 1: each row gets its end-of-text token
    inputs, targets = [], []
    for ids in batch:
        padded = list(ids) + [pad_token_id] * (longest - len(ids))  # a new list: the batch is not changed
        row_in = torch.tensor(padded[:-1])
        row_out = torch.tensor(padded[1:])
        pads = torch.nonzero(row_out == pad_token_id).flatten()
        if len(pads) > 1:
            row_out[pads[1:]] = ignore_index  # the first pad stays: the model must learn to stop
        inputs.append(row_in)
        targets.append(row_out)
    inputs, targets = torch.stack(inputs), torch.stack(targets)
    if allowed_max_length is not None:
        inputs = inputs[:, :allowed_max_length]
        targets = targets[:, :allowed_max_length]
    return inputs.long(), targets.long()
    # END SOLUTION


def extract_response(generated: str, prompt: str) -> str:
    """The model's answer: the text after the prompt, without the Response header, stripped."""
    # BEGIN SOLUTION
    rest = generated[len(prompt):].lstrip()
    if rest.startswith(RESPONSE_HEADER):
        rest = rest[len(RESPONSE_HEADER):]
    return rest.strip()
    # END SOLUTION
