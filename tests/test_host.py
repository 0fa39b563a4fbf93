"""One cache root and one default device for every command."""

from pathlib import Path

from medbridge.harness.backends.cache import default_path
from medbridge.harness.host import cache_root
from medbridge.harness.probe.features import default_cache_dir
from medbridge.harness.sources.vqa.locations import unpacked


def test_every_cache_lives_under_one_root_chosen_by_the_same_variables(tmp_path, monkeypatch):
    import zipfile

    monkeypatch.delenv("MEDBRIDGE_FEATURE_CACHE", raising=False)
    monkeypatch.delenv("MEDBRIDGE_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache_root() == tmp_path / "home" / ".cache" / "medbridge"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "medbridge"
    monkeypatch.setenv("MEDBRIDGE_CACHE", str(tmp_path / "mb"))
    root = tmp_path / "mb"
    with zipfile.ZipFile(tmp_path / "imgs.zip", "w") as zf:
        zf.writestr("a.txt", "x")
    assert (cache_root(), default_path(), default_cache_dir()) == (root, root / "samples.sqlite", root / "features")
    assert Path(unpacked(tmp_path / "imgs.zip")).parent == root / "unzipped"
    monkeypatch.setenv("MEDBRIDGE_FEATURE_CACHE", str(tmp_path / "feat"))
    assert default_cache_dir() == tmp_path / "feat"


def test_the_medbridge_executable_runs_with_fewer_full_collections_and_ends_frozen(tmp_path):
    """So start-up and the interpreter's shutdown skip full collections that free nothing."""
    import gc

    from medbridge.harness.cli.main import console_main

    assert gc.get_freeze_count() == 0
    threshold = gc.get_threshold()
    try:
        rc = console_main(["eval", "--model", str(tmp_path / "missing"), "--tasks", "medmnist_breast", "--output", str(tmp_path / "out")])
        assert rc == 2 and gc.get_freeze_count() > 0
        assert gc.get_threshold() == (threshold[0], threshold[1], 100)  # fewer full passes while it ran
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def test_lmms_eval_with_medbridge_installed_registers_the_fast_exit_once(monkeypatch):
    import types

    from medbridge.harness.host import skip_exit_collections
    from medbridge.harness.lmms import discovery

    registered = []
    monkeypatch.setattr(discovery, "atexit", types.SimpleNamespace(register=registered.append))
    monkeypatch.setattr(discovery, "_exit_registered", False)
    discovery.lmms_eval_models()
    discovery.lmms_eval_models()
    assert registered == [skip_exit_collections]
