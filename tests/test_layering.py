"""Who may import whom: training/ and the harness's shared core never reach the lmms-eval
adapter (harness/lmms/) or the harness-only packages, so training runs without lmms-eval's
import cost and the adapter can change without touching training."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# harness packages only the harness itself (CLI, eval, probe, leaderboard) may use
ADAPTER_SIDE = {"lmms", "hf_evaluate", "backends", "probe", "leaderboard", "study", "curate"}
CORE = ["answers.py", "prompt.py", "metrics.py", "errors.py", "fingerprint.py", "records.py", "report.py", "sources"]


def harness_imports(path: Path, package: list[str]) -> set[str]:
    """First component under medbridge.harness of every import in ``path`` (relative ones
    resolved from ``package``, the file's package below medbridge)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1] + (node.module.split(".") if node.module else [])
                names = [base + [a.name] for a in node.names] if not node.module else [base]
            else:
                names = [node.module.split(".")] if node.module else []
                names = [n + [a.name] for n in names for a in node.names] if names and names[0][:2] == ["medbridge", "harness"] and len(names[0]) == 2 else names
        elif isinstance(node, ast.Import):
            names = [a.name.split(".") for a in node.names]
        else:
            continue
        for parts in names:
            if parts[:2] == ["medbridge", "harness"] and len(parts) > 2:
                found.add(parts[2])
            elif parts[:1] == ["harness"] and len(parts) > 1:
                found.add(parts[1])
    return found


def _package(path: Path) -> list[str]:
    rel = path.relative_to(REPO).parent.parts
    return ["medbridge", *rel] if rel else ["medbridge"]


def test_training_imports_only_the_shared_core():
    bad = {}
    for path in sorted((REPO / "training").rglob("*.py")):
        hits = harness_imports(path, _package(path)) & ADAPTER_SIDE
        if hits:
            bad[str(path.relative_to(REPO))] = sorted(hits)
    assert not bad, f"training/ imports harness-only packages: {bad}"


def test_the_shared_core_does_not_import_the_lmms_eval_adapter():
    bad = {}
    for name in CORE:
        target = REPO / "harness" / name
        for path in sorted(target.rglob("*.py")) if target.is_dir() else [target]:
            hits = harness_imports(path, _package(path)) & ADAPTER_SIDE
            if hits:
                bad[str(path.relative_to(REPO))] = sorted(hits)
    assert not bad, f"the shared core imports harness-only packages: {bad}"


def test_the_check_sees_relative_and_absolute_imports(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("from ..lmms import hooks\nfrom medbridge.harness.lmms.evaluation import evaluate\nfrom medbridge.harness import probe\nfrom .. import answers\n")
    assert harness_imports(path, ["medbridge", "harness", "sources"]) == {"lmms", "probe", "answers"}
