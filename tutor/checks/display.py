"""Terminal pictures for the lessons' demos (`tutor see N`): heat maps and line plots."""

from __future__ import annotations

from collections.abc import Sequence

SHADES = " ░▒▓█"


def heatmap(rows: Sequence[Sequence[float]], labels: Sequence[str], title: str = "") -> str:
    """A matrix of weights in [0, 1] as shaded cells, with the labels on both axes."""
    width = max(len(label) for label in labels)
    lines = [title] if title else []
    lines.append(" " * (width + 1) + " ".join(label[:5].ljust(5) for label in labels))
    for label, row in zip(labels, rows):
        top = max(max(row), 1e-9)
        cells = []
        for w in row:
            shade = SHADES[min(len(SHADES) - 1, int(round(w / top * (len(SHADES) - 1))))]
            cells.append(f"{shade}{w:4.2f}" if w >= 0.005 else " " * 5)
        lines.append(label.rjust(width) + " " + " ".join(cells))
    return "\n".join(lines)


def line_plot(ys: Sequence[float], height: int = 12, width: int = 60, label: str = "") -> str:
    """A line of values as a character plot, x spread over `width` columns."""
    n = len(ys)
    picked = [ys[min(n - 1, int(i * n / width))] for i in range(width)]
    lo, hi = min(picked), max(picked)
    span = (hi - lo) or 1.0
    grid = [[" "] * width for _ in range(height)]
    for x, y in enumerate(picked):
        grid[height - 1 - int((y - lo) / span * (height - 1))][x] = "•"
    lines = [f"{hi:10.3g} ┤" + "".join(grid[0])]
    lines += ["           │" + "".join(row) for row in grid[1:-1]]
    lines.append(f"{lo:10.3g} ┤" + "".join(grid[-1]))
    lines.append("           └" + "─" * width)
    lines.append(f"            0{label.center(width - 2)}{n - 1}")
    return "\n".join(lines)
