"""A Pass@K run killed half way resumes from the sample cache to the same metrics; two CPU
processes (torchrun, gloo) give the same metrics as one."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import _free_port, run_cli

pytestmark = pytest.mark.e2e

TASK = "medmnist_organa_passk"  # 11 classes x 4 = 44 questions x 16 samples on the sample


def eval_args(tiny_model, sample_root, out: Path) -> list[str]:
    return ["medbridge", "eval", "--model", str(tiny_model), "--tasks", TASK, "--output", str(out), "--data-root", str(sample_root), "--size", "28", "--gen-kwargs", "max_new_tokens=24"]


def rows(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as con:
            return con.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def metrics(out: Path) -> dict:
    return json.loads((out / "records" / f"{TASK}.json").read_text())["metrics"]


def test_kill_9_half_way_then_resume_gives_the_uninterrupted_metrics(tmp_path, tiny_model, sample_root):
    total = 44 * 16
    cache = tmp_path / "cache"
    env = {**os.environ, "MEDBRIDGE_CACHE": str(cache)}
    bindir = Path(sys.executable).parent
    args = eval_args(tiny_model, sample_root, tmp_path / "killed")
    proc = subprocess.Popen([str(bindir / args[0]), *args[1:]], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = cache / "samples.sqlite"
    deadline = time.time() + 300
    while rows(db) < total // 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = rows(db)
    assert total // 2 <= before < total
    assert not (tmp_path / "killed" / "records").exists()  # nothing written as final

    resumed = run_cli(eval_args(tiny_model, sample_root, tmp_path / "resumed"), env={"MEDBRIDGE_CACHE": str(cache)})
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*), COUNT(DISTINCT key || ':' || idx) FROM samples").fetchone() == (total, total)
        reused, generated = con.execute("SELECT reused, generated FROM usage ORDER BY at DESC LIMIT 1").fetchone()
    assert reused == before and generated == total - before  # only the missing questions ran

    clean = run_cli(eval_args(tiny_model, sample_root, tmp_path / "clean"), env={"MEDBRIDGE_CACHE": str(tmp_path / "other-cache")})
    assert clean.returncode == 0, clean.stderr[-2000:]
    assert metrics(tmp_path / "resumed") == metrics(tmp_path / "clean")


def test_two_cpu_processes_give_byte_identical_records_on_an_uneven_split(tmp_path, tiny_model, sample_root):
    """torchrun with 2 gloo processes, 7 questions per task (4 + 3): lmms-eval gathers the
    per-question scores in another order than one process sees them; exact sums make every
    metric and standard error equal to the last bit."""
    tasks = "medmnist_breast_passk,medmnist_retina"
    base = ["eval", "--model", str(tiny_model), "--tasks", tasks, "--data-root", str(sample_root), "--size", "28",
            "--gen-kwargs", "max_new_tokens=24", "--batch-size", "4", "--limit", "7"]
    one = run_cli(["medbridge", *base, "--output", str(tmp_path / "one")], env={"MEDBRIDGE_CACHE": str(tmp_path / "cache-one")})
    assert one.returncode == 0, one.stderr[-3000:]
    two = run_cli(["torchrun", "--nproc_per_node", "2", "--master_port", str(_free_port()), "-m", "medbridge.harness", *base, "--output", str(tmp_path / "two")], env={"MEDBRIDGE_CACHE": str(tmp_path / "cache-two")})
    assert two.returncode == 0, two.stderr[-3000:]
    # really sharded over two ranks, each generating its own share
    assert "medbridge (rank 0): 0 of 8 questions" in two.stderr and "medbridge (rank 1): " in two.stderr
    for task in tasks.split(","):
        a, b = (json.loads((tmp_path / name / "records" / f"{task}.json").read_text()) for name in ("one", "two"))
        a.pop("date"), b.pop("date")
        assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True), task
        assert a["n_docs"] == 7 and all(m["stderr"] is not None for m in a["metrics"].values())
    results = [json.loads(next((tmp_path / name / "lmms_eval").rglob("*_results.json")).read_text())["results"] for name in ("one", "two")]
    for task in tasks.split(","):
        # lmms-eval's own CLT standard errors (numpy, arrival order) are not medbridge's to fix
        exact = [{k: v for k, v in r[task].items() if "_stderr_clt" not in k} for r in results]
        assert exact[0] == exact[1], task
