"""The per-row seeded sampler: block-drawn noise, the distribution it samples, generate settings."""

import torch
from medbridge.harness.row_sampling import SeededRowSampler, neutral_sampling


def _picks(sampler: SeededRowSampler, scores: list[torch.Tensor]) -> list[list[int]]:
    return [sampler(None, s).argmax(-1).tolist() for s in scores]


def test_cpu_noise_drawn_in_blocks_picks_exactly_what_per_step_noise_picks():
    torch.manual_seed(0)
    scores = [torch.randn(4, 50) for _ in range(150)]  # 150 steps cross two 64-step blocks
    blocked = SeededRowSampler([11, 12, 13, 14], "cpu")
    per_step = SeededRowSampler([11, 12, 13, 14], "cpu")
    per_step.per_step = True
    got = _picks(blocked, scores)
    assert blocked.noise.shape[0] == 64  # really drawn in blocks
    assert got == _picks(per_step, scores) and per_step.noise.shape[0] == 1


def test_each_row_depends_only_on_its_own_seed():
    torch.manual_seed(1)
    scores = [torch.randn(3, 30) for _ in range(80)]
    three = _picks(SeededRowSampler([5, 6, 7], "cpu"), scores)
    alone = _picks(SeededRowSampler([6], "cpu"), [s[1:2] for s in scores])
    assert [row[1] for row in three] == [row[0] for row in alone]


def test_the_sampler_leaves_one_token_and_draws_from_the_softmax():
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]])
    sampler = SeededRowSampler([3], "cpu")
    counts = torch.zeros(4)
    for _ in range(4000):
        out = sampler(None, logits)
        assert torch.isfinite(out).sum() == 1 and out.max() == 0.0
        counts[out.argmax()] += 1
    expected = torch.softmax(logits[0], -1)  # 0.644, 0.237, 0.087, 0.032
    assert torch.allclose(counts / 4000, expected, atol=0.025)


def test_generate_settings_add_no_warper_of_their_own():
    class Config:
        top_k, top_p, temperature, min_p, typical_p = 1, 0.8, 0.1, 0.05, None

    one = neutral_sampling(Config())
    assert one == {"do_sample": False, "temperature": None, "top_k": None, "top_p": None, "min_p": None}
    many = neutral_sampling(Config(), num_return_sequences=4)  # generate expands the rows itself
    assert many == {"do_sample": True, "temperature": 1.0, "top_k": 0, "top_p": 1.0, "min_p": None}
