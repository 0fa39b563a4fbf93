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
