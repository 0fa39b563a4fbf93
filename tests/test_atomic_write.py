"""Every file medbridge publishes is written whole or not at all, readable like lmms-eval's
(mode 0644 under the usual umask), with no temporary file outliving its writer."""

import json
import os
import re
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from medbridge.harness import atomic_write as aw
from medbridge.harness.records import write_json_atomic

REPO = Path(__file__).resolve().parents[1]


def test_records_get_the_mode_a_plain_open_gives_like_lmms_eval_files(tmp_path):
    old = os.umask(0o022)
    try:
        write_json_atomic(tmp_path / "r.json", {"a": 1})
        (tmp_path / "plain.json").write_text("{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "r.json").stat().st_mode) == 0o644 == stat.S_IMODE((tmp_path / "plain.json").stat().st_mode)
    assert json.loads((tmp_path / "r.json").read_text()) == {"a": 1}


def test_a_failed_write_keeps_the_old_content_and_leaves_nothing_behind(tmp_path):
    target = tmp_path / "r.json"
    write_json_atomic(target, {"v": 1})
    with pytest.raises(ValueError):
        write_json_atomic(target, {"v": float("nan")})  # JSON has no NaN
    with pytest.raises(RuntimeError):
        with aw.atomic_write(target) as f:
            f.write('{"v": 2')
            raise RuntimeError("writer died")
    assert json.loads(target.read_text()) == {"v": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_the_temporary_file_of_a_killed_writer_is_removed_by_the_next_write(tmp_path):
    code = (
        "import sys, time; from medbridge.harness.atomic_write import atomic_write\n"
        f"with atomic_write({str(tmp_path / 'a.json')!r}) as f:\n"
        "    f.write('half'); f.flush(); print('ready', flush=True); time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert proc.stdout.readline().strip() == "ready"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".a.json.") and left[0].endswith(".tmp")  # what kill -9 leaves
    live = tmp_path / f".b.json.{os.getpid()}.0123abcd.tmp"  # a live writer's file is never touched
    live.write_text("in progress")
    write_json_atomic(tmp_path / "b.json", {"ok": True})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["b.json", live.name])


def test_the_rename_is_made_durable_by_fsyncing_the_folder(tmp_path, monkeypatch):
    synced = []
    real = os.fsync

    def spy(fd):
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        return real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    aw.write_bytes_atomic(tmp_path / "x.bin", b"123")
    assert synced == [False, True]  # the file's data, then the folder entry


def test_no_module_writes_files_atomically_by_hand():
    """One atomic writer: any other mkstemp-and-rename would bring back 0600 files and orphans."""
    offenders = []
    # not file writes: staging moves finished files into place, outputs probes a folder with a
    # file it deletes at once, a study renames a whole built checkpoint folder into place
    allowed = {"harness/atomic_write.py", "harness/lmms/staging.py", "harness/outputs.py", "harness/study/execute.py"}
    for path in sorted((REPO / "harness").rglob("*.py")):
        if str(path.relative_to(REPO)) in allowed:
            continue
        text = path.read_text()
        if "mkstemp" in text or "os.replace(" in text or "NamedTemporaryFile(" in text:
            offenders.append(str(path.relative_to(REPO)))
    assert offenders == []


def test_no_module_writes_a_whole_file_in_place():
    """A file a user or a later run reads (run card, checkpoint markers, label caches, derived
    task YAMLs) is written through atomic_write: a kill in an in-place write leaves it cut."""
    offenders = []
    for folder in ("harness", "training"):
        for path in sorted((REPO / folder).rglob("*.py")):
            if path.name == "atomic_write.py":
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if ".write_text(" in line or ".write_bytes(" in line or re.search(r"\bopen\((.*, *)?[\"']wb?[\"']", line):
                    offenders.append(f"{path.relative_to(REPO)}:{number}")
    assert offenders == []
