"""See your learning-rate schedule over a run."""

from model.train import lr_at
from tutor.checks.display import line_plot

total, warmup, peak, low = 1000, 100, 6e-4, 6e-5
lrs = [lr_at(step, peak_lr=peak, warmup_steps=warmup, total_steps=total, min_lr=low) for step in range(total)]
print(f"lr_at over {total} steps (warm-up {warmup}, peak {peak:g}, min {low:g}):\n")
print(line_plot(lrs, label="step"))
