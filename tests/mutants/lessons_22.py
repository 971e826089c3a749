"""Mutants for lesson 22: the prompt format, InstructionDataset, collate_instructions, extract_response."""

from tests.mutants import mutant

MASK = "            row_out[pads[1:]] = ignore_index  # the first pad stays: the model must learn to stop"
CUT = "        inputs = inputs[:, :allowed_max_length]\n        targets = targets[:, :allowed_max_length]"

MUTANTS = [
    mutant(22, "first-pad-masked", "instruct.py",
           ("        if len(pads) > 1:\n" + MASK, "        if len(pads) > 0:\n            row_out[pads] = ignore_index"),
           expect="first pad (the end-of-text token) was masked too"),
    mutant(22, "ignore-index-in-inputs", "instruct.py",
           ("        row_in = torch.tensor(padded[:-1])",
            "        row_in = torch.tensor(padded[:-1])\n        row_in[1:][row_in[1:] == pad_token_id] = ignore_index"),
           expect="written into the inputs"),
    mutant(22, "targets-not-shifted", "instruct.py",
           ("        row_out = torch.tensor(padded[1:])", "        row_out = torch.tensor(padded[:-1])"),
           expect="targets are not shifted"),
    mutant(22, "input-section-when-empty", "instruct.py",
           ("    if extra:\n        text +=", "    if True:\n        text +="), expect="Input section is written even when"),
    mutant(22, "truncate-before-padding", "instruct.py",
           ("    longest = max(len(ids) + 1 for ids in batch)",
            "    if allowed_max_length is not None:\n        batch = [ids[:allowed_max_length] for ids in batch]\n"
            "    longest = max(len(ids) + 1 for ids in batch)"),
           expect="truncated before padding"),
    mutant(22, "extract-keeps-header", "instruct.py",
           ("    if rest.startswith(RESPONSE_HEADER):\n        rest = rest[len(RESPONSE_HEADER):]\n", ""),
           expect="header was kept"),
    mutant(22, "nothing-masked", "instruct.py", (MASK, "            pass"), expect="padding after the first pad was not replaced"),
    mutant(22, "no-end-of-text", "instruct.py",
           ("    longest = max(len(ids) + 1 for ids in batch)", "    longest = max(len(ids) for ids in batch)"),
           expect="no end-of-text token was appended"),
    mutant(22, "hard-coded-minus-100", "instruct.py",
           (MASK, "            row_out[pads[1:]] = -100"), expect="-100 is written as a constant"),
    mutant(22, "pads-in-place", "instruct.py",
           ("        padded = list(ids) + [pad_token_id] * (longest - len(ids))  # a new list: the batch is not changed",
            "        ids += [pad_token_id] * (longest - len(ids))\n        padded = ids"),
           expect="changed the batch it was given"),
    mutant(22, "response-left-out", "instruct.py",
           ("tokenizer.encode(format_input(entry) + format_response(entry))", "tokenizer.encode(format_input(entry))"),
           expect="response was left out"),
    mutant(22, "missing-input-key", "instruct.py",
           ('    extra = entry.get("input", "")', '    extra = entry["input"]'), expect="counts as empty"),
    mutant(22, "header-removed-everywhere", "instruct.py",
           ("    if rest.startswith(RESPONSE_HEADER):\n        rest = rest[len(RESPONSE_HEADER):]\n",
            "    rest = rest.replace(RESPONSE_HEADER, \"\")\n"),
           expect="only a leading '### Response:' goes"),
    mutant(22, "not-stripped", "instruct.py", ("    return rest.strip()", "    return rest"), expect="strip the whitespace"),
]
