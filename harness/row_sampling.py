"""Sampling in which every row of a batch draws from its own seeded generator.

transformers samples a batch with one ``torch.multinomial`` call on the global generator, so
row i's sample depends on how many rows share the batch: the first 8 of 16 samples differ
from an 8-sample run. Here each row gets a ``torch.Generator`` seeded by (question seed, i) and
the token is picked by the Gumbel-max rule: ``argmax(scores + G)`` with G standard Gumbel noise
is a draw from ``softmax(scores)``. The warpers before it are transformers' own (temperature,
top-k, top-p, in the order ``generate`` applies them); the processor leaves only the picked
token possible, and ``generate`` (greedy, or sampling with neutral settings where it expands
the rows itself) adds no warpers of its own, so it can only take that token. transformers has
no per-row generators (``generate`` takes none), which is why this processor is written here.

Cost: uniform noise over the vocabulary per row per step. On CPU a row's generator (Mersenne
Twister) yields the same numbers whether drawn one step at a time or many steps at once, so
the noise is drawn in blocks of steps (fewer calls, same samples; a block holds one step once
rows x vocabulary reaches 4M, e.g. 16 rows of a 152k vocabulary); CUDA generators do not have
that property, so there it is drawn per step. ``generate``'s greedy pick replaces its softmax +
``torch.multinomial`` (about 5 % of a decoding step on the tiny CPU model).
``benchmarks/passk_speed.py`` prints the engine time with and without row seeds (c / c1).
"""

from __future__ import annotations

import torch
from transformers import LogitsProcessor, LogitsProcessorList, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

# generate's greedy step takes the one token left possible; temperature / top-k / top-p are
# None so a checkpoint's generation_config.json adds no warper (and greedy warns of none).
# Greedy refuses num_return_sequences > 1 (the path without a shared prefill): there generate
# samples with neutral settings, and softmax + multinomial can only take the same token.
_GREEDY = {"do_sample": False, "temperature": None, "top_k": None, "top_p": None}
_NEUTRAL = {"do_sample": True, "temperature": 1.0, "top_k": 0, "top_p": 1.0}
_OTHER_WARPERS = ("min_p", "typical_p", "epsilon_cutoff", "eta_cutoff", "top_h")
# CPU noise is drawn this many elements at a time at most (rows x steps x vocabulary): 16 MiB
_BLOCK_ELEMENTS = 1 << 22
_MAX_BLOCK_STEPS = 64


def neutral_sampling(generation_config, num_return_sequences: int = 1) -> dict:
    """``generate`` settings under which our processors alone pick each token (also switching
    off warpers a checkpoint's generation_config.json turns on)."""
    base = _GREEDY if num_return_sequences == 1 else _NEUTRAL
    return {**base, **{k: None for k in _OTHER_WARPERS if getattr(generation_config, k, None) is not None}}


class SeededRowSampler(LogitsProcessor):
    """Picks each row's token with Gumbel noise from that row's own generator; every other
    token's score becomes -inf."""

    def __init__(self, seeds: list[int], device):
        self.generators = [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]
        self.per_step = torch.device(device).type != "cpu"  # see the module docstring
        self.noise, self.step = None, 0  # Gumbel noise (steps, rows, vocabulary) and the next step

    def _draw(self, vocab: int, device) -> None:
        steps = 1 if self.per_step else max(1, min(_MAX_BLOCK_STEPS, _BLOCK_ELEMENTS // (vocab * len(self.generators))))
        tiny = torch.finfo(torch.float32).tiny  # rand may return exactly 0; log(0) would be -inf
        u = torch.stack([torch.rand((steps, vocab), generator=g, device=device, dtype=torch.float32) for g in self.generators], dim=1)
        self.noise, self.step = -torch.log(-torch.log(u.clamp_min_(tiny))), 0

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if scores.shape[0] != len(self.generators):
            raise RuntimeError(f"{scores.shape[0]} rows but {len(self.generators)} generators")
        if self.noise is None or self.step == self.noise.shape[0]:
            self._draw(scores.shape[1], scores.device)
        picked = (scores.float() + self.noise[self.step]).argmax(-1, keepdim=True)
        self.step += 1
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
