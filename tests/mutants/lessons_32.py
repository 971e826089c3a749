"""Lesson 32's common mistakes: LoRA."""

from tests.mutants import mutant

FORWARD = "        return (self.alpha / self.rank) * (x @ self.A @ self.B)"

MUTANTS = [
    mutant(32, "b-random-at-init", "lora.py",
           ("        self.B = nn.Parameter(torch.zeros(rank, out_dim))",
            "        self.B = nn.Parameter(torch.randn(rank, out_dim) * 0.01)"),
           expect="B starts at zero"),
    mutant(32, "a-left-at-zero", "lora.py",
           ("        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))\n", "        nn.init.zeros_(self.A)\n"),
           expect="A is all zeros"),
    mutant(32, "a-standard-normal", "lora.py",
           ("        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))\n", "        nn.init.normal_(self.A)\n"),
           expect="Kaiming-uniform"),
    mutant(32, "scale-missing", "lora.py",
           (FORWARD, "        return x @ self.A @ self.B"),
           expect="without its scale"),
    mutant(32, "integer-division-scale", "lora.py",
           (FORWARD, "        return (self.alpha // self.rank) * (x @ self.A @ self.B)"),
           expect="whole-number division"),
    mutant(32, "b-before-a", "lora.py",
           (FORWARD, "        return (self.alpha / self.rank) * (x @ self.B @ self.A)"),
           expect="x by A (in_dim, rank) first"),
    mutant(32, "update-not-added", "lora.py",
           ("        return self.linear(x) + self.lora(x)", "        return self.linear(x)"),
           expect="add the LoRA update"),
    mutant(32, "top-level-only", "lora.py",
           ("        else:\n            replace_linear_with_lora(module, rank, alpha)\n", ""),
           expect="however deep"),
    mutant(32, "base-copied-trainable", "lora.py",
           ("        self.linear = linear\n",
            "        self.linear = nn.Linear(linear.in_features, linear.out_features, bias=linear.bias is not None)\n"
            "        self.linear.load_state_dict(linear.state_dict())\n"),
           expect="trainable again"),
]
