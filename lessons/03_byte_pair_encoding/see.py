"""See your BPE learn merges on real text, and how it cuts a sentence into tokens."""

from pathlib import Path

from rich.console import Console
from rich.text import Text

from model.tokenizer import BPETokenizer, train_bpe

EOT = "<|endoftext|>"
# Real English that every install of the tutor has: the course's own lesson texts.
lessons = Path(__file__).resolve().parent.parent
text = "\n\n".join(p.read_text(encoding="utf-8") for p in sorted(lessons.glob("*/lesson.md")))[:60_000]

console = Console(highlight=False)
ranks = train_bpe(text, 512, (EOT,))
tokenizer = BPETokenizer(ranks, {EOT: len(ranks)})
learned = sorted((rank, token) for token, rank in ranks.items() if rank >= 256)
console.print(f"Your train_bpe learned {len(learned)} merges on {len(text):,} characters of the lesson texts.")
console.print("The first ten, in the order they were learned:")
console.print("  " + "  ".join(repr(token.decode("utf-8", errors="replace")) for _, token in learned[:10]))
console.print("The last five (longer, rarer pieces):")
console.print("  " + "  ".join(repr(token.decode("utf-8", errors="replace")) for _, token in learned[-5:]))

sentence = "The transformer block normalises, attends, and adds the shortcut back."
ids = tokenizer.encode(sentence)
shown = Text("\n")
for index, token_id in enumerate(ids):
    shown.append(tokenizer.decode([token_id]), style=("black on cyan", "black on yellow")[index % 2])
console.print(shown)
console.print(f"{len(sentence.encode())} bytes became {len(ids)} tokens: {len(sentence.encode()) / len(ids):.2f} bytes per token "
              "(each colour is one token).")
whole = tokenizer.encode(text[:20_000])
console.print(f"On 20,000 characters of the texts: {len(text[:20_000].encode()) / len(whole):.2f} bytes per token "
              "(GPT-2's 50,257-token vocabulary reaches about 4 on English).")
