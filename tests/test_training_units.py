"""Training pieces that need no model: configs, rewards, the CARE bonus, answer spans, data draws."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("trl")

from medbridge.harness.errors import ConfigError
from medbridge.training.config import DataConfig, load_config
from medbridge.training.grpo_care import answer_span_mask, care_bonus
from medbridge.training.rewards import accuracy_reward, format_reward

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "training" / "configs"


def _cfg(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_unknown_config_key_names_the_file_and_the_closest_key(tmp_path):
    path = _cfg(tmp_path, "model: m\noutput_dir: o\nlearnig_rate: 1e-5\ndata: {datasets: [breast]}\nbf16: false\n")
    with pytest.raises(ConfigError, match=r"unknown key 'learnig_rate' \(did you mean 'learning_rate'\?\).*c\.yaml"):
        load_config(path, "sft")
    path = _cfg(tmp_path, "model: m\noutput_dir: o\ndata: {datasets: [breast], limt: 3}\nbf16: false\n")
    with pytest.raises(ConfigError, match=r"unknown key 'data.limt' \(did you mean data.'limit'\?\)"):
        load_config(path, "sft")
    with pytest.raises(ConfigError, match=r"unknown key 'care_margin'"):  # a GRPO-CARE key in an SFT config
        load_config(_cfg(tmp_path, "model: m\noutput_dir: o\ndata: {datasets: [breast]}\ncare_margin: 0\nbf16: false\n"), "sft")


def test_config_include_overrides_and_yaml_1_2_scalars(tmp_path):
    (tmp_path / "base.yaml").write_text("model: m\noutput_dir: o\nbf16: false\ndata: {datasets: [breast], limit: 8}\nlearning_rate: 1e-4\n")
    path = _cfg(tmp_path, "include: base.yaml\nlearning_rate: 3e-6\nsave_strategy: no\ndata: {split: val}\n")
    config = load_config(path, "grpo", ["data.limit=16", "care_margin=0", "use_care=false"])
    assert config.learning_rate == 3e-6 and config.save_strategy == "no"  # `no` stays a string, 3e-6 a number
    assert config.data_config == DataConfig(datasets=["breast"], split="val", limit=16)
    assert (config.care_margin, config.use_care, config.loss_type, config.beta, config.num_generations) == (0, False, "grpo", 0.0, 8)
    assert config.config_files == [str(tmp_path / "base.yaml"), str(path)]
    with pytest.raises(ConfigError, match="only KEY or data.KEY"):
        load_config(path, "grpo", ["a.b.c=1"])


def test_shipped_configs_load_with_their_documented_values():
    sft = load_config(CONFIGS / "tiny_sft.yaml", "sft", ["model=m"])
    assert sft.data_config.datasets == ["pneumonia"] and sft.data_config.balanced and sft.completion_only_loss is None
    care = load_config(CONFIGS / "tiny_grpo_care.yaml", "grpo", ["model=m"])
    assert (care.num_generations, care.care_bonus_coefficient, care.care_ema_decay, care.care_ema_every, care.beta) == (8, 0.5, 0.995, 10, 0.0)
    for name in sorted(p.name for p in CONFIGS.glob("*.yaml") if not p.name.startswith("_")):
        kind = "sft" if name.endswith("_sft.yaml") and not name.startswith("rq3_") else "grpo"
        load_config(CONFIGS / name, kind, ["bf16=false"])  # every paper config is valid (bf16 is for GPUs)


def test_accuracy_reward_is_the_evaluation_grader_object():
    from medbridge.harness import answers
    from medbridge.harness.lmms import hooks as mcq_hooks
    from medbridge.training import rewards

    assert rewards.GRADER is answers.grade is mcq_hooks.grade


@pytest.mark.parametrize(
    "completion,acc,fmt",
    [
        ("<think>round opacity</think><answer>B</answer>", 1.0, 1.0),
        ("<think>x</think>\n<answer> B </answer>", 1.0, 1.0),
        ("<think>x</think><answer>A</answer>", 0.0, 1.0),
        ("<think>x</think><answer></answer>", 0.0, 0.0),  # empty answer: neither reward
        ("<think>x</think><answer>A</answer><answer>B</answer>", 0.0, 0.0),  # hedging over two blocks
        ("<think>x</think><answer>B</answer> and also <answer>B</answer>", 0.0, 0.0),
        ("The answer is B", 0.0, 0.0),  # outside the tags
        ("<think>B</think>", 0.0, 0.0),
        ("<answer>B</answer>", 1.0, 0.0),  # correct, but no think block
        ("<think>a</think><think>b</think><answer>B</answer>", 1.0, 0.0),  # two think blocks
        ("<think>x</think><answer>B</answer> trailing text", 1.0, 0.0),
    ],
)
def test_rewards_close_the_known_hacks(completion, acc, fmt):
    messages = [[{"role": "assistant", "content": completion}]]
    assert accuracy_reward(messages, options=[["normal", "pneumonia"]], answer=["B"]) == [acc]
    assert format_reward(messages) == [fmt]


def test_care_bonus_matches_a_hand_computation():
    # group 1: three correct (consistency .9, .5, .99 -> clipped .95); mean acc .75, S = the three
    #   reference = (.9 + .5 + .95) / 3 = .78333; margin .01 -> threshold .77333: .9 and .95 pass
    # group 2: nobody correct -> S empty -> no bonus; group 3: one correct -> always gets it
    acc = torch.tensor([[1.0, 1.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
    consistency = torch.tensor([[0.9, 0.5, 0.99, 0.99], [0.9, 0.9, 0.9, 0.9], [0.2, 0.01, 0.3, 0.4]])
    bonus = care_bonus(acc, consistency, coefficient=0.5, margin=0.01, clip=0.95)
    assert bonus.tolist() == [[0.5, 0.0, 0.0, 0.5], [0.0, 0.0, 0.0, 0.0], [0.0, 0.5, 0.0, 0.0]]
    # margin 0: the threshold is the reference itself (.78333): still .9 and .95
    assert care_bonus(acc[:1], consistency[:1], coefficient=1.0, margin=0.0, clip=0.95).tolist() == [[1.0, 0.0, 0.0, 1.0]]
    # a wide margin lets the least consistent correct answer in too
    assert care_bonus(acc[:1], consistency[:1], coefficient=0.5, margin=0.5, clip=0.95).tolist() == [[0.5, 0.5, 0.0, 0.5]]


def test_answer_span_found_by_character_offsets_across_merged_tags():
    pieces = ["<think>", "x", "</", "think", "><", "answer", ">B", "</answer>", "<|im_end|>"]
    assert answer_span_mask(pieces) == [False, False, False, False, False, False, True, False, False]
    assert answer_span_mask(["<answer>", "A", "</answer>", "<answer>", " C", " "]) == [False] * 4 + [True, True]  # last, unclosed
    assert answer_span_mask(["<think>", "no answer"]) == [False, False]


def test_balanced_draw_equalises_classes_and_oversamples_only_when_asked():
    from medbridge.harness.sources import MCQDoc
    from medbridge.training.data import balanced_draw, data_fingerprint

    docs = [MCQDoc(id=f"d{i}", images=[], question="q", options=["normal", "pneumonia"], answer="B" if i % 10 else "A", modality="x", source="s") for i in range(100)]
    plain = balanced_draw(docs, None, seed=0)
    assert data_fingerprint(plain)["by_answer"] == {"normal": 10, "pneumonia": 10} and len({d.id for d in plain}) == 20
    big = balanced_draw(docs, 60, seed=0)
    assert data_fingerprint(big)["by_answer"] == {"normal": 30, "pneumonia": 30}
    assert data_fingerprint(big)["unique"] < 60  # the 10 normal rows were drawn with replacement
    assert [d.id for d in balanced_draw(docs, 60, seed=0)] == [d.id for d in big]  # seeded


def test_jsonl_docs_with_reference_completions(tmp_path):
    from medbridge.harness.errors import CorruptDataError
    from medbridge.training.data import read_jsonl_docs, sft_target
    from PIL import Image

    Image.new("RGB", (28, 28)).save(tmp_path / "a.png")
    good = '{"id": "q1", "question": "Which?", "options": ["x", "y"], "answer": "B", "images": ["a.png"], "completion": "<think>y it is</think><answer>B</answer>"}'
    (tmp_path / "d.jsonl").write_text(good + "\n" + good.replace('"q1"', '"q2"').replace(', "completion": "<think>y it is</think><answer>B</answer>"', "") + "\n")
    docs = read_jsonl_docs(tmp_path / "d.jsonl")
    assert [sft_target(d, "") for d in docs] == ["<think>y it is</think><answer>B</answer>", "<think></think><answer>B</answer>"]
    (tmp_path / "bad.jsonl").write_text(good.replace("<answer>B</answer>", "<answer>A</answer>") + "\n")
    with pytest.raises(CorruptDataError, match=r"reference completion does not grade as its own answer.*bad.jsonl line 1"):
        read_jsonl_docs(tmp_path / "bad.jsonl")
    (tmp_path / "empty_opt.jsonl").write_text(good.replace('["x", "y"]', '["x", " "]') + "\n")
    with pytest.raises(CorruptDataError, match="empty option text"):
        read_jsonl_docs(tmp_path / "empty_opt.jsonl")
