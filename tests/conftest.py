"""Shared fixtures: the tiny offline checkpoint and the generated MedMNIST-format sample are
built once per test session (about 15 s) and reused by every end-to-end test."""

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


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    from medbridge.harness.tiny_model import build_tiny_qwen2_5_vl

    return build_tiny_qwen2_5_vl(tmp_path_factory.mktemp("tiny") / "tiny-qwen2.5-vl")


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
