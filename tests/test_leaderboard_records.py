"""Record validation, the paper's reported records, and clear errors for bad input."""

import json
from pathlib import Path

import pytest
from conftest import REPO
from lb_records import dump, measured, write
from medbridge.harness.cli import main
from medbridge.harness.errors import RecordError
from medbridge.harness.leaderboard import load_records, paper_records
from medbridge.harness.leaderboard.paper import TABLE3
from medbridge.harness.leaderboard.store import record_path
from medbridge.harness.records import read_record, validate_record


def run_main(capsys, *argv):
    rc = main(list(argv))
    return rc, capsys.readouterr()


def test_a_constructed_record_is_valid_and_round_trips(tmp_path):
    record = measured("m", "medmnist_breast", {"acc@1": [1, 0, 1]})
    path = write(tmp_path, record)
    assert path == tmp_path / "results" / "m" / path.name and path.name.startswith("medmnist_breast__")
    assert read_record(path) == record


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda r: r.update(schema="medbridge.record/0"), "schema 'medbridge.record/0' is not 'medbridge.record/1'"),
        (lambda r: r.pop("schema"), "schema None is not"),
        (lambda r: r.pop("provenance"), "missing or non-object field 'provenance'"),
        (lambda r: r["provenance"].update(kind="guessed"), "provenance.kind 'guessed' is not one of measured, reported"),
        (lambda r: r["metrics"]["acc@1"].update(value="high"), "metrics.acc@1 must be"),
        (lambda r: r.update(n_docs=0), "a measured record needs n_docs >= 1"),
        (lambda r: r["model"].update(stage="pretraining"), "model.stage 'pretraining' is not one of base, sft, rl"),
        (lambda r: r["per_doc"]["scores"]["acc@1"].pop(), "per_doc.scores.acc@1 must hold one number"),
        (lambda r: r["per_doc"].update(doc_id=[0, 0, 1]), "per_doc.doc_id must hold 3 distinct integer ids"),
    ],
)
def test_bad_records_are_rejected_naming_file_and_field(tmp_path, change, message):
    record = measured("m", "medmnist_breast", {"acc@1": [1, 0, 1]})
    change(record)
    path = dump(tmp_path / "results" / "m" / "bad.json", record)
    with pytest.raises(RecordError) as info:
        read_record(path)
    assert message in str(info.value) and str(path) in str(info.value)


def test_a_reported_record_needs_its_citation():
    record = paper_records()[0]
    record["provenance"]["citation"] = ""
    with pytest.raises(RecordError, match="needs provenance.citation"):
        validate_record(record, "x.json")


def test_invalid_json_names_the_file_and_line(tmp_path):
    path = tmp_path / "results" / "m" / "broken.json"
    path.parent.mkdir(parents=True)
    path.write_text('{\n  "schema": "medbridge.record/1",\n  oops\n}')
    with pytest.raises(RecordError, match=r"not valid JSON \(line 3"):
        load_records(tmp_path)


def test_build_with_an_old_record_exits_2_with_one_line(tmp_path, capsys):
    record = measured("m", "medmnist_breast", {"acc@1": [1, 0]})
    record["schema"] = "medbridge.record/0"
    path = dump(tmp_path / "results" / "m" / "old.json", record)
    rc, out = run_main(capsys, "leaderboard", "build", "--root", str(tmp_path))
    assert rc == 2
    assert out.err.count("\n") == 1 and out.err.startswith("medbridge: error: bad result record: schema 'medbridge.record/0'")
    assert str(path) in out.err and "medbridge leaderboard add" in out.err
    assert not (tmp_path / "README.md").exists()  # nothing written


def test_add_errors(tmp_path, capsys):
    rc, out = run_main(capsys, "leaderboard", "add", str(tmp_path / "nope"), "--root", str(tmp_path / "lb"))
    assert rc == 2 and "evaluation output folder does not exist" in out.err
    (tmp_path / "empty").mkdir()
    rc, out = run_main(capsys, "leaderboard", "add", str(tmp_path / "empty"), "--root", str(tmp_path / "lb"))
    assert rc == 2 and "no results in this folder: expected records/*.json (medbridge eval) or *_results.json (lmms-eval)" in out.err
    assert not (tmp_path / "lb").exists()


def test_the_default_root_must_exist(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out = run_main(capsys, "leaderboard", "build")
    assert rc == 2 and "leaderboard folder does not exist" in out.err and "run from the repository root" in out.err
    rc, out = run_main(capsys, "leaderboard", "build", "--root", str(tmp_path))
    assert rc == 2 and "no result records to build from" in out.err


def test_two_measured_records_for_one_cell_are_an_error(tmp_path, capsys):
    a = measured("m", "medmnist_breast", {"acc@1": [1, 0]})
    b = measured("m", "medmnist_breast", {"acc@1": [1, 1]})
    b["data"]["medmnist_size"] = 28  # another setting: another file, same cell
    write(tmp_path, a), write(tmp_path, b)
    rc, out = run_main(capsys, "leaderboard", "build", "--root", str(tmp_path))
    assert rc == 2 and "two measured records for model 'm' on task 'medmnist_breast'" in out.err and "--name" in out.err


def test_a_lineage_cycle_is_an_error(tmp_path, capsys):
    write(tmp_path, measured("a", "medmnist_breast", {"acc@1": [1, 0]}, parent="b"))
    write(tmp_path, measured("b", "medmnist_breast", {"acc@1": [1, 0]}, parent="a"))
    rc, out = run_main(capsys, "leaderboard", "build", "--root", str(tmp_path))
    assert rc == 2 and "model lineage has a cycle: a, b" in out.err


def test_the_committed_paper_records_are_the_transcription():
    root = REPO / "leaderboards"
    expected = {record_path(root, r).relative_to(root).as_posix(): r for r in paper_records()}
    on_disk = {p.relative_to(root).as_posix(): json.loads(p.read_text()) for p in (root / "results").rglob("*.json")}
    reported = {k: v for k, v in on_disk.items() if v["provenance"]["kind"] == "reported"}
    assert reported == expected
    assert len(expected) == 4 * 12 + 3 * 12 + 7 * 7  # Tables 1, 2 and 3 (six benchmarks + Avg.)


def test_paper_table3_averages_are_the_mean_of_six_except_ours():
    # printed to 2 decimals: a mean within 0.01 of the printed value is rounding (Qwen: 56.465 -> 56.47)
    off = {m: round(sum(v[:6]) / 6 - v[6], 2) for m, v in TABLE3.items() if abs(sum(v[:6]) / 6 - v[6]) > 0.01}
    assert off == {"Ours-7B (paper)": -0.09}  # printed 64.91, mean of its cells 64.82: shown on the page


def test_no_tiny_model_rows_in_the_published_leaderboards():
    for path in (REPO / "leaderboards" / "results").rglob("*.json"):
        record = json.loads(path.read_text())
        assert "tiny" not in record["model"]["id"].lower(), path
        assert record["provenance"]["kind"] == "reported" or not Path(record["data"].get("medmnist_root", "")).name.startswith("medmnist-sample"), path


def test_record_only_outputs_need_samples_unless_told(tmp_path, capsys):
    """E.g. vision-probe records: no lmms-eval sample log behind them."""
    probe = measured("qwen", "probe_medmnist_breast", {"acc": [1, 0, 1, 1]})
    del probe["per_doc"]
    dump(tmp_path / "probe-out" / "records" / "probe_medmnist_breast.json", probe)
    rc, out = run_main(capsys, "leaderboard", "add", str(tmp_path / "probe-out"), "--root", str(tmp_path / "lb"))
    assert rc == 2 and "no per-question samples for task 'probe_medmnist_breast'" in out.err and "--without-samples" in out.err
    rc, out = run_main(capsys, "leaderboard", "add", str(tmp_path / "probe-out"), "--root", str(tmp_path / "lb"), "--without-samples")
    assert rc == 0
    # a record that carries its own per-question scores needs no sample log
    with_scores = measured("qwen", "probe_medmnist_chest", {"acc": [1, 0]})
    dump(tmp_path / "probe-out2" / "records" / "probe_medmnist_chest.json", with_scores)
    rc, out = run_main(capsys, "leaderboard", "add", str(tmp_path / "probe-out2"), "--root", str(tmp_path / "lb"))
    assert rc == 0
    assert {r["task"]["name"] for r in load_records(tmp_path / "lb")} == {"probe_medmnist_breast", "probe_medmnist_chest"}
