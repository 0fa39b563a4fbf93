"""medbridge reads its task folders without lmms-eval (for speed); it must read them exactly as
lmms-eval does."""

import yaml
from lmms_eval import utils
from lmms_eval.tasks import TaskManager
from medbridge.harness.lmms.discovery import tasks_dir
from medbridge.harness.lmms.task_files import index_folder, local_index, members, read_task_yaml


def _plain(value):
    """lmms-eval's "simple" mode keeps ``!function`` as a YAML node; ours keeps its text."""
    if isinstance(value, yaml.Node):
        return value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def test_every_shipped_yaml_reads_as_lmms_eval_reads_it():
    paths = sorted(tasks_dir().rglob("*.yaml"))
    assert len(paths) > 50
    for path in paths:
        assert read_task_yaml(path) == _plain(utils.load_yaml_config(str(path), mode="simple")), path


def test_the_index_of_our_folder_is_lmms_evals(tmp_path):
    ours = index_folder(tasks_dir())
    theirs = TaskManager.__new__(TaskManager)
    theirs.logger = __import__("loguru").logger
    assert ours == dict(theirs._get_task_and_group(str(tasks_dir())))
    assert members("medmnist_microscopy_passk", ours) == ["medmnist_blood_passk", "medmnist_path_passk", "medmnist_tissue_passk"]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "x.yaml").write_text("task: medmnist_breast\ntag: my_tag\n")  # a user's folder wins over ours
    index = local_index([str(mine)], tasks_dir())
    assert index["medmnist_breast"]["yaml_path"] == str(mine / "x.yaml") and members("my_tag", index) == ["medmnist_breast"]
    assert members("mmmu_val", index) is None  # not ours: only lmms-eval's full index can say
