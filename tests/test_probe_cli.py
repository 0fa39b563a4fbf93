"""``medbridge probe`` / ``medbridge baseline``: bad input gives one clear line, exit 2, nothing written."""

import pytest
from conftest import run_cli
from medbridge.harness.cli import main


def run_main(capsys, *argv):
    rc = main([str(a) for a in argv])
    return rc, capsys.readouterr().err


def test_probe_missing_data_root(capsys, tmp_path, tiny_model):
    rc, err = run_main(capsys, "probe", "--model", tiny_model, "--tasks", "breast", "--output", tmp_path / "o", "--data-root", tmp_path / "none", "--size", "28")
    assert rc == 2 and err.startswith("medbridge: error: MedMNIST data root does not exist") and str(tmp_path / "none") in err
    assert not (tmp_path / "o").exists()


def test_probe_unknown_dataset(capsys, tmp_path, tiny_model, sample_root):
    rc, err = run_main(capsys, "probe", "--model", tiny_model, "--tasks", "breast,brest", "--output", tmp_path / "o", "--data-root", sample_root)
    assert rc == 2 and "unknown MedMNIST dataset 'brest'" in err and "use one of: blood, breast" in err


def test_probe_size_not_available_names_the_present_one(capsys, tmp_path, tiny_model, sample_root):
    rc, err = run_main(capsys, "probe", "--model", tiny_model, "--tasks", "retina", "--output", tmp_path / "o", "--data-root", sample_root, "--size", "224")
    assert rc == 2 and "retinamnist_224.npz not found" in err and "--size 28" in err
    assert not (tmp_path / "o").exists()


def test_probe_model_without_vision_tower(capsys, tmp_path, sample_root):
    from transformers import Qwen2Config

    text_only = tmp_path / "qwen2-text"
    Qwen2Config(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1).save_pretrained(text_only)
    rc, err = run_main(capsys, "probe", "--model", text_only, "--tasks", "breast", "--output", tmp_path / "o", "--data-root", sample_root, "--size", "28",
                       "--cache-dir", tmp_path / "cache")
    assert rc == 2
    assert err.strip() == (f"medbridge: error: checkpoint has no vision tower (model_type 'qwen2', no vision_config) ({text_only}); "
                           "probe a vision-language checkpoint, e.g. Qwen/Qwen2.5-VL-7B-Instruct")
    assert not (tmp_path / "o").exists() and not list((tmp_path / "cache").glob("*.npy"))


def test_probe_missing_checkpoint(capsys, tmp_path, sample_root):
    rc, err = run_main(capsys, "probe", "--model", tmp_path / "nope", "--tasks", "breast", "--output", tmp_path / "o", "--data-root", sample_root, "--size", "28")
    assert rc == 2 and "checkpoint path does not exist" in err


@pytest.mark.parametrize("extra, message", [
    (["--data-root", "{tmp}/none"], "MedMNIST data root does not exist"),
    (["--size", "64"], "breastmnist_64.npz not found"),
    (["--seed", "0,x"], "--seed '0,x' is not a number"),
])
def test_baseline_bad_input(capsys, tmp_path, sample_root, extra, message):
    extra = [e.format(tmp=tmp_path) for e in extra]
    argv = ["baseline", "--dataset", "breast", "--output", tmp_path / "o", "--epochs", "1", "--device", "cpu", "--data-root", sample_root, *extra]
    rc, err = run_main(capsys, *argv)
    assert rc == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_baseline_unknown_dataset_in_a_subprocess_has_no_traceback(tmp_path):
    proc = run_cli(["medbridge", "baseline", "--dataset", "breastt", "--output", str(tmp_path / "o")], timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("medbridge: error: unknown MedMNIST dataset 'breastt'")
