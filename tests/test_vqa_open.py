"""Open-ended VQA: the rows the MCQ conversion leaves out become open docs (fixtures in the real
layouts and the real files), exact match / token F1, judged scores, task YAMLs and controls."""

import json
from pathlib import Path

import pytest
import vqa_fixtures as fx
from conftest import shared_file
from judge_servers import CORRECT, ScriptedJudge, reference_judge
from medbridge.harness.errors import DataNotFoundError
from medbridge.harness.lmms import open_hooks
from medbridge.harness.sources import docs_to_dataset, get_source, vqa
from medbridge.harness.sources.vqa import locations
from medbridge.harness.sources.vqa_open import load_docs, open_items


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    for name in (*vqa.BENCHMARKS, vqa.UNIFIED):
        monkeypatch.delenv(locations.env_var(name), raising=False)
    monkeypatch.setenv("MEDBRIDGE_CACHE", str(tmp_path / "cache"))


def use(monkeypatch, benchmark, path):
    monkeypatch.setenv(locations.env_var(benchmark), str(path))


def test_vqa_rad_open_task_holds_exactly_the_rows_the_mcq_task_leaves_out(monkeypatch, tmp_path):
    use(monkeypatch, "vqa_rad", fx.vqa_rad_release(tmp_path / "vqa_rad"))
    docs = get_source("vqa_open")("vqa_rad", "test")
    mcq_ids = {d.id for d in vqa.load_docs("vqa_rad", "test")}
    assert {d.id for d in docs} == {"vqa_rad/test/3", "vqa_rad/test/4"} and not mcq_ids & {d.id for d in docs}
    left, modality = {d.id: d for d in docs}["vqa_rad/test/3"], {d.id: d for d in docs}["vqa_rad/test/4"]
    assert (left.answer, left.answer_type, left.question) == ("left", "closed", "Left or right?")
    assert (modality.answer, modality.answer_type, modality.meta["question_type"]) == ("MRI", "open", "MODALITY")
    assert modality.images[0].size == (32, 32) and modality.source == "vqa_rad" and modality.modality == "radiology"
    _, counts = open_items("vqa_rad", "test")
    assert counts == {"benchmark": "vqa_rad", "rows": 4, "open": 1, "closed_not_yes_no": 1, "left_out": {"multiple choice (scored by the MCQ task)": 2}, "protocol": "full", "used": 2, "source_split": "test"}
    table = docs_to_dataset(docs)
    assert table.column_names == ["id", "images", "question", "answer", "answer_type", "modality", "source", "meta"] and len(table) == 2


def test_slake_and_pathvqa_open_rows(monkeypatch, tmp_path):
    use(monkeypatch, "slake", fx.slake_release(tmp_path / "slake"))
    use(monkeypatch, "pathvqa", fx.pathvqa_release(tmp_path / "pathvqa"))
    slake = load_docs("slake", "test")
    assert sorted((d.answer, d.answer_type, d.modality) for d in slake) == [("Lung", "closed", "X-Ray"), ("X-Ray", "open", "X-Ray")]
    path = load_docs("pathvqa", "paper")
    assert [(d.id, d.answer, d.answer_type) for d in path] == [("pathvqa/test/00001", "fibrosis", "open")]


def test_only_three_benchmarks_have_open_tasks_and_the_unified_copy_has_none(monkeypatch, tmp_path):
    with pytest.raises(DataNotFoundError, match="pmc_vqa has no open-ended questions"):
        open_items("pmc_vqa")
    rows = [{"dataset_name": "vqa_rad_closed", "dataset_index": 0, "question": "Is it?", "options": json.dumps({"A": "yes", "B": "no"}), "answer_label": "A", "answer": "yes", "images": [{"bytes": fx.png_bytes(), "path": None}], "misc": "{}", "hash": "h"}]
    fx.hf_rows_to_parquet(rows, tmp_path / "unified" / "test-00000-of-00001.parquet", image_columns=(), image_lists=("images",))
    monkeypatch.setenv(locations.env_var(vqa.UNIFIED), str(tmp_path / "unified"))
    with pytest.raises(DataNotFoundError, match="holds only multiple-choice questions"):
        open_items("vqa_rad")


def test_real_vqa_rad_open_set_is_the_200_rows_left_out_of_the_mcq_task(monkeypatch):
    use(monkeypatch, "vqa_rad", shared_file("vqa_rad", "testset_full_451.json"))
    items, counts = open_items("vqa_rad", "test")
    assert (counts["rows"], counts["open"], counts["closed_not_yes_no"], len(items)) == (451, 179, 21, 200)
    paper, _ = open_items("vqa_rad", "paper")
    assert len(paper) == 200  # min(200, n)


def test_real_vqa_rad_images_give_loaded_open_docs(monkeypatch):
    use(monkeypatch, "vqa_rad", shared_file("vqa_rad", "testset_sample_25img.json"))
    docs = load_docs("vqa_rad", "test")
    assert len(docs) == 53 - 26 and all(d.images[0].size[0] > 100 for d in docs)  # 26 of its rows are yes/no MCQs


def test_real_slake_open_set_counts(monkeypatch):
    use(monkeypatch, "slake", shared_file("slake", "test.json").parent)
    items, counts = open_items("slake", "test")
    assert (counts["rows"], counts["open"], counts["closed_not_yes_no"], len(items)) == (1061, 645, 61, 706)
    assert len(open_items("slake", "paper")[0]) == 200


def test_exact_match_and_token_f1_use_the_vqa_answer_normalisation():
    assert open_hooks.exact_match("The Left Lung.", "left lung") == 1.0
    assert open_hooks.exact_match("two", "2") == 1.0 and open_hooks.exact_match("lung", "left lung") == 0.0
    assert open_hooks.exact_match(None, "x") == 0.0
    assert open_hooks.token_f1("left upper lobe", "left lobe") == pytest.approx(2 * (2 / 3) * 1.0 / (2 / 3 + 1.0))
    assert open_hooks.token_f1("the right kidney", "left kidney") == pytest.approx(0.5)  # articles dropped
    assert open_hooks.token_f1("brain", "liver") == 0.0 and open_hooks.token_f1(None, "liver") == 0.0
    assert open_hooks.tagged_answer("<think>hm</think><answer> left  lung </answer>") == "left lung"
    assert open_hooks.tagged_answer("<answer> </answer>") is None and open_hooks.tagged_answer("left lung") is None


def open_doc(answer="left lung"):
    return {"id": "vqa_rad/test/9", "question": "Where is the mass?", "answer": answer, "answer_type": "open", "modality": "radiology", "source": "vqa_rad", "meta": json.dumps({"question_type": "POS"})}


def test_open_answers_are_judged_against_the_reference_with_exact_match_beside(monkeypatch, tmp_path):
    monkeypatch.setenv("MEDBRIDGE_JUDGE_CACHE", str(tmp_path / "j.sqlite"))
    monkeypatch.setenv("MEDBRIDGE_JUDGE_MODEL", "judge")
    with ScriptedJudge(default=lambda body: CORRECT if "<<<\nthe left lung\n>>>" in body["messages"][0]["content"] else reference_judge(body)) as server:
        monkeypatch.setenv("MEDBRIDGE_JUDGE_BASE_URL", server.url)
        samples = ["<answer>the left lung</answer>", "<answer>left lung</answer>", "<answer>right lung</answer>", "no tag at all"]
        out = open_hooks.passk_results(open_doc(), samples)
        assert out["sample_acc"] == 0.5 and out["pass@1"] == 0.5 and out["pass@4"] == 1.0
        assert out["exact_match"] == 0.5  # "the left lung" normalises to the reference
        assert out["no_answer_rate"] == 0.25 and out["token_f1"] == pytest.approx((1 + 1 + 0.5 + 0) / 4)
        entry = out["judge"]
        assert entry["reference"] == "exact_match" and entry["template"].startswith("judge_open.jinja@") and entry["sent"] == 4
        assert entry["pairs"] == [[True, True], [True, True], [False, False], [False, False]]
        prompt = server.requests[0]["messages"][0]["content"]
        assert "Reference answer: left lung" in prompt and "Where is the mass?" in prompt
        greedy = open_hooks.greedy_results(open_doc(), ["<answer>Left lung.</answer>"])
        assert greedy["acc@1"] == 1.0 and greedy["exact_match"] == 1.0 and set(greedy["by_question_type"]["scores"]) == {"acc@1", "exact_match", "token_f1", "no_answer_rate"}


def test_open_prompt_asks_for_a_short_answer_in_the_tag():
    text = open_hooks.doc_to_text(open_doc())
    assert text.startswith("Where is the mass?\n\n") and "<answer>left lung</answer>" in text and "Options" not in text


def plain(value):
    """A YAML config read in lmms-eval's simple mode, with ``!function`` nodes as their names."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return getattr(value, "value", value)


def test_open_and_noimage_task_yamls_pass_the_key_check_and_inherit_the_right_settings():
    from medbridge.harness import controls
    from medbridge.harness.lmms.discovery import tasks_dir
    from medbridge.harness.lmms.task_index import check_yaml_keys, load_yaml

    folder = tasks_dir()
    files = sorted((folder / "vqa_open").glob("[!_]*.yaml")) + sorted((folder / "vqa").glob("*noimage.yaml"))
    assert len(files) == 12 + 4 + 6 + 1
    configs = {}
    for path in files:
        check_yaml_keys(str(path))
        config = load_yaml(str(path))
        configs[config.get("task") if isinstance(config.get("task"), str) else config["group"]] = config
    for group, suffix in (("medvqa_open", "_open"), ("medvqa_open_full", "_open_full"), ("medvqa_open_passk", "_open_passk"), ("medvqa_open_full_passk", "_open_full_passk")):
        assert configs[group]["task"] == [f"{b}{suffix}" for b in ("pathvqa", "slake", "vqa_rad")]
    assert configs["medvqa_noimage"]["task"] == [f"{b}_noimage" for b in vqa.BENCHMARKS]
    passk = configs["slake_open_full_passk"]
    assert passk["repeats"] == 16 and passk["test_split"] == "test" and passk["dataset_name"] == "slake"
    assert passk["generation_kwargs"]["temperature"] == 0.7 and passk["metadata"]["judge_template"] == "judge_open.jinja"
    from medbridge.harness.lmms.task_index import task_config

    built = task_config(str(folder / "vqa_open" / "slake_open_full_passk.yaml"))  # pass@k written from repeats
    assert [m["metric"] for m in built.metric_list][:8] == ["pass@1", "pass@2", "pass@4", "pass@8", "pass@16", "sample_acc", "exact_match", "token_f1"]
    assert repr(built.process_results) == "medbridge.harness.lmms.open_hooks.passk_results(n=16)"
    assert plain(configs["vqa_rad_open"]["process_results"]) == "medbridge.harness.lmms.open_hooks.greedy_results" and configs["vqa_rad_open"]["test_split"] == "paper"
    assert json.loads(Path(configs["vqa_rad_open"]["dataset_kwargs"]["data_files"]["paper"]).read_text()) == {"medbridge_source": "vqa_open"}
    blind, seeing = plain(configs["pmc_vqa_noimage"]), plain(load_yaml(str(folder / "vqa" / "pmc_vqa.yaml")))
    assert blind.pop("doc_to_visual") == "medbridge.harness.controls.no_image" and blind.pop("task") == "pmc_vqa_noimage"
    assert blind == {k: v for k, v in seeing.items() if k not in ("task", "doc_to_visual")}  # same questions, prompt, grading
    assert controls.no_image({"images": ["an image"]}) == []
