"""Checks for lesson 1: softmax in plain Python."""

import math
import random

from tutor.checks import call_keeping_args, check, expect_equal, fail, learner, require_plain, show


def _reference(scores):
    top = max(scores)
    exps = [math.exp(s - top) for s in scores]
    return [e / sum(exps) for e in exps]


def _close(a, b, tol=1e-9):
    return len(a) == len(b) and all(abs(x - y) <= tol for x, y in zip(a, b))


def _softmax(scores):
    result = learner("warmup").softmax(scores)
    if not isinstance(result, list):
        fail(f"softmax({show(scores)}) should return a list, got {type(result).__name__}: {show(result)}")
    return require_plain(result, f"softmax({show(scores)})")


@check("gives probabilities: positive, summing to 1, one per score")
def probabilities():
    for _ in range(20):
        scores = [random.uniform(-5, 5) for _ in range(random.randint(1, 8))]
        got = _softmax(list(scores))
        expect_equal(len(got), len(scores), f"softmax({show(scores)}) should give one probability per score")
        if any(p <= 0 for p in got):
            fail(f"softmax({show(scores)}) gave a value <= 0: {show(got)}. Did you take exp() of each score?")
        total = sum(got)
        if abs(total - 1.0) > 1e-9:
            fail(
                f"softmax({show(scores)}) should sum to 1, yours sums to {total:.6g}: {show(got)}.\n"
                "Divide each exp() by the sum of all of them."
            )


@check("matches an independent softmax on random scores")
def matches_reference():
    for _ in range(20):
        scores = [random.uniform(-10, 10) for _ in range(random.randint(1, 10))]
        got = _softmax(list(scores))
        want = _reference(scores)
        if not _close(got, want):
            if _close(got, [s / sum(scores) for s in scores]):
                fail(f"softmax({show(scores)}) looks like scores / sum(scores): take exp() of each score first.")
            fail(f"softmax({show(scores)})\n  expected {show(want)}\n  got      {show(got)}")


@check("works on huge scores (subtracts the largest first)")
def huge_scores():
    # Close huge scores catch a missing shift; widely spread ones catch a shift by the wrong score
    # (the smallest, or the first): exp(largest - smallest) = exp(2000) overflows.
    for scores, wrong_shift in (([1000.0, 1001.0, 1002.0], False), ([1000.0, -1000.0, 0.0], True),
                                ([-1000.0, 1000.0], True)):
        mistake = ("Did you subtract the smallest score (or the first) instead of the largest? Subtract max(scores): "
                   "then every exponent is <= 0 and exp() stays <= 1." if wrong_shift else
                   "Subtract the largest score from every score before exp(); the result does not change.")
        try:
            got = _softmax(list(scores))
        except OverflowError:
            fail(f"softmax({scores}) raised OverflowError: exp() of a score this large is too big for a float.\n"
                 + mistake)
        want = _reference(scores)
        if any(isinstance(p, float) and math.isnan(p) for p in got):
            fail(f"softmax({scores}) gave NaN: {show(got)}.\n" + mistake)
        if not _close(got, want):
            fail(f"softmax({scores})\n  expected {show(want)}\n  got      {show(got)}\n" + mistake)


@check("does not change the list it is given")
def input_unchanged():
    scores = [0.5, -1.0, 2.0]
    _, (after,) = call_keeping_args(learner("warmup").softmax, scores)
    expect_equal(after, scores, "softmax must leave its input list unchanged; after the call it held",
                 hint="Build a new list (a list comprehension) instead of writing into `scores`.")


@check("gives [] for an empty list")
def empty():
    try:
        got = _softmax([])
    except ValueError as exc:
        fail(f"softmax([]) raised ValueError ({exc}); return [] for an empty list before calling max().")
    expect_equal(got, [], "softmax([])")
