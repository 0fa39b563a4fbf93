"""Shared fixtures: the tiny offline checkpoint is built once per test run (once for all
pytest-xdist workers) and the generated MedMNIST-format sample once per session; every
end-to-end test reuses them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REPO = Path(__file__).resolve().parents[1]

# No test may reach the hub; a test that tries fails fast instead of hanging.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Under pytest-xdist every worker, and every subprocess it starts, would otherwise use one
# torch/OpenMP thread per core: with 2 workers on 2 cores that is 4 busy-waiting threads on 2
# cores, and the suite ran 405 s instead of 277 s. Share the cores among the workers instead
# (set before any test imports torch; subprocesses inherit it; a value the user set wins).
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))))


@pytest.fixture(scope="session", autouse=True)
def isolated_sample_cache(tmp_path_factory):
    """The tiny checkpoint is deterministic, so a shared sample cache would let one test
    session answer the next one's generations: every session gets its own."""
    os.environ["MEDBRIDGE_CACHE"] = str(tmp_path_factory.mktemp("medbridge-cache"))


def shared_file(*parts: str) -> Path:
    """A file under ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available here: {path} (only present on the project's dev machines)")
    return path


def built_once(tmp_path_factory, name: str, build) -> Path:
    """``build(folder)`` once per test run. Under pytest-xdist every worker is its own session,
    so the first worker builds into the run's shared temporary root and the others wait on a
    file lock and reuse it (pytest-xdist's documented recipe for once-only session fixtures)."""
    import fcntl

    if not os.environ.get("PYTEST_XDIST_WORKER"):
        folder = tmp_path_factory.mktemp(name)
        build(folder)
        return folder
    folder = tmp_path_factory.getbasetemp().parent / name
    with open(f"{folder}.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not (folder / ".built").exists():
            import shutil

            shutil.rmtree(folder, ignore_errors=True)  # a build that died half way
            folder.mkdir(parents=True)
            build(folder)
            (folder / ".built").touch()
    return folder


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    from medbridge.harness.tiny_model import build_tiny_qwen2_5_vl

    return built_once(tmp_path_factory, "tiny", lambda folder: build_tiny_qwen2_5_vl(folder / "tiny-qwen2.5-vl")) / "tiny-qwen2.5-vl"


@pytest.fixture(scope="session")
def sample_root(tmp_path_factory) -> Path:
    from medbridge.harness.sources.medmnist_sample import write_sample

    root = tmp_path_factory.mktemp("medmnist-sample")
    write_sample(root, size=28)
    return root


def tasks_dir_path() -> Path:
    from medbridge.tasks import TASKS_DIR

    return TASKS_DIR


def run_cli(args: list[str], env: dict | None = None, cwd: Path | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run a console command of this environment (medbridge, lmms-eval) in a subprocess."""
    bindir = Path(sys.executable).parent
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([str(bindir / args[0]), *args[1:]], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=timeout)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def served_tiny_model(tiny_model, tmp_path_factory):
    """A real OpenAI-compatible server: ``transformers serve`` with the tiny checkpoint on CPU,
    started once per session (ready when /health answers; ~10-45 s). Yields (base_url, model
    name). Skips with the reason when transformers' serving extras are missing or it cannot start."""
    import time
    import urllib.request

    exe = Path(sys.executable).parent / "transformers"
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"transformers serve is unavailable ({exc.name} missing: pip install 'transformers[serving]')")
    if not exe.exists():
        pytest.skip(f"transformers serve is unavailable (no {exe})")
    port = _free_port()
    log_path = tmp_path_factory.mktemp("transformers-serve") / "serve.log"
    log = log_path.open("w")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1"}
    proc = subprocess.Popen([str(exe), "serve", str(tiny_model), "--device", "cpu", "--host", "127.0.0.1", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 180
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"transformers serve did not start (exit {proc.poll()}): {log_path.read_text()[-1500:]}")
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/v1", str(tiny_model)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
