"""Frozen-tower feature extraction on the tiny checkpoint, pooling, and the on-disk cache."""

import json
import socket

import numpy as np
import pytest
import torch
from conftest import run_cli, shared_file
from medbridge.harness.probe.features import FeatureCache, FeatureKey, VisionTower, extract, pool_segments
from medbridge.harness.probe.runner import parse_datasets, probe
from medbridge.harness.sources.medmnist import load_split


@pytest.fixture(scope="module")
def tower(tiny_model):
    return VisionTower.load(str(tiny_model), "cpu")


def test_pool_segments_matches_hand_computed_means_and_maxima():
    tokens = torch.tensor([[1.0, 2.0], [3.0, 6.0], [0.0, 0.0], [9.0, -3.0], [3.0, 0.0]])
    counts = torch.tensor([2, 3])
    assert pool_segments(tokens, counts, "mean").tolist() == [[2.0, 4.0], [4.0, -1.0]]
    assert pool_segments(tokens, counts, "max").tolist() == [[3.0, 6.0], [9.0, 0.0]]
    with pytest.raises(RuntimeError, match="returned 5 tokens for images that should have 4"):
        pool_segments(tokens, torch.tensor([2, 2]))


def test_qwen_tower_features_shapes_and_determinism(tower, tiny_model, sample_root):
    assert tower.kind == "qwen" and tower.merge_size == 2
    grey, _ = load_split("breastmnist", "train", root=sample_root, size=28)  # (12, 28, 28)
    rgb, _ = load_split("bloodmnist", "train", root=sample_root, size=28)  # (48, 28, 28, 3)
    a = extract(tower, grey, batch_size=5, progress=False)
    b = extract(tower, grey, batch_size=64, progress=False)
    assert a.shape == (12, 64) and a.dtype == np.float32  # out_hidden_size of the tiny tower
    np.testing.assert_array_equal(a, b)  # batch composition does not change a row's features
    c = extract(tower, rgb, batch_size=16, progress=False)
    assert c.shape == (48, 64) and np.isfinite(c).all()
    assert not np.allclose(c[0], c[1])  # different images, different features
    peak = extract(tower, grey, batch_size=64, pooling="max", progress=False)
    assert (peak >= a - 1e-6).all() and not np.allclose(peak, a)
    # The generic get_image_features path reads the same tokens.
    generic = VisionTower.load(str(tiny_model), "cpu", path="generic")
    assert generic.kind == "generic"
    np.testing.assert_allclose(extract(generic, grey, batch_size=7, progress=False), a, rtol=1e-5, atol=1e-6)


def test_tower_matches_the_models_own_image_features(tower, tiny_model, sample_root):
    """Mean of Qwen2.5-VL's own get_image_features output per image (the reference path)."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    images, _ = load_split("breastmnist", "test", root=sample_root, size=28)
    model = AutoModelForImageTextToText.from_pretrained(str(tiny_model)).eval()
    processor = AutoProcessor.from_pretrained(str(tiny_model))
    inputs = processor.image_processor(images=[np.stack([im] * 3, -1) for im in images], return_tensors="pt")
    with torch.inference_mode():
        per_image = model.get_image_features(inputs["pixel_values"], inputs["image_grid_thw"]).pooler_output
    expected = np.stack([t.float().mean(0).numpy() for t in per_image])
    np.testing.assert_allclose(extract(tower, images, batch_size=3, progress=False), expected, rtol=1e-5, atol=1e-6)


def test_cache_round_trip_and_misses(tmp_path):
    cache = FeatureCache(tmp_path)
    key = FeatureKey("sha256:abc", "breastmnist", "train", 28, "mean", "float32", n_rows=3)
    features = np.arange(6, dtype=np.float32).reshape(3, 2)
    assert cache.load(key) is None
    cache.save(key, features)
    np.testing.assert_array_equal(cache.load(key), features)
    assert not list(tmp_path.glob(".*.tmp"))  # temporary files renamed away
    for other in (FeatureKey("sha256:abc", "breastmnist", "train", 28, "max", "float32", 3),
                  FeatureKey("sha256:abd", "breastmnist", "train", 28, "mean", "float32", 3),
                  FeatureKey("sha256:abc", "breastmnist", "train", 224, "mean", "float32", 3),
                  FeatureKey("sha256:abc", "breastmnist", "train", 28, "mean", "float32", 4)):
        assert cache.load(other) is None
    meta = next(tmp_path.glob("*.json"))
    meta.write_text("{not json")
    assert cache.load(key) is None  # unreadable key: a miss, never a crash
    meta.unlink()
    assert cache.load(key) is None  # matrix without its key (a crash between the two writes)


def test_second_probe_extracts_nothing(tmp_path, tiny_model, sample_root):
    loads = []

    def counting_loader(*args):
        loads.append(args)
        return VisionTower.load(*args)

    def must_not_load(*args):
        raise AssertionError("the model was loaded although every feature is cached")

    common = {"size": 28, "heads": ("logreg",), "data_root": sample_root, "cache_dir": tmp_path / "cache", "progress": False, "echo": lambda line: None}
    first = probe(str(tiny_model), "breast,oct", tmp_path / "a", tower_loader=counting_loader, **common)
    assert len(loads) == 1 and len(first) == 2
    assert all(not any(r["probe"]["features_from_cache"].values()) for r in first)
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 6  # 2 datasets x 3 splits
    second = probe(str(tiny_model), "breast,oct", tmp_path / "b", tower_loader=must_not_load, **common)
    assert all(all(r["probe"]["features_from_cache"].values()) for r in second)
    assert [r["metrics"] for r in second] == [r["metrics"] for r in first]
    # Another pooling is another key: extraction runs again.
    probe(str(tiny_model), "breast", tmp_path / "c", pooling="max", tower_loader=counting_loader, **common)
    assert len(loads) == 2


def test_probe_record_fields(tmp_path, tiny_model, sample_root):
    probe(str(tiny_model), "medmnist_chest", tmp_path, size=28, heads=("paper",), data_root=sample_root, use_cache=False, progress=False, echo=lambda line: None)
    record = json.loads((tmp_path / "records" / "probe_medmnist_chest.paper_mean_28px.json").read_text())
    assert record["schema"] == "medbridge.record/1" and record["task"]["name"] == "probe_medmnist_chest"
    assert record["model"]["fingerprint"].startswith("sha256:") and record["provenance"]["kind"] == "measured"
    assert set(record["metrics"]) == {"acc", "auc", "acc_full", "auc_full", "val_acc", "val_auc"}
    assert all(set(m) == {"value", "stderr", "filter"} for m in record["metrics"].values())
    # ChestMNIST: 14 single-finding classes x 4 test rows each; the 2 rows with none/several findings are dropped.
    assert record["n_docs"] == record["n_docs_full"] == 56 and record["probe"]["n_classes"] == 14
    assert "single-finding" in record["evaluation"]["acc"]
    p = record["probe"]
    assert p["head"] == "paper" and p["encoder"] == "qwen" and p["feature_dim"] == 64 and len(p["history"]) == 20
    assert p["selection"]["val_acc"] == max(h["val_acc"] for h in p["history"])
    # per-question scores for the leaderboard: one per balanced-subset row, averaging to acc
    per_doc = record["per_doc"]
    assert len(per_doc["doc_id"]) == len(set(per_doc["doc_id"])) == 56 and per_doc["doc_id"] == sorted(per_doc["doc_id"])
    assert sum(per_doc["scores"]["acc"]) / 56 == pytest.approx(record["metrics"]["acc"]["value"])
    assert sorted(set(per_doc["target"])) == list(range(14)) and record["data"]["medmnist_root"] == str(sample_root)


def test_parse_datasets_groups_and_names():
    assert [d.name for d in parse_datasets("medmnist_radiology")] == ["breast", "chest", "pneumonia", "organa", "organc", "organs"]
    assert [d.name for d in parse_datasets("breastmnist, medmnist_blood,breast,probe_medmnist_oct")] == ["breast", "blood", "oct"]
    assert len(parse_datasets("medmnist")) == 12


def test_real_breastmnist_uses_the_papers_84_image_test_subset(tmp_path, tiny_model):
    real = shared_file("medmnist", "breastmnist.npz")
    records = probe(str(tiny_model), "breast", tmp_path, size=28, heads=("logreg",), data_root=real.parent, use_cache=False, progress=False, echo=lambda line: None)
    record = records[0]
    assert record["n_docs"] == 84 and record["n_docs_full"] == 156  # Table 1: 2 x 42 malignant
    assert (record["data"]["n_train"], record["data"]["n_val"]) == (546, 78)
    assert 0.0 <= record["metrics"]["acc"]["value"] <= 1.0


SHARD_SCRIPT = """
import json, sys
import numpy as np
from medbridge.harness.probe.features import FeatureKey, LazyTower, VisionTower, distributed_state, split_features
from medbridge.harness.sources.medmnist import load_split

model, root, out = sys.argv[1:4]
state = distributed_state(cpu=True)
seen = []

def loader(*args):
    tower = VisionTower.load(*args)
    preprocess = tower.preprocess
    tower.preprocess = lambda images: seen.append(len(images)) or preprocess(images)
    return tower

images, _ = load_split("bloodmnist", "train", root=root, size=28)
key = FeatureKey("test", "bloodmnist", "train", 28, "mean", "float32", len(images))
features, _ = split_features(key, lambda: images, LazyTower(model, "cpu", "float32", loader=loader), None, batch_size=8, progress=False, state=state)
np.save(f"{out}/rank{state.process_index}.npy", features)
json.dump({"processes": state.num_processes, "images_seen": sum(seen)}, open(f"{out}/rank{state.process_index}.json", "w"))
"""


@pytest.mark.e2e
def test_two_processes_extract_one_shard_each_and_agree(tmp_path, tower, tiny_model, sample_root):
    script = tmp_path / "shard.py"
    script.write_text(SHARD_SCRIPT)
    with socket.socket() as free:  # a port nobody else is using for the rendezvous
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    proc = run_cli(["torchrun", "--nproc_per_node", "2", "--master_port", str(port), str(script), str(tiny_model), str(sample_root), str(tmp_path)], timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    images, _ = load_split("bloodmnist", "train", root=sample_root, size=28)
    expected = extract(tower, images, batch_size=8, progress=False)
    for rank in (0, 1):
        info = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert info == {"processes": 2, "images_seen": 24}  # 48 images, one half each
        np.testing.assert_array_equal(np.load(tmp_path / f"rank{rank}.npy"), expected)  # every process gets all rows, in order
