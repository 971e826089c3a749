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
    # Lesson 22: your code here (`tutor hint 22` helps).
    raise NotImplementedError("format_input is not written yet (lesson 22: Instruction data)")


def format_response(entry: dict) -> str:
    """The Response header and the expected output: what the model should learn to write."""
    # Lesson 22: your code here (`tutor hint 22` helps).
    raise NotImplementedError("format_response is not written yet (lesson 22: Instruction data)")


class InstructionDataset(Dataset):
    """Every entry encoded once, prompt and response together, as a list of ids."""

    def __init__(self, data, tokenizer):
        # Lesson 22: your code here (`tutor hint 22` helps).
        raise NotImplementedError("InstructionDataset.__init__ is not written yet (lesson 22: Instruction data)")

    def __len__(self) -> int:
        # Lesson 22: your code here (`tutor hint 22` helps).
        raise NotImplementedError("InstructionDataset.__len__ is not written yet (lesson 22: Instruction data)")

    def __getitem__(self, i: int) -> list:
        # Lesson 22: your code here (`tutor hint 22` helps).
        raise NotImplementedError("InstructionDataset.__getitem__ is not written yet (lesson 22: Instruction data)")


def collate_instructions(batch, pad_token_id: int, ignore_index: int = -100, allowed_max_length=None):
    """(inputs, targets), both (b, L) long: padded with the end-of-text id, the target shifted by
    one, and every padding target after the first replaced by ignore_index."""
    # Lesson 22: your code here (`tutor hint 22` helps).
    raise NotImplementedError("collate_instructions is not written yet (lesson 22: Instruction data)")


def extract_response(generated: str, prompt: str) -> str:
    """The model's answer: the text after the prompt, without the Response header, stripped."""
    # Lesson 22: your code here (`tutor hint 22` helps).
    raise NotImplementedError("extract_response is not written yet (lesson 22: Instruction data)")
