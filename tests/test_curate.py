"""RL training data: the modality-balanced subset (``data balance``) on a PMC-VQA-format copy,
with a labels file and with the tiny model as classifier, and pass-rate selection
(``data passrate``) from real sample logs; both written as MCQ-doc JSONL that training reads."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from medbridge.harness.errors import ConfigError, RecordError
from vqa_fixtures import jpeg

# (figure, question, options A-D, answer letter, modality label in the labels file)
PMC_ROWS = [
    ("F1.jpg", "Which organ shows the lesion?", ["Liver", "Spleen", "Kidney", "Lung"], "A", "CT"),
    ("F2.jpg", "What is enlarged?", ["Heart", "Liver", "Aorta", "Colon"], "C", "ct"),
    ("F3.jpg", "Which sequence is shown?", ["T1", "T2", "FLAIR", "DWI"], "B", "MRI"),
    ("F4.jpg", "Where is the tumour?", ["Frontal", "Parietal", "Occipital", "Temporal"], "D", "<answer>MRI</answer>"),
    ("F5.jpg", "What is seen in the lung?", ["Nodule", "Effusion", "Mass", "Nothing"], "A", "X-ray"),
    ("F6.jpg", "Which stain is used?", ["H&E", "PAS", "Gram", "Giemsa"], "A", "PET"),
    ("F7.jpg", "What does the figure show?", ["A chart", "A map", "A gel", "A plot"], "D", "none"),
    ("F8.jpg", "Which vessel is occluded?", ["ACA", "MCA", "PCA", "Basilar"], "B", "Computed tomography"),
    ("F9.jpg", "Which lobe is affected?", ["Upper", "Middle", "Lower", "None"], "C", "CT."),
    ("F10.jpg", "What is the signal?", ["High", "Low", "Mixed", "None"], "A", "magnetic resonance imaging"),
]


def pmc_vqa_copy(root: Path, split: str) -> Path:
    """PMC-VQA's release layout: <split>_2.csv + images_2/ (the reader's v2 files)."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / f"{split}_2.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["Figure_path", "Question", "Answer", "Choice A", "Choice B", "Choice C", "Choice D", "Answer_label"])
        for fig, question, options, answer, _ in PMC_ROWS:
            writer.writerow([fig, question, options["ABCD".index(answer)], *(f" {c}:{o}" for c, o in zip("ABCD", options)), answer])
    for i, (fig, *_) in enumerate(PMC_ROWS):
        jpeg(root / "images_2" / fig, 20 * i)
    return root


def labels_file(path: Path, split: str) -> Path:
    rows = [{"id": f"pmc_vqa/{split}/{i:05d}", "label": row[4]} for i, row in enumerate(PMC_ROWS)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def pmc_copy(tmp_path, monkeypatch):
    root = pmc_vqa_copy(tmp_path / "pmc", "test")
    monkeypatch.setenv("MEDBRIDGE_DATA_PMC_VQA", str(root))
    return root


# ---- the parser and the draw ----

@pytest.mark.parametrize(
    ("answer", "label", "off_list"),
    [("CT", "CT", False), (" ct. ", "CT", False), ("<answer>MRI</answer>", "MRI", False), ("X-ray", "X-ray", False), ("xray", "X-ray", False),
     ("Computed tomography", "CT", False), ("none", "none", False), ("The modality is CT.", "none", True), ("PET", "none", True), ("", "none", True),
     ("CT or MRI", "none", True)],
)
def test_label_parser_takes_only_listed_categories(answer, label, off_list):
    from medbridge.harness.curate.balance import load_template

    assert load_template().parse(answer) == (label, off_list)


def test_balanced_draw_fills_small_categories_first_and_is_seeded():
    from medbridge.harness.curate.balance import balanced_subset

    labels = {f"c{i}": "CT" for i in range(10)} | {f"m{i}": "MRI" for i in range(4)} | {"x0": "X-ray", "n0": "none"}
    ids, drawn = balanced_subset(labels, ["MRI", "CT", "X-ray", "OCT"], size=8, seed=0)
    assert drawn == {"MRI": 4, "CT": 3, "X-ray": 1, "OCT": 0}  # 8 / 3 -> 2 each, X-ray gives its 1, the rest shared
    assert len(ids) == len(set(ids)) == 8 and "n0" not in ids
    assert balanced_subset(labels, ["MRI", "CT", "X-ray", "OCT"], size=8, seed=0)[0] == ids
    assert balanced_subset(labels, ["MRI", "CT", "X-ray"], size=100, seed=0)[1] == {"MRI": 4, "CT": 10, "X-ray": 1}  # everything there is


# ---- data balance ----

def test_balance_from_a_labels_file_writes_jsonl_that_training_reads(pmc_copy, tmp_path):
    from medbridge.harness.curate.balance import run_balance
    from medbridge.training.data import read_jsonl_docs

    out = tmp_path / "pmc_vqa_6"
    card = run_balance("pmc_vqa", out, split="test", labels=str(labels_file(tmp_path / "labels.jsonl", "test")), size=6, seed=0, say=lambda _: None)
    assert card["label_counts"] == {"MRI": 3, "CT": 4, "ultrasound": 0, "X-ray": 1, "microscopy": 0, "dermatology": 0, "OCT": 0, "none": 2}
    assert card["off_list"] == 1  # "PET": refused, counted, labelled none
    assert card["drawn"] == {"MRI": 3, "CT": 2, "ultrasound": 0, "X-ray": 1, "microscopy": 0, "dermatology": 0, "OCT": 0}
    assert card["labels_file"].endswith("labels.jsonl") and card["prompt"].startswith("This image is a figure")
    docs = read_jsonl_docs(out / "pmc_vqa_6.jsonl")
    assert len(docs) == 6 and sorted(d.modality for d in docs) == ["CT", "CT", "MRI", "MRI", "MRI", "X-ray"]
    by_question = {row[1]: row for row in PMC_ROWS}
    for doc in docs:
        _, _, options, answer, _ = by_question[doc.question]
        assert (doc.options, doc.answer, doc.images[0].size) == (options, answer, (32, 32))
    assert json.loads((out / "balance_card.json").read_text()) == card


def test_balance_with_the_tiny_model_as_classifier_is_cached_and_resumes(pmc_copy, tmp_path, tiny_model):
    from medbridge.harness.curate.balance import run_balance

    out = tmp_path / "tiny_labels"
    card = run_balance("pmc_vqa", out, split="test", classifier=str(tiny_model), size=4, seed=0, keep_none=True, batch_size=4, max_new_tokens=24, say=lambda _: None)
    # the tiny model answers in the MCQ format (<answer>B</answer>), never a category: every answer off-list
    assert card["off_list"] == card["labelled"] == 10 and card["label_counts"]["none"] == 10
    assert card["drawn"]["none"] == 4 and card["classified_now"] == 10 and card["classifier_fingerprint"].startswith("sha256:")
    cache = (out / "labels.jsonl").read_text().splitlines()
    assert len(cache) == 10 and all(json.loads(ln)["off_list"] for ln in cache)
    # killed mid-write: three whole lines and a cut one; the rerun classifies only the seven missing
    (out / "labels.jsonl").write_text("\n".join(cache[:3]) + "\n" + cache[3][:12])
    again = run_balance("pmc_vqa", out, split="test", classifier=str(tiny_model), size=4, seed=0, keep_none=True, batch_size=4, max_new_tokens=24, say=lambda _: None)
    assert (again["from_cache"], again["classified_now"]) == (3, 7) and again["ids_sha256"] == card["ids_sha256"]
    # another prompt is another classification: the cache is refused
    template = tmp_path / "other.yaml"
    from medbridge.harness.curate.balance import TEMPLATE

    template.write_text(TEMPLATE.read_text().replace("Reply with the category name only.", "Reply with one word."))
    with pytest.raises(ConfigError, match="holds labels of another run .prompt_sha differ"):
        run_balance("pmc_vqa", out, split="test", classifier=str(tiny_model), template=str(template), size=4, say=lambda _: None)
    with pytest.raises(ConfigError, match="no question is labelled with a category"):
        run_balance("pmc_vqa", tmp_path / "x", split="test", labels=str(_all_none(tmp_path)), size=4, say=lambda _: None)


def _all_none(tmp_path: Path) -> Path:
    path = tmp_path / "none.csv"
    path.write_text("id,label\n" + "".join(f"pmc_vqa/test/{i:05d},unsure\n" for i in range(len(PMC_ROWS))))
    return path


def test_balance_reads_pmc_vqa_train_split_through_the_registry(tmp_path, monkeypatch):
    from medbridge.harness.curate.balance import run_balance
    from medbridge.harness.sources import vqa

    if "train" not in getattr(vqa, "SPLITS", {}).get("pmc_vqa", ()):
        pytest.skip("this checkout's VQA readers serve test splits only (train splits come with the VQA split change)")
    root = pmc_vqa_copy(tmp_path / "pmc", "train")
    monkeypatch.setenv("MEDBRIDGE_DATA_PMC_VQA", str(root))
    card = run_balance("pmc_vqa", tmp_path / "out", labels=str(labels_file(tmp_path / "l.jsonl", "train")), size=6, say=lambda _: None)
    assert card["split"] == "train" and card["written"] == 6


def test_balance_cli_errors_are_one_line(pmc_copy, tmp_path, capsys):
    from medbridge.harness.cli.main import main

    assert main(["data", "balance", "pmc_vqa", "--labels", str(tmp_path / "missing.csv"), "--output", str(tmp_path / "o"), "--split", "test"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "labels file not found" in err[0]


# ---- data passrate ----

@pytest.fixture(scope="module")
def sampled(tiny_model, sample_root, tmp_path_factory):
    """The tiny model sampled 4 times per question on PneumoniaMNIST's train split (the --model path)."""
    from medbridge.harness.curate.passrate import sample_and_rate

    out = tmp_path_factory.mktemp("passrate")
    folder = sample_and_rate(str(tiny_model), ["medmnist_pneumonia_passk"], out, split="train", n=4, data_root=str(sample_root), size=28, per_class=3)
    return out, folder


def test_pass_rates_are_the_graded_samples_of_each_question(sampled):
    from medbridge.harness.answers import grade
    from medbridge.harness.curate.passrate import rates

    _, folder = sampled
    rows = rates(folder)
    assert len(rows) == 6 and all(r["n"] == 4 and r["doc"].meta["split"] == "train" for r in rows)
    logs = [json.loads(ln) for ln in next(folder.rglob("*_samples_medmnist_pneumonia_train_n4_passk.jsonl")).read_text().splitlines()]
    for row, log in zip(rows, sorted(logs, key=lambda s: s["doc_id"])):
        correct = sum(grade(text, row["doc"].options, row["doc"].answer).correct for text in log["filtered_resps"])
        assert (row["correct"], row["pass_rate"]) == (correct, correct / 4)
        assert row["bucket"] == ("never" if correct == 0 else "always" if correct == 4 else "sometimes")


def test_passrate_subset_is_jsonl_a_training_config_can_name(sampled, tmp_path, capsys):
    from medbridge.harness.cli.main import main
    from medbridge.harness.curate.passrate import rates
    from medbridge.training.config import load_config
    from medbridge.training.data import training_docs

    _, folder = sampled
    assert main(["data", "passrate", "--from", str(folder), "--output", str(tmp_path / "sel"), "--max", "0.99"]) == 0
    report = json.loads((tmp_path / "sel" / "passrate.rates.json").read_text())
    expected = [r for r in rates(folder) if 0 < r["pass_rate"] < 0.99]
    assert report["kept"] == len(expected) and report["questions"] == 6
    assert report["never"] + report["sometimes"] + report["always"] == 6
    assert sum(report["by_task"]["medmnist_pneumonia_train_n4_passk"]["histogram"]) == 6
    assert f"kept {len(expected)} with 0 < pass rate < 0.99" in capsys.readouterr().err
    if not expected:
        return
    config = tmp_path / "rl.yaml"
    config.write_text(f"model: {folder}\noutput_dir: {tmp_path / 'run'}\ndata: {{source: jsonl, datasets: [{tmp_path / 'sel' / 'passrate.jsonl'}], balanced: false, monitor_split: null}}\n")
    docs = training_docs(load_config(config, "grpo").data_config)
    assert sorted(d.id for d in docs) == sorted(r["doc"].id for r in expected)
    assert all(0 < d.meta["pass_rate"] < 0.99 and d.meta["pass_n"] == 4 for d in docs)


def test_passrate_refuses_logs_that_do_not_match_the_data_read_now(sampled, tmp_path):
    import shutil

    from medbridge.harness.curate.passrate import rates

    folder = tmp_path / "eval"
    shutil.copytree(sampled[1], folder)
    record = next((folder / "records").glob("*.json"))
    data = json.loads(record.read_text())
    data["data"]["per_class"] = 2  # as if the questions were read with other settings now
    record.write_text(json.dumps(data))
    with pytest.raises(RecordError, match="4 questions read now, 6 evaluated"):
        rates(folder)


def test_label_cache_drops_a_line_cut_by_a_kill_and_leaves_a_whole_file_untouched(tmp_path):
    from medbridge.harness.curate.balance import LabelCache

    meta = {"classifier_fingerprint": "sha256:x", "prompt_sha": "p", "benchmark": "pmc_vqa", "split": "train"}
    cache = LabelCache(tmp_path, meta)
    cache.add([{"id": "a", "label": "CT", "raw": "CT", "off_list": False}, {"id": "b", "label": "MRI", "raw": "MRI", "off_list": False}])
    whole = cache.path.stat()
    assert LabelCache(tmp_path, meta).labels.keys() == {"a", "b"}
    assert cache.path.stat().st_ino == whole.st_ino and cache.path.stat().st_mtime_ns == whole.st_mtime_ns  # not rewritten
    with cache.path.open("a") as f:
        f.write('{"id": "c", "label": "X-r')  # a kill in the middle of an append
    reopened = LabelCache(tmp_path, meta)
    assert reopened.labels.keys() == {"a", "b"} and cache.path.read_text().endswith('"raw": "MRI"}\n')
    reopened.add([{"id": "c", "label": "X-ray", "raw": "X-ray", "off_list": False}])
    assert LabelCache(tmp_path, meta).labels["c"]["label"] == "X-ray"
