"""The SMS data: every line accounted for, zip or TSV, seeded splits, the practice set."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tutor.cli import app
from tutor.data import sms

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "sms_spam_collection.tsv"


def test_every_line_is_accounted_for():
    text = "ham\tGo until jurong point\nspam\tWIN cash now\nham Ok lar\nspamm\tx\nham\t   \nham\tGo until jurong point\n\nspam\tFree msg\n"
    messages, report = sms.parse(text)
    assert report.lines == 8 and report.kept == 4 and (report.ham, report.spam) == (2, 2)
    assert report.empty == 1 and report.duplicates == 1
    assert [n for n, _ in report.malformed] == [3, 4, 7]
    summary = report.summary()
    assert "line 3 (no tab" in summary and "line 4 (label 'spamm'" in summary and "1 empty" in summary
    assert messages[0] == (0, "Go until jurong point") and messages[1] == (1, "WIN cash now")


def test_import_zip_and_tsv(tmp_path):
    tsv = "ham\thello there\nspam\tWIN a prize\n" * 5
    raw = tmp_path / "SMSSpamCollection"
    raw.write_text(tsv, encoding="utf-8")
    assert sms.import_file(raw).kept == 10
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("readme", "x")
        z.writestr(sms.UCI_MEMBER, tsv)
    (tmp_path / "sms.zip").write_bytes(buffer.getvalue())
    assert sms.import_file(tmp_path / "sms.zip").kept == 10
    assert len(sms.load()) == 10


@pytest.mark.parametrize("content, message", [
    (b"\x00\x01binary", "looks binary"),
    ("ham\tcaf\u00e9".encode("latin-1"), "is not UTF-8"),
    (b"ham\tonly ham here\n", "needs both ham and spam"),
])
def test_bad_files(tmp_path, content, message):
    path = tmp_path / "bad.tsv"
    path.write_bytes(content)
    with pytest.raises(sms.SmsDataError, match=message):
        sms.import_file(path)


def test_zip_without_the_data_file(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("other.txt", "x")
    (tmp_path / "a.zip").write_bytes(buffer.getvalue())
    with pytest.raises(sms.SmsDataError, match="without a SMSSpamCollection"):
        sms.import_file(tmp_path / "a.zip")


def test_not_imported_yet_names_the_commands():
    with pytest.raises(sms.SmsDataError, match="tutor data import FILE"):
        sms.load()


def test_splits_are_seeded_and_balanced():
    messages = [(1, f"spam {i}") for i in range(747)] + [(0, f"ham {i}") for i in range(4827)]
    a, b = sms.split(messages, seed=123), sms.split(messages, seed=123)
    assert a == b and sms.split(messages, seed=1) != a
    assert [len(a[k]) for k in ("train", "val", "test")] == [1045, 149, 300]  # the book's sizes
    assert sum(label for part in a.values() for label, _ in part) == 747
    full = sms.split(messages, balanced=False)
    assert sum(len(p) for p in full.values()) == 5574


def test_practice_set_is_deterministic_and_labelled_both_ways():
    demo = sms.demo_messages()
    assert demo == sms.demo_messages() and len(demo) == 800
    counts = sms.label_counts(demo)
    assert 150 < counts["spam"] < 250 and counts["ham"] > 500


@pytest.mark.skipif(not SHARED.is_file(), reason="the real SMS data is not on this machine")
def test_the_real_collection_imports_completely():
    report = sms.import_file(SHARED)
    assert (report.lines, report.kept, report.spam, report.ham, report.malformed) == (5574, 5574, 747, 4827, [])
    result = CliRunner().invoke(app, ["data", "import", str(SHARED)])
    assert result.exit_code == 0 and "train 1,045" in " ".join(result.output.split())


def test_the_practice_set_is_varied():
    messages = sms.demo_messages()
    texts = [text for _, text in messages]
    assert len(set(texts)) > 0.95 * len(texts)  # hardly a message twice
    ham = {text.lower() for label, text in messages if label == 0}
    assert any("dinner" in t for t in ham) and any("lunch" in t for t in ham)
    assert len({t.split()[0] for t in ham}) > 20  # many ways to start a message


def test_the_practice_set_has_the_classic_spam_forms_labelled_spam():
    import re

    messages = sms.demo_messages()
    spam = [text.lower() for label, text in messages if label == 1]
    ham = [text.lower() for label, text in messages if label == 0]
    forms = {
        "winner": lambda t: "winner" in t,
        "a prize won": lambda t: "won" in t and any(p in t for p in ("£", "prize", "cruise", "holiday", "phone")),
        "a claim code": lambda t: re.search(r"claim code [a-z]\d\d", t),
        "text a word to a short number": lambda t: re.search(r"\b(text|txt|reply) [a-z]+ to \d{5}\b", t),
        "call a premium number": lambda t: re.search(r"call 09\d{9}\b", t),
        "free ringtones": lambda t: "ringtone" in t,
        "urgency": lambda t: "urgent" in t or "now" in t,
        "txt-speak": lambda t: re.search(r"\b(ur|u|txt|2nite|b4)\b", t),
    }
    for name, has in forms.items():
        assert sum(bool(has(t)) for t in spam) >= 5, name
    for name in ("winner", "a claim code", "text a word to a short number", "call a premium number", "free ringtones"):
        assert not any(forms[name](t) for t in ham), name  # spam wording, never in a ham message
    assert any("you have won a free" in t and re.search(r"text [a-z]+ to \d{5} now", t) for t in spam)
    assert (len(spam), len(ham)) == (207, 593)  # the classic forms replace spam messages: the labels are as before


def test_words_counted_over_the_practice_set_call_a_classic_spam_message_spam():
    """A bag-of-words view of the set (naive Bayes, no model): the classic wording is spam's."""
    import math
    import re
    from collections import Counter

    words = lambda text: re.findall(r"[a-z0-9£]+", text.lower())  # noqa: E731
    counts, totals = [Counter(), Counter()], Counter()
    for label, text in sms.demo_messages():
        counts[label].update(words(text))
        totals[label] += 1
    vocab = set(counts[0]) | set(counts[1])

    def spam_odds(text: str) -> float:
        score = math.log(totals[1] / totals[0])
        for w in words(text):
            score += math.log((counts[1][w] + 1) / (sum(counts[1].values()) + len(vocab)))
            score -= math.log((counts[0][w] + 1) / (sum(counts[0].values()) + len(vocab)))
        return score

    assert spam_odds("WINNER!! You have won a free cruise, text CLAIM to 80082 now") > 5
    assert spam_odds("are we still on for lunch tomorrow?") < -5
