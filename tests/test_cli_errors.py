"""Bad input gives one clear line and a non-zero exit, before any model is loaded."""

import pytest
from conftest import run_cli, tasks_dir_path
from medbridge.harness.cli import main


def run_main(capsys, *argv):
    rc = main(list(argv))
    captured = capsys.readouterr()
    return rc, captured.err


def test_missing_checkpoint_path(capsys, tmp_path):
    rc, err = run_main(capsys, "eval", "--model", str(tmp_path / "no-such-ckpt"), "--tasks", "medmnist_breast", "--output", str(tmp_path / "o"))
    assert rc == 2
    assert err.strip() == f"medbridge: error: checkpoint path does not exist ({tmp_path / 'no-such-ckpt'}); pass a checkpoint folder (with config.json) or a hub id like Qwen/Qwen2.5-VL-7B-Instruct"


def test_folder_without_config_is_not_a_checkpoint(capsys, tmp_path):
    rc, err = run_main(capsys, "eval", "--model", str(tmp_path), "--tasks", "medmnist_breast", "--output", str(tmp_path / "o"))
    assert rc == 2 and "config.json is missing" in err


def test_unreachable_hub_id_is_a_checkpoint_error(capsys, tmp_path):
    rc, err = run_main(capsys, "eval", "--model", "nobody/no-such-model", "--tasks", "medmnist_breast", "--output", str(tmp_path / "o"))
    assert rc == 2 and "'nobody/no-such-model' is not a local folder and could not be fetched from the hub" in err


def test_unknown_task(capsys, tmp_path, tiny_model):
    rc, err = run_main(capsys, "eval", "--model", str(tiny_model), "--tasks", "medmnist_brest", "--output", str(tmp_path / "o"))
    assert rc == 2 and "unknown task 'medmnist_brest' (did you mean medmnist_breast" in err


def test_missing_data_root(capsys, tmp_path, tiny_model):
    rc, err = run_main(capsys, "eval", "--model", str(tiny_model), "--tasks", "medmnist_breast", "--output", str(tmp_path / "o"), "--data-root", str(tmp_path / "none"))
    assert rc == 2 and "MedMNIST data root does not exist" in err and str(tmp_path / "none") in err


def test_missing_size_names_the_present_one(capsys, tmp_path, tiny_model, sample_root):
    rc, err = run_main(capsys, "eval", "--model", str(tiny_model), "--tasks", "medmnist_retina", "--output", str(tmp_path / "o"), "--data-root", str(sample_root), "--size", "224")
    assert rc == 2 and "retinamnist_224.npz not found" in err and "--size 28" in err


def test_corrupt_npz(capsys, tmp_path, tiny_model):
    (tmp_path / "octmnist.npz").write_bytes(b"garbage")
    rc, err = run_main(capsys, "eval", "--model", str(tiny_model), "--tasks", "medmnist_oct", "--output", str(tmp_path / "o"), "--data-root", str(tmp_path), "--size", "28")
    assert rc == 2 and "cannot read octmnist.npz as an npz archive" in err


def test_unknown_yaml_key_names_the_file(capsys, tmp_path, tiny_model, sample_root):
    (tmp_path / "tasks").mkdir()
    yaml = tmp_path / "tasks" / "my_task.yaml"
    yaml.write_text(f"include: {tasks_dir_path() / 'medmnist' / '_medmnist.yaml'}\ntask: my_task\ndataset_name: breastmnist\nrepeat: 4\n")
    rc, err = run_main(capsys, "eval", "--model", str(tiny_model), "--tasks", "my_task", "--output", str(tmp_path / "o"), "--include-path", str(tmp_path / "tasks"), "--data-root", str(sample_root), "--size", "28")
    assert rc == 2 and "unknown key 'repeat' (did you mean 'repeats'?)" in err and str(yaml) in err
    assert not (tmp_path / "o" / "records").exists()  # nothing written


def test_cli_subprocess_exits_2_with_one_line_and_no_traceback(tmp_path):
    proc = run_cli(["medbridge", "eval", "--model", str(tmp_path / "nope"), "--tasks", "medmnist", "--output", str(tmp_path / "o")], timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("medbridge: error: checkpoint path does not exist")


def test_debug_flag_shows_the_traceback(tmp_path):
    with pytest.raises(Exception, match="checkpoint path does not exist"):
        main(["--debug", "eval", "--model", str(tmp_path / "nope"), "--tasks", "medmnist", "--output", str(tmp_path / "o")])


def test_vqa_missing_image_is_one_line(capsys, tmp_path, tiny_model, monkeypatch):
    import vqa_fixtures as fx

    root = fx.vqa_rad_release(tmp_path / "vqa_rad")
    (root / "images" / "synpic1.jpg").unlink()
    rc, err = run_main(capsys, "eval", "--model", str(tiny_model), "--tasks", "vqa_rad", "--output", str(tmp_path / "o"), "--data", f"vqa_rad={root}", "--limit", "1")
    assert rc == 2 and "image file missing" in err and "synpic1.jpg" in err
    assert not (tmp_path / "o" / "records").exists()


def test_vqa_row_without_answer_and_bad_data_flags(capsys, tmp_path, tiny_model):
    import vqa_fixtures as fx

    root = fx.vqa_rad_release(tmp_path / "vqa_rad", rows=[dict(fx.VQA_RAD_ROWS[0], answer=None)])
    rc, err = run_main(capsys, "eval", "--model", str(tiny_model), "--tasks", "vqa_rad", "--output", str(tmp_path / "o"), "--data", f"vqa_rad={root}")
    assert rc == 2 and "has no answer" in err and "testset.json" in err
    rc, err = run_main(capsys, "eval", "--model", str(tiny_model), "--tasks", "vqa_rad", "--output", str(tmp_path / "o"), "--data", "vqarad=/x")
    assert rc == 2 and "unknown benchmark 'vqarad'" in err
    (tmp_path / "empty").mkdir()
    rc, err = run_main(capsys, "eval", "--model", str(tiny_model), "--tasks", "slake", "--output", str(tmp_path / "o"), "--data", f"slake={tmp_path / 'empty'}")
    assert rc == 2 and "MEDBRIDGE_DATA_SLAKE points to an empty folder" in err


def test_data_check_reports_missing_images_and_exits_2(capsys, tmp_path, monkeypatch):
    import vqa_fixtures as fx

    root = fx.slake_release(tmp_path / "slake")
    (root / "imgs" / "xmlab2" / "source.jpg").unlink()
    monkeypatch.setenv("MEDBRIDGE_DATA_SLAKE", str(root))
    rc = main(["data", "check", "slake"])
    out = capsys.readouterr()
    assert rc == 2 and out.out.count("xmlab2/source.jpg") == 1 and "1 problem(s)" in out.err


def _never_started(monkeypatch):
    import lmms_eval.evaluator

    monkeypatch.setattr(lmms_eval.evaluator, "simple_evaluate", lambda *a, **k: pytest.fail("lmms-eval was started"))


def _read_only_folder(tmp_path, kind):
    import os

    if kind == "chmod":
        if os.geteuid() == 0:
            pytest.skip("root ignores permission bits; the /sys case covers a read-only folder here")
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o555)
        return folder / "out"
    if not os.path.isdir("/sys/kernel"):
        pytest.skip("no /sys (not Linux)")
    return "/sys/medbridge-output"  # sysfs refuses new entries, even for root


@pytest.mark.parametrize("kind", ["chmod", "sysfs"])
def test_read_only_output_is_refused_before_the_model_loads(capsys, tmp_path, tiny_model, sample_root, monkeypatch, kind):
    out = _read_only_folder(tmp_path, kind)
    _never_started(monkeypatch)
    rc, err = run_main(capsys, "eval", "--model", str(tiny_model), "--tasks", "medmnist_breast", "--output", str(out), "--data-root", str(sample_root), "--size", "28")
    assert rc == 2 and err.startswith("medbridge: error: cannot write to the --output folder (") and str(out) in err
    assert len(err.strip().splitlines()) == 1


def test_output_under_a_regular_file_is_refused_before_the_model_loads(capsys, tmp_path, tiny_model, sample_root, monkeypatch):
    (tmp_path / "results.txt").write_text("not a folder")
    _never_started(monkeypatch)
    rc, err = run_main(capsys, "eval", "--model", str(tiny_model), "--tasks", "medmnist_breast", "--output", str(tmp_path / "results.txt" / "run1"),
                       "--data-root", str(sample_root), "--size", "28")
    assert rc == 2 and f"--output {tmp_path / 'results.txt' / 'run1'} cannot be a folder: {tmp_path / 'results.txt'} is a file" in err


@pytest.mark.parametrize("command", ["probe", "baseline"])
def test_probe_and_baseline_check_their_output_first(capsys, tmp_path, command):
    (tmp_path / "f").write_text("")
    args = ["probe", "--model", "Qwen/never-loaded", "--tasks", "breast"] if command == "probe" else ["baseline", "--dataset", "breast"]
    rc, err = run_main(capsys, *args, "--output", str(tmp_path / "f" / "out"))
    assert rc == 2 and "cannot be a folder" in err


# --- one line instead of a traceback or a page of text ------------------------------------------------


def _corrupt_member(path, member):
    """Flip bytes inside one member's deflate stream of an npz (the zip directory stays intact)."""
    import zipfile

    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
    data = bytearray(path.read_bytes())
    name_len, extra_len = int.from_bytes(data[info.header_offset + 26:info.header_offset + 28], "little"), int.from_bytes(data[info.header_offset + 28:info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len
    for i in range(start + 8, start + min(info.compress_size, 64)):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))


@pytest.fixture
def corrupt_breast(tmp_path):
    from medbridge.harness.sources.medmnist_sample import write_sample

    root = tmp_path / "corrupt"
    (path,) = write_sample(root, flags=["breastmnist"], size=28)
    _corrupt_member(path, "test_images.npy")
    return path


def test_corrupt_compressed_npz_member_is_one_line_in_data_check(capsys, corrupt_breast):
    rc, err = run_main(capsys, "data", "check", "breast", "--data-root", str(corrupt_breast.parent), "--size", "28")
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("medbridge: error: breastmnist.npz is corrupt: its test_images member cannot be read") and str(corrupt_breast) in err


def test_corrupt_compressed_npz_member_names_the_file_in_eval(capsys, tmp_path, tiny_model, corrupt_breast):
    rc, err = run_main(capsys, "eval", "--model", str(tiny_model), "--tasks", "medmnist_breast", "--output", str(tmp_path / "o"),
                       "--data-root", str(corrupt_breast.parent), "--size", "28")
    assert rc == 2 and "breastmnist.npz is corrupt: its test_images member cannot be read" in err and str(corrupt_breast) in err
    assert not (tmp_path / "o" / "records").exists()


@pytest.mark.parametrize("damage", ["truncated", "missing"])
def test_damaged_weights_are_one_line_naming_the_checkpoint_and_nothing_is_written(capsys, tmp_path, tiny_model, sample_root, damage):
    import shutil

    ckpt = tmp_path / "ckpt"
    shutil.copytree(tiny_model, ckpt)
    weights = ckpt / "model.safetensors"
    if damage == "missing":
        weights.unlink()
    else:
        weights.write_bytes(weights.read_bytes()[:1000])
    rc, err = run_main(capsys, "eval", "--model", str(ckpt), "--tasks", "medmnist_breast", "--output", str(tmp_path / "o"),
                       "--data-root", str(sample_root), "--size", "28", "--limit", "1", "--no-cache")
    errors = [part for part in err.replace("\r", "\n").splitlines() if "error" in part.lower()]  # progress bars aside
    assert rc == 2 and len(errors) == 1
    line = errors[0]
    assert line.startswith("medbridge: error: the weights could not be read (")
    assert f"({ckpt});" in line and line.endswith("the checkpoint folder is incomplete or damaged: copy or download it again")
    assert not (tmp_path / "o" / "records").exists() and not (tmp_path / "o" / "lmms_eval").exists()


@pytest.mark.parametrize(
    "argv,env,message",
    [
        (["--per-class", "2"], {"MEDMNIST_PER_CLASS": "ten"}, None),  # the flag wins over a bad variable
        ([], {"MEDMNIST_PER_CLASS": "ten"}, "MEDMNIST_PER_CLASS='ten' is not a whole number"),
        (["--gen-kwargs", "garbage"], {}, "--gen-kwargs 'garbage' is not key=value[,key=value...]"),
        (["--gen-kwargs", "max_new_tokens=8,oops"], {}, "--gen-kwargs 'max_new_tokens=8,oops' is not key=value[,key=value...]"),
        (["--model-args", "dtype"], {}, "--model-args 'dtype' is not key=value[,key=value...]"),
        (["--limit", "0"], {}, "--limit must be a whole number >= 1 (docs per task) or a fraction between 0 and 1, got 0"),
        (["--limit", "-3"], {}, "--limit must be a whole number >= 1 (docs per task) or a fraction between 0 and 1, got -3"),
        (["--limit", "2.5"], {}, "--limit must be a whole number >= 1 (docs per task) or a fraction between 0 and 1, got 2.5"),
        (["--backend", "qwen25_vl"], {}, "unknown backend 'qwen25_vl' (did you mean qwen2_5_vl"),
    ],
)
def test_bad_eval_settings_are_one_short_line_before_the_model_loads(capsys, tmp_path, tiny_model, sample_root, monkeypatch, argv, env, message):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    _never_started(monkeypatch)
    with pytest.raises(pytest.fail.Exception) if message is None else _no_raise():
        rc, err = run_main(capsys, "eval", "--model", str(tiny_model), "--tasks", "medmnist_breast", "--output", str(tmp_path / "o"),
                           "--data-root", str(sample_root), "--size", "28", *argv)
    if message is None:
        return  # got as far as starting lmms-eval
    assert rc == 2 and err.startswith(f"medbridge: error: {message}"), err
    assert len(err.strip().splitlines()) == 1 and len(err) < 400


def _no_raise():
    import contextlib

    return contextlib.nullcontext()


def test_text_only_checkpoint_is_one_line_in_eval(capsys, tmp_path, monkeypatch):
    from transformers import Qwen2Config

    text_only = tmp_path / "qwen2-text"
    Qwen2Config(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1).save_pretrained(text_only)
    _never_started(monkeypatch)
    rc, err = run_main(capsys, "eval", "--model", str(text_only), "--tasks", "medmnist_breast", "--output", str(tmp_path / "o"))
    assert rc == 2 and len(err) < 400
    assert err.strip() == (f"medbridge: error: checkpoint has no vision tower (model_type 'qwen2', no vision_config) ({text_only}); "
                           "medbridge evaluates vision-language models: pass one, e.g. Qwen/Qwen2.5-VL-7B-Instruct")


def test_an_unexpected_lmms_eval_error_is_cut_to_one_readable_line():
    from medbridge.harness.errors import first_line

    long = ValueError("Unrecognized configuration class Qwen2Config. Model type should be one of " + ", ".join(f"Config{i}" for i in range(300)) + "\nsecond line")
    line = first_line(long)
    assert len(line) == 300 and line.endswith("…") and "\n" not in line
    assert first_line(ValueError("short\nmore")) == "short"
