"""benchmarks/eval_setup.py's bare program: what the backend hands its engine, captured, replays
to the same samples outside lmms-eval (else the benchmark's reference arm would time other
work), and a replay that comes out different is refused."""

import importlib.util
import pickle
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def captured(tiny_model, tmp_path):
    """A capture of 3 questions (K = 4, 3 and 2) through ``medbridge_hf``'s lmms-eval path."""
    from medbridge.harness.backends.hf import MedbridgeHF
    from test_backends import DOCS, SAMPLED, make_requests, texts

    timed = load_script("_timed_eval")

    class Captured(MedbridgeHF):  # the hook patches this subclass only
        pass

    timed._capture(Captured)
    backend = Captured(pretrained=str(tiny_model), device="cpu", cache=False)
    backend.task_dict = DOCS
    out = texts(backend.generate_until(make_requests([(0, 4, SAMPLED), (1, 3, SAMPLED), (2, 2, SAMPLED)])))
    capture = timed.CAPTURE
    assert [len(q["samples"]) for q in capture["questions"]] == [4, 3, 2]
    assert [t for q in capture["questions"] for t, _ in q["samples"]] == out
    path = tmp_path / "capture.pkl"
    path.write_bytes(pickle.dumps(capture))
    return path


def replay(capture: Path, out: Path, monkeypatch) -> int:
    bare = load_script("_bare_engine")
    monkeypatch.setattr(sys, "argv", ["_bare_engine.py", str(capture), str(out)])
    return bare.replay()


def test_the_bare_program_reproduces_every_captured_sample(captured, tmp_path, monkeypatch):
    import json

    assert replay(captured, tmp_path / "times.json", monkeypatch) == 0
    times = json.loads((tmp_path / "times.json").read_text())
    assert times["samples"] == 9 and times["load_s"] > 0 and times["engine_s"] > 0


def test_the_bare_program_refuses_a_replay_whose_samples_differ(captured, tmp_path, monkeypatch, capsys):
    capture = pickle.loads(captured.read_bytes())
    capture["questions"][1]["samples"][0] = ("not what the engine gives", 4)
    captured.write_bytes(pickle.dumps(capture))
    assert replay(captured, tmp_path / "times.json", monkeypatch) == 1
    assert "1 of 3 questions gave other samples" in capsys.readouterr().err
