"""Scoring free-form answers on the book's instruction data.

The book's method: a larger model, served locally by Ollama, reads the
instruction, the reference answer and the model's answer, and gives a score from
0 to 100. When no Ollama server answers (OLLAMA_HOST, default 127.0.0.1:11434),
the score falls back to the word overlap with the reference (an F1 over words,
times 100): cruder, since a right answer in other words scores low, but always
available and the same on every machine. Which one was used is always reported.
Only the standard library is used: no HTTP client to install. Each answer is
bounded: its size, a deadline for the whole answer, its types; a judge that gives
every answer the same score is reported as unusable rather than averaged.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tutor.core.safe_read import loads_json

DEFAULT_HOST = "127.0.0.1:11434"
DEFAULT_MODEL = "llama3"


def ollama_url() -> str:
    host = os.environ.get("OLLAMA_HOST", "").strip() or DEFAULT_HOST
    if not host.startswith(("http://", "https://")):
        host = "http://" + host
    return host.rstrip("/")


MAX_REPLY = 1 << 20  # bytes: a judge's reply is a number in a small JSON object; a list of models is small too
REQUEST_DEADLINE = 120.0  # seconds for one whole answer, however slowly it arrives
MIN_DISTINCT = 3  # with this many answers or more, a judge that gives them all one score is unusable


class JudgeError(Exception):
    """The judge's server answered something that is not an Ollama reply, too much, or too late."""


def _request(url: str, body: bytes | None, deadline: float, limit: int = MAX_REPLY) -> Any:
    """The JSON a server answers at `url` (POST `body`, or GET), read within `deadline` seconds in all
    (a server that trickles its answer is cut off, not waited for read by read), at most `limit`
    bytes, nested no deeper than a reply can be; JudgeError or OSError otherwise."""
    import http.client
    import time
    from urllib.parse import urlsplit

    end = time.monotonic() + deadline

    def left() -> float:
        remaining = end - time.monotonic()
        if remaining <= 0:
            raise JudgeError(f"no whole answer within {deadline:g} s")
        return remaining

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise JudgeError(f"{url} is not an http(s) address")
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = kind(parts.hostname, parts.port, timeout=left())
    watchdog = None
    try:
        connection.connect()
        sock = connection.sock  # kept: the response reads through it even after the connection lets go
        # At the deadline the socket is shut, whatever read is waiting (a status line or headers sent a
        # byte at a time, too): the reads below then end at once.
        watchdog = threading.Timer(left(), _shut, (sock,))
        watchdog.daemon = True
        watchdog.start()
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection.request("POST" if body is not None else "GET", parts.path or "/", body=body, headers=headers)
        sock.settimeout(left())
        response = connection.getresponse()
        if response.status != 200:
            raise JudgeError(f"it answered HTTP {response.status}")
        declared = response.getheader("Content-Length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise JudgeError(f"its answer would be {int(declared):,} bytes, more than the {limit:,} a reply can be")
        data = bytearray()
        while True:
            sock.settimeout(left())
            block = response.read1(1 << 16)
            if not block:
                break
            data += block
            if len(data) > limit:
                raise JudgeError(f"its answer is more than the {limit:,} bytes a reply can be")
        left()  # an answer cut short by the deadline is late, not malformed
    except (TimeoutError, http.client.HTTPException, OSError) as exc:
        left()
        if isinstance(exc, http.client.HTTPException):
            raise JudgeError(f"its answer is not HTTP ({type(exc).__name__})") from None
        raise
    finally:
        if watchdog is not None:
            watchdog.cancel()
        connection.close()
    try:
        return loads_json(bytes(data), max_depth=8)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, nested too deeply
        raise JudgeError(f"its answer is not an Ollama reply ({str(exc)[:80]})") from None


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def ollama_answers(url: str, timeout: float = 2.0) -> bool:
    """Whether an Ollama server answers at `url` (its list of models, a JSON object)."""
    try:
        return isinstance(_request(f"{url}/api/tags", None, timeout), dict)
    except (JudgeError, OSError):
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


def ask_judge(url: str, model: str, prompt: str, timeout: float = REQUEST_DEADLINE) -> str:
    """The judge's reply text; JudgeError when the server's answer is not an Ollama chat reply
    (its message's content must be text), is too large or does not arrive within `timeout`."""
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": prompt}], "stream": False,
                       "options": {"seed": 123, "temperature": 0, "num_ctx": 2048}}).encode()
    reply = _request(f"{url}/api/chat", body, timeout)
    message = reply.get("message") if isinstance(reply, dict) else None
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, str):
        raise JudgeError("its answer is not an Ollama chat reply (no message content as text)")
    return content


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


def score_responses(rows: list[dict[str, Any]], *, model: str = DEFAULT_MODEL, url: str | None = None,
                    timeout: float = REQUEST_DEADLINE) -> Scores:
    """Score each row ({prompt, output, model_response}) with the judge when one answers, else by word
    overlap. A judge whose answers are malformed, too large or too late, or that gives every answer
    the same score, is reported as unusable and the overlap is used instead: never averaged."""
    url = url or ollama_url()
    if not ollama_answers(url):
        return _fallback(rows, f"no Ollama server answers at {url} (set OLLAMA_HOST, or run `ollama serve` and "
                               f"`ollama pull {model}`)")
    result = Scores("judge", f"scored 0-100 by {model} through Ollama at {url}")
    unscored = 0
    for row in rows:
        try:
            reply = ask_judge(url, model, judge_prompt(row["prompt"], row["output"], row["model_response"]), timeout)
        except (JudgeError, OSError) as exc:
            return _fallback(rows, f"the Ollama server at {url} is unusable as a judge ({exc})")
        score = parse_score(reply)
        unscored += score is None
        result.scores.append(float(score) if score is not None else 0.0)
    if len(rows) >= MIN_DISTINCT and unscored * 2 > len(rows):
        return _fallback(rows, f"the judge at {url} gave no score for {unscored} of {len(rows)} answers: it is "
                               "unusable as a judge")
    if len(rows) >= MIN_DISTINCT and len(set(result.scores)) == 1:
        return _fallback(rows, f"the judge at {url} gave every one of the {len(rows)} answers the same score "
                               f"({result.scores[0]:g}): it is unusable as a judge")
    return result


def _fallback(rows: list[dict[str, Any]], why: str) -> Scores:
    return Scores("overlap", f"{why}; scored instead by word overlap with the reference answer (F1 x 100)",
                  [overlap_score(row["output"], row["model_response"]) for row in rows])
