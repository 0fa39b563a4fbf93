"""The MedMNIST v2 ResNet baseline: architecture, schedule, a short run on fixtures, its record."""

import json

import pytest
import torch
from medbridge.harness.cli import main
from medbridge.harness.probe.baseline import build_resnet, milestones


def test_28px_resnet_has_the_medmnist_stem():
    model = build_resnet("resnet18", in_channels=1, n_outputs=2, size=28)
    assert (model.conv1.in_channels, model.conv1.kernel_size, model.conv1.stride) == (1, (3, 3), (1, 1))
    assert isinstance(model.maxpool, torch.nn.Identity) and model.fc.out_features == 2
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 2)
    big = build_resnet("resnet18", in_channels=3, n_outputs=9, size=224)
    assert (big.conv1.in_channels, big.conv1.kernel_size, big.conv1.stride) == (3, (7, 7), (2, 2))
    assert isinstance(big.maxpool, torch.nn.MaxPool2d)


def test_milestones_are_whole_epochs():
    assert milestones(100) == [50, 75]
    assert milestones(10) == [5, 7]
    assert milestones(2) == [1]  # a shortened run still decays


def test_short_baseline_on_fixtures_writes_a_record(tmp_path, sample_root, capsys):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # on a busy 2-core box, multi-threaded small convs stall (about 5x slower)
    try:
        rc = main(["baseline", "--dataset", "breast", "--size", "28", "--epochs", "3", "--data-root", str(sample_root),
                   "--output", str(tmp_path), "--device", "cpu", "--no-progress", "--seed", "0"])
    finally:
        torch.set_num_threads(threads)
    assert rc == 0
    out = capsys.readouterr().out
    assert out.startswith("baseline_medmnist_breast") and "published MedMNIST v2 benchmark table: acc=0.863 auc=0.901" in out
    record = json.loads((tmp_path / "records" / "baseline_medmnist_breast.resnet18_28px_seed0.json").read_text())
    assert record["schema"] == "medbridge.record/1" and record["task"]["name"] == "baseline_medmnist_breast"
    assert record["model"]["id"] == "resnet18" and record["model"]["fingerprint"].startswith("sha256:")
    history = record["baseline"]["history"]
    # lr x0.1 after whole-epoch milestones [1, 2]: epoch 1 at 1e-3, epoch 2 at 1e-4, epoch 3 at 1e-5
    assert [h["lr"] for h in history] == pytest.approx([1e-3, 1e-4, 1e-5])
    best = max(history, key=lambda h: h["val_auc"])
    assert record["baseline"]["selection"]["epoch"] == best["epoch"]
    # The reported val AUC is the selected (copied) weights', not the last epoch's.
    assert record["metrics"]["val_auc"]["value"] == pytest.approx(best["val_auc"])
    assert record["n_docs"] == 8 and record["n_docs_full"] == 8 and record["data"]["n_train"] == 12
    assert set(record["metrics"]) >= {"acc", "auc", "acc_full", "auc_full", "acc_full_last", "auc_full_last"}
    assert all(0.0 <= m["value"] <= 1.0 for m in record["metrics"].values())
    assert record["per_doc"]["doc_id"] == sorted(record["per_doc"]["doc_id"]) and len(record["per_doc"]["doc_id"]) == 8
    assert sum(record["per_doc"]["scores"]["acc"]) / 8 == pytest.approx(record["metrics"]["acc"]["value"])
    published = record["baseline"]["published"]
    assert published["acc"] == 0.863 and published["acc_tolerance"] == pytest.approx(2 * (0.863 * 0.137 / 8) ** 0.5, abs=1e-4)
