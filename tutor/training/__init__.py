"""Training with the learner's code: presets, the tokenizer stage, pretraining (on one process
or several), fine-tuning into a classifier or an instruction follower, the optimizer, generation."""
