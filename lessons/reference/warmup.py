"""Lesson 1: the edit-check loop.

A warm-up in plain Python, so that you learn how the tutor works before the
GPT starts: read the lesson (`tutor show 1`), write the function below, run
`tutor check 1`, and read what the checks say.
"""

import math


def softmax(scores: list[float]) -> list[float]:
    """Turn a list of scores into probabilities: all positive, summing to 1.

    softmax(s)_i = exp(s_i) / sum_j exp(s_j). Subtract the largest score from
    every score before exp(): the result is the same, and exp() cannot overflow.
    An empty list gives an empty list. The input list is left unchanged.
    """
    # BEGIN SOLUTION
    if not scores:
        return []
    top = max(scores)
    exps = [math.exp(s - top) for s in scores]
    total = sum(exps)
    return [e / total for e in exps]
    # END SOLUTION
