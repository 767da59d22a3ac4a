"""make_pair_dataset: shapes, determinism, file handling (SPEC §3)."""

import logging

import numpy as np
import pytest
import tensorflow as tf

from keras_geomatch import data
from keras_geomatch import geometry
from tests.data.image_fixtures import smooth_rgb
from tests.data.image_fixtures import write_constant
from tests.data.image_fixtures import write_image

SMALL = dict(image_size=(32, 32), resize_size=(48, 64))


def _config(model="affine", **kwargs):
    return data.PairConfig(model, **{**SMALL, **kwargs})


def _dataset(files, config=None, **kwargs):
    """make_pair_dataset without XLA (compiling costs more than these tiny
    tests run); `test_xla_and_plain_warps_agree` covers the XLA path."""
    return data.make_pair_dataset(files, config, **{"jit_compile": False, **kwargs})


@pytest.fixture
def photo_files(tmp_path):
    """Five smooth colour images of different sizes and formats."""
    return [
        write_image(str(tmp_path / "a.png"), smooth_rgb(50, 70, seed=0)),
        write_image(str(tmp_path / "b.jpg"), smooth_rgb(61, 47, seed=1), quality=95),
        write_image(str(tmp_path / "c.bmp"), smooth_rgb(33, 90, seed=2)),
        write_image(str(tmp_path / "d.png"), smooth_rgb(80, 80, seed=3)),
        write_image(str(tmp_path / "e.jpeg"), smooth_rgb(45, 45, seed=4), quality=95),
    ]


def _take(dataset, num_batches):
    batches = []
    for inputs, theta in dataset.take(num_batches):
        batches.append((inputs["source_image"].numpy(), inputs["target_image"].numpy(), theta.numpy()))
    return batches


def _assert_same(batches_a, batches_b):
    assert len(batches_a) == len(batches_b)
    for a, b in zip(batches_a, batches_b):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("model", ["affine", "hom", "tps"])
def test_shapes_dtypes_and_ranges(photo_files, model):
    dataset = _dataset(photo_files, _config(model), batch_size=4, seed=0)
    spec_inputs, spec_theta = dataset.element_spec
    assert spec_inputs["source_image"].shape.as_list() == [4, 32, 32, 3]
    assert spec_inputs["target_image"].dtype == tf.float32
    assert spec_theta.shape.as_list() == [4, data.PairConfig(model).num_params]
    for source, target, theta in _take(dataset, 2):
        assert source.shape == target.shape == (4, 32, 32, 3)
        assert theta.shape == (4, data.PairConfig(model).num_params) and theta.dtype == np.float32
        for image in (source, target):
            assert image.min() >= 0.0 and image.max() <= 255.0
            assert image.min() > 5.0  # mirror padding: no black border
    if model != "affine":
        deviation = np.abs(theta - geometry.identity_theta(model))
        assert 0 < deviation.max() <= 0.4 + 1e-6


def test_theta_maps_target_to_source(photo_files):
    dataset = _dataset(photo_files, _config("tps"), batch_size=5, training=False)
    source, target, theta = _take(dataset, 1)[0]
    grid = geometry.transform_grid(theta, "tps", 32, 32)
    resampled = geometry.bilinear_sample(source, grid).numpy()
    inside = np.all(np.abs(grid.numpy()) <= 0.95, axis=-1)
    # JPEG and resize smooth the images less than the synthetic test images: a looser bound.
    assert np.abs(resampled - target)[inside].mean() < 1.5


def test_validation_pairs_are_the_same_every_pass(photo_files):
    dataset = _dataset(photo_files, _config(), batch_size=2, training=False, seed=5)
    first, second = _take(dataset, 10), _take(dataset, 10)
    assert [len(b[2]) for b in first] == [2, 2, 1]  # 5 files, no repeat, last batch kept
    _assert_same(first, second)
    again = _dataset(photo_files, _config(), batch_size=2, training=False, seed=5)
    _assert_same(first, _take(again, 10))


def test_repeated_validation_gives_the_same_pairs_each_epoch(photo_files):
    dataset = _dataset(
        photo_files, _config(), batch_size=5, training=False, repeat=True, seed=5
    )
    epoch_1, epoch_2 = _take(dataset, 2)
    _assert_same([epoch_1], [epoch_2])


def test_training_is_reproducible_given_the_seed(photo_files):
    make = lambda seed: _dataset(photo_files, _config("tps"), batch_size=3, seed=seed)
    run_1, run_2, other = _take(make(11), 4), _take(make(11), 4), _take(make(12), 4)
    _assert_same(run_1, run_2)
    assert not np.allclose(run_1[0][2], other[0][2])
    # Training pairs are fresh every epoch (5 files, batches of 3: 12 pairs > 2 epochs).
    thetas = np.concatenate([b[2] for b in run_1])
    assert len(np.unique(thetas.round(5), axis=0)) == len(thetas)


def test_training_visits_every_file_once_per_epoch_in_a_new_order(tmp_path):
    colours = [(10, 200, 30), (200, 10, 30), (30, 60, 200), (250, 250, 20), (120, 120, 120)]
    files = [write_constant(str(tmp_path / f"{i}.png"), c) for i, c in enumerate(colours)]
    dataset = _dataset(files, _config(), batch_size=5, seed=3)
    orders = []
    for source, target, _ in _take(dataset, 4):
        means = source.mean(axis=(1, 2)).round()
        np.testing.assert_allclose(target.mean(axis=(1, 2)), means, atol=0.5)
        order = [colours.index(tuple(int(v) for v in m)) for m in means]
        assert sorted(order) == [0, 1, 2, 3, 4]
        orders.append(order)
    assert len({tuple(o) for o in orders}) > 1


def test_cached_and_uncached_give_the_same_pairs(photo_files):
    make = lambda cache: _dataset(
        photo_files, _config("hom"), batch_size=2, seed=1, cache_decoded=cache
    )
    _assert_same(_take(make(True), 3), _take(make(False), 3))


def test_grayscale_rgba_palette_gif_and_odd_sizes(tmp_path):
    rgb = np.zeros((37, 53, 3), np.float32) + [200, 100, 50]
    rgba = np.concatenate([rgb, np.full((37, 53, 1), 7, np.float32)], axis=-1)
    files = [
        write_image(str(tmp_path / "gray.png"), smooth_rgb(37, 53), mode="L"),
        write_image(str(tmp_path / "rgba.png"), rgba),
        write_image(str(tmp_path / "palette.png"), rgb, mode="P"),
        write_image(str(tmp_path / "anim.gif"), rgb),
        write_image(str(tmp_path / "odd.jpg"), smooth_rgb(17, 29), quality=95),
    ]
    dataset = _dataset(files, _config(), batch_size=5, training=False)
    source, target, _ = _take(dataset, 1)[0]
    gray, rgba_pair, palette, gif = source[0], source[1], source[2], source[3]
    np.testing.assert_array_equal(gray[..., 0], gray[..., 1])
    np.testing.assert_array_equal(gray[..., 0], gray[..., 2])
    # The alpha channel (7) is dropped, not blended.
    for image in (rgba_pair, palette, gif):
        np.testing.assert_allclose(image.reshape(-1, 3).mean(axis=0), [200, 100, 50], atol=1.0)


def _bad_files(tmp_path):
    good = write_image(str(tmp_path / "good.png"), smooth_rgb(40, 40))
    jpeg = write_image(str(tmp_path / "full.jpg"), smooth_rgb(64, 64), quality=90)
    truncated = tmp_path / "truncated.jpg"
    content = open(jpeg, "rb").read()
    truncated.write_bytes(content[: len(content) * 2 // 3])
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    text = tmp_path / "text.jpg"
    text.write_text("not an image at all\n" * 10)
    tiny = write_image(str(tmp_path / "tiny.png"), np.zeros((1, 1, 3)))
    return good, jpeg, [str(truncated), str(empty), str(text), tiny]


def test_bad_files_are_skipped_counted_and_logged(tmp_path, caplog):
    good, jpeg, bad = _bad_files(tmp_path)
    skipped = data.SkippedImages()
    with caplog.at_level(logging.WARNING, logger="keras_geomatch.data"):
        dataset = _dataset(
            [good, *bad, jpeg], _config(), batch_size=2, training=False, skipped=skipped
        )
    assert skipped.count == 4
    assert sorted(skipped.paths) == sorted(bad)
    reasons = dict(skipped.items)
    assert "empty" in reasons[bad[1]] and "too small" in reasons[bad[3]]
    assert "Skipped 4 of 6" in caplog.text
    source, _, theta = _take(dataset, 5)[0]
    assert len(theta) == 2  # the two good files only


def test_bmp_modes_tensorflow_misreads_are_skipped(tmp_path):
    rgb = smooth_rgb(30, 30)
    palette = write_image(str(tmp_path / "palette.bmp"), rgb, mode="P")
    one_bit = write_image(str(tmp_path / "one_bit.bmp"), rgb, mode="1")
    gray = write_image(str(tmp_path / "gray.bmp"), rgb, mode="L")
    usable, skipped = data.check_image_files([palette, one_bit, gray], mode="header")
    assert usable == [gray]
    assert all("BMP of mode" in reason for _, reason in skipped.items)


def test_header_check_misses_truncation_but_the_pipeline_survives(tmp_path):
    good, jpeg, bad = _bad_files(tmp_path)
    truncated = bad[0]
    skipped = data.SkippedImages()
    dataset = _dataset(
        [good, truncated, jpeg], _config(), batch_size=4, training=False,
        check_images="header", skipped=skipped, cache_decoded=False,
    )
    assert skipped.count == 0  # its header is fine
    batches = _take(dataset, 5)
    assert sum(len(b[2]) for b in batches) == 2  # dropped while decoding, no crash


def test_cache_loader_counts_files_tensorflow_cannot_decode(tmp_path):
    good, _, bad = _bad_files(tmp_path)
    skipped = data.SkippedImages()
    dataset = _dataset(
        [good, bad[0]], _config(), batch_size=2, training=False,
        check_images="none", skipped=skipped, cache_decoded=True,
    )
    assert skipped.paths == [bad[0]]
    assert len(_take(dataset, 1)[0][2]) == 1


def test_no_usable_file_is_an_error_at_start(tmp_path):
    _, _, bad = _bad_files(tmp_path)
    with pytest.raises(ValueError, match="usable image.*4 files"):
        _dataset(bad, _config())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"files": []}, "at least one image"),
        ({"files": "some/folder"}, "list of image paths"),
        ({"batch_size": 0}, "batch_size"),
        ({"config": "affine"}, "PairConfig"),
        ({"check_images": "thorough"}, "mode"),
        ({"start": -1}, "start"),
    ],
)
def test_bad_arguments(photo_files, kwargs, match):
    arguments = {"files": photo_files, "config": _config(), **kwargs}
    with pytest.raises(ValueError, match=match):
        data.make_pair_dataset(**arguments)


def test_builtin_samples_through_the_pipeline():
    train, val = data.builtin_sample_images()
    dataset = _dataset(val, _config(), batch_size=2, training=False)
    source, target, theta = _take(dataset, 1)[0]
    assert source.shape == (2, 32, 32, 3) and source.std() > 10


# With the view augmentation the colour is a second compiled function; without
# XLA, grappler once mis-shaped its parameters (the plain pipeline failed).
@pytest.mark.parametrize("augment", [None, data.ViewAugmentation()], ids=["plain", "augmented"])
def test_xla_and_plain_warps_agree(photo_files, augment):
    make = lambda jit: data.make_pair_dataset(
        photo_files, _config("tps"), batch_size=4, seed=2, jit_compile=jit, augment=augment
    )
    for plain, compiled in zip(_take(make(False), 2), _take(make(True), 2)):
        np.testing.assert_array_equal(plain[2], compiled[2])
        np.testing.assert_allclose(plain[0], compiled[0], atol=0.05)
        np.testing.assert_allclose(plain[1], compiled[1], atol=0.05)
        assert plain[0].std() > 10 and plain[1].std() > 10


@pytest.mark.parametrize("training", [True, False])
def test_start_skips_pairs_of_the_same_stream(photo_files, training):
    make = lambda start: _dataset(
        photo_files, _config(), batch_size=1, training=training, seed=4, start=start
    )
    full, resumed = _take(make(0), 5), _take(make(3), 5)
    assert len(resumed) == (5 if training else 2)
    _assert_same(full[3:5], resumed[:2])


def test_file_checks_are_remembered_until_the_file_changes(tmp_path, monkeypatch):
    from keras_geomatch.data import image_check

    good = write_image(str(tmp_path / "good.png"), smooth_rgb(40, 40))
    checked = []
    real_check = image_check.check_image_file
    monkeypatch.setattr(
        image_check, "check_image_file", lambda path, *a: checked.append(path) or real_check(path, *a)
    )
    assert data.check_image_files([good])[0] == [good]
    assert data.check_image_files([good])[0] == [good]
    assert checked == [good]
    with open(good, "wb") as f:
        f.write(b"garbage now")
    usable, skipped = data.check_image_files([good])
    assert usable == [] and skipped.paths == [good] and checked == [good, good]


@pytest.mark.parametrize("cache_decoded", [True, False])
def test_a_file_name_that_is_not_utf8_is_used(tmp_path, cache_decoded):
    import os

    folder = os.fsencode(str(tmp_path))
    odd = os.path.join(folder, b"caf\xe9-\xff.png")  # Latin-1 bytes: not valid UTF-8
    with open(odd, "wb") as f:
        from PIL import Image

        Image.fromarray(np.uint8(smooth_rgb(40, 50, seed=5))).save(f, format="PNG")
    write_image(str(tmp_path / "plain.png"), smooth_rgb(40, 50, seed=6))
    files = data.list_image_files(str(tmp_path))
    assert len(files) == 2  # the odd name comes back with surrogate escapes
    dataset = _dataset(files, _config(), batch_size=2, cache_decoded=cache_decoded,
                       training=False)
    batches = list(dataset)
    assert len(batches) == 1 and batches[0][0]["source_image"].shape[0] == 2


def _bmp_16_bit(path, width=24, height=20):
    """A valid 16-bit (5-5-5) BMP: Pillow reads it as RGB, TensorFlow refuses it."""
    import struct

    row = (width * 2 + 3) // 4 * 4
    pixels = bytes(range(256)) * (row * height // 256 + 1)
    pixels = pixels[: row * height]
    header = b"BM" + struct.pack("<IHHI", 54 + len(pixels), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 16, 0, len(pixels), 2835, 2835, 0, 0)
    with open(path, "wb") as f:
        f.write(header + info + pixels)
    return path


def _odd_files(tmp_path):
    """Files Pillow opens and decodes but TensorFlow cannot, and the good ones beside them."""
    import os

    whole = open(write_image(str(tmp_path / "whole.png"), smooth_rgb(40, 50, seed=8)), "rb").read()
    assert whole.endswith(b"IEND\xaeB`\x82")
    odd = {
        "cut_in_iend.png": whole[:-5],  # cut inside the last 12 bytes (the IEND chunk)
        "no_iend.png": whole[:-12],  # exactly without its IEND chunk
        "cut_in_idat_crc.png": whole[:-14],  # IEND gone and the last IDAT's CRC cut
    }
    bad = []
    for name, content in odd.items():
        (tmp_path / name).write_bytes(content)
        bad.append(str(tmp_path / name))
    bad.append(_bmp_16_bit(str(tmp_path / "deep16.bmp")))
    folder = os.fsencode(str(tmp_path))
    latin1_cut = os.path.join(folder, b"cut-caf\xe9.png")  # not valid UTF-8
    with open(latin1_cut, "wb") as f:
        f.write(whole[:-12])
    bad.append(os.fsdecode(latin1_cut))
    good = [
        write_image(str(tmp_path / "good.png"), smooth_rgb(40, 50, seed=7)),
        write_image(str(tmp_path / "good24.bmp"), smooth_rgb(30, 30, seed=9)),
    ]
    latin1_good = os.path.join(folder, b"good-\xff.png")
    with open(latin1_good, "wb") as f:
        f.write(whole)
    good.append(os.fsdecode(latin1_good))
    os.remove(str(tmp_path / "whole.png"))
    return good, bad


@pytest.mark.parametrize(
    "check_images, cache_decoded",
    [("decode", False), ("decode", True), ("header", False), ("header", True), ("none", True)],
)
def test_files_tensorflow_cannot_decode_are_skipped_counted_and_named_in_one_plain_line(
    tmp_path, caplog, capfd, check_images, cache_decoded
):
    good, bad = _odd_files(tmp_path)
    files = data.list_image_files(str(tmp_path))
    assert sorted(files) == sorted(good + bad)
    skipped = data.SkippedImages()
    with caplog.at_level(logging.WARNING, logger="keras_geomatch.data"):
        dataset = _dataset(files, _config(), batch_size=len(files), training=False,
                           check_images=check_images, cache_decoded=cache_decoded,
                           skipped=skipped)
        batches = _take(dataset, 2)
    assert sum(len(b[2]) for b in batches) == len(good)  # every good file is used
    assert sorted(skipped.paths) == sorted(bad)  # every odd one skipped and counted
    assert f"Skipped {len(bad)} of {len(files)} image files." in caplog.text
    for path, reason in skipped.items:
        assert "{{" not in reason and "[Op:" not in reason and "function_node" not in reason
        shown = data.image_check.printable_path(path)
        lines = [r.getMessage() for r in caplog.records if shown in r.getMessage()]
        assert len(lines) == 1 and reason in lines[0], (path, lines)
    assert "cut-caf\\xe9.png" in caplog.text  # the non-UTF-8 name, escaped
    output = capfd.readouterr()
    for stream in (output.out, output.err):
        assert "{{function_node" not in stream and "[Op:" not in stream


def test_the_structure_checks_say_what_is_wrong(tmp_path):
    from keras_geomatch.data import image_check

    good, bad = _odd_files(tmp_path)
    reasons = {p.rsplit("/", 1)[-1]: image_check.check_image_file(p, decode=False) for p in bad}
    assert "IEND" in reasons["cut_in_iend.png"] and "cut short" in reasons["cut_in_iend.png"]
    assert "before its IEND chunk" in reasons["no_iend.png"]
    assert "'IDAT'" in reasons["cut_in_idat_crc.png"]
    assert "16 bits per pixel" in reasons["deep16.bmp"]
    assert all(image_check.check_image_file(p, decode=False) is None for p in good)
    # A corrupt CRC in a whole file is caught too.
    content = bytearray(open(good[0], "rb").read())
    content[-13] ^= 0xFF  # the last byte of the last IDAT chunk's CRC
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(bytes(content))
    assert "fails its CRC check" in image_check.check_image_file(str(corrupt), decode=False)


def test_plain_tf_reason_strips_tensorflow_internals():
    from keras_geomatch.data.image_check import plain_tf_reason

    message = (
        "{{function_node __wrapped__DecodeImage_device_/job:localhost/replica:0/task:0/device:CPU:0}}"
        " Invalid PNG data, size 6096 [Op:DecodeImage] name: "
    )
    assert plain_tf_reason(message) == "Invalid PNG data, size 6096"
