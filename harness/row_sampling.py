"""Sampling in which every row of a batch draws from its own seeded generator.

transformers samples a batch with one ``torch.multinomial`` call on the global generator, so
row i's sample depends on how many rows share the batch: the first 8 of 16 samples differ
from an 8-sample run. Here each row gets a ``torch.Generator`` seeded by (question seed, i) and
the token is picked by the Gumbel-max rule: ``argmax(scores + G)`` with G standard Gumbel noise
is a draw from ``softmax(scores)``. The warpers before it are transformers' own (temperature,
top-k, top-p, in the order ``generate`` applies them); the processor leaves only the picked
token possible, so ``generate``'s own sampling step (run with neutral settings, which add no
warpers of their own) can only take it. transformers has no per-row generators (``generate``
takes none), which is why this processor is written here.

Cost: one ``torch.rand`` over the vocabulary per row per step (``benchmarks/passk_speed.py``
prints the engine time with and without it).
"""

from __future__ import annotations

import torch
from transformers import LogitsProcessor, LogitsProcessorList, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

_NEUTRAL = {"do_sample": True, "temperature": 1.0, "top_k": 0, "top_p": 1.0}
_OTHER_WARPERS = ("min_p", "typical_p", "epsilon_cutoff", "eta_cutoff", "top_h")


def neutral_sampling(generation_config) -> dict:
    """``generate`` settings that sample but add no warper after ours (also switching off
    warpers a checkpoint's generation_config.json turns on)."""
    return {**_NEUTRAL, **{k: None for k in _OTHER_WARPERS if getattr(generation_config, k, None) is not None}}


class SeededRowSampler(LogitsProcessor):
    """Picks each row's token with Gumbel noise from that row's own generator; every other
    token's score becomes -inf."""

    def __init__(self, seeds: list[int], device):
        self.generators = [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if scores.shape[0] != len(self.generators):
            raise RuntimeError(f"{scores.shape[0]} rows but {len(self.generators)} generators")
        tiny = torch.finfo(torch.float32).tiny  # rand may return exactly 0; log(0) would be -inf
        u = torch.stack([torch.rand(scores.shape[1], generator=g, device=scores.device, dtype=torch.float32) for g in self.generators])
        picked = (scores.float() - torch.log(-torch.log(u.clamp_min(tiny)))).argmax(-1, keepdim=True)
        return torch.full_like(scores, float("-inf")).scatter_(1, picked, 0.0)


def row_seeded_processors(gen: dict, seeds: list[int], device) -> LogitsProcessorList:
    """The processors that make ``generate`` sample with ``gen``'s settings, one seed per row
    (with :func:`neutral_sampling` settings, so ``generate`` adds no warpers of its own)."""
    procs = []
    temperature = float(gen["temperature"])
    if temperature != 1.0:
        procs.append(TemperatureLogitsWarper(temperature))
    top_k = int(gen.get("top_k") or 0)
    if top_k > 0:
        procs.append(TopKLogitsWarper(top_k=top_k))
    top_p = float(gen.get("top_p") or 1.0)
    if top_p < 1.0:
        procs.append(TopPLogitsWarper(top_p=top_p))
    procs.append(SeededRowSampler(seeds, device))
    return LogitsProcessorList(procs)
