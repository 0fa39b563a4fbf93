"""The six VQA benchmarks: every real layout -> the right MCQ docs; real files; bad input."""

from collections import Counter

import pytest
import vqa_fixtures as fx
from conftest import shared_file
from medbridge.harness.errors import ConfigError, CorruptDataError, DataNotFoundError
from medbridge.harness.sources import vqa
from medbridge.harness.sources.vqa import locations


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    for name in (*vqa.BENCHMARKS, vqa.UNIFIED):
        monkeypatch.delenv(locations.env_var(name), raising=False)
    monkeypatch.setenv("MEDBRIDGE_CACHE", str(tmp_path / "cache"))


def use(monkeypatch, benchmark, path):
    monkeypatch.setenv(locations.env_var(benchmark), str(path))


def test_vqa_rad_release_json_keeps_yes_no_and_counts_the_rest(monkeypatch, tmp_path):
    use(monkeypatch, "vqa_rad", fx.vqa_rad_release(tmp_path / "vqa_rad"))
    items, report = vqa.mcq_items("vqa_rad", "test")
    assert report.rows == 4 and report.mcq == 2
    assert report.left_out == {"closed, not yes/no": 1, "open question": 1}
    docs = vqa.load_docs("vqa_rad", "test")
    by_id = {d.id: d for d in docs}
    mass = by_id["vqa_rad/test/1"]
    assert sorted(mass.options) == ["No", "Yes"] and mass.answer_text == "Yes"
    assert mass.meta["option_order"] == "/".join(mass.options) and mass.meta["question_type"] == "PRES"
    assert mass.images[0].size == (32, 32) and mass.modality == "radiology" and mass.source == "vqa_rad"
    assert by_id["vqa_rad/test/2"].answer_text == "No"  # "No" in the file, any case


def test_yes_no_order_is_seeded_per_question_and_not_always_the_same():
    orders = {vqa.common.yes_no_options(vqa.VQAItem(id=f"q{i}", question="?", answer="yes", images=[], modality="", question_type=""))[2] for i in range(20)}
    assert orders == {"Yes/No", "No/Yes"}
    again = vqa.common.yes_no_options(vqa.VQAItem(id="q3", question="?", answer="no", images=[], modality="", question_type=""))
    assert again == vqa.common.yes_no_options(vqa.VQAItem(id="q3", question="?", answer="no", images=[], modality="", question_type=""))


def test_vqa_rad_hugging_face_parquet_layout(monkeypatch, tmp_path):
    use(monkeypatch, "vqa_rad", fx.vqa_rad_hf(tmp_path / "hf"))
    items, report = vqa.mcq_items("vqa_rad", "test")
    assert report.rows == 3 and report.mcq == 2 and report.left_out == {"free-form answer, not yes/no": 1}
    docs = vqa.load_docs("vqa_rad", "test")
    assert docs[0].images[0].size == (32, 32)


def test_slake_english_only_from_folder_and_from_zip(monkeypatch, tmp_path):
    for zipped in (False, True):
        use(monkeypatch, "slake", fx.slake_release(tmp_path / f"slake{zipped}", zipped=zipped))
        docs = vqa.load_docs("slake", "test")
        assert [d.id for d in docs] == ["slake/test/10", "slake/test/12"]
        assert {d.modality for d in docs} == {"CT", "X-Ray"}
        assert docs[0].meta["question_type"] == "Organ"
        _, report = vqa.mcq_items("slake", "test")
        assert report.left_out == {"closed, not yes/no": 1, "open question": 1}


def test_pathvqa_release_pickle_layout(monkeypatch, tmp_path):
    use(monkeypatch, "pathvqa", fx.pathvqa_release(tmp_path / "pathvqa"))
    docs = vqa.load_docs("pathvqa", "test")
    assert len(docs) == 2 and all(d.modality == "microscopy" for d in docs)
    assert [d.answer_text for d in docs] == ["Yes", "No"]


def test_pmc_vqa_csv_strips_choice_prefixes(monkeypatch, tmp_path):
    use(monkeypatch, "pmc_vqa", fx.pmc_vqa_release(tmp_path / "pmc"))
    docs = vqa.load_docs("pmc_vqa", "test")
    assert docs[0].options == ["CT", "MRI", "Ultrasound", "X-ray"] and docs[0].answer == "A"
    assert docs[1].answer == "B" and docs[1].answer_text == "Spleen"


def test_pmc_vqa_hugging_face_layout(monkeypatch, tmp_path):
    use(monkeypatch, "pmc_vqa", fx.pmc_vqa_hf(tmp_path / "adaptllm"))
    docs = vqa.load_docs("pmc_vqa", "test")
    assert docs[0].options == ["CT", "MRI", "Ultrasound", "X-ray"] and docs[0].answer == "C"


def test_mmmu_multiple_choice_only_with_images_in_placeholder_order(monkeypatch, tmp_path):
    use(monkeypatch, "mmmu_med", fx.mmmu_hf(tmp_path / "MMMU"))
    items, report = vqa.mcq_items("mmmu_med", "paper")
    assert report.left_out == {"open question": 1}
    docs = vqa.load_docs("mmmu_med", "paper")
    assert len(docs) == 2  # validation + dev, multiple-choice only
    doc = docs[0]
    assert doc.question == "Compare [image 2] with [image 1]. What changed?"
    assert doc.options == ["Nothing", "Effusion", "Mass"] and doc.answer == "B"
    assert len(doc.images) == 2 and doc.images[0].getpixel((0, 0)) == (20, 20, 20)  # image_1 first
    assert doc.modality == "radiology" and doc.meta["question_type"] == "Clinical_Medicine"


@pytest.mark.parametrize("zipped", [False, True])
def test_medxpertqa_jsonl_with_images_folder_or_zip(monkeypatch, tmp_path, zipped):
    use(monkeypatch, "medxpertqa_mm", fx.medxpertqa_release(tmp_path / "mxq", zipped=zipped))
    doc = vqa.load_docs("medxpertqa_mm", "test")[0]
    assert doc.question == "A 40-year-old man presents with chest pain. What is the diagnosis?"
    assert doc.options == ["MI", "PE", "GERD", "Pneumonia", "Costochondritis"] and doc.answer == "B"
    assert len(doc.images) == 2 and doc.meta["question_type"] == "Reasoning"


def test_unified_medvlthinker_set_serves_every_benchmark(monkeypatch, tmp_path):
    use(monkeypatch, vqa.UNIFIED, fx.medvlthinker_hf(tmp_path / "mvt"))
    counts = {b: len(vqa.load_docs(b, "paper")) for b in vqa.BENCHMARKS}
    assert counts == {"pmc_vqa": 1, "mmmu_med": 1, "medxpertqa_mm": 1, "pathvqa": 1, "slake": 1, "vqa_rad": 2}
    rad = vqa.load_docs("vqa_rad", "paper")
    assert rad[1].options == ["left", "right"] and rad[1].answer == "A"  # extracted options kept
    # a benchmark's own variable still wins over the unified copy
    use(monkeypatch, "vqa_rad", fx.vqa_rad_release(tmp_path / "own"))
    assert vqa.locate("vqa_rad").kind == "local" and len(vqa.load_docs("vqa_rad", "paper")) == 2


def test_unified_set_reads_lettered_option_lines_and_names_a_bad_row(monkeypatch, tmp_path):
    rows = [fx.medvlthinker_row(0, "pmc_vqa", {"A": "CT", "B": "MRI"}, "B", raw_options="A. CT\n(B) MRI"),
            fx.medvlthinker_row(1, "pmc_vqa", {"A": "CT", "B": "MRI"}, "A", raw_options="A: CT\nB: MRI", misc='{"question_type": "modality"'),
            fx.medvlthinker_row(2, "pmc_vqa", {"A": "CT", "B": "MRI"}, "A", misc='{"question_type": "modality"}')]
    use(monkeypatch, vqa.UNIFIED, fx.medvlthinker_hf(tmp_path / "lines", rows=rows))
    docs = vqa.load_docs("pmc_vqa", "test")
    assert [(d.options, d.answer) for d in docs] == [(["CT", "MRI"], "B"), (["CT", "MRI"], "A"), (["CT", "MRI"], "A")]
    assert [d.meta["question_type"] for d in docs] == ["unknown", "unknown", "modality"]  # truncated misc JSON: unknown, not a crash
    gap = [fx.medvlthinker_row(5, "pmc_vqa", {"A": "CT", "C": "MRI"}, "C")]
    use(monkeypatch, vqa.UNIFIED, fx.medvlthinker_hf(tmp_path / "gap", rows=gap))
    with pytest.raises(CorruptDataError, match=r"row 5 has option keys \['A', 'C'\]"):
        vqa.load_docs("pmc_vqa", "test")
    bad = [fx.medvlthinker_row(7, "pmc_vqa", {"A": "CT"}, "A", raw_options="CT or MRI?")]
    use(monkeypatch, vqa.UNIFIED, fx.medvlthinker_hf(tmp_path / "bad", rows=bad))
    with pytest.raises(CorruptDataError, match="options are neither a letter -> text map nor lettered lines: 'CT or MRI\\?'") as err:
        vqa.load_docs("pmc_vqa", "test")
    assert "row 0" in str(err.value.where)


def test_paper_protocol_is_a_seeded_subset_of_200(monkeypatch, tmp_path):
    rows = [dict(fx.VQA_RAD_ROWS[0], qid=i, question=f"Is there finding {i}?", answer="yes" if i % 2 else "no") for i in range(260)]
    use(monkeypatch, "vqa_rad", fx.vqa_rad_release(tmp_path / "big", rows=rows))
    paper, report = vqa.mcq_items("vqa_rad", "paper")
    again, _ = vqa.mcq_items("vqa_rad", "paper")
    full, _ = vqa.mcq_items("vqa_rad", "test")
    assert len(paper) == 200 and len(full) == 260 and report.protocol.startswith("paper")
    assert [i.id for i in paper] == [i.id for i in again]


def test_hub_path_passes_the_right_arguments_to_load_dataset(monkeypatch):
    calls = []

    def fake_load_dataset(path, name=None, split=None, **kw):
        calls.append((path, name, split))
        import datasets

        if path == "MMMU/MMMU":
            return datasets.Dataset.from_dict({"id": [], "question": [], "options": [], "answer": [], "question_type": []})
        return datasets.Dataset.from_dict({"image": [], "question": [], "answer": []})

    monkeypatch.setattr("datasets.load_dataset", fake_load_dataset)
    for bench in ("vqa_rad", "pathvqa", "mmmu_med"):
        with pytest.raises(DataNotFoundError, match="no multiple-choice question"):
            vqa.mcq_items(bench, "paper")
    assert ("flaviagiammarino/vqa-rad", None, "test") in calls
    assert ("flaviagiammarino/path-vqa", None, "test") in calls
    assert {(p, n, s) for p, n, s in calls if p == "MMMU/MMMU"} == {("MMMU/MMMU", subject, split) for subject in vqa.mmmu_med.SUBJECTS for split in ("dev", "validation")}


def test_missing_image_names_the_file_and_the_row(monkeypatch, tmp_path):
    root = fx.vqa_rad_release(tmp_path / "vqa_rad")
    (root / "images" / "synpic2.jpg").unlink()
    use(monkeypatch, "vqa_rad", root)
    with pytest.raises(DataNotFoundError, match=r"image file missing: .*synpic2.jpg \(needed by .*testset.json row 1\)"):
        vqa.load_docs("vqa_rad", "test")
    row, problems = vqa.check("vqa_rad")
    assert len(problems) == 1 and "synpic2.jpg" in problems[0]


def test_row_without_an_answer_is_an_error(monkeypatch, tmp_path):
    rows = [dict(fx.VQA_RAD_ROWS[0], answer="")]
    use(monkeypatch, "vqa_rad", fx.vqa_rad_release(tmp_path / "v", rows=rows))
    with pytest.raises(CorruptDataError, match="row vqa_rad/test/1 has no answer"):
        vqa.mcq_items("vqa_rad", "test")


def test_unknown_benchmark_and_empty_folder(monkeypatch, tmp_path):
    with pytest.raises(ConfigError, match="unknown benchmark 'vqarad'.*did you mean vqa_rad"):
        vqa.locate("vqarad")
    (tmp_path / "empty").mkdir()
    use(monkeypatch, "slake", tmp_path / "empty")
    with pytest.raises(DataNotFoundError, match="MEDBRIDGE_DATA_SLAKE points to an empty folder"):
        vqa.locate("slake")


def test_real_vqa_rad_json_has_451_rows_272_closed(monkeypatch):
    path = shared_file("vqa_rad", "testset_full_451.json")
    rows = vqa.vqa_rad.read_release(path)
    assert len(rows) == 451 and sum(r.closed for r in rows) == 272
    use(monkeypatch, "vqa_rad", path)
    _, report = vqa.mcq_items("vqa_rad", "test")
    assert report.mcq == 251 and report.left_out == {"closed, not yes/no": 21, "open question": 179}


def test_real_vqa_rad_images_and_53_rows_give_loaded_docs(monkeypatch):
    path = shared_file("vqa_rad", "testset_sample_25img.json")
    use(monkeypatch, "vqa_rad", path)
    docs = vqa.load_docs("vqa_rad", "test")
    assert len(docs) == 26  # 29 closed rows, 26 of them yes/no
    assert all(d.images[0].size[0] > 100 for d in docs)
    assert Counter(d.answer_text for d in docs) == {"No": 15, "Yes": 11}  # counted from the json by hand


def test_real_slake_test_json_has_416_closed_english_rows(monkeypatch):
    root = shared_file("slake", "test.json").parent
    rows = vqa.slake.read_release(root)
    assert len(rows) == 1061 and sum(r.closed for r in rows) == 416
    use(monkeypatch, "slake", root)
    _, report = vqa.mcq_items("slake", "test")
    assert report.mcq == 355 and Counter(r.modality for r in rows) == {"CT": 472, "X-Ray": 361, "MRI": 228}


def test_answer_that_names_no_option_is_an_error_not_a_crash(monkeypatch, tmp_path):
    import json

    root = fx.medxpertqa_release(tmp_path / "mxq")
    (root / "MM" / "test.jsonl").write_text(json.dumps({**fx.MXQ_ROW, "label": "F"}) + "\n")
    use(monkeypatch, "medxpertqa_mm", root)
    with pytest.raises(CorruptDataError, match=r"answer 'F' is none of its 5 options"):
        vqa.mcq_items("medxpertqa_mm", "test")


# --- splits: explicit, recorded truthfully, train splits for training -------------------------------


def test_slake_every_split_from_its_own_file_and_recorded_as_that_split(monkeypatch, tmp_path):
    use(monkeypatch, "slake", fx.slake_release(tmp_path / "slake", splits=("train", "validate", "test")))
    for split, canonical, offset in (("train", "train", 1000), ("validate", "validation", 2000), ("val", "validation", 2000), ("test", "test", 0)):
        docs = vqa.load_docs("slake", split)
        assert [d.id for d in docs] == [f"slake/{canonical}/{10 + offset}", f"slake/{canonical}/{12 + offset}"]
        assert {d.meta["split"] for d in docs} == {canonical}
        _, report = vqa.mcq_items("slake", split)
        assert report.source_split == canonical and report.protocol == "full"
    _, report = vqa.mcq_items("slake", "paper")
    assert report.source_split == "test" and report.protocol.startswith("paper")


def test_slake_validate_json_is_not_accepted_as_the_test_split(monkeypatch, tmp_path):
    root = fx.slake_release(tmp_path / "slake", splits=("validate",))
    use(monkeypatch, "slake", root / "validate.json")
    for split in ("paper", "test"):
        with pytest.raises(DataNotFoundError, match="validate.json holds the validation split of slake, but the test split was asked for"):
            vqa.mcq_items("slake", split)
    assert [d.meta["split"] for d in vqa.load_docs("slake", "validate")] == ["validation", "validation"]
    use(monkeypatch, "slake", root)  # the folder has no test.json
    with pytest.raises(DataNotFoundError, match=r"SLAKE test.json \(test split\) not found"):
        vqa.mcq_items("slake", "paper")


def test_a_file_whose_name_names_no_split_is_refused(monkeypatch, tmp_path):
    root = fx.slake_release(tmp_path / "slake")
    (root / "test.json").rename(root / "slake_en.json")
    use(monkeypatch, "slake", root / "slake_en.json")
    with pytest.raises(DataNotFoundError, match="cannot tell which slake split slake_en.json holds"):
        vqa.mcq_items("slake", "test")


def test_unknown_split_names_the_benchmarks_splits(monkeypatch, tmp_path):
    use(monkeypatch, "slake", fx.slake_release(tmp_path / "slake"))
    with pytest.raises(ConfigError, match="slake has no split 'dev'.*train, validation, test"):
        vqa.load_docs("slake", "dev")


def test_vqa_rad_train_split_from_mevf_trainset_and_from_the_osf_file(monkeypatch, tmp_path):
    use(monkeypatch, "vqa_rad", fx.vqa_rad_release(tmp_path / "mevf", train_rows=fx.VQA_RAD_TRAIN_ROWS))
    train = vqa.load_docs("vqa_rad", "train")
    assert [(d.id, d.answer_text) for d in train] == [("vqa_rad/train/101", "No"), ("vqa_rad/train/102", "Yes")]
    assert len(vqa.load_docs("vqa_rad", "test")) == 2
    use(monkeypatch, "vqa_rad", fx.vqa_rad_osf(tmp_path / "osf"))
    assert [d.id for d in vqa.load_docs("vqa_rad", "train")] == ["vqa_rad/train/101", "vqa_rad/train/102"]
    _, report = vqa.mcq_items("vqa_rad", "test")
    assert report.rows == 4 and report.mcq == 2  # only the test_* rows
    use(monkeypatch, "vqa_rad", tmp_path / "mevf" / "testset.json")
    with pytest.raises(DataNotFoundError, match="testset.json holds the test split of vqa_rad, but the train split was asked for"):
        vqa.load_docs("vqa_rad", "train")


def test_vqa_rad_hugging_face_train_split(monkeypatch, tmp_path):
    use(monkeypatch, "vqa_rad", fx.vqa_rad_hf(tmp_path / "hf"))
    docs = vqa.load_docs("vqa_rad", "train")
    assert [d.id for d in docs] == ["vqa_rad/train/0000"] and docs[0].meta["split"] == "train"


def test_pathvqa_train_and_validation_from_the_release(monkeypatch, tmp_path):
    use(monkeypatch, "pathvqa", fx.pathvqa_release(tmp_path / "pathvqa", splits=("train", "val", "test")))
    for split, folder in (("train", "train"), ("validation", "val"), ("val", "val")):
        docs = vqa.load_docs("pathvqa", split)
        assert len(docs) == 2 and all(d.id.startswith(f"pathvqa/{'train' if folder == 'train' else 'validation'}/") for d in docs)
    with pytest.raises(DataNotFoundError, match=r"PathVQA train_qa.pkl \(train split\) not found"):
        use(monkeypatch, "pathvqa", fx.pathvqa_release(tmp_path / "only-test"))
        vqa.load_docs("pathvqa", "train")


def test_pmc_vqa_train_csv(monkeypatch, tmp_path):
    use(monkeypatch, "pmc_vqa", fx.pmc_vqa_release(tmp_path / "pmc", splits=("train", "test")))
    docs = vqa.load_docs("pmc_vqa", "train")
    assert [(d.id, d.answer, d.answer_text) for d in docs] == [("pmc_vqa/train/00000", "B", "H&E"), ("pmc_vqa/train/00001", "C", "Axial")]
    assert [d.answer for d in vqa.load_docs("pmc_vqa", "test")] == ["A", "B"]


def test_the_hub_copies_hold_only_test_where_they_do(monkeypatch, tmp_path):
    with pytest.raises(DataNotFoundError, match="holds only PMC-VQA's test split, not train"):
        vqa.load_docs("pmc_vqa", "train")
    use(monkeypatch, vqa.UNIFIED, fx.medvlthinker_hf(tmp_path / "mvt"))
    with pytest.raises(DataNotFoundError, match="holds only the test items of vqa_rad, not its train split"):
        vqa.load_docs("vqa_rad", "train")


def test_the_source_registry_serves_train_splits_to_training(monkeypatch, tmp_path):
    from medbridge.harness.sources import load_source_docs

    use(monkeypatch, "slake", fx.slake_release(tmp_path / "slake", splits=("train", "test")))
    assert [d.id for d in load_source_docs("vqa", "slake", "train")] == ["slake/train/1010", "slake/train/1012"]
    # an explicit path (a training config's) instead of the environment variable
    pmc = fx.pmc_vqa_release(tmp_path / "pmc", splits=("train",))
    assert len(load_source_docs("vqa", "pmc_vqa", "train", path=pmc)) == 2
    vqa_rad = fx.vqa_rad_release(tmp_path / "rad", train_rows=fx.VQA_RAD_TRAIN_ROWS)
    assert len(load_source_docs("vqa", "vqa_rad", "train", path=vqa_rad)) == 2
    path = fx.pathvqa_release(tmp_path / "path", splits=("train",))
    assert len(load_source_docs("vqa", "pathvqa", "train", path=path)) == 2


def test_real_slake_validate_json_is_its_validation_split_not_test(monkeypatch):
    path = shared_file("slake", "validate.json")
    use(monkeypatch, "slake", path)
    with pytest.raises(DataNotFoundError, match="validate.json holds the validation split of slake"):
        vqa.mcq_items("slake", "paper")
    rows = vqa.slake.read_release(path, "validation")
    assert len(rows) == 1053 and all(r.id.startswith("slake/validation/") for r in rows)  # English rows of 2,099
    use(monkeypatch, "slake", path.parent)  # the folder: each split from its own file
    _, test = vqa.mcq_items("slake", "test")
    _, val = vqa.mcq_items("slake", "validate")
    assert (test.source_split, test.rows) == ("test", 1061) and (val.source_split, val.rows) == ("validation", 1053)


def test_real_vqa_rad_test_file_is_not_a_train_split(monkeypatch):
    path = shared_file("vqa_rad", "testset_full_451.json")
    use(monkeypatch, "vqa_rad", path)
    with pytest.raises(DataNotFoundError, match="testset_full_451.json holds the test split of vqa_rad"):
        vqa.mcq_items("vqa_rad", "train")


def test_eval_refuses_slake_validate_json_as_the_test_set_before_the_model_loads(capsys, tmp_path, tiny_model, monkeypatch):
    import lmms_eval.evaluator
    from medbridge.harness.cli import main

    monkeypatch.setattr(lmms_eval.evaluator, "simple_evaluate", lambda *a, **k: pytest.fail("lmms-eval was started"))
    root = fx.slake_release(tmp_path / "slake", splits=("validate",))
    rc = main(["eval", "--model", str(tiny_model), "--tasks", "slake", "--output", str(tmp_path / "o"), "--data", f"slake={root / 'validate.json'}"])
    err = capsys.readouterr().err
    assert rc == 2 and "validate.json holds the validation split of slake, but the test split was asked for" in err


@pytest.mark.e2e
def test_a_task_with_test_split_validate_runs_and_is_recorded_as_validation(capsys, tmp_path, tiny_model):
    import json

    from conftest import tasks_dir_path
    from medbridge.harness.cli import main

    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "slake_val.yaml").write_text(f"include: {tasks_dir_path() / 'vqa' / 'slake.yaml'}\ntask: slake_val\ntest_split: validate\n")
    root = fx.slake_release(tmp_path / "slake", splits=("validate", "test"))
    out = tmp_path / "out"
    rc = main(["eval", "--model", str(tiny_model), "--tasks", "slake_val", "--output", str(out), "--include-path", str(folder),
               "--data", f"slake={root}", "--gen-kwargs", "max_new_tokens=8"])
    assert rc == 0, capsys.readouterr().err[-3000:]
    record = json.loads((out / "records" / "slake_val.json").read_text())
    assert record["task"]["split"] == "validate" and record["n_docs"] == 2
    assert record["data"]["source_split"] == "validation" and record["data"]["protocol"] == "full"


def test_empty_option_texts_are_refused_naming_the_row(monkeypatch, tmp_path):
    rows = [fx.medvlthinker_row(0, "pmc_vqa", {"A": "CT", "B": "MRI"}, "A"), fx.medvlthinker_row(3, "pmc_vqa", {"A": "", "B": ""}, "A")]
    use(monkeypatch, vqa.UNIFIED, fx.medvlthinker_hf(tmp_path / "mvt", rows=rows))
    with pytest.raises(CorruptDataError, match=r"row pmc_vqa/medvlthinker/3 has empty option texts \(A, B\)") as err:
        vqa.load_docs("pmc_vqa", "test")
    assert "row 1" in str(err.value.where)
    root = fx.pmc_vqa_release(tmp_path / "pmc")
    text = (root / "test_2.csv").read_text().replace(" C:Ultrasound", " C: ")
    (root / "test_2.csv").write_text(text)
    use(monkeypatch, "pmc_vqa", root)
    with pytest.raises(CorruptDataError, match=r"row pmc_vqa/test/00000 has empty option texts \(C\)") as err:
        vqa.load_docs("pmc_vqa", "test")
    assert "test_2.csv row 2" in str(err.value.where)


def test_an_mcq_doc_with_an_empty_option_cannot_be_built():
    from medbridge.harness.sources import MCQDoc

    with pytest.raises(ValueError, match="option B is empty"):
        MCQDoc(id="x/test/1", images=[], question="?", options=["yes", "  "], answer="A", modality="", source="x")
