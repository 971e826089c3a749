"""Scoring free-form answers on the book's instruction data.

The book's method: a larger model, served locally by Ollama, reads the
instruction, the reference answer and the model's answer, and gives a score from
0 to 100. When no Ollama server answers (OLLAMA_HOST, default 127.0.0.1:11434),
the score falls back to the word overlap with the reference (an F1 over words,
times 100): cruder, since a right answer in other words scores low, but always
available and the same on every machine. Which one was used is always reported.
Only the standard library is used: no HTTP client to install.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

DEFAULT_HOST = "127.0.0.1:11434"
DEFAULT_MODEL = "llama3"


def ollama_url() -> str:
    host = os.environ.get("OLLAMA_HOST", "").strip() or DEFAULT_HOST
    if not host.startswith(("http://", "https://")):
        host = "http://" + host
    return host.rstrip("/")


def ollama_answers(url: str, timeout: float = 2.0) -> bool:
    """Whether an Ollama server answers at `url` (its list of models)."""
    try:
        with urllib.request.urlopen(f"{url}/api/tags", timeout=timeout) as response:
            json.loads(response.read() or b"{}")
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def judge_prompt(prompt: str, reference: str, response: str) -> str:
    return (f"Here is a task given to a model:\n{prompt}\n\nA correct answer is:\n{reference}\n\n"
            f"The model answered:\n{response}\n\n"
            "How good is the model's answer, from 0 (wrong or empty) to 100 (as good as the correct answer)? "
            "Reply with the number only.")


def parse_score(text: str) -> int | None:
    """The first whole number from 0 to 100 in the judge's reply, if any."""
    for match in re.finditer(r"\d+", text):
        value = int(match.group())
        if 0 <= value <= 100:
            return value
    return None


def ask_judge(url: str, model: str, prompt: str, timeout: float = 120.0) -> str:
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": prompt}], "stream": False,
                       "options": {"seed": 123, "temperature": 0, "num_ctx": 2048}}).encode()
    request = urllib.request.Request(f"{url}/api/chat", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())["message"]["content"]


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def overlap_score(reference: str, response: str) -> float:
    """Word-overlap F1 between the answer and the reference, times 100."""
    ref, got = Counter(_words(reference)), Counter(_words(response))
    common = sum((ref & got).values())
    if not common:
        return 0.0
    precision, recall = common / sum(got.values()), common / sum(ref.values())
    return 100 * 2 * precision * recall / (precision + recall)


@dataclass
class Scores:
    method: str  # "judge" or "overlap"
    note: str  # what was used, for the learner
    scores: list[float] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return sum(self.scores) / len(self.scores) if self.scores else float("nan")


def score_responses(rows: list[dict[str, Any]], *, model: str = DEFAULT_MODEL, url: str | None = None) -> Scores:
    """Score each row ({prompt, output, model_response}) with the judge when one answers, else by word overlap."""
    url = url or ollama_url()
    if ollama_answers(url):
        result = Scores("judge", f"scored 0-100 by {model} through Ollama at {url}")
        for row in rows:
            try:
                reply = ask_judge(url, model, judge_prompt(row["prompt"], row["output"], row["model_response"]))
            except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
                return _fallback(rows, f"the Ollama server at {url} stopped answering ({exc})")
            score = parse_score(reply)
            result.scores.append(float(score) if score is not None else 0.0)
        return result
    return _fallback(rows, f"no Ollama server answers at {url} (set OLLAMA_HOST, or run `ollama serve` and "
                           f"`ollama pull {model}`)")


def _fallback(rows: list[dict[str, Any]], why: str) -> Scores:
    return Scores("overlap", f"{why}; scored instead by word overlap with the reference answer (F1 x 100)",
                  [overlap_score(row["output"], row["model_response"]) for row in rows])
