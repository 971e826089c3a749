"""See drift measured: your psi and ks_statistic as a new kind of message takes over."""

import torch

from model.drift import histogram, ks_statistic, psi

torch.manual_seed(0)
# Message lengths in tokens (made up for the demonstration): the training data's, and
# weeks where a longer kind of message (a parcel-delivery text with a link, say) grows.
train = torch.randint(4, 40, (5000,)).float()
edges = torch.tensor([0.0, 8, 16, 24, 32, 40, 48, 64, 96])
expected = histogram(train, edges)
print("Message lengths: the training data against a week of requests in which a new, longer")
print("kind of message makes up a growing share (PSI bands: < 0.1 stable, < 0.25 watch, else drift).\n")
print(f"{'new kind':>9} {'PSI':>7} {'KS':>6}  verdict")
for share in (0.0, 0.02, 0.05, 0.1, 0.2, 0.5):
    n_new = int(5000 * share)
    week = torch.cat([torch.randint(4, 40, (5000 - n_new,)).float(), torch.randint(40, 90, (n_new,)).float()])
    value = psi(expected, histogram(week, edges))
    verdict = "stable" if value < 0.1 else "watch" if value < 0.25 else "drift"
    print(f"{share:9.0%} {value:7.3f} {ks_statistic(train, week):6.3f}  {verdict}")
print("\nPSI leaps as soon as bins that were empty in training (40 tokens and more) fill: their")
print("share was floored at eps, so log(q / p) is large there. KS follows the new share itself.")
