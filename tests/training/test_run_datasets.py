"""The run's data: file sources, the resumable training stream, fixed validation."""

import numpy as np
import pytest
from PIL import Image

from keras_geomatch.training import TrainConfig
from keras_geomatch.training import run_datasets


def write_images(folder, count, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        path = folder / f"img{i}.png"
        Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


def config(**changes):
    values = dict(backbone="small", weights="none", train_backbone=True, image_size=(88, 88),
                  resize_size=(48, 64), batch_size=2, validation_steps=2)
    values.update(changes)
    return TrainConfig.from_dict(values)


def batches(dataset):
    return [(x["source_image"].numpy(), x["target_image"].numpy(), t.numpy())
            for x, t in dataset]


def assert_same(a, b):
    assert len(a) == len(b)
    for left, right in zip(a, b):
        for x, y in zip(left, right):
            np.testing.assert_array_equal(x, y)


def test_resolve_files_from_folders_and_lists(tmp_path):
    train = write_images(tmp_path / "train", 3)
    val = write_images(tmp_path / "val", 2, seed=1)
    found = run_datasets.resolve_files(
        config(train_dir=str(tmp_path / "train"), val_dir=str(tmp_path / "val")))
    assert found == (sorted(train), sorted(val))
    (tmp_path / "train.txt").write_text("\n".join(train[:2]))
    assert run_datasets.resolve_files(config(train_list=str(tmp_path / "train.txt"))) == (
        train[:2], None)


def test_resolve_builtin_samples():
    train, val = run_datasets.resolve_files(config(builtin_samples=True))
    assert len(train) == 7 and len(val) == 2 and not set(train) & set(val)


def test_missing_folder_fails_early(tmp_path):
    with pytest.raises(FileNotFoundError):
        run_datasets.resolve_files(config(train_dir=str(tmp_path / "none")))


def test_a_resumed_stream_continues_the_uninterrupted_one(tmp_path):
    files = write_images(tmp_path / "train", 3)
    c = config(train_dir=str(tmp_path / "train"))
    whole = batches(run_datasets.training_dataset(c, files, start_step=0, num_steps=5))
    assert len(whole) == 5
    tail = batches(run_datasets.training_dataset(c, files, start_step=2, num_steps=3))
    assert_same(whole[2:], tail)


def test_seed_offset_gives_another_stream(tmp_path):
    files = write_images(tmp_path / "train", 3)
    c = config(train_dir=str(tmp_path / "train"))
    a = batches(run_datasets.training_dataset(c, files, 0, 1))
    b = batches(run_datasets.training_dataset(c, files, 0, 1, seed_offset=1))
    assert not np.array_equal(a[0][2], b[0][2])


def test_validation_pairs_are_fixed_and_counted(tmp_path):
    files = write_images(tmp_path / "val", 1)
    c = config(train_dir="x", val_dir=str(tmp_path / "val"), validation_steps=3)
    dataset = run_datasets.validation_dataset(c, files)
    assert int(dataset.cardinality()) == 3
    first, second = batches(dataset), batches(dataset)
    assert_same(first, second)
    # One image, six different pairs.
    thetas = np.concatenate([t for _, _, t in first])
    assert len({tuple(t) for t in thetas.round(6)}) == 6
    # Not the training stream of the same files.
    train = batches(run_datasets.training_dataset(c, files, 0, 1))
    assert not np.array_equal(train[0][2], first[0][2])


def test_augment_changes_training_pairs_not_validation(tmp_path):
    files = write_images(tmp_path / "train", 2)
    plain, augmented = config(train_dir="x"), config(train_dir="x", augment=True)
    a = batches(run_datasets.training_dataset(plain, files, 0, 1))
    b = batches(run_datasets.training_dataset(augmented, files, 0, 1))
    np.testing.assert_array_equal(a[0][2], b[0][2])  # same θgt
    assert not np.array_equal(a[0][0], b[0][0])
    assert_same(batches(run_datasets.validation_dataset(plain, files)),
                batches(run_datasets.validation_dataset(augmented, files)))
