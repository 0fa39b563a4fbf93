"""Task YAMLs are parsed once per process, and a cached value is never stale or shared."""

from medbridge.harness.lmms import yaml_memo
from medbridge.harness.lmms.discovery import tasks_dir


def _counting_loader(monkeypatch):
    """A fresh cache installed over lmms-eval's own loader (``__wrapped__`` if medbridge already
    wrapped it; installed, so ``include:`` recursion goes through it as in a run), counting the
    files that loader really reads."""
    from lmms_eval import utils

    original = getattr(utils.load_yaml_config, "__wrapped__", utils.load_yaml_config)
    calls = []

    def counted(yaml_path=None, yaml_config=None, yaml_dir=None, mode="full"):
        calls.append(yaml_path)
        return original(yaml_path=yaml_path, yaml_config=yaml_config, yaml_dir=yaml_dir, mode=mode)

    monkeypatch.setattr(yaml_memo, "_cache", {})
    load = yaml_memo.memoised(counted)
    monkeypatch.setattr(utils, "load_yaml_config", load)
    return load, calls, original


def _plain(value):
    """A loaded config with ``!function`` entries (YAML nodes in "simple" mode, functions in
    "full" mode) as comparable text."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "tag") and hasattr(value, "value"):
        return f"{value.tag} {value.value}"
    if callable(value):
        return f"{value.__module__}.{value.__qualname__}"
    return value


def test_every_shipped_task_yaml_loads_to_what_lmms_eval_reads_and_is_parsed_once(monkeypatch):
    load, calls, original = _counting_loader(monkeypatch)
    yamls = sorted(str(p) for p in tasks_dir().rglob("*.yaml"))
    assert len(yamls) > 50
    for mode in ("simple", "full"):
        for path in yamls:
            assert _plain(load(path, mode=mode)) == _plain(original(yaml_path=path, mode=mode)), path
    parsed = len(calls)
    for mode in ("simple", "full"):
        for path in yamls:
            load(path, mode=mode)
    assert len(calls) == parsed  # the second pass reads nothing


def test_a_change_to_an_included_file_is_seen_on_the_next_load(tmp_path, monkeypatch):
    load, calls, _ = _counting_loader(monkeypatch)
    base, task = tmp_path / "_base.yaml", tmp_path / "task.yaml"
    base.write_text("output_type: generate_until\nrepeats: 4\n")
    task.write_text("include: _base.yaml\ntask: t\n")
    assert load(str(task), mode="simple")["repeats"] == 4
    base.write_text("output_type: generate_until\nrepeats: 16\n")  # another size: seen even on a coarse-mtime file system
    assert load(str(task), mode="simple")["repeats"] == 16


def test_a_caller_editing_its_dict_does_not_change_the_next_one(tmp_path, monkeypatch):
    load, _, _ = _counting_loader(monkeypatch)
    task = tmp_path / "task.yaml"
    task.write_text("task: t\ngeneration_kwargs:\n  max_new_tokens: 8\n")
    first = load(str(task), mode="simple")
    first["generation_kwargs"]["max_new_tokens"] = 999
    del first["task"]
    assert load(str(task), mode="simple") == {"task": "t", "generation_kwargs": {"max_new_tokens": 8}}
