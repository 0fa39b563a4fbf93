"""Task YAMLs: discovery, include structure, generation settings, key validation, prompt."""

import os

import pytest
from medbridge.harness.errors import ConfigError
from medbridge.harness.lmms import hooks as mcq_hooks
from medbridge.harness.lmms.discovery import _builtin_dir, merge_task_index, tasks_dir
from medbridge.harness.lmms.task_index import check_tasks, check_yaml_keys, leaf_tasks, load_yaml, resolve, task_config, task_manager
from medbridge.harness.sources.catalogue import MEDMNIST as DATASETS


@pytest.fixture(scope="module")
def manager():
    return task_manager()


def test_all_24_medmnist_tasks_and_groups_are_indexed_from_our_folder(manager):
    for name in DATASETS:
        for task in (f"medmnist_{name}", f"medmnist_{name}_passk"):
            assert manager.task_index[task]["yaml_path"].startswith(str(tasks_dir()))
    assert len(leaf_tasks("medmnist", manager)) == 12
    assert len(leaf_tasks("medmnist_passk", manager)) == 12
    assert leaf_tasks("medmnist_microscopy", manager) == ["medmnist_blood", "medmnist_path", "medmnist_tissue"]
    assert leaf_tasks("medmnist_visible_light_passk", manager) == ["medmnist_derma_passk", "medmnist_oct_passk", "medmnist_retina_passk"]


def test_passk_variant_takes_sampling_settings_and_keeps_its_dataset(manager):
    passk = load_yaml(manager.task_index["medmnist_oct_passk"]["yaml_path"])
    greedy = load_yaml(manager.task_index["medmnist_oct"]["yaml_path"])
    assert passk["task"] == "medmnist_oct_passk" and passk["dataset_name"] == "octmnist"
    assert passk["repeats"] == 16
    assert passk["generation_kwargs"] == {"until": [], "max_new_tokens": 2048, "temperature": 0.7, "top_p": 0.9, "top_k": 0, "do_sample": True}
    built = task_config(manager.task_index["medmnist_oct_passk"]["yaml_path"])  # as lmms-eval builds it
    assert built.filter_list[0]["filter"] == [{"function": mcq_hooks.AllSamples}]
    assert [m["metric"] for m in built.metric_list] == ["pass@1", "pass@2", "pass@4", "pass@8", "pass@16", "sample_acc", "no_answer_rate", "by_modality", "by_question_type", "judge_error_rate", "judge"]
    assert repr(built.process_results) == "medbridge.harness.lmms.hooks.passk_results(n=16)"
    assert built.reasoning_tags == "none"  # lmms-eval's own <think> stripping is off: the grader reads raw text
    assert greedy["generation_kwargs"]["temperature"] == 0 and "repeats" not in greedy
    assert [m["metric"] for m in greedy["metric_list"]] == ["acc@1", "no_answer_rate", "by_modality", "by_question_type", "judge_error_rate", "judge"]
    # data_files resolve against the base YAML's folder, wherever the package is installed
    assert os.path.isabs(greedy["dataset_kwargs"]["data_files"]["test"])


def test_every_shipped_yaml_passes_the_key_check(manager):
    leaves = check_tasks(["medmnist", "medmnist_passk", "medmnist_radiology", "medmnist_radiology_passk"], manager)
    assert len(leaves) == 24


def test_unknown_yaml_key_names_the_file_and_suggests(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"include: {tasks_dir() / 'medmnist' / '_medmnist.yaml'}\ntask: bad\ndataset_name: breastmnist\ngeneration_kwarg: {{}}\n")
    with pytest.raises(ConfigError) as err:
        check_yaml_keys(str(bad))
    assert "generation_kwarg" in str(err.value) and "did you mean 'generation_kwargs'" in str(err.value) and str(bad) in str(err.value)


def test_unknown_task_name_suggests_close_names(manager):
    with pytest.raises(ConfigError, match="unknown task 'medmnist_brest'.*medmnist_breast"):
        resolve(["medmnist_brest"], manager)


def test_our_task_replaces_a_builtin_of_the_same_name_but_not_a_user_include(manager):
    builtin = os.path.join(_builtin_dir(), "slake", "slake.yaml")  # lmms-eval's open-ended SLAKE group
    assert os.path.isfile(builtin)
    assert manager.task_index["slake"]["yaml_path"] == str(tasks_dir() / "vqa" / "slake.yaml")  # the live index: ours
    assert manager.task_index["slake_en"]["yaml_path"].startswith(_builtin_dir())  # untouched
    index = {
        "slake": {"type": "group", "task": -1, "yaml_path": builtin},
        "mine": {"type": "task", "yaml_path": "/home/user/tasks/mine.yaml"},
    }
    ours = {
        "slake": {"type": "task", "yaml_path": str(tasks_dir() / "vqa" / "slake.yaml")},
        "mine": {"type": "task", "yaml_path": str(tasks_dir() / "mine.yaml")},
        "medmnist_x": {"type": "task", "yaml_path": str(tasks_dir() / "x.yaml")},
    }
    merged, replaced = merge_task_index(index, ours, _builtin_dir())
    assert replaced == ["slake"]
    assert merged["slake"] is ours["slake"]
    assert merged["mine"] is index["mine"]
    assert "medmnist_x" in merged


GOLDEN_PROMPT = """What does this breast ultrasound image show?

Options:
A. malignant
B. normal, benign

First output the thinking process in <think> </think> tags, then output the final answer in <answer> </answer> tags.
IMPORTANT: In <answer>, output ONLY the single option letter, for example <answer>A</answer>."""


def test_prompt_matches_the_golden_text():
    doc = {"question": DATASETS["breast"].question, "options": ["malignant", "normal, benign"]}
    assert mcq_hooks.doc_to_text(doc) == GOLDEN_PROMPT


def test_process_results_grade_every_sample():
    doc = {"options": ["x", "y"], "answer": "B", "source": "medmnist", "modality": "radiology", "meta": "{}"}
    greedy = mcq_hooks.greedy_results(doc, ["<answer>B</answer>"])
    assert greedy == {"acc@1": 1.0, "no_answer_rate": 0.0}  # one modality per MedMNIST task: no breakdown
    samples = ["<answer>A</answer>"] * 12 + ["<answer>B</answer>"] * 2 + ["nothing"] * 2
    passk = mcq_hooks.passk_results(doc, samples)
    assert passk["sample_acc"] == 2 / 16 and passk["no_answer_rate"] == 2 / 16
    assert passk["pass@1"] == pytest.approx(0.125)
    assert passk["pass@16"] == 1.0
    assert passk["pass@2"] == pytest.approx(1 - (14 * 13) / (16 * 15))


def test_vqa_results_carry_breakdown_groups_and_aggregate_per_group():
    docs = [
        {"options": ["Yes", "No"], "answer": "A", "source": "slake", "modality": "CT", "meta": '{"question_type": "Organ"}'},
        {"options": ["Yes", "No"], "answer": "B", "source": "slake", "modality": "CT", "meta": '{"question_type": "Size"}'},
        {"options": ["Yes", "No"], "answer": "A", "source": "slake", "modality": "MRI", "meta": '{"question_type": "Organ"}'},
    ]
    outs = [mcq_hooks.greedy_results(d, [r]) for d, r in zip(docs, ["<answer>A</answer>", "<answer>A</answer>", "oops"])]
    assert outs[0]["by_modality"] == {"group": "CT", "scores": {"acc@1": 1.0, "no_answer_rate": 0.0}}
    by_modality = mcq_hooks.breakdown([o["by_modality"] for o in outs])
    assert by_modality == {"CT": {"n": 2, "acc@1": 0.5, "no_answer_rate": 0.0}, "MRI": {"n": 1, "acc@1": 0.0, "no_answer_rate": 1.0}}
    by_type = mcq_hooks.breakdown([o["by_question_type"] for o in outs])
    assert by_type["Organ"] == {"n": 2, "acc@1": 0.5, "no_answer_rate": 0.5}


def test_task_config_hash_ignores_function_addresses_and_install_location():
    from medbridge.harness.fingerprint import task_config_hash

    breakdown = mcq_hooks.breakdown  # what lmms-eval holds in process; its results file holds the repr
    live = {"process_results": breakdown, "metric_list": [{"metric": "by_modality", "aggregation": breakdown}], "dataset_kwargs": {"data_files": {"test": str(tasks_dir() / "medmnist" / "_source.jsonl")}}}
    dumped = {"process_results": "<function breakdown at 0x7f00deadbeef>", "metric_list": [{"metric": "by_modality", "aggregation": "<function breakdown at 0x7f11feedface>"}], "dataset_kwargs": {"data_files": {"test": str(tasks_dir() / "medmnist" / "_source.jsonl")}}}
    assert task_config_hash(live) == task_config_hash(dumped)
    assert task_config_hash({**dumped, "repeats": 16}) != task_config_hash(dumped)


def test_task_config_hash_ignores_where_in_the_package_a_hook_lives():
    from medbridge.harness.fingerprint import task_config_hash

    # the same Pass@K task as dumped before and after the hooks moved into harness/lmms/
    before = {"process_results": "medbridge.harness.lmms_hooks.passk_results(n=16)", "filter_list": [{"filter": [{"function": "<class 'medbridge.harness.lmms_hooks.AllSamples'>"}]}]}
    after = {"process_results": "medbridge.harness.lmms.hooks.passk_results(n=16)", "filter_list": [{"filter": [{"function": "<class 'medbridge.harness.lmms.hooks.AllSamples'>"}]}]}
    assert task_config_hash(before) == task_config_hash(after)
    assert task_config_hash(after) != task_config_hash({**after, "process_results": "medbridge.harness.lmms.hooks.passk_results(n=8)"})
