"""Mutants for lessons 18-21: RMSNorm and SwiGLU, RoPE, grouped-query attention, the Llama model."""

from tests.mutants import mutant

F = "llama.py"
NORMED = "normed = x32 / torch.sqrt(mean_square + self.eps)"
GATE = "gate = F.silu(self.fc1(x))  # how much of each hidden feature to let through\n        return self.fc3(gate * self.fc2(x))"
HALVES = ("    x1 = x[..., : head_dim // 2]  # first halves\n    x2 = x[..., head_dim // 2 :]  # second halves\n"
          "    rotated = torch.cat([-x2, x1], dim=-1)  # \"rotate half\": (x1, x2) -> (-x2, x1)")
KEYS_ROPE = "        keys = compute_rope(keys, cos, sin)\n"
REPEAT = ("        keys = keys.repeat_interleave(self.group_size, dim=1)  # (b, h, t, hd)\n"
          "        values = values.repeat_interleave(self.group_size, dim=1)")
WINDOW = "blocked = blocked | (j <= i - self.window_size)"
PARALLEL = "            h = self.norm1(x)\n            return x + self.att(h, cos, sin) + self.ff(h)"

MUTANTS = [
    # Lesson 18: RMSNorm, FeedForward (SwiGLU)
    mutant(18, "mean-subtracted", F,
           ("        x32 = x.float()\n", "        x32 = x.float()\n        x32 = x32 - x32.mean(dim=-1, keepdim=True)\n"),
           expect="the mean is subtracted"),
    mutant(18, "eps-outside-root", F, (NORMED, "normed = x32 / (torch.sqrt(mean_square) + self.eps)"), expect="outside the square root"),
    mutant(18, "computed-in-bf16", F, ("        x32 = x.float()\n", "        x32 = x\n"),
           ("return (normed * self.weight.float()).to(x.dtype)", "return (normed * self.weight.to(x.dtype)).to(x.dtype)"),
           expect="looks like it is computed in bf16"),
    mutant(18, "returns-float32", F, ("return (normed * self.weight.float()).to(x.dtype)", "return normed * self.weight.float()"),
           expect="return the result in x's dtype"),
    mutant(18, "gate-on-wrong-branch", F,
           (GATE, "gate = F.silu(self.fc2(x))\n        return self.fc3(self.fc1(x) * gate)"), expect="the gate is on the wrong branch"),
    mutant(18, "gelu-gate", F, ("gate = F.silu(self.fc1(x))", "gate = F.gelu(self.fc1(x))"), expect="not SiLU"),
    mutant(18, "ff-with-bias", F,
           ('self.fc1 = nn.Linear(cfg["emb_dim"], cfg["hidden_dim"], bias=False)', 'self.fc1 = nn.Linear(cfg["emb_dim"], cfg["hidden_dim"])'),
           expect="should have bias=False"),
    mutant(18, "norm-with-shift", F,
           ("        self.weight = nn.Parameter(torch.ones(emb_dim))\n",
            "        self.weight = nn.Parameter(torch.ones(emb_dim))\n        self.bias = nn.Parameter(torch.zeros(emb_dim))\n"),
           expect="a shift (bias) is left in"),
    # Lesson 19: precompute_rope_params, compute_rope
    mutant(19, "interleaved-pairs", F,
           (HALVES, "    x1 = x[..., 0::2]\n    x2 = x[..., 1::2]\n    rotated = torch.stack([-x2, x1], dim=-1).flatten(-2)"),
           expect="interleaved pairs"),
    mutant(19, "missing-offset", F,
           ("    cos_t = cos[offset : offset + t]  # (t, head_dim), broadcast over batch and heads\n    sin_t = sin[offset : offset + t]",
            "    cos_t = cos[:t]\n    sin_t = sin[:t]"), expect="the offset is ignored"),
    mutant(19, "rotates-wrong-way", F,
           ("rotated = torch.cat([-x2, x1], dim=-1)", "rotated = torch.cat([x2, -x1], dim=-1)"), expect="the wrong way"),
    mutant(19, "angles-interleaved", F,
           ("angles = torch.cat([angles, angles], dim=1)  # (context_length, head_dim)",
            "angles = angles.repeat_interleave(2, dim=1)"), expect="the angles are interleaved"),
    mutant(19, "exponent-off", F,
           ("torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim", "torch.arange(0, head_dim // 2, dtype=torch.float32) / head_dim"),
           expect="the exponent is off"),
    mutant(19, "odd-head-dim-accepted", F,
           ('    if head_dim % 2 != 0:\n        raise ValueError(f"head_dim must be even for rotary embeddings, got {head_dim}")\n', ""),
           expect="should raise ValueError"),
    mutant(19, "returns-float64", F,
           ("positions = torch.arange(context_length, dtype=torch.float32)", "positions = torch.arange(context_length, dtype=torch.float64)"),
           expect="dtype"),
    # Lesson 20: GroupedQueryAttention
    mutant(20, "kv-head-j-mod-groups", F,
           (REPEAT, "        keys = keys.repeat(1, self.group_size, 1, 1)\n        values = values.repeat(1, self.group_size, 1, 1)"),
           expect="j % num_kv_groups"),
    mutant(20, "rope-on-values", F, (KEYS_ROPE, KEYS_ROPE + "        values = compute_rope(values, cos, sin)\n"),
           expect="RoPE is applied to the values"),
    mutant(20, "window-off-by-one", F, (WINDOW, "blocked = blocked | (j < i - self.window_size)"), expect="the window is off by one"),
    mutant(20, "window-ignored", F, (WINDOW, "blocked = blocked"), expect="the window is ignored"),
    mutant(20, "kv-full-width", F,
           ("        self.W_key = nn.Linear(d_in, num_kv_groups * self.head_dim, bias=False)\n"
            "        self.W_value = nn.Linear(d_in, num_kv_groups * self.head_dim, bias=False)",
            "        self.W_key = nn.Linear(d_in, d_out, bias=False)\n        self.W_value = nn.Linear(d_in, d_out, bias=False)"),
           expect="that is what saves memory"),
    mutant(20, "no-rope", F, ("        queries = compute_rope(queries, cos, sin)  # positions enter here, and only here\n" + KEYS_ROPE, ""),
           expect="RoPE is not applied"),
    mutant(20, "no-group-check", F,
           ('        if num_heads % num_kv_groups != 0:\n            raise ValueError(f"num_heads ({num_heads}) must be divisible by num_kv_groups ({num_kv_groups})")\n', ""),
           expect="not divisible by num_kv_groups"),
    # Lesson 21: TransformerBlock, LlamaModel
    mutant(21, "parallel-two-norms-in-sequence", F,
           (PARALLEL, "            x = x + self.att(self.norm1(x), cos, sin)\n            return x + self.ff(self.norm1(x))"),
           expect="applies two norms in sequence"),
    mutant(21, "parallel-keeps-norm2", F,
           ("        if not self.parallel:\n            self.norm2 = RMSNorm", "        if True:\n            self.norm2 = RMSNorm"),
           expect="there is no norm2"),
    mutant(21, "position-embedding-left-in", F,
           ('        self.tok_emb = nn.Embedding(cfg["vocab_size"], cfg["emb_dim"])\n',
            '        self.tok_emb = nn.Embedding(cfg["vocab_size"], cfg["emb_dim"])\n'
            '        self.pos_emb = nn.Embedding(cfg["context_length"], cfg["emb_dim"])\n'),
           ("        x = self.tok_emb(in_idx)\n", "        x = self.tok_emb(in_idx) + self.pos_emb(torch.arange(in_idx.shape[1]))\n"),
           expect="a position embedding is left in"),
    mutant(21, "rope-tables-as-parameters", F,
           ('        self.register_buffer("cos", cos, persistent=False)\n        self.register_buffer("sin", sin, persistent=False)',
            "        self.cos = nn.Parameter(cos)\n        self.sin = nn.Parameter(sin)"),
           expect="register them as buffers"),
    mutant(21, "rope-tables-for-emb-dim", F,
           ('precompute_rope_params(cfg["emb_dim"] // cfg["n_heads"], cfg["rope_base"]', 'precompute_rope_params(cfg["emb_dim"], cfg["rope_base"]'),
           expect="head_dim is emb_dim // n_heads"),
    mutant(21, "window-not-passed", F, ('cfg["n_kv_groups"],\n                                         cfg.get("window_size"))', 'cfg["n_kv_groups"])'),
           expect="did not reach the attention"),
    mutant(21, "rope-base-ignored", F,
           ('precompute_rope_params(cfg["emb_dim"] // cfg["n_heads"], cfg["rope_base"]',
            'precompute_rope_params(cfg["emb_dim"] // cfg["n_heads"], 10_000'),
           expect="cfg['rope_base'] is ignored"),
    mutant(21, "no-attention-residual", F,
           ("        x = x + self.att(self.norm1(x), cos, sin)\n        x = x + self.ff(self.norm2(x))",
            "        x = self.att(self.norm1(x), cos, sin)\n        x = x + self.ff(self.norm2(x))"),
           expect="attention residual is missing"),
]
