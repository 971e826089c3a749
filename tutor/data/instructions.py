"""Instruction data: the book's instruction-data.json, any file of the same shape, and a
practice set made on this machine.

An entry is `{"instruction", "input", "output"}` (strings; `input` may be empty).
Import accounts for every entry: a missing or non-string field is reported by the
entry's index and the field's name, duplicates are counted, and the report says
what was kept. The practice set (`instruct-demo`) is generated from templates
under a seed: tasks whose answers can be checked exactly (change case, count or
sort letters, the larger of two numbers, a small sum, a plural, reverse three
words, spam or ham), each asked in several wordings, so that a model of two
million parameters learns them in minutes and the score means something. It is
practice data, labelled as such wherever it is used; it says nothing about how
well a model follows real instructions.

Splits follow the book: the first 85% for training, the next 10% for testing,
the last 5% for validation (935 / 110 / 55 of the book's 1,100 entries).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tutor.core.atomic import write_text_atomic
from tutor.core.locations import datasets_dir
from tutor.core.safe_read import FileRefused, TooLarge, loads_json, read_regular

DATASET = "instructions"
DEMO = "instruct-demo"
FIELDS = ("instruction", "input", "output")
MAX_BYTES = 64 * 2**20  # the book's file is 0.2 MB; Alpaca's 52,000 entries are 22 MB
MAX_ENTRIES = 200_000
MAX_FIELD_CHARS = 20_000  # far beyond what a small context window holds

Entry = dict[str, str]


class InstructionDataError(Exception):
    """A file that cannot be imported or data that is not there; the message says why."""


@dataclass
class ImportReport:
    entries: int = 0
    kept: int = 0
    with_input: int = 0
    no_input_key: int = 0  # read as an empty input, as the prompt format does
    duplicates: int = 0
    problems: list[tuple[int, str, str]] = field(default_factory=list)  # (index, field, why): left out

    def summary(self) -> str:
        parts = [f"{self.entries:,} entries: {self.kept:,} kept ({self.with_input:,} with an input)"]
        if self.no_input_key:
            parts.append(f"{self.no_input_key:,} have no 'input' key (read as an empty input)")
        if self.duplicates:
            parts.append(f"{self.duplicates:,} repeat an earlier entry exactly (kept)")
        if self.problems:
            shown = ", ".join(f"entry {i} field {name!r} ({why})" for i, name, why in self.problems[:5])
            more = f" and {len(self.problems) - 5} more" if len(self.problems) > 5 else ""
            parts.append(f"{len(self.problems):,} entries left out: {shown}{more}")
        return "; ".join(parts)


def parse(text: str) -> tuple[list[Entry], ImportReport]:
    """The entries of a JSON list, and an account of every one (index 0 is the first)."""
    try:
        data = loads_json(text)
    except json.JSONDecodeError as exc:
        raise InstructionDataError(f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except ValueError as exc:  # nested too deeply
        raise InstructionDataError(str(exc)) from None
    if not isinstance(data, list):
        raise InstructionDataError(f"the JSON should be a list of {{instruction, input, output}} objects, "
                                   f"not a {type(data).__name__}")
    if len(data) > MAX_ENTRIES:
        raise InstructionDataError(f"{len(data):,} entries: more than the {MAX_ENTRIES:,} this tutor imports")
    report = ImportReport(entries=len(data))
    entries: list[Entry] = []
    seen: set[tuple[str, str, str]] = set()
    for index, item in enumerate(data):
        problem = _problem(item)
        if problem:
            report.problems.append((index, *problem))
            continue
        if "input" not in item:
            report.no_input_key += 1
        entry = {"instruction": item["instruction"], "input": item.get("input", ""), "output": item["output"]}
        key = (entry["instruction"], entry["input"], entry["output"])
        if key in seen:
            report.duplicates += 1
        seen.add(key)
        entries.append(entry)
        report.kept += 1
        report.with_input += bool(entry["input"])
    return entries, report


def _problem(item: Any) -> tuple[str, str] | None:
    """(field, why) for an entry that cannot be used, else None."""
    if not isinstance(item, dict):
        return "-", f"not an object (a JSON {type(item).__name__})"
    for name in FIELDS:
        if name not in item:
            if name == "input":
                continue
            return name, "missing"
        value = item[name]
        if not isinstance(value, str):
            return name, f"not a string ({type(value).__name__})"
        if len(value) > MAX_FIELD_CHARS:
            return name, f"{len(value):,} characters, more than {MAX_FIELD_CHARS:,}"
    for name in ("instruction", "output"):
        if not item[name].strip():
            return name, "empty"
    return None


def read_source(path: Path, limit: int | None = None) -> str:
    path = Path(path).expanduser()
    if not path.exists():
        raise InstructionDataError(f"{path} does not exist")
    limit = MAX_BYTES if limit is None else limit
    try:
        data = read_regular(path, limit)  # a regular file only (no device, no FIFO), and bounded
    except TooLarge as exc:
        raise InstructionDataError(f"{path} is {exc.size / 2**20:.0f} MB or more: more than the "
                                   f"{limit / 2**20:.0f} MB this tutor imports") from None
    except FileRefused as exc:
        raise InstructionDataError(str(exc)) from None
    except OSError as exc:
        raise InstructionDataError(f"cannot read {path}: {exc}") from None
    if not data:
        raise InstructionDataError(f"{path} is empty")
    if b"\x00" in data:
        raise InstructionDataError(f"{path} looks binary, not a JSON text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InstructionDataError(f"{path} is not UTF-8 (byte {exc.start}: {exc.reason})") from None


def import_file(path: Path) -> ImportReport:
    """Read, account for and keep a file of entries as the `instructions` data set."""
    text = read_source(path)
    try:
        entries, report = parse(text)
    except InstructionDataError as exc:
        raise InstructionDataError(f"{path}: {exc}") from None
    if not entries:
        raise InstructionDataError(f"{path}: {report.summary()}. Nothing to train on.")
    folder = datasets_dir() / DATASET
    write_text_atomic(folder / "entries.json", json.dumps(entries, ensure_ascii=False, indent=1))
    meta = {"source": str(Path(path).resolve()), "sha256": hashlib.sha256(text.encode()).hexdigest(),
            "practice_data": False, "entries": len(entries), "report": asdict(report)}
    write_text_atomic(folder / "meta.json", json.dumps(meta, indent=2))
    return report


def load(name: str = DATASET) -> list[Entry]:
    """The imported entries, or the practice set (made on the spot: it is quick and deterministic)."""
    if name == DEMO:
        return demo_entries()
    if name != DATASET:
        raise InstructionDataError(f"unknown instruction data {name!r}; use {DATASET} or {DEMO}")
    path = datasets_dir() / DATASET / "entries.json"
    if not path.is_file():
        raise InstructionDataError("the instruction data is not here yet: `tutor data download instructions`, or "
                                   "`tutor data import FILE.json` with a list of {instruction, input, output} "
                                   f"(or train on the practice set with --data {DEMO})")
    entries, _ = parse(read_source(path, 4 * MAX_BYTES))  # as imported, written with indentation
    return entries


def split(entries: list[Entry]) -> dict[str, list[Entry]]:
    """The book's split, in the file's order: train 85%, then test 10%, then validation (the rest)."""
    a = int(len(entries) * 0.85)
    b = a + int(len(entries) * 0.10)
    return {"train": entries[:a], "test": entries[a:b], "val": entries[b:]}


def task_of(entry: Entry) -> str:
    return entry.get("task", "all")


# --- the practice set ------------------------------------------------------

# Small vocabularies on purpose: each word, noun, letter set and number pair recurs
# in training often enough for a model of two million parameters to learn it in a
# few epochs. The test split asks about the same items in other wordings and
# combinations: it measures whether the model learned the tasks' mappings and the
# prompt format, not whether it generalizes to words it never saw.
WORDS = ["apple", "river", "garden", "window", "pencil", "orange", "silver", "rocket", "candle", "forest",
         "cat", "dog", "sun", "tree", "book", "lamp", "chair", "bread", "cloud", "stone"]
NOUNS = {"cat": "cats", "dog": "dogs", "book": "books", "tree": "trees", "box": "boxes", "bus": "buses",
         "dish": "dishes", "fox": "foxes", "city": "cities", "baby": "babies", "story": "stories", "key": "keys",
         "knife": "knives", "leaf": "leaves", "wolf": "wolves", "child": "children", "mouse": "mice", "foot": "feet",
         "man": "men", "sheep": "sheep"}
LETTERS = "abcde"
COLOURS = ["red", "blue", "green", "black"]
ANIMALS = ["cat", "dog", "fox", "owl"]
THINGS = ["cup", "pen", "box", "hat"]


def _case(rng: random.Random) -> tuple[str, str, str]:
    word = rng.choice(WORDS)
    if rng.random() < 0.5:
        return rng.choice([("Write this word in capital letters.", word),
                           (f"Change '{word}' to upper case.", ""),
                           ("Convert the word to uppercase.", word),
                           (f"Spell {word} in capitals.", "")]) + (word.upper(),)
    upper = word.upper()
    return rng.choice([("Write this word in small letters.", upper),
                       (f"Change '{upper}' to lower case.", ""),
                       ("Convert the word to lowercase.", upper),
                       (f"Spell {upper} in lowercase letters.", "")]) + (word,)


def _count(rng: random.Random) -> tuple[str, str, str]:
    word = rng.choice(WORDS)
    return rng.choice([(f"How many letters are in the word '{word}'?", ""),
                       ("Count the letters in this word.", word),
                       (f"Give the number of letters in {word}.", ""),
                       ("How long is this word, in letters?", word)]) + (str(len(word)),)


def _sort(rng: random.Random) -> tuple[str, str, str]:
    letters = rng.sample(LETTERS, 3)
    shown = " ".join(letters)
    return rng.choice([("Sort these letters alphabetically.", shown),
                       (f"Put the letters {shown} in alphabetical order.", ""),
                       ("Arrange the letters from a to z.", shown),
                       (f"Order {shown} as in the alphabet.", "")]) + (" ".join(sorted(letters)),)


def _larger(rng: random.Random) -> tuple[str, str, str]:
    a, b = rng.sample(range(1, 10), 2)
    return rng.choice([(f"Which number is larger: {a} or {b}?", ""),
                       ("Give the larger of the two numbers.", f"{a} {b}"),
                       (f"What is the bigger number, {a} or {b}?", ""),
                       ("Pick the greater number.", f"{a}, {b}")]) + (str(max(a, b)),)


def _sum(rng: random.Random) -> tuple[str, str, str]:
    a, b = rng.randint(1, 5), rng.randint(1, 5)
    return rng.choice([(f"What is {a} + {b}?", ""),
                       ("Add the two numbers.", f"{a} {b}"),
                       (f"Compute the sum of {a} and {b}.", ""),
                       ("What do these numbers add up to?", f"{a} and {b}")]) + (str(a + b),)


def _plural(rng: random.Random) -> tuple[str, str, str]:
    noun = rng.choice(sorted(NOUNS))
    return rng.choice([(f"What is the plural of '{noun}'?", ""),
                       ("Give the plural form of this noun.", noun),
                       (f"Write the plural of {noun}.", ""),
                       ("Make this word plural.", noun)]) + (NOUNS[noun],)


def _reverse(rng: random.Random) -> tuple[str, str, str]:
    words = [rng.choice(COLOURS), rng.choice(ANIMALS), rng.choice(THINGS)]
    rng.shuffle(words)
    shown = " ".join(words)
    return rng.choice([("Reverse the order of these words.", shown),
                       (f"Write '{shown}' backwards, word by word.", ""),
                       ("List these words from last to first.", shown)]) + (" ".join(reversed(words)),)


def _spam(rng: random.Random) -> tuple[str, str, str]:
    from tutor.data.sms import demo_messages

    label, message = demo_messages(seed=rng.randrange(10**9), n=1)[0]
    return rng.choice([("Is this message spam or ham?", message),
                       ("Classify the text message as spam or ham.", message),
                       ("Answer spam or ham for this SMS.", message)]) + (("ham", "spam")[label],)


TASKS = {"case": _case, "count": _count, "sort": _sort, "larger": _larger, "sum": _sum, "plural": _plural,
         "reverse": _reverse, "spam": _spam}


def demo_entries(seed: int = 0, per_task: int = 300) -> list[Entry]:
    """The practice set: `per_task` entries of each task, shuffled; the same for the same seed.

    Every entry also names its `task`, so that scores can be reported per task.
    """
    rng = random.Random(seed)
    entries = []
    for task, make in TASKS.items():
        for _ in range(per_task):
            instruction, extra, output = make(rng)
            entries.append({"instruction": instruction, "input": extra, "output": output, "task": task})
    rng.shuffle(entries)
    return entries


def describe(name: str, entries: list[Entry]) -> str:
    parts = split(entries)
    sizes = ", ".join(f"{k} {len(v):,}" for k, v in parts.items())
    if name == DEMO:
        tasks = Counter(task_of(e) for e in entries)
        return (f"{DEMO}: practice data made on this machine, not real instructions; {len(entries):,} entries in "
                f"{len(tasks)} tasks ({', '.join(tasks)}); {sizes}")
    return f"{name}: {len(entries):,} entries; {sizes}"
