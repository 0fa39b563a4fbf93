"""Real SFT and GRPO-CARE runs on the tiny offline checkpoint (in this process, shared by the
tests through session fixtures), the checks a run makes before it starts, and the loop
train -> eval -> leaderboard with lineage read from the run card."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

pytest.importorskip("trl")

from medbridge.harness.errors import CheckpointError, ConfigError, DataNotFoundError

REPO = Path(__file__).resolve().parents[1]
SFT = str(REPO / "training" / "configs" / "tiny_sft.yaml")
CARE = str(REPO / "training" / "configs" / "tiny_grpo_care.yaml")


def _sft_overrides(tiny_model, sample_root, out) -> list[str]:
    return [f"model={tiny_model}", f"output_dir={out}", f"data.root={sample_root}", "max_steps=2", "save_steps=1",
            "logging_steps=1", "per_device_train_batch_size=4", "monitor_every=0"]


def _care_overrides(model, sample_root, out) -> list[str]:
    return [f"model={model}", f"output_dir={out}", f"data.root={sample_root}", "max_steps=2", "save_steps=1", "logging_steps=1",
            "care_ema_every=1", "learning_rate=1e-3", "monitor_every=2", "monitor_k=4", "data.monitor_limit=4",
            "monitor_max_new_tokens=16", "max_completion_length=24"]


@pytest.fixture(scope="session")
def sft_run(tiny_model, sample_root, tmp_path_factory):
    from medbridge.training.train import run

    out = tmp_path_factory.mktemp("train") / "tiny-sft"
    card = run("sft", SFT, _sft_overrides(tiny_model, sample_root, out))
    return out, card


@pytest.fixture(scope="session")
def care_run(sft_run, sample_root, tmp_path_factory):
    from medbridge.training.train import run

    out = tmp_path_factory.mktemp("train") / "tiny-care"
    card = run("grpo", CARE, _care_overrides(sft_run[0] / "model", sample_root, out))
    return out, card


def test_sft_two_steps_change_the_weights_and_write_model_and_run_card(sft_run, tiny_model):
    from safetensors.torch import load_file

    out, card = sft_run
    before, after = load_file(str(Path(tiny_model) / "model.safetensors")), load_file(str(out / "model" / "model.safetensors"))
    changed = [n for n in before if not torch.equal(before[n], after[n])]
    assert len(changed) > len(before) // 2  # LM and vision tower both learn
    on_disk = json.loads((out / "model" / "run_card.json").read_text())
    assert on_disk == card
    assert (card["stage"], card["algorithm"], card["steps"], card["trained_on"]) == ("sft", "sft", 2, ["pneumonia"])
    assert card["parent"] == Path(tiny_model).name and card["lineage"] == [Path(tiny_model).name, "tiny-sft"]
    assert card["data"]["by_answer"] == {"normal": 6, "pneumonia": 6}  # the sample's 6 train images per class
    assert card["config"]["learning_rate"] == 3e-3 and card["config"]["data"]["datasets"] == ["pneumonia"]
    assert {"trl", "transformers", "torch"} <= set(card["versions"])
    assert not (out / ".model.partial").exists()


def test_sft_supervises_only_the_answer_tokens(tiny_model, sample_root, tmp_path):
    from medbridge.training.config import load_config
    from medbridge.training.data import training_docs
    from medbridge.training.sft import build_sft_trainer
    from medbridge.training.train import _processor

    config = load_config(SFT, "sft", _sft_overrides(tiny_model, sample_root, tmp_path / "o"))
    processor = _processor(config.model, False)
    docs = training_docs(config.data_config)[:2]
    trainer = build_sft_trainer(config, processor, docs)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    tok = processor.tokenizer
    for row, doc in enumerate(docs):
        supervised = batch["labels"][row][batch["labels"][row] != -100]
        text = tok.decode(supervised)
        assert text.startswith(f"<think></think><answer>{doc.answer}</answer><|im_end|>")
        assert len(supervised) < 20 < int(batch["attention_mask"][row].sum())  # prompt, system and image tokens carry no loss


def test_training_prompt_is_the_evaluation_prompt(tiny_model, sample_root):
    """The chat turn training renders (and the monitor samples from) equals what lmms-eval
    builds for the same doc and medbridge_hf sends to the model."""
    from lmms_eval.api.task import ConfigurableMessagesTask
    from medbridge.harness.backends.base import KSampleBackend
    from medbridge.harness.lmms import hooks as mcq_hooks
    from medbridge.harness.prompt import mcq_messages
    from medbridge.harness.sources import docs_to_dataset, load_source_docs
    from medbridge.training.train import _processor

    doc = load_source_docs("medmnist", "pneumonia", "test", root=sample_root, size=28)[0]
    row = docs_to_dataset([doc])[0]
    eval_turn = ConfigurableMessagesTask._build_user_turn(mcq_hooks.doc_to_visual(row), mcq_hooks.doc_to_text(row))
    hf_messages, _ = KSampleBackend.chat_parts(eval_turn)
    processor = _processor(str(tiny_model), False)
    render = lambda m: processor.apply_chat_template(m, tokenize=False, add_generation_prompt=True)
    assert render(mcq_messages(doc.question, doc.options)) == render(hf_messages)


def test_two_grpo_care_steps_score_consistency_move_the_ema_and_keep_the_lineage(care_run, sft_run):
    out, card = care_run
    assert (card["stage"], card["algorithm"], card["steps"]) == ("rl", "grpo_care", 2)
    assert card["parent"] == "tiny-sft" and card["lineage"][-2:] == ["tiny-sft", "tiny-care"] and card["base_model"] == sft_run[1]["base_model"]
    state = json.loads((out / "checkpoints" / "checkpoint-2" / "trainer_state.json").read_text())
    logged = [e for e in state["log_history"] if "rewards/accuracy/mean" in e]
    assert len(logged) == 2 and all(0.0 < e["care/consistency/mean"] <= 1.0 for e in logged)
    assert all(e["rewards/consistency_bonus/mean"] <= 0.5 * e["rewards/accuracy/mean"] + 1e-9 for e in logged)
    index = json.loads((out / "checkpoints" / "checkpoint-2" / "ema_reference" / "index.json").read_text())
    assert (index["updates"], index["decay"], index["dtype"]) == (2, 0.995, "torch.float32")
    # the monitor ran before the first step and at step 2, on the shared sampling path
    history = card["monitor_history"]
    assert [h["step"] for h in history] == [0, 2] and all(h["n"] == 4 for h in history)
    assert all(0.0 <= h["pass@1"] <= h["pass@2"] <= h["pass@4"] <= 1.0 for h in history)
    assert any(e.get("monitor/pass@4") is not None for e in state["log_history"])


def test_vanilla_grpo_is_the_same_trainer_without_the_bonus(sft_run, sample_root, tmp_path):
    from medbridge.training.train import run

    card = run("grpo", CARE, [*_care_overrides(sft_run[0] / "model", sample_root, tmp_path / "g"), "use_care=false", "max_steps=1", "monitor_every=0"])
    state = json.loads((tmp_path / "g" / "checkpoints" / "checkpoint-1" / "trainer_state.json").read_text())
    assert card["algorithm"] == "grpo" and not any("consistency" in k for e in state["log_history"] for k in e)
    assert not (tmp_path / "g" / "checkpoints" / "checkpoint-1" / "ema_reference").exists()


def test_bad_input_is_refused_before_any_model_is_built(tiny_model, sample_root, tmp_path, sft_run):
    from medbridge.training.train import prepare

    base = _sft_overrides(tiny_model, sample_root, tmp_path / "o")
    with pytest.raises(CheckpointError, match="checkpoint path does not exist"):
        prepare("sft", SFT, [*base, f"model={tmp_path / 'nope'}"])
    with pytest.raises(DataNotFoundError, match="unknown split"):
        prepare("sft", SFT, [*base, "data.split=training"])
    with pytest.raises(DataNotFoundError, match="data root does not exist"):
        prepare("sft", SFT, [*base, f"data.root={tmp_path / 'no-data'}"])
    with pytest.raises(DataNotFoundError, match="not found"):
        prepare("sft", SFT, [*base, "data.size=64"])  # the sample is 28 px only
    with pytest.raises(ConfigError, match="not a multiple of num_generations=8"):
        prepare("grpo", CARE, [*_care_overrides(tiny_model, sample_root, tmp_path / "g"), "per_device_train_batch_size=6"])
    with pytest.raises(ConfigError, match="no complete checkpoint to resume from"):
        prepare("sft", SFT, base, resume=True)
    with pytest.raises(ConfigError, match="already holds a run"):
        prepare("sft", SFT, [*base, f"output_dir={sft_run[0]}"])
    no_template = tmp_path / "no-template"
    shutil.copytree(tiny_model, no_template)
    (no_template / "chat_template.jinja").unlink()
    for name in ("tokenizer_config.json", "processor_config.json"):
        cfg = json.loads((no_template / name).read_text())
        cfg.pop("chat_template", None)
        (no_template / name).write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="no chat template"):
        prepare("sft", SFT, [*base, f"model={no_template}"])


def test_eval_of_a_trained_checkpoint_carries_its_lineage_into_the_leaderboard(care_run, sft_run, sample_root, tmp_path):
    """Done means: train sft -> train grpo -> medbridge eval -> leaderboard add with lineage from
    the run card -> the RL row shows its delta against its SFT parent."""
    from medbridge.harness.leaderboard import add_output, build
    from medbridge.harness.lmms.evaluation import evaluate

    root = tmp_path / "lb"
    for run_dir, name in ((sft_run[0], "tiny-sft"), (care_run[0], "tiny-care")):
        records = evaluate(str(run_dir / "model"), ["medmnist_pneumonia"], tmp_path / name, data_root=str(sample_root), size=28,
                           gen_kwargs="max_new_tokens=16", device="cpu")
        assert records[0]["model"]["display_name"] == name and records[0]["training"]["lineage"][-1] == name
        add_output(tmp_path / name, root)
    files = sorted((root / "results").rglob("*.json"))
    child = next((json.loads(f.read_text()) for f in files if json.loads(f.read_text())["model"]["display_name"] == "tiny-care"), None)
    assert child is not None, [str(f) for f in files]
    assert (child["model"]["parent"], child["model"]["stage"], child["model"]["trained_on"]) == ("tiny-sft", "rl", ["pneumonia"])
    build(root)
    page = (root / "medmnist_acc1.md").read_text()
    row = next(line for line in page.splitlines() if "tiny-care" in line)
    assert "RL of tiny-sft" in row and "Δ" in row, row


def _weights(folder: Path) -> dict:
    from transformers import AutoModelForImageTextToText

    return {k: v.clone() for k, v in AutoModelForImageTextToText.from_pretrained(str(folder)).state_dict().items()}


def test_resume_loads_the_checkpoint_weights_through_the_model_key_mapping(sft_run, tiny_model, tmp_path):
    from medbridge.training.checkpoints import load_checkpoint_weights
    from safetensors.torch import load_file, save_file
    from transformers import AutoModelForImageTextToText

    checkpoint = sft_run[0] / "checkpoints" / "checkpoint-2"  # step 1 ran at warm-up lr 0
    saved = load_file(str(checkpoint / "model.safetensors"))
    assert any(k.startswith("visual.") for k in saved)  # hub layout on disk, not the module layout
    model = AutoModelForImageTextToText.from_pretrained(tiny_model)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    load_checkpoint_weights(model, checkpoint)
    expected, now = _weights(checkpoint), model.state_dict()
    assert set(now) == set(expected)
    assert all(torch.equal(now[k], expected[k]) for k in expected)
    assert sum(not torch.equal(now[k], initial[k]) for k in now) > len(now) // 2  # really the trained weights
    partial = tmp_path / "partial"
    partial.mkdir()
    save_file({k: v for k, v in saved.items() if not k.startswith("visual.")}, str(partial / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ConfigError, match=r"checkpoint weights do not match the model \(\d+ missing, e.g. \['model.visual"):
        load_checkpoint_weights(model, partial)


def test_resume_of_a_finished_run_trains_no_extra_step(sft_run, tiny_model, sample_root, tmp_path):
    from medbridge.training.train import run

    out = tmp_path / "tiny-sft"
    shutil.copytree(sft_run[0] / "checkpoints", out / "checkpoints")  # killed after its last checkpoint, before model/
    card = run("sft", SFT, [*_sft_overrides(tiny_model, sample_root, out)], resume=True)
    assert card["steps"] == 2 and card["resumed_from"][0].endswith("checkpoint-2")
    final, last = _weights(out / "model"), _weights(sft_run[0] / "checkpoints" / "checkpoint-2")
    assert all(torch.equal(final[k], last[k]) for k in last)
