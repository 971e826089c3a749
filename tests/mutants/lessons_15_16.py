"""Mutants for lessons 15-16: SpamDataset and the classifier head."""

from tests.mutants import mutant

PAD_LINE = "            self.input_ids.append(ids + [pad_token_id] * (self.max_length - len(ids)))  # right-pad"

MUTANTS = [
    # Lesson 15: SpamDataset
    mutant(15, "left-padding", "classifier.py",
           (PAD_LINE, "            self.input_ids.append([pad_token_id] * (self.max_length - len(ids)) + ids)"), expect="on the left"),
    mutant(15, "pads-with-zero", "classifier.py",
           (PAD_LINE, "            self.input_ids.append(ids + [0] * (self.max_length - len(ids)))"), expect="padded with 0"),
    mutant(15, "keeps-the-end", "classifier.py",
           ("            ids = ids[: self.max_length]  # truncate", "            ids = ids[-self.max_length :]"), expect="last 5 ids"),
    mutant(15, "shortest-length", "classifier.py",
           ("max(len(ids) for ids in encoded) if max_length is None", "min(len(ids) for ids in encoded) if max_length is None"),
           expect="the longest message"),
    mutant(15, "float-labels", "classifier.py",
           ("torch.tensor(self.labels[i], dtype=torch.long)", "torch.tensor(self.labels[i], dtype=torch.float)"), expect="dtype of the label"),
    # Lesson 16: the classifier head
    mutant(16, "count-not-index", "classifier.py",
           ("return torch.where(real, positions, torch.zeros_like(positions)).amax(dim=1)", "return real.sum(dim=1)"),
           expect="one before"),
    mutant(16, "padding-taken-as-zero", "classifier.py",
           ("    real = input_ids != pad_token_id", "    real = input_ids != 0"), expect="0 is taken for the padding"),
    mutant(16, "padded-last-position", "classifier.py",
           ("    return logits[rows, last_token_index(input_ids, pad_token_id)]", "    return logits[:, -1, :]"),
           expect="reads the last position, which is padding"),
    mutant(16, "position-zero", "classifier.py",
           ("    return logits[rows, last_token_index(input_ids, pad_token_id)]", "    return logits[:, 0, :]"),
           expect="reads position 0"),
    mutant(16, "frozen-head", "classifier.py",
           ("    model.out_head = nn.Linear(emb_dim, num_classes)  # new parameters: trainable\n    if not train_all:",
            "    model.out_head = nn.Linear(emb_dim, num_classes)  # new parameters: trainable\n    model.out_head.requires_grad_(train_all)\n    if not train_all:"),
           expect="new head is frozen"),
    mutant(16, "everything-trainable", "classifier.py",
           ("    train_all = trainable_blocks is None or trainable_blocks == -1", "    train_all = True"), expect="everything is trainable"),
    mutant(16, "first-blocks", "classifier.py",
           ("for block in model.trf_blocks[-trainable_blocks:]:", "for block in model.trf_blocks[:trainable_blocks]:"),
           expect="should train but frozen"),
    mutant(16, "accuracy-wrong-axis", "classifier.py",
           ("predictions = class_logits(model, input_batch, pad_token_id).argmax(dim=-1)",
            "predictions = class_logits(model, input_batch, pad_token_id).argmax(dim=0)"), expect="accuracy on 5 messages"),
    mutant(16, "mean-of-batch-accuracies", "classifier.py",
           ("            correct += (predictions == labels).sum().item()\n            seen += labels.shape[0]\n    return correct / seen if seen else float(\"nan\")",
            "            correct += (predictions == labels).float().mean().item()\n            seen += 1\n    return correct / seen if seen else float(\"nan\")"),
           expect="mean of the batches' accuracies"),
    mutant(16, "p-spam-for-ham", "classifier.py",
           ("    return LABELS[label], probs[label].item()", "    return LABELS[label], probs[1].item()"), expect="that is the probability of spam"),
    mutant(16, "labels-swapped", "classifier.py", ('LABELS = ("ham", "spam")', 'LABELS = ("spam", "ham")'), expect="labels are swapped"),
    mutant(16, "no-truncation", "classifier.py",
           ("    ids = tokenizer.encode(text)[:max_length] or [pad_token_id]", "    ids = tokenizer.encode(text) or [pad_token_id]"),
           expect="not truncated"),
]
