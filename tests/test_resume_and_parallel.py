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

from conftest import run_cli

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


def test_two_cpu_processes_match_one(tmp_path, tiny_model, sample_root):
    base = ["--model", "medbridge_hf", "--model_args", f"pretrained={tiny_model},cache=off", "--device", "cpu",
            "--tasks", "medmnist_breast_passk,medmnist_retina", "--gen_kwargs", "max_new_tokens=24", "--batch_size", "4"]
    env = {"MEDMNIST_ROOT": str(sample_root), "MEDMNIST_SIZE": "28"}
    one = run_cli(["lmms-eval", *base, "--output_path", str(tmp_path / "one")], env=env)
    # accelerate's CPU multi-process launcher needs MPI; torchrun starts the same gloo group
    two = run_cli(["torchrun", "--nproc_per_node", "2", "-m", "lmms_eval", *base, "--output_path", str(tmp_path / "two")], env=env)
    assert "2 process(es)" in two.stdout + two.stderr  # really sharded over two ranks
    results = []
    for name, proc in (("one", one), ("two", two)):
        found = list((tmp_path / name).rglob("*_results.json"))
        assert found, f"{name}: no results\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
        results.append(json.loads(found[0].read_text())["results"])
    for task in ("medmnist_breast_passk", "medmnist_retina"):
        a = {k: v for k, v in results[0][task].items() if "stderr" not in k and k != "alias"}
        b = {k: v for k, v in results[1][task].items() if "stderr" not in k and k != "alias"}
        assert a == pytest.approx(b, abs=1e-12), task  # equal up to summation order
