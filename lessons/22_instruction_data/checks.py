"""Checks for lesson 22: the prompt format, the dataset, the collate function and extract_response.

Expected values are built here from the contract's wording, on hand-made entries
and batches small enough to print in a failure message, then on random batches.
"""

import random

import torch

from tutor.checks import call_keeping_args, check, expect_equal, fail, learner, show

PREAMBLE = ("Below is an instruction that describes a task. "
            "Write a response that appropriately completes the request.")
PAD = 99
IGNORE = -100


def _m():
    return learner("instruct")


def _prompt(instruction, extra=""):
    text = f"{PREAMBLE}\n\n### Instruction:\n{instruction}"
    return text + (f"\n\n### Input:\n{extra}" if extra else "")


def _response(output):
    return f"\n\n### Response:\n{output}"


class Chars:
    """A toy tokenizer: one id per character (its code point), so every id can be read back."""

    def encode(self, text):
        return [ord(c) for c in text]


def _first_diff(a: str, b: str) -> str:
    i = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return f"first difference at character {i}: expected {a[i:i + 24]!r}, got {b[i:i + 24]!r}"


def _expect_text(got, want, what):
    if not isinstance(got, str):
        fail(f"{what} should be a str, got {type(got).__name__}: {show(got)}")
    if got != want:
        fail(f"{what}:\n  expected {want!r}\n  got      {got!r}\n  {_first_diff(want, got)}")


@check("format_input writes the preamble and the instruction, and the Input section only when there is an input")
def prompt_format():
    m = _m()
    with_input = {"instruction": "Sort these letters.", "input": "c a b", "output": "a b c"}
    _expect_text(m.format_input(with_input), _prompt("Sort these letters.", "c a b"), "format_input with an input")
    empty = {"instruction": "Name a colour.", "input": "", "output": "red"}
    got = m.format_input(empty)
    if isinstance(got, str) and "### Input:" in got:
        fail("Looks like the Input section is written even when the input is empty. With input = '' the prompt ends "
             f"right after the instruction:\n  expected {_prompt('Name a colour.')!r}\n  got      {got!r}")
    _expect_text(got, _prompt("Name a colour."), "format_input with an empty input")
    missing = {"instruction": "Name a colour.", "output": "red"}
    try:
        got = m.format_input(missing)
    except KeyError as exc:
        fail(f"format_input raised KeyError {exc} for an entry without an 'input' key; a missing input counts as "
             "empty (entry.get('input', '')).")
    _expect_text(got, _prompt("Name a colour."), "format_input for an entry with no 'input' key")


@check("format_response writes the Response header and the output")
def response_format():
    got = _m().format_response({"instruction": "Name a colour.", "input": "", "output": "red"})
    _expect_text(got, _response("red"), "format_response for output 'red'")


@check("InstructionDataset: item i is the encoded prompt and response of entry i, as a list of ids")
def dataset_items():
    data = [{"instruction": "Name a colour.", "input": "", "output": "red"},
            {"instruction": "Add the numbers.", "input": "2 3", "output": "5"}]
    ds = _m().InstructionDataset(data, Chars())
    expect_equal(len(ds), 2, "len(dataset) for 2 entries")
    for i, entry in enumerate(data):
        item = ds[i]
        want = Chars().encode(_prompt(entry["instruction"], entry["input"]) + _response(entry["output"]))
        if isinstance(item, torch.Tensor):
            fail(f"dataset[{i}] is a tensor; the contract makes it a plain list of ids (the collate function pads it).")
        if not isinstance(item, list):
            fail(f"dataset[{i}] should be a list of ints, got {type(item).__name__}: {show(item)}")
        if item == Chars().encode(_prompt(entry["instruction"], entry["input"])):
            fail(f"Looks like the response was left out: dataset[{i}] encodes only format_input(entry). The model learns "
                 "from the response, so encode format_input(entry) + format_response(entry).")
        if item != want:
            text = "".join(chr(c) if isinstance(c, int) and 0 <= c < 0x110000 else "?" for c in item)
            fail(f"dataset[{i}] with a tokenizer that gives one id per character (the code point):\n"
                 f"  decoded, expected {''.join(map(chr, want))!r}\n  decoded, got      {text!r}")


def _reference_collate(batch, pad, ignore=IGNORE, allowed=None):
    longest = max(len(ids) + 1 for ids in batch)
    ins, outs = [], []
    for ids in batch:
        row = list(ids) + [pad] * (longest - len(ids))
        target = row[1:]
        first = target.index(pad)
        target = target[: first + 1] + [ignore] * (len(target) - first - 1)
        ins.append(row[:-1][:allowed] if allowed else row[:-1])
        outs.append(target[:allowed] if allowed else target)
    return ins, outs


def _collate(batch, *args, **kwargs):
    given = [list(ids) for ids in batch]
    got, (after, *_) = call_keeping_args(_m().collate_instructions, batch, *args, **kwargs)
    if [list(ids) for ids in after] != given:
        fail(f"collate_instructions changed the batch it was given: {given} became {[list(ids) for ids in after]}. "
             "Pad a copy (list(ids) + [...]) rather than appending to the learner's lists in place.")
    if not (isinstance(got, tuple) and len(got) == 2):
        fail(f"collate_instructions should return (inputs, targets), got {show(got)}")
    for name, t in zip(("inputs", "targets"), got):
        if not isinstance(t, torch.Tensor):
            fail(f"{name} should be a tensor, got {type(t).__name__}: {show(t)}")
        expect_equal(t.dtype, torch.long, f"dtype of {name}")
    return got[0].tolist(), got[1].tolist()


def _explain(batch, got_in, got_out, want_in, want_out, ignore=IGNORE):
    """The named mistake a wrong (inputs, targets) pair shows, else the plain difference."""
    where = f"for the batch {batch} (pad_token_id={PAD}, ignore_index={ignore})"
    if any(ignore in row for row in got_in):
        fail(f"Looks like ignore_index ({ignore}) was written into the inputs {where}: the inputs must hold only real "
             f"ids (the model embeds them); only the targets are masked.\n  inputs {got_in}")
    if len(got_in) == len(want_in) and got_in and len(got_in[0]) == len(want_in[0]) - 1:
        fail(f"Looks like no end-of-text token was appended {where}: every row gets one pad_token_id first, then is "
             f"padded to the longest such length.\n  expected inputs  {want_in}\n  got              {got_in}")
    if got_in == want_in and got_out == [[t if t != ignore else PAD for t in row] for row in want_out]:
        fail(f"Looks like the padding after the first pad was not replaced {where}: those targets should be {ignore}, "
             f"so that F.cross_entropy(ignore_index={ignore}) leaves them out.\n  expected targets {want_out}\n  got      "
             f"        {got_out}")
    first_masked = [[ignore if (t == PAD) else t for t in row] for row in want_out]
    if got_out == first_masked:
        fail(f"Looks like the first pad (the end-of-text token) was masked too {where}. It must stay a target: it is "
             "how the model learns to stop after its answer.\n"
             f"  expected targets {want_out}\n  got              {got_out}")
    if got_out and got_in and [row[:1] for row in got_out] == [row[:1] for row in got_in]:
        fail(f"Looks like the targets are not shifted {where}: target position i must be the id at position i + 1 "
             f"(the next token), so each target row is the padded row without its first id.\n"
             f"  expected targets {want_out}\n  got              {got_out}")
    if got_in != want_in:
        fail(f"inputs differ {where}:\n  expected {want_in}\n  got      {got_in}")
    if got_out != want_out:
        fail(f"targets differ {where}:\n  expected {want_out}\n  got      {got_out}")


@check("collate_instructions pads with the end-of-text id, shifts the targets and masks all pads but the first")
def collate_small():
    batch = [[1, 2, 3, 4, 5], [6, 7], [8, 9, 10]]
    got_in, got_out = _collate(batch, PAD)
    want_in, want_out = _reference_collate(batch, PAD)
    _explain(batch, got_in, got_out, want_in, want_out)


@check("collate_instructions uses the ignore_index it is given")
def collate_ignore_index():
    batch = [[5, 6, 7], [8]]
    got_in, got_out = _collate(batch, PAD, ignore_index=-1)
    want_in, want_out = _reference_collate(batch, PAD, ignore=-1)
    if any(-100 in row for row in got_out):
        fail(f"with ignore_index=-1 the targets still hold -100: {got_out}. Looks like -100 is written as a constant; "
             "use the ignore_index argument.")
    _explain(batch, got_in, got_out, want_in, want_out, ignore=-1)


@check("allowed_max_length cuts inputs and targets after padding and masking")
def collate_cut():
    batch = [[1, 2, 3, 4, 5, 6, 7], [8, 9]]
    got_in, got_out = _collate(batch, PAD, allowed_max_length=4)
    want_in, want_out = _reference_collate(batch, PAD, allowed=4)
    if got_in == want_in and got_out == [[2, 3, 4, PAD], [9, PAD, IGNORE, IGNORE]]:
        fail("Looks like the rows were truncated before padding: [1, ..., 7] was cut to 4 ids and then given its "
             "end-of-text, so its last target became the pad id although the text goes on. Pad, shift and mask the "
             f"whole rows first, then keep the first allowed_max_length columns.\n  expected targets {want_out}\n"
             f"  got              {got_out}")
    if got_in and len(got_in[0]) != 4:
        fail(f"with allowed_max_length=4 the inputs should have 4 columns, got {len(got_in[0])}: {got_in}")
    _explain(batch, got_in, got_out, want_in, want_out)
    short_in, short_out = _collate(batch, PAD, allowed_max_length=50)
    full_in, full_out = _reference_collate(batch, PAD)
    if (short_in, short_out) != (full_in, full_out):
        fail(f"an allowed_max_length longer than the rows must change nothing:\n  expected {full_in}, {full_out}\n"
             f"  got      {short_in}, {short_out}")


@check("collate_instructions on random batches (sizes 1 to 6, lengths 1 to 12)")
def collate_random():
    for _ in range(25):
        batch = [[random.randint(0, 98) for _ in range(random.randint(1, 12))] for _ in range(random.randint(1, 6))]
        allowed = random.choice([None, None, random.randint(1, 13)])
        got_in, got_out = _collate(batch, PAD, allowed_max_length=allowed)
        want_in, want_out = _reference_collate(batch, PAD, allowed=allowed)
        if (got_in, got_out) != (want_in, want_out):
            if allowed is None:
                _explain(batch, got_in, got_out, want_in, want_out)
            fail(f"batch {batch}, allowed_max_length={allowed}:\n  expected inputs  {want_in}\n  got              "
                 f"{got_in}\n  expected targets {want_out}\n  got              {got_out}")


@check("extract_response keeps the text after the prompt, without the Response header, stripped")
def extract():
    m = _m()
    prompt = _prompt("Write this word in capital letters.", "garden")
    got = m.extract_response(prompt + "\n\n### Response:\nGARDEN", prompt)
    if isinstance(got, str) and "### Response:" in got:
        fail(f"Looks like the '### Response:' header was kept: got {got!r}. Remove it (after any leading whitespace), "
             "then strip: 'GARDEN'.")
    if isinstance(got, str) and got.strip() == "GARDEN" and got != "GARDEN":
        fail(f"got {got!r}: strip the whitespace around the answer, 'GARDEN'.")
    _expect_text(got, "GARDEN", "extract_response(prompt + '\\n\\n### Response:\\nGARDEN', prompt)")
    _expect_text(m.extract_response(prompt + "  no header here \n", prompt), "no header here",
                 "extract_response when the model wrote no header")
    inner = "\n### Response:\nthe words ### Response: stay inside"
    got = m.extract_response(prompt + inner, prompt)
    if got == "the words  stay inside":
        fail("only a leading '### Response:' goes: a header later in the answer is part of what the model wrote.")
    _expect_text(got, "the words ### Response: stay inside", "extract_response with the header again inside the answer")
    other = "Q: add 2 and 3."
    _expect_text(m.extract_response(other + "### Response: 5", other), "5",
                 "extract_response with a different prompt (cut at len(prompt))")
