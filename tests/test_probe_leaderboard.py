"""Probe and baseline records go into the leaderboard as they are and render as Table 1 rows."""

import torch
from medbridge.harness.cli import main
from medbridge.harness.leaderboard import add_output, build


def test_probe_and_baseline_records_render_in_the_vision_probes_table(tmp_path, tiny_model, sample_root, capsys):
    common = ["--data-root", str(sample_root), "--size", "28", "--device", "cpu", "--no-progress"]
    assert main(["probe", "--model", str(tiny_model), "--tasks", "breast,oct", "--head", "both", "--output", str(tmp_path / "probe"),
                 "--cache-dir", str(tmp_path / "cache"), *common]) == 0
    # two heads, two folders: each is one leaderboard row
    assert sorted(p.name for p in (tmp_path / "probe" / "paper" / "records").iterdir()) == [
        "probe_medmnist_breast.paper_mean_28px.json", "probe_medmnist_oct.paper_mean_28px.json"]
    assert len(list((tmp_path / "probe" / "logreg" / "records").iterdir())) == 2
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # see test_probe_baseline
    try:
        assert main(["baseline", "--dataset", "breast", "--epochs", "1", "--seed", "0,1", "--output", str(tmp_path / "base"), *common]) == 0
    finally:
        torch.set_num_threads(threads)
    assert (tmp_path / "base" / "seed1" / "records" / "baseline_medmnist_breast.resnet18_28px_seed1.json").is_file()
    capsys.readouterr()

    root = tmp_path / "lb"
    # per-question scores travel inside the records: no sample log and no --without-samples needed
    add_output(tmp_path / "probe" / "paper", root, name="tiny-paper-head")
    add_output(tmp_path / "probe" / "logreg", root, name="tiny-logreg-head")
    add_output(tmp_path / "base" / "seed0", root, name="resnet18-28")
    build(root)
    page = (root / "vision_probes.md").read_text()
    for row in ("tiny-paper-head", "tiny-logreg-head", "resnet18-28"):
        assert row in page
