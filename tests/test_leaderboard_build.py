"""Pages from records: deterministic bytes, --check, paired parent/child cells, transfer rows."""

import matplotlib
import pytest
from conftest import REPO
from lb_records import measured, write
from medbridge.harness.cli import main
from medbridge.harness.leaderboard import build, check, render, seed_paper
from medbridge.harness.leaderboard.pages import regime

PARENT = [1, 0, 0, 0, 0, 0, 1, 0, 0, 0]  # 2/10
CHILD = [1, 1, 1, 1, 1, 1, 0, 1, 0, 0]  # 7/10; discordant: parent-only 1, child-only 6
PASS16_PARENT = [1, 1, 0, 1, 1, 0, 1, 1, 1, 0]
PASS16_CHILD = [1, 1, 1, 1, 1, 0, 1, 1, 1, 1]


@pytest.fixture
def board(tmp_path):
    """Paper rows plus a measured base -> RL pair on OrganA (trained) and Path (transfer)."""
    root = tmp_path / "lb"
    seed_paper(root)
    for name, acc, pass16, lineage in (
        ("base", PARENT, PASS16_PARENT, {}),
        ("base-rl", CHILD, PASS16_CHILD, {"parent": "base", "stage": "rl", "trained_on": ["organa"]}),
    ):
        for task in ("medmnist_organa", "medmnist_path"):
            write(root, measured(name, task, {"acc@1": acc}, **lineage))
            graded = [0.5 * v for v in pass16]  # pass@2: graded per-question values -> bootstrap
            write(root, measured(name, f"{task}_passk", {"pass@1": [0.25 * v for v in pass16], "pass@2": graded, "pass@16": pass16}, **lineage))
    return root


def test_two_builds_are_byte_identical_whatever_the_matplotlib_settings(board, tmp_path):
    first = render(board)
    with matplotlib.rc_context({"font.size": 20, "axes.grid": False, "lines.linewidth": 5}):
        second = render(board)
    assert first == second
    assert {"README.md", "passk.md", "rl_transfer.md", "plots/passk_radiology.png", "plots/passk_microscopy.png", "plots/transfer_deltas.png"} <= set(first)
    for name, data in first.items():
        if name.endswith(".png"):
            assert data.startswith(b"\x89PNG") and b"Software" not in data and b"matplotlib" not in data, name
        else:
            assert b"2026" not in data  # no dates from records or build time


def test_build_then_check_is_clean_and_check_writes_nothing(board):
    changed = build(board)
    assert "README.md" in changed and "plots/transfer_deltas.png" in changed
    assert build(board) == []  # second build: nothing to change
    assert check(board) == []
    before = {p: p.read_bytes() for p in board.rglob("*") if p.is_file()}
    (board / "medvqa.md").unlink()
    problems = check(board)
    assert problems == ["missing: medvqa.md (the records produce it)"]
    assert {p: p.read_bytes() for p in board.rglob("*") if p.is_file()} == {k: v for k, v in before.items() if k.name != "medvqa.md"}


def test_check_catches_a_hand_edit_with_a_readable_diff(board, capsys):
    build(board)
    page = board / "medmnist_acc1.md"
    page.write_text(page.read_text().replace("*54.99*", "*64.99*"))
    (board / "plots" / "old_plot.png").write_bytes(b"\x89PNG stale")
    rc = main(["leaderboard", "build", "--check", "--root", str(board)])
    out = capsys.readouterr()
    assert rc == 1
    assert "differs: medmnist_acc1.md" in out.out and "-| Qwen2.5-VL-7B-Instruct | *reported* (paper, Table 2) | *64.99*" in out.out
    assert "+| Qwen2.5-VL-7B-Instruct | *reported* (paper, Table 2) | *54.99*" in out.out
    assert "stale: plots/old_plot.png" in out.out
    assert "run `medbridge leaderboard build` and commit" in out.err
    assert main(["leaderboard", "build", "--root", str(board)]) == 0
    assert not (board / "plots" / "old_plot.png").exists() and check(board) == []


def test_child_rows_show_the_paired_difference_and_mcnemar_p(board):
    build(board)
    acc = (board / "medmnist_acc1.md").read_text()
    row = next(line for line in acc.splitlines() if line.startswith("| ↳ base-rl"))
    # OrganA: 7/10 vs 2/10 on the same questions; McNemar 1 vs 6: p = 2 * 8/128 = 0.125
    assert "70.0 <sub>[39.7, 89.2] n=10</sub><br><sub>Δ +50.0 [" in row and "p=0.125</sub>" in row
    assert "RL of base" in row
    # measured rows come after every reported row, and are not italic
    lines = acc.splitlines()
    assert lines.index(row) > max(i for i, line in enumerate(lines) if line.startswith("|") and "*reported*" in line)


def test_passk_page_has_intervals_advice_and_an_embedded_plot(board):
    build(board)
    page = (board / "passk.md").read_text()
    assert "![pass@k curves, MedMNIST — Radiology](plots/passk_radiology.png)" in page
    base = next(line for line in page.split("### OrganA")[1].splitlines() if line.startswith("| base |"))
    # pass@16 7/10 right/wrong -> Wilson; gap 70 - 20 = +50.0 -> sharpen (S >= 0.5, gap >= 10 points)
    assert "70.0 <sub>[39.7, 89.2] n=10</sub>" in base and "| +50.0 | sharpen" in base
    assert (board / "plots" / "passk_radiology.png").is_file()


def test_transfer_table_classifies_regimes(board):
    build(board)
    page = (board / "rl_transfer.md").read_text()
    assert "![transfer deltas](plots/transfer_deltas.png)" in page
    assert "| organa | OrganA | in-domain |" in page and "| organa | Path | cross-modality |" in page
    assert regime("medmnist_organc", ("organa",)) == "within-modality"
    assert regime("medmnist_pneumonia", ("organa",)) == "within-modality"
    assert regime("medmnist_oct", ("organa",)) == "cross-modality"
    assert regime("pathvqa", ("pmc_vqa",)) == "other"


def test_different_questions_are_not_compared(tmp_path):
    root = tmp_path / "lb"
    write(root, measured("base", "medmnist_breast", {"acc@1": [1, 0, 1]}, targets=["A", "B", "A"]))
    write(root, measured("sft", "medmnist_breast", {"acc@1": [1, 1, 1]}, parent="base", targets=["B", "B", "A"]))
    build(root)
    assert "Δ n/a: different questions (answers differ)" in (root / "medmnist_acc1.md").read_text()


def test_the_repository_leaderboards_are_what_their_records_produce():
    """What the CI workflow checks: leaderboards/ is regenerated, never hand-edited."""
    assert check(REPO / "leaderboards") == []


def test_vision_probe_page_renders_measured_probe_and_baseline_records(tmp_path):
    root = tmp_path / "lb"
    seed_paper(root)
    probe = measured("Qwen2.5-VL-7B-Instruct", "probe_medmnist_breast", {"acc": [1] * 60 + [0] * 24, "auc": [0.9] * 84})
    del probe["per_doc"]  # a probe record with value, n and a standard error only
    probe["metrics"]["auc"]["stderr"] = 0.02
    write(root, probe)
    write(root, measured("logreg-baseline", "baseline_medmnist_pneumonia", {"acc": [1, 1, 0, 1]}))
    build(root)
    page = (root / "vision_probes.md").read_text()
    qwen = [line for line in page.splitlines() if line.startswith("| Qwen2.5-VL-7B-Instruct | measured |")]
    assert len(qwen) == 2  # the accuracy table and the AUC table
    # Wilson 60/84: centre 0.70492, half 1.87425 * sqrt(0.0024295 + 0.0001361) = 0.09493 -> [61.0, 80.0]
    assert "| 71.4 <sub>[61.0, 80.0] n=84</sub> |" in qwen[0]
    assert "90.0 <sub>[86.1, 93.9]‡ n=84</sub>" in qwen[1]  # AUC: normal interval from its stderr
    assert "## AUC" in page and "| logreg-baseline | measured |" in page


def test_other_data_settings_are_not_compared(tmp_path):
    root = tmp_path / "lb"
    write(root, measured("base", "medmnist_breast", {"acc@1": [1, 0, 1]}))
    child = measured("sft", "medmnist_breast", {"acc@1": [1, 1, 1]}, parent="base")
    child["data"]["medmnist_size"] = 28
    write(root, child)
    build(root)
    assert "Δ n/a: different data settings" in (root / "medmnist_acc1.md").read_text()
