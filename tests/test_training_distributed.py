"""Training across processes and crashes: the EMA reference under DDP and DeepSpeed ZeRO-3 (two
CPU processes on gloo), a 2-process SFT launch, kill -9 then --resume, and the CLI's one-line
errors. Each test starts real launches in subprocesses, as a user would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("trl")

from conftest import run_cli

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[1]
CARE = str(REPO / "training" / "configs" / "tiny_grpo_care.yaml")
SFT = str(REPO / "training" / "configs" / "tiny_sft.yaml")
BIN = Path(sys.executable).parent


def _env(port: int) -> dict:
    return {**os.environ, "TQDM_DISABLE": "1", "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1", "DS_ACCELERATOR": "cpu"}


def _ema_overrides(model, sample_root, out) -> list[str]:
    return ["--set", f"model={model}", "--set", f"output_dir={out}", "--set", f"data.root={sample_root}", "--set", "max_steps=2",
            "--set", "care_ema_every=1", "--set", "learning_rate=1e-2", "--set", "save_strategy=no", "--set", "monitor_every=0",
            "--set", "max_completion_length=32"]


def _check_ema(result: dict, engine: str) -> None:
    assert result["engine"] == engine and result["processes"] == 2 and result["steps"] == 2
    assert len(result["checks"]) == 2
    for check in result["checks"]:
        assert check["max_move"] > 1e-5  # the reference really moved ...
        assert check["max_error"] < 1e-6  # ... by exactly 0.005 of the way to the policy


def test_ema_moves_by_the_expected_fraction_under_ddp(tiny_model, sample_root, tmp_path):
    out = tmp_path / "result.json"
    cmd = [str(BIN / "torchrun"), "--nproc_per_node", "2", "--master_port", "29621", str(REPO / "tests" / "ema_probe.py"), CARE, str(out),
           *_ema_overrides(tiny_model, sample_root, tmp_path / "run")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(29621), timeout=600)
    assert out.is_file(), proc.stderr[-3000:]
    _check_ema(json.loads(out.read_text()), "ddp")


def test_ema_moves_by_the_expected_fraction_under_deepspeed_zero3(tiny_model, sample_root, tmp_path):
    pytest.importorskip("deepspeed")
    out = tmp_path / "result.json"
    cmd = [str(BIN / "accelerate"), "launch", "--config_file", str(REPO / "tests" / "accelerate_zero3_cpu.yaml"), "--main_process_port", "29631",
           str(REPO / "tests" / "ema_probe.py"), CARE, str(out), *_ema_overrides(tiny_model, sample_root, tmp_path / "run")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(29631), timeout=900)
    assert out.is_file(), proc.stderr[-3000:]
    _check_ema(json.loads(out.read_text()), "zero3")


def test_two_process_sft_launch_completes_with_one_run_card(tiny_model, sample_root, tmp_path):
    run = tmp_path / "sft2"
    cmd = [str(BIN / "torchrun"), "--nproc_per_node", "2", "--master_port", "29641", "-m", "medbridge.training", "sft", "--config", SFT,
           "--set", f"model={tiny_model}", "--set", f"output_dir={run}", "--set", f"data.root={sample_root}", "--set", "max_steps=2",
           "--set", "per_device_train_batch_size=2", "--set", "monitor_every=0"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(29641), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    card = json.loads((run / "model" / "run_card.json").read_text())
    assert card["steps"] == 2 and card["config"]["per_device_train_batch_size"] == 2
    state = json.loads((run / "checkpoints" / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["global_step"] == 2 and state["train_batch_size"] == 2


def _train_cmd(model, sample_root, out, *extra) -> list[str]:
    return [str(BIN / "medbridge"), "train", "grpo", "--config", CARE, "--set", f"model={model}", "--set", f"output_dir={out}",
            "--set", f"data.root={sample_root}", "--set", "max_steps=6", "--set", "save_steps=1", "--set", "save_total_limit=10",
            "--set", "care_ema_every=2", "--set", "monitor_every=3", "--set", "monitor_k=2", "--set", "data.monitor_limit=2",
            "--set", "monitor_max_new_tokens=8", "--set", "max_completion_length=32", "--set", "learning_rate=1e-3", *extra]


def test_kill_9_mid_training_then_resume_matches_an_uninterrupted_run(tiny_model, sample_root, tmp_path):
    from safetensors.torch import load_file

    whole, broken = tmp_path / "whole", tmp_path / "broken"
    env = _env(29651)
    done = subprocess.run(_train_cmd(tiny_model, sample_root, whole), capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    proc = subprocess.Popen(_train_cmd(tiny_model, sample_root, broken), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    marker = broken / "checkpoints" / "checkpoint-3" / "medbridge-checkpoint-complete"
    deadline = time.time() + 300
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert marker.exists() and not (broken / "model").exists()  # killed mid-run: no final model

    resumed = subprocess.run([*_train_cmd(tiny_model, sample_root, broken), "--resume"], capture_output=True, text=True, env=env, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a, b = (json.loads((d / "model" / "run_card.json").read_text()) for d in (whole, broken))
    assert a["steps"] == b["steps"] == 6
    assert b["resumed_from"] and b["resumed_from"][0].endswith(("checkpoint-3", "checkpoint-4", "checkpoint-5"))
    assert [h["step"] for h in b["monitor_history"]] == [h["step"] for h in a["monitor_history"]] == [0, 3, 6]
    # optimizer, scheduler, RNG and EMA state came back: the resumed run ends where the whole one does
    wa, wb = load_file(str(whole / "model" / "model.safetensors")), load_file(str(broken / "model" / "model.safetensors"))
    w0 = load_file(str(Path(tiny_model) / "model.safetensors"))
    assert max((wa[n] - w0[n]).abs().max().item() for n in wa) > 1e-4  # training moved the weights, so the match below means something
    assert max((wa[n] - wb[n]).abs().max().item() for n in wa) < 1e-5
    ea, eb = (json.loads((d / "checkpoints" / "checkpoint-6" / "ema_reference" / "index.json").read_text()) for d in (whole, broken))
    assert ea["updates"] == eb["updates"] == 3
    sa = load_file(str(whole / "checkpoints" / "checkpoint-6" / "ema_reference" / "ema-00000.safetensors"))
    sb = load_file(str(broken / "checkpoints" / "checkpoint-6" / "ema_reference" / "ema-00000.safetensors"))
    assert max((sa[n] - sb[n]).abs().max().item() for n in sa) < 1e-5


def test_cli_errors_are_one_line_with_exit_2(tmp_path, tiny_model):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"include: {CARE}\nnum_generation: 4\n")
    proc = run_cli(["medbridge", "train", "grpo", "--config", str(bad)])
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == [lines[-1]] and "unknown key 'num_generation' (did you mean 'num_generations'?)" in lines[-1] and "bad.yaml" in lines[-1]
    proc = run_cli(["medbridge", "train", "sft", "--config", SFT, "--set", f"model={tmp_path / 'missing'}"])
    assert proc.returncode == 2 and "checkpoint path does not exist" in proc.stderr and "Traceback" not in proc.stderr
