"""Training: the tokenizer stage, presets, the trainer, checkpoints and generation."""
