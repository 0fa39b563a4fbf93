"""Support diagnosis (S_K, A, gap, advice) on constructed records."""

import json

import pytest
from lb_records import measured, write
from medbridge.harness.cli import main
from medbridge.harness.leaderboard import advise, diagnose, paper_records


def pair(model, task, acc, pass16):
    """Greedy and sampled records of one model on one task (per-question 0/1 scores)."""
    return [measured(model, task, {"acc@1": acc}), measured(model, f"{task}_passk", {"pass@16": pass16, "pass@1": [0.5 * v for v in pass16]})]


@pytest.mark.parametrize(
    "support,accuracy,advice",
    [
        (0.30, 0.10, "bridge"),  # S_K < tau: the answer is rarely even sampled
        (0.49, 0.49, "bridge"),
        (0.50, 0.40, "sharpen"),  # S_K >= tau, gap exactly 10 points
        (0.90, 0.50, "sharpen"),
        (0.90, 0.85, "sufficient"),
        (0.50, 0.45, "sufficient"),
    ],
)
def test_advice_rule(support, accuracy, advice):
    assert advise(support, accuracy, tau=0.5, gap=0.10) == advice


def test_diagnose_constructed_records():
    records = (
        pair("m", "medmnist_chest", acc=[0] * 10, pass16=[1, 1, 0, 0, 0, 0, 0, 0, 0, 0])  # S 0.2, A 0 -> bridge
        + pair("m", "medmnist_breast", acc=[1, 1, 0, 0, 0, 0, 0, 0, 0, 0], pass16=[1] * 9 + [0])  # S 0.9, A 0.2 -> sharpen
        + pair("m", "medmnist_oct", acc=[1] * 10, pass16=[1] * 10)  # S 1.0, A 1.0 -> sufficient
        + [measured("m", "medmnist_path", {"acc@1": [1, 0]})]  # measured greedy only -> incomplete
        + paper_records()  # reported Acc@1 without Pass@K: left out, not listed as incomplete
    )
    rows = {d.task: d for d in diagnose(records, k=16, tau=0.5)}
    assert set(rows) == {"medmnist_chest", "medmnist_breast", "medmnist_oct", "medmnist_path"}
    chest, breast, oct_, path = rows["medmnist_chest"], rows["medmnist_breast"], rows["medmnist_oct"], rows["medmnist_path"]
    assert (chest.support, chest.accuracy, chest.advice) == (pytest.approx(0.2), 0.0, "bridge")
    assert (breast.gap, breast.advice, breast.n) == (pytest.approx(0.7), "sharpen", 10)
    assert (oct_.gap, oct_.advice) == (0.0, "sufficient")
    assert path.advice == "incomplete" and path.reason == "no medmnist_path_passk record with pass@16"
    # Wilson interval of 2/10 is [5.7, 51.0]: it contains tau = 0.5 -> borderline
    assert chest.borderline and (round(chest.support_low, 3), round(chest.support_high, 3)) == (0.057, 0.51)
    assert not breast.borderline


def test_gap_threshold_and_k_are_parameters():
    records = pair("m", "medmnist_oct", acc=[1] * 9 + [0], pass16=[1] * 10)  # gap 10 points
    assert diagnose(records)[0].advice == "sharpen"
    assert diagnose(records, gap=0.05)[0].advice == "sharpen"
    assert diagnose(records, gap=0.2)[0].advice == "sufficient"
    assert diagnose(records, k=1, tau=0.6)[0].advice == "bridge"  # pass@1 = 0.5 < 0.6
    assert diagnose(records, k=8)[0].reason == "no medmnist_oct_passk record with pass@8"
    with pytest.raises(Exception, match="no record holds acc@1 or pass@8"):
        diagnose(records[1:], k=8)


def test_diagnose_cli_prints_a_table_and_writes_the_plot(tmp_path, capsys):
    root = tmp_path / "lb"
    for record in pair("m", "medmnist_breast", acc=[1, 0, 0, 0], pass16=[1, 1, 1, 0]):
        write(root, record)
    plot = tmp_path / "diag.png"
    assert main(["diagnose", "--records", str(root), "--k", "16", "--tau", "0.5", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "| m | medmnist_breast | measured | 4 | 75.0 |" in out and "| 25.0 | +50.0 | sharpen" in out
    assert plot.read_bytes().startswith(b"\x89PNG")
    assert main(["diagnose", "--records", str(root), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["advice"] == "sharpen" and rows[0]["support"] == 0.75


def test_diagnose_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["diagnose", "--records", str(tmp_path / "none")]) == 2
    assert "no such record file or folder" in capsys.readouterr().err
    assert main(["diagnose", "--records", str(tmp_path), "--tau", "1.5"]) == 2
    assert "--tau must be in (0, 1]" in capsys.readouterr().err
