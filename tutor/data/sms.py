"""The SMS Spam Collection: import, a synthetic practice set, and seeded splits.

Import takes the UCI zip or its raw `label<TAB>text` file. Every line is
accounted for: malformed lines are reported by number, empty messages and
duplicates are counted, and the report says what was kept. Labels: 0 = ham, 1 = spam.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import zipfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tutor.core.atomic import write_text_atomic
from tutor.core.locations import datasets_dir
from tutor.core.safe_read import FileRefused, TooLarge, read_regular

LABELS = {"ham": 0, "spam": 1}
DATASET = "sms-spam"
DEMO = "sms-demo"
UCI_MEMBER = "SMSSpamCollection"
MAX_BYTES = 50 * 2**20  # the real file is 0.5 MB; anything far larger is not it


class SmsDataError(Exception):
    """A file that cannot be imported; the message says why."""


@dataclass
class ImportReport:
    lines: int = 0
    kept: int = 0
    spam: int = 0
    ham: int = 0
    empty: int = 0
    duplicates: int = 0
    malformed: list[tuple[int, str]] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{self.lines:,} lines: {self.kept:,} messages kept ({self.ham:,} ham, {self.spam:,} spam)"]
        if self.duplicates:
            parts.append(f"{self.duplicates:,} are repeats of an earlier message (kept, as in the original data)")
        if self.empty:
            parts.append(f"{self.empty:,} empty messages left out")
        if self.malformed:
            shown = ", ".join(f"line {n} ({why})" for n, why in self.malformed[:5])
            more = f" and {len(self.malformed) - 5} more" if len(self.malformed) > 5 else ""
            parts.append(f"{len(self.malformed):,} malformed lines left out: {shown}{more}")
        return "; ".join(parts)


def parse(text: str) -> tuple[list[tuple[int, str]], ImportReport]:
    """(label, message) pairs from `label<TAB>message` lines, and an account of every line."""
    report = ImportReport()
    messages: list[tuple[int, str]] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        report.lines += 1
        if not line.strip():
            report.malformed.append((number, "blank line"))
            continue
        label, tab, message = line.partition("\t")
        if not tab:
            report.malformed.append((number, "no tab between label and message"))
            continue
        label = label.strip().lower()
        if label not in LABELS:
            report.malformed.append((number, f"label {label[:12]!r} is neither ham nor spam"))
            continue
        message = message.strip()
        if not message:
            report.empty += 1
            continue
        if message in seen:
            report.duplicates += 1
        seen.add(message)
        messages.append((LABELS[label], message))
        report.kept += 1
        report.spam += LABELS[label]
    report.ham = report.kept - report.spam
    return messages, report


def read_source(path: Path) -> str:
    """The text of the UCI zip's data file, or of a plain TSV file."""
    path = Path(path).expanduser()
    if not path.exists():
        raise SmsDataError(f"{path} does not exist")
    try:
        data = read_regular(path, MAX_BYTES)  # a regular file only (no device, no FIFO), and bounded
    except TooLarge as exc:
        raise SmsDataError(f"{path} is {exc.size / 2**20:.0f} MB or more: too large to be the SMS Spam Collection") from None
    except FileRefused as exc:
        raise SmsDataError(str(exc)) from None
    except OSError as exc:
        raise SmsDataError(f"cannot read {path}: {exc}") from None
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = [n for n in archive.namelist() if Path(n).name == UCI_MEMBER]
            if not names:
                raise SmsDataError(f"{path} is a zip without a {UCI_MEMBER} file (has: {', '.join(archive.namelist()[:5])})")
            data = _read_capped(archive, names[0], path)
    if b"\x00" in data:
        raise SmsDataError(f"{path} looks binary, not a label<TAB>message text file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SmsDataError(f"{path} is not UTF-8 (byte {exc.start}: {exc.reason})") from None


def _read_capped(archive: zipfile.ZipFile, member: str, path: Path) -> bytes:
    """A zip member's bytes, counted while they are decompressed: the size a zip's header
    claims is the packer's word, and a small zip can hold a vast file."""
    chunks, total = [], 0
    with archive.open(member) as src:
        while block := src.read(1 << 20):
            total += len(block)
            if total > MAX_BYTES:
                raise SmsDataError(f"{path}: {member} holds more than {MAX_BYTES // 2**20} MB once decompressed: "
                                   "too large to be the SMS Spam Collection")
            chunks.append(block)
    return b"".join(chunks)


def _save(name: str, messages: list[tuple[int, str]], meta: dict) -> Path:
    folder = datasets_dir() / name
    text = "".join(f"{('ham', 'spam')[label]}\t{message}\n" for label, message in messages)
    write_text_atomic(folder / "messages.tsv", text)
    write_text_atomic(folder / "meta.json", json.dumps({**meta, "messages": len(messages)}, indent=2))
    return folder


def import_file(path: Path) -> ImportReport:
    text = read_source(path)
    messages, report = parse(text)
    if report.spam == 0 or report.ham == 0:
        raise SmsDataError(f"{path}: {report.summary()}. A classifier needs both ham and spam messages.")
    _save(DATASET, messages, {"source": str(Path(path).resolve()), "sha256": hashlib.sha256(text.encode()).hexdigest(),
                              "practice_data": False, "report": asdict(report)})
    return report


def demo_messages(seed: int = 0, n: int = 800) -> list[tuple[int, str]]:
    """Synthetic practice messages (not real SMS), a quarter of them spam.

    Each message is put together from parts (a greeting, one of many bodies, an
    ending; for spam an opener, an offer, a call to action, small print), with
    names, places, times and sums drawn at random, in varied case: enough variety
    that a classifier trained on them answers everyday messages sensibly, not only
    the exact sentences it saw. About a third of the spam takes the classic forms
    instead (WINNER!!, a prize to claim with a code, a short number to text, a
    premium number to call, free ringtones, txt-speak), drawn from a random stream
    of their own so that the rest of the set stays as it was."""
    rng = random.Random(seed)
    classic = random.Random(f"classic spam {seed}")
    names = ["Sam", "Alex", "mum", "Jo", "Chris", "Priya", "Tom", "Nina", "dad", "Kate", "Ben", "Aisha"]
    places = ["the station", "uni", "the gym", "work", "the pub", "home", "the shop", "the park", "Tesco", "the library"]
    times = ["6", "7:30", "noon", "tonight", "tomorrow", "later", "after class", "at 8", "on Friday", "this weekend"]
    items = ["milk", "bread", "charger", "keys", "umbrella", "jacket", "notes", "book", "headphones"]
    events = ["exam", "interview", "match", "party", "meeting", "driving test", "doctor's appointment"]
    ham_greetings = ["", "", "Hi {n}, ", "Hey, ", "{n}! ", "Morning! ", "hiya ", "Hello {n}. ", "ok ", "Hey {n} "]
    ham_bodies = [
        "are we still on for {t}?", "I'm at {p}, see you {t}", "can you grab some {i} on the way back?",
        "running late, be there by {t}", "thanks for today, it was lovely", "see you at {p}",
        "did you get my message about the {e}?", "call me when you're free", "happy birthday! have a lovely day",
        "just left {p}", "what time is dinner?", "sorry I missed your call, I was at {p}", "lol yes, {n} said the same",
        "can't make it {t}, maybe next week?", "{n} says dinner at 7", "are we still on for lunch {t}?",
        "the train is delayed again", "I left my {i} at {p}, can you check?", "how did the {e} go?",
        "shall we meet at {p} {t}?", "I'll bring the {i}", "good luck with the {e}!", "text me when you get home",
        "can I borrow your {i} {t}?", "watching the match at {p}, come over", "love you, see you {t}",
        "the {e} got moved to {t}", "no worries, take your time", "where are you? I'm outside {p}",
        "do you want anything from {p}?", "my phone is about to die, meet at {p}", "got your {i}, will drop it round {t}",
    ]
    ham_endings = ["", "", " x", " :)", " thanks", " cheers", " xx", " see ya", "!"]
    prizes = ["£1000 cash", "a free iPhone", "a £500 voucher", "a holiday for 2", "£2000", "a brand new car",
              "free ringtones", "a £250 gift card", "a free mobile upgrade"]
    spam_openers = ["WINNER!!", "URGENT!", "Congratulations!", "FREE:", "Dear customer,", "IMPORTANT:",
                    "You have been chosen!", "Final notice:", "SIX chances to win!", ""]
    spam_offers = [
        "you have won {z}", "your mobile number has been selected for {z}", "claim {z} now",
        "{z} is waiting for you", "you are entitled to a refund of £{m}", "your account will be suspended",
        "you have 1 new voicemail", "exclusive offer: {z}", "get {pc}% off all orders this week",
        "your parcel could not be delivered", "you have been awarded {z}", "entry into our weekly draw for {z}",
    ]
    spam_calls = ["Call {ph} now", "Text {w} to {sc}", "Reply {w} to {sc}", "Visit www.{site}.biz", "Click www.{site}.com to claim",
                  "Call {ph} before midnight", "txt {w} to {sc} to claim", "Call free on {ph}"]
    spam_print = ["", " T&Cs apply.", " 18+ only.", " £1.50/msg.", " Reply STOP to opt out.", " Offer ends today!", " 50p/min."]

    def fill(template: str) -> str:
        return template.format(
            n=rng.choice(names), p=rng.choice(places), t=rng.choice(times), i=rng.choice(items), e=rng.choice(events),
            z=rng.choice(prizes), m=rng.choice([150, 230, 475, 800]), pc=rng.choice([20, 50, 70]),
            ph=f"0{rng.choice(['9061', '871', '800', '906'])}{rng.randint(100000, 9999999)}",
            w=rng.choice(["WIN", "CLAIM", "YES", "PRIZE", "GO"]), sc=rng.randint(80000, 89999),
            site=rng.choice(["secure-check", "claim-now", "prize-centre", "mobile-rewards", "parcel-track"]))

    out = []
    for _ in range(n):
        is_spam = rng.random() < 0.25
        if is_spam:
            opener = rng.choice(spam_openers)
            text = " ".join(filter(None, [opener, fill(rng.choice(spam_offers)).capitalize() + ".",
                                          fill(rng.choice(spam_calls)) + rng.choice(spam_print)]))
            if rng.random() < 0.3:
                text = text.upper()
            if classic.random() < 0.35:
                text = classic_spam(classic)
        else:
            text = fill(rng.choice(ham_greetings)) + fill(rng.choice(ham_bodies)) + rng.choice(ham_endings)
            if rng.random() < 0.3:
                text = text.lower()
            elif rng.random() < 0.3:
                text = text[:1].upper() + text[1:]
        out.append((int(is_spam), text))
    return out


CLASSIC_SPAM = [
    "WINNER!! You have won {prize}! Text {word} to {short} now to claim.",
    "{shout} You have won a free {trip}, text {word} to {short} now",
    "WINNER!! As a valued network customer you have been selected to receive {prize}. To claim call {premium}. "
    "Claim code {code}. Valid 12 hours only.",
    "URGENT! Your mobile number has won {prize}. Call {premium} now! Claim code {code}.",
    "URGENT! We are trying to contact you. Last weekend's draw shows that you won {prize}. Call {premium} now. "
    "Claim code {code}. {small}",
    "Congratulations ur awarded {prize}. txt {word} to {short} to claim now!",
    "Free entry in 2 a weekly comp to win {prize}. Text {word} to {short} to receive entry. {small}",
    "FREE RINGTONE! Reply {word} to {short} for ur free ringtone this week. {small}",
    "Your free ringtone is waiting to be collected. Simply text the password {word} to {short} to verify. {small}",
    "Get the latest ringtones FREE! Text {word} to {short} now. {small}",
    "Had your mobile 11 months or more? U R entitled to an upgrade to the latest camera phone for FREE! "
    "Call {premium} now",
    "You are a WINNER! Claim your {prize} today: call {premium} from a landline. Claim code {code}. {small}",
    "Last chance! Claim ur {prize} now. Txt {word} to {short}. Only {left} left!",
    "PRIVATE! Your {year} account statement shows {points} unredeemed bonus points. To claim call {premium}. "
    "Identifier code {code}. Expires {expires}",
    "Want a free {trip}? Just reply {word} to {short} and we will send u the details! {small}",
    "Dear {who}, you have been specially selected to receive {prize}! Call {premium} to claim. Valid 24hrs",
    "{shout} 2nd attempt to contact u. U have won {prize}. Call {premium} b4 it expires. Claim code {code}",
    "Ur {prize} is waiting! To claim txt {word} to {short} now. Urgent, offer ends 2nite",
]


def classic_spam(rng: random.Random) -> str:
    """One spam message in a classic form: the prize, the code to claim it, the short or premium
    number to text or call, the urgency; in varied case."""
    letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
    text = rng.choice(CLASSIC_SPAM).format(
        prize=rng.choice(["£1000 cash", "a £2000 prize", "a free cruise", "£900", "a Nokia phone", "a £500 voucher",
                          "£5000 cash", "a free holiday", "1 week FREE membership", "a mobile worth £350",
                          "free ringtones", "a 2 night break"]),
        trip=rng.choice(["cruise", "holiday to Tenerife", "weekend in Paris", "city break for 2", "Caribbean cruise",
                         "trip to Disneyland"]),
        word=rng.choice(["CLAIM", "WIN", "PRIZE", "YES", "GO", "TONE", "FREE", "CRUISE", "STOP"]),
        short=rng.choice([rng.randint(80000, 89999), rng.randint(60000, 69999), rng.randint(100, 999) * 100 + 86]),
        premium=f"09{rng.randint(0, 99):02d}{rng.randint(1000000, 9999999)}",
        code=f"{rng.choice(letters)}{rng.randint(10, 99)}{rng.choice(['', rng.choice(letters)])}",
        shout=rng.choice(["WINNER!!", "URGENT!", "CONGRATULATIONS!", "Congrats!", "FREE MSG:", "ALERT!"]),
        small=rng.choice(["T&Cs apply.", "18+ only.", "£1.50/msg.", "150p/msg rcvd.", "Reply STOP to opt out.",
                          "Calls cost 50p/min.", "Box 42, W1 7ZZ.", ""]),
        left=rng.choice([3, 5, 10]), year=rng.choice([2003, 2004, 2005]), points=rng.choice([800, 1500, 2500]),
        expires=rng.choice(["31/12", "tonight", "in 24hrs"]), who=rng.choice(["Customer", "Subscriber", "Winner"]))
    text = " ".join(text.split())
    roll = rng.random()
    return text.upper() if roll < 0.2 else text.lower() if roll < 0.35 else text


def load(name: str = DATASET) -> list[tuple[int, str]]:
    """The imported data set, or the synthetic practice set (made on first use)."""
    if name == DEMO:
        return demo_messages()
    path = datasets_dir() / name / "messages.tsv"
    if not path.is_file():
        raise SmsDataError("the SMS Spam Collection is not imported yet: `tutor data download sms-spam`, or "
                           "`tutor data import FILE` with the UCI zip or its label<TAB>text file "
                           "(or train on the practice set with --data sms-demo)")
    messages, _ = parse(path.read_text(encoding="utf-8"))
    return messages


def split(messages: list[tuple[int, str]], *, seed: int = 123, balanced: bool = True,
          fractions: tuple[float, float] = (0.7, 0.1)) -> dict[str, list[tuple[int, str]]]:
    """Train/validation/test splits, the same for the same seed.

    balanced (the book's protocol): all spam plus as many ham messages drawn at
    random, shuffled, then 70/10/20. Otherwise the full set, shuffled, 70/10/20.
    """
    rng = random.Random(seed)
    spam = [m for m in messages if m[0] == 1]
    ham = [m for m in messages if m[0] == 0]
    chosen = spam + rng.sample(ham, min(len(spam), len(ham))) if balanced else list(messages)
    rng.shuffle(chosen)
    a = int(len(chosen) * fractions[0])
    b = a + int(len(chosen) * fractions[1])
    return {"train": chosen[:a], "val": chosen[a:b], "test": chosen[b:]}


def label_counts(messages: list[tuple[int, str]]) -> dict[str, int]:
    counts = Counter(label for label, _ in messages)
    return {"ham": counts[0], "spam": counts[1]}
