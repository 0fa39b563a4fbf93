"""MedMNIST npz -> MCQ docs, on generated fixtures in the official layout and on real files."""

from collections import Counter

import numpy as np
import pytest
from conftest import shared_file
from medbridge.harness.errors import ConfigError, CorruptDataError, DataNotFoundError
from medbridge.harness.sources import medmnist
from medbridge.harness.sources.medmnist_sample import write_sample


def write_npz(path, labels_shape="(N,1)", n_per_class=(5, 3), size=28, rgb=False):
    labels = np.concatenate([np.full(n, c) for c, n in enumerate(n_per_class)]).astype(np.uint8)
    images = np.arange(len(labels) * size * size * (3 if rgb else 1), dtype=np.uint64).astype(np.uint8)
    images = images.reshape((len(labels), size, size, 3) if rgb else (len(labels), size, size))
    if labels_shape == "(N,1)":
        labels = labels[:, None]
    arrays = {}
    for split in ("train", "val", "test"):
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = images, labels
    np.savez(path, **arrays)


@pytest.mark.parametrize("shape", ["(N,1)", "(N,)"])
def test_both_label_shapes_give_the_same_balanced_docs(tmp_path, shape):
    write_npz(tmp_path / "breastmnist.npz", labels_shape=shape)
    docs = medmnist.load_docs("breast", root=tmp_path, size=28)
    assert len(docs) == 6  # 3 per class: the smaller class sets the count
    assert Counter(d.answer for d in docs) == {"A": 3, "B": 3}
    assert docs[0].options == ["malignant", "normal, benign"]
    assert docs[0].modality == "radiology" and docs[0].source == "medmnist"
    assert docs[0].images[0].size == (28, 28)
    assert all(d.id.startswith("breastmnist/test/") for d in docs)
    ids = [d.id for d in docs]
    assert ids == [d.id for d in medmnist.load_docs("breast", root=tmp_path, size=28)]  # seeded


def test_per_class_cap_and_order_mixes_classes(tmp_path):
    write_npz(tmp_path / "breastmnist.npz", n_per_class=(40, 40))
    docs = medmnist.load_docs("breast", root=tmp_path, size=28, per_class=10)
    assert Counter(d.answer for d in docs) == {"A": 10, "B": 10}
    assert {d.answer for d in docs[:6]} == {"A", "B"}  # shuffled, so --limit sees both classes


def test_size_and_cap_come_from_the_environment(tmp_path, monkeypatch):
    write_npz(tmp_path / "breastmnist_64.npz", size=64, n_per_class=(8, 8))
    monkeypatch.setenv("MEDMNIST_ROOT", str(tmp_path))
    monkeypatch.setenv("MEDMNIST_SIZE", "64")
    monkeypatch.setenv("MEDMNIST_PER_CLASS", "2")
    docs = medmnist.load_docs("breastmnist")
    assert len(docs) == 4 and docs[0].images[0].size == (64, 64) and docs[0].meta["size"] == 64


def test_chest_keeps_only_single_finding_images_with_14_options(tmp_path):
    write_sample(tmp_path, flags=["chestmnist"], counts={"train": 1, "val": 1, "test": 2})
    images, labels = medmnist.load_split("chestmnist", "test", root=tmp_path, size=28)
    assert labels.shape == (30, 14)  # 28 single-finding + 2 with none or two findings
    docs = medmnist.load_docs("chest", root=tmp_path, size=28)
    assert len(docs) == 28
    assert len(docs[0].options) == 14 and docs[0].options[0] == "atelectasis"
    for d in docs:
        assert labels[d.meta["index"]].sum() == 1
        assert d.options[labels[d.meta["index"]].argmax()] == d.answer_text


def test_retina_grades_are_readable_and_rgb_images_load(tmp_path):
    write_sample(tmp_path, flags=["retinamnist"])
    docs = medmnist.load_docs("retina", root=tmp_path, size=28)
    assert docs[0].options[0] == "grade 0: no diabetic retinopathy"
    assert len(docs[0].options) == 5
    assert docs[0].images[0].mode == "RGB"


def test_missing_root_names_the_folder_and_the_fix(tmp_path):
    with pytest.raises(DataNotFoundError, match="data root does not exist.*nowhere.*MEDMNIST_ROOT"):
        medmnist.load_docs("breast", root=tmp_path / "nowhere")


def test_missing_size_points_to_the_size_that_is_present(tmp_path):
    write_npz(tmp_path / "breastmnist.npz")
    with pytest.raises(DataNotFoundError) as err:
        medmnist.load_docs("breast", root=tmp_path, size=224)
    msg = str(err.value)
    assert "breastmnist_224.npz not found" in msg and "breastmnist.npz (28 px)" in msg and "MEDMNIST_SIZE=28" in msg


def test_missing_file_says_how_to_download(tmp_path):
    with pytest.raises(DataNotFoundError, match="medbridge data download pathmnist --size 224"):
        medmnist.load_docs("path", root=tmp_path, size=224)


@pytest.mark.parametrize("content", [b"this is not a zip archive", b"PK\x03\x04 truncated"])
def test_corrupt_npz_is_reported_as_corrupt(tmp_path, content):
    (tmp_path / "breastmnist.npz").write_bytes(content)
    with pytest.raises(CorruptDataError, match="breastmnist.npz"):
        medmnist.load_docs("breast", root=tmp_path, size=28)


def test_npz_without_the_official_keys_is_corrupt(tmp_path):
    np.savez(tmp_path / "breastmnist.npz", images=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(CorruptDataError, match="lacks test_images"):
        medmnist.check_available("breast", root=tmp_path, size=28)


def test_unknown_dataset_and_bad_size_are_config_errors():
    with pytest.raises(DataNotFoundError, match="unknown MedMNIST dataset 'brest'"):
        medmnist.lookup("brest")
    with pytest.raises(ConfigError, match="not a MedMNIST 2D size"):
        medmnist.resolve_size(100)


def test_sample_covers_all_twelve_datasets_and_is_deterministic(tmp_path):
    a = write_sample(tmp_path / "a")
    b = write_sample(tmp_path / "b")
    assert len(a) == 12
    for pa, pb in zip(a, b):
        with np.load(pa) as x, np.load(pb) as y:
            assert set(x.files) == {f"{s}_{k}" for s in ("train", "val", "test") for k in ("images", "labels")}
            for key in x.files:
                assert np.array_equal(x[key], y[key])


def test_real_breastmnist_counts_labels_and_balanced_subset():
    path = shared_file("medmnist", "breastmnist.npz")
    root = path.parent
    for split, n in {"train": 546, "val": 78, "test": 156}.items():
        images, labels = medmnist.load_split("breastmnist", split, root=root, size=28)
        assert images.shape == (n, 28, 28) and labels.shape == (n, 1)
    _, labels = medmnist.load_split("breastmnist", "test", root=root, size=28)
    assert Counter(labels[:, 0].tolist()) == {0: 42, 1: 114}
    docs = medmnist.load_docs("breast", root=root, size=28)
    # The paper's Table 1 BreastMNIST accuracies are multiples of 1/84 = 2 x 42 malignant.
    assert len(docs) == 84
    assert Counter(d.answer_text for d in docs) == {"malignant": 42, "normal, benign": 42}


def test_real_pneumoniamnist_test_split_balances_to_468(tmp_path):
    src = shared_file("medmnist", "pneumoniamnist_partial.npz")
    (tmp_path / "pneumoniamnist.npz").symlink_to(src)  # the copy is stored under another name
    _, labels = medmnist.load_split("pneumoniamnist", "test", root=tmp_path, size=28)
    assert Counter(labels[:, 0].tolist()) == {0: 234, 1: 390}
    docs = medmnist.load_docs("pneumonia", root=tmp_path, size=28)
    # Table 1's PneumoniaMNIST accuracies fit n = 468 (e.g. 92.52 = 433 / 468).
    assert len(docs) == 468 and Counter(d.answer for d in docs) == {"A": 234, "B": 234}


def test_a_renamed_copy_is_named_in_the_error_with_how_to_use_it(tmp_path):
    write_npz(tmp_path / "breastmnist_partial.npz")
    with pytest.raises(DataNotFoundError) as err:
        medmnist.load_docs("breast", root=tmp_path, size=28)
    msg = str(err.value)
    assert "MedMNIST file breastmnist.npz not found (the official name at 28 px)" in msg
    assert "found breastmnist_partial.npz, not an official name" in msg
    assert f"--data breast={tmp_path / 'breastmnist_partial.npz'}" in msg and "MEDBRIDGE_DATA_BREASTMNIST=PATH" in msg


def test_an_explicit_file_of_any_name_is_used_at_its_own_size(tmp_path, monkeypatch):
    write_npz(tmp_path / "my copy.npz", size=28)
    docs = medmnist.load_docs("breast", path=tmp_path / "my copy.npz")  # default size is 224: the file's own wins
    assert len(docs) == 6 and docs[0].meta["size"] == 28 and docs[0].images[0].size == (28, 28)
    monkeypatch.setenv("MEDBRIDGE_DATA_BREASTMNIST", str(tmp_path / "my copy.npz"))
    assert [d.id for d in medmnist.load_docs("breast", root=tmp_path / "nowhere")] == [d.id for d in docs]  # the variable wins over the root
    assert medmnist.image_size("breast") == 28
    with pytest.raises(ConfigError, match="my copy.npz holds 28 px images, but 64 px were asked for"):
        medmnist.load_docs("breast", size=64)
    monkeypatch.setenv("MEDBRIDGE_DATA_BREASTMNIST", str(tmp_path / "gone.npz"))
    with pytest.raises(DataNotFoundError, match="MEDBRIDGE_DATA_BREASTMNIST names no file"):
        medmnist.load_docs("breast")


def test_real_partial_pneumoniamnist_is_found_by_its_own_name(tmp_path, monkeypatch):
    src = shared_file("medmnist", "pneumoniamnist_partial.npz")
    with pytest.raises(DataNotFoundError) as err:
        medmnist.load_docs("pneumonia", root=src.parent, size=28)
    assert "pneumoniamnist.npz not found (the official name at 28 px)" in str(err.value) and "found pneumoniamnist_partial.npz" in str(err.value)
    docs = medmnist.load_docs("pneumonia", path=src)
    assert len(docs) == 468 and docs[0].meta["size"] == 28
    from medbridge.harness.sources import load_source_docs

    train = load_source_docs("medmnist", "pneumonia", "train", path=src, balanced=False)  # what training reads
    assert len(train) == 3882


def test_source_registry_serves_medmnist_and_names_close_sources(sample_root):
    from medbridge.harness.errors import ConfigError
    from medbridge.harness.sources import get_source, load_source_docs, source_names

    assert {"medmnist", "vqa"} <= set(source_names())
    docs = load_source_docs("medmnist", "breast", "test", root=sample_root, size=28)
    assert docs and docs[0].id.startswith("breastmnist/test/")
    with pytest.raises(ConfigError, match="did you mean 'medmnist'"):
        get_source("medmnis")


def test_mcq_messages_put_one_image_part_per_image_before_the_prompt():
    from medbridge.harness.prompt import mcq_messages, render_mcq_prompt

    messages = mcq_messages("Which organ?", ["liver", "kidney"], n_images=2)
    assert messages == [{"role": "user", "content": [{"type": "image"}, {"type": "image"}, {"type": "text", "text": render_mcq_prompt("Which organ?", ["liver", "kidney"])}]}]


def test_eval_names_the_renamed_copy_and_runs_it_with_data(capsys, tmp_path, tiny_model):
    import json

    from medbridge.harness.cli import main

    (path,) = write_sample(tmp_path / "data", flags=["breastmnist"], size=28)
    renamed = path.rename(path.with_name("breastmnist_copy.npz"))
    rc = main(["eval", "--model", str(tiny_model), "--tasks", "medmnist_breast", "--output", str(tmp_path / "o"), "--data-root", str(renamed.parent), "--size", "28"])
    err = capsys.readouterr().err
    assert rc == 2 and "breastmnist.npz not found (the official name at 28 px)" in err and f"--data breast={renamed}" in err
    rc = main(["eval", "--model", str(tiny_model), "--tasks", "medmnist_breast", "--output", str(tmp_path / "o"), "--data", f"breast={renamed}",
               "--gen-kwargs", "max_new_tokens=4", "--limit", "2"])
    assert rc == 0, capsys.readouterr().err[-2000:]
    record = json.loads((tmp_path / "o" / "records" / "medmnist_breast.json").read_text())
    assert record["data"]["file"] == str(renamed) and record["data"]["size"] == 28
