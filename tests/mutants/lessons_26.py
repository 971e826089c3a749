"""Mutants for lesson 26: shard, broadcast_parameters, all_reduce_gradients, ddp_train_step."""

from tests.mutants import mutant

REDUCE = "        dist.all_reduce(param.grad, op=dist.ReduceOp.SUM)\n"
BACKWARD = "    loss.backward()\n    all_reduce_gradients(model)\n"
CLIP = "        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)\n"

MUTANTS = [
    mutant(26, "sum-not-mean", "distributed.py", ("        param.grad /= world_size\n", ""),
           expect="summed over the ranks and not divided by world_size"),
    mutant(26, "average-before-backward", "distributed.py",
           (BACKWARD, "    all_reduce_gradients(model)\n    loss.backward()\n"),
           expect="each rank stepped with its own shard's gradient"),
    mutant(26, "no-broadcast", "distributed.py", ("            dist.broadcast(tensor.data, src=src)", "            pass"),
           expect="still holds its own starting weights"),
    mutant(26, "buffers-not-broadcast", "distributed.py",
           ("[*model.parameters(), *model.buffers()]", "model.parameters()"), expect="but not its buffers"),
    mutant(26, "interleaved-shards", "distributed.py",
           ("    return batch[rank * size:(rank + 1) * size]", "    return batch[rank::world_size]"),
           expect="interleaved shards"),
    mutant(26, "uneven-accepted", "distributed.py",
           ("    if batch.shape[0] % world_size != 0:\n", "    if batch.shape[0] < world_size:\n"),
           expect="instead of raising ValueError"),
    mutant(26, "clip-before-all-reduce", "distributed.py",
           (BACKWARD + "    if max_grad_norm is not None:\n" + CLIP,
            "    loss.backward()\n    if max_grad_norm is not None:\n" + CLIP + "    all_reduce_gradients(model)\n"),
           expect="clipped before the all-reduce"),
    mutant(26, "loss-of-one-rank", "distributed.py",
           ("    return (mean / world_size).item()", "    return loss.item()"),
           expect="loss was returned for one rank only"),
    mutant(26, "collective-on-rank-0-only", "distributed.py",
           (REDUCE, "        if dist.get_rank() == 0:\n    " + REDUCE), expect="waiting forever"),
]
