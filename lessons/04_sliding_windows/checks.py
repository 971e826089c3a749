"""Checks for lesson 4: NextTokenDataset and create_dataloader."""

import random

import torch

from tutor.checks import check, each_item, expect_equal, fail, learner, show


def _data():
    return learner("data")


def _expected_len(n, ctx, stride):
    return 0 if n < ctx + 1 else (n - ctx - 1) // stride + 1


def _dataset(ids, ctx, stride):
    return _data().NextTokenDataset(ids, ctx, stride)


@check("items are (input, target) long tensors of shape (context_length,)")
def item_types():
    for ids in ([5, 3, 8, 1, 9, 2, 7], torch.tensor([5, 3, 8, 1, 9, 2, 7])):
        ds = _dataset(ids, 4, 2)
        item = ds[0]
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            fail(f"dataset[0] should be a pair (input_ids, target_ids), got {show(item)}")
        for name, t in zip(("input", "target"), item):
            if not isinstance(t, torch.Tensor):
                fail(f"the {name} of dataset[0] should be a torch.Tensor, got {type(t).__name__}: {show(t)}")
            expect_equal(t.dtype, torch.long, f"dtype of the {name} (token ids are torch.long everywhere)")
            expect_equal(tuple(t.shape), (4,), f"shape of the {name} with context_length=4")


@check("the target is the input window shifted right by one token")
def shifted():
    ids = list(range(100, 110))
    ds = _dataset(ids, 4, 1)
    x, y = ds[0]
    x, y = x.tolist(), y.tolist()
    if y == x:
        fail(f"for ids {ids}, item 0 has target == input ({x}).\n"
             "The target must be the next token at each position: ids[1:5] = [101, 102, 103, 104].")
    if y == ids[0:4] and x == ids[1:5]:
        fail(f"input and target are swapped: input should be ids[0:4] = {ids[0:4]}, target ids[1:5] = {ids[1:5]}")
    expect_equal((x, y), (ids[0:4], ids[1:5]), f"item 0 for ids {ids}, context_length=4, stride=1")


@check("window i starts at i * stride")
def stride():
    for _ in range(20):
        n, ctx, s = random.randint(10, 60), random.randint(1, 8), random.randint(1, 6)
        ids = [random.randrange(50_000) for _ in range(n)]
        ds = _dataset(ids, ctx, s)
        for i, item in enumerate(each_item(ds, range(min(len(ds), _expected_len(n, ctx, s))))):
            x, y = item
            want_x, want_y = ids[i * s : i * s + ctx], ids[i * s + 1 : i * s + ctx + 1]
            if x.tolist() != want_x or y.tolist() != want_y:
                hint = ""
                if s > 1 and x.tolist() == ids[i : i + ctx]:
                    hint = f"\nLooks like the stride is ignored: window {i} should start at {i}*{s} = {i * s}, not at {i}."
                fail(
                    f"n={n}, context_length={ctx}, stride={s}: item {i}\n"
                    f"  expected input {want_x}, target {want_y}\n  got      input {x.tolist()}, target {y.tolist()}{hint}"
                )


@check("only full windows: len is the number of i with i*stride + context_length + 1 <= n")
def length():
    cases = [(5, 4, 1), (4, 4, 1), (3, 4, 1), (10, 4, 2), (11, 4, 2), (9, 4, 4), (100, 8, 8), (2, 1, 1)]
    cases += [(random.randint(1, 80), random.randint(1, 10), random.randint(1, 9)) for _ in range(20)]
    for n, ctx, s in cases:
        got = len(_dataset(list(range(n)), ctx, s))
        want = _expected_len(n, ctx, s)
        if got != want:
            why = ("One window too many: the last window's target would run past the end" if got == want + 1
                   else "One window too few: a window fits as long as start + context_length + 1 <= n" if got == want - 1
                   else "")
            fail(f"len(NextTokenDataset(n={n} ids, context_length={ctx}, stride={s})): expected {want}, got {got}. {why}".rstrip())


@check("create_dataloader batches (batch_size, context_length) pairs in order when shuffle=False")
def loader_batches():
    ids = list(range(1000, 1050))
    # stride 3 differs from context_length 4 (and from the default 128): an ignored stride shows.
    loader = _data().create_dataloader(ids, batch_size=3, context_length=4, stride=3, shuffle=False, drop_last=True)
    if not isinstance(loader, torch.utils.data.DataLoader):
        fail(f"create_dataloader should return a torch.utils.data.DataLoader, got {type(loader).__name__}")
    batches = list(loader)
    if batches and len(batches[0][0]) > 1 and batches[0][0][1].tolist() in (ids[4:8], ids[1:5]):
        fail(f"create_dataloader(..., context_length=4, stride=3, shuffle=False): the second window is "
             f"{batches[0][0][1].tolist()}, expected {ids[3:7]}: the stride is ignored. "
             "Pass stride to NextTokenDataset.")
    expect_equal(len(batches), _expected_len(50, 4, 3) // 3, "number of batches (16 windows, batch_size 3, drop_last)")
    x, y = batches[0]
    expect_equal(tuple(x.shape), (3, 4), "shape of the first input batch")
    expect_equal(x[1].tolist(), ids[3:7], "second row of the first batch with shuffle=False, stride=3")
    expect_equal(y[1].tolist(), ids[4:8], "its target")
    loader = _data().create_dataloader(ids, batch_size=5, context_length=4, stride=4, shuffle=False, drop_last=False)
    expect_equal([len(b[0]) for b in loader], [5, 5, 2], "batch sizes with drop_last=False (12 windows, batch_size 5)")


@check("create_dataloader: the same seed gives the same order, shuffle really shuffles")
def loader_seed():
    ids = list(range(400))
    make = lambda seed: [x[:, 0].tolist() for x, _ in _data().create_dataloader(
        ids, batch_size=4, context_length=4, stride=4, shuffle=True, seed=seed)]
    first, again, other = make(123), make(123), make(7)
    unshuffled = [list(range(i * 16, i * 16 + 16, 4)) for i in range(len(first))]
    if first == unshuffled:
        fail("shuffle=True gave the windows in their original order: pass shuffle=shuffle to the DataLoader.")
    if first != again:
        fail("two loaders with seed=123 gave different orders: pass torch.Generator().manual_seed(seed) "
             "to the DataLoader as generator=...")
    if first == other:
        fail("seed=123 and seed=7 gave the same order: is the seed used?")
