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
        # BEGIN SOLUTION
        encoded = [tokenizer.encode(text) for text in texts]
        self.max_length = max(len(ids) for ids in encoded) if max_length is None else max_length
        self.input_ids = []
        for ids in encoded:
            ids = ids[: self.max_length]  # truncate
            self.input_ids.append(ids + [pad_token_id] * (self.max_length - len(ids)))  # right-pad
        self.labels = list(labels)
        # END SOLUTION

    def __len__(self) -> int:
        # BEGIN SOLUTION
        return len(self.labels)
        # END SOLUTION

    def __getitem__(self, i: int):
        # BEGIN SOLUTION
        return torch.tensor(self.input_ids[i], dtype=torch.long), torch.tensor(self.labels[i], dtype=torch.long)
        # END SOLUTION


def last_token_index(input_ids: torch.Tensor, pad_token_id: int) -> torch.Tensor:
    """(b, t) right-padded ids -> (b,) index of each row's last non-padding token."""
    # BEGIN SOLUTION
    positions = torch.arange(input_ids.shape[1], device=input_ids.device).expand_as(input_ids)
    real = input_ids != pad_token_id
    return torch.where(real, positions, torch.zeros_like(positions)).amax(dim=1)
    # END SOLUTION


def make_classifier(model, num_classes: int = 2, trainable_blocks=1):
    """Swap the output head for a num_classes head; train only it, final_norm and the last blocks."""
    # BEGIN SOLUTION
    emb_dim = model.out_head.in_features
    train_all = trainable_blocks is None or trainable_blocks == -1
    for param in model.parameters():
        param.requires_grad = train_all
    model.out_head = nn.Linear(emb_dim, num_classes)  # new parameters: trainable
    if not train_all:
        for param in model.final_norm.parameters():
            param.requires_grad = True
        if trainable_blocks > 0:
            for block in model.trf_blocks[-trainable_blocks:]:
                for param in block.parameters():
                    param.requires_grad = True
    return model
    # END SOLUTION


def class_logits(model, input_ids: torch.Tensor, pad_token_id: int) -> torch.Tensor:
    """(b, num_classes): the model's logits at each row's last real token."""
    # BEGIN SOLUTION
    logits = model(input_ids)  # (b, t, num_classes)
    rows = torch.arange(input_ids.shape[0], device=input_ids.device)
    return logits[rows, last_token_index(input_ids, pad_token_id)]
    # END SOLUTION


def calc_accuracy_loader(data_loader, model, device, pad_token_id: int, num_batches=None) -> float:
    """Correct predictions / examples seen, over the first num_batches batches; nan if empty."""
    # BEGIN SOLUTION
    model.eval()
    correct, seen = 0, 0
    with torch.no_grad():
        for i, (input_batch, labels) in enumerate(data_loader):
            if num_batches is not None and i >= num_batches:
                break
            input_batch, labels = input_batch.to(device), labels.to(device)
            predictions = class_logits(model, input_batch, pad_token_id).argmax(dim=-1)
            correct += (predictions == labels).sum().item()
            seen += labels.shape[0]
    return correct / seen if seen else float("nan")
    # END SOLUTION


def classify(text: str, model, tokenizer, device, max_length: int, pad_token_id: int):
    """("spam" or "ham", the probability of that label) for one message."""
    # BEGIN SOLUTION
    ids = tokenizer.encode(text)[:max_length] or [pad_token_id]
    input_ids = torch.tensor([ids], device=device)
    model.eval()
    with torch.no_grad():
        probs = torch.softmax(class_logits(model, input_ids, pad_token_id), dim=-1)[0]
    label = int(probs.argmax())
    return LABELS[label], probs[label].item()
    # END SOLUTION
