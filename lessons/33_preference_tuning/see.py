"""See DPO's loss move: your compute_dpo_loss as the model's margin over its reference grows."""

import torch

from model.dpo import compute_dpo_loss

reference_chosen = torch.tensor([-2.0, -1.5, -3.0, -2.5])
reference_rejected = torch.tensor([-2.2, -1.4, -2.8, -2.6])
print("Four pairs; the model moves each chosen answer up and each rejected one down by `step`")
print("(log-probability per token, from where the frozen reference puts them).\n")
print(f"{'step':>6} {'beta':>5} {'loss':>8} {'chosen reward':>14} {'rejected reward':>16}")
for beta in (0.1, 0.5):
    for step in (0.0, 0.5, 1.0, 2.0, 5.0, 20.0):
        loss, chosen, rejected = compute_dpo_loss(reference_chosen + step, reference_rejected - step,
                                                  reference_chosen, reference_rejected, beta=beta)
        print(f"{step:6.1f} {beta:5.1f} {loss.item():8.4f} {chosen.item():14.2f} {rejected.item():16.2f}")
    print()
print("At step 0 the loss is ln 2 = 0.6931 whatever the data. A larger beta reaches a small loss")
print("with a smaller margin: it keeps the model closer to the reference.")
