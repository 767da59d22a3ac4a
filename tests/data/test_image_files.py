"""Listing image files: folders and list files."""

import os

import pytest

from keras_geomatch import data
from tests.data.image_fixtures import write_constant


def _touch(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "w").close()
    return str(path)


def test_list_image_files_is_recursive_sorted_and_filters_extensions(tmp_path):
    expected = [
        _touch(tmp_path / "a" / "z.JPG"),
        _touch(tmp_path / "a" / "b" / "y.png"),
        _touch(tmp_path / "c.jpeg"),
        _touch(tmp_path / "d.bmp"),
        _touch(tmp_path / "e.gif"),
    ]
    _touch(tmp_path / "notes.txt")
    _touch(tmp_path / "f.tif")
    _touch(tmp_path / ".hidden" / "g.png")
    files = data.list_image_files(tmp_path)
    assert files == sorted(os.path.abspath(p) for p in expected)


def test_list_image_files_without_images_names_the_folder(tmp_path):
    _touch(tmp_path / "readme.txt")
    with pytest.raises(ValueError, match=str(tmp_path)):
        data.list_image_files(tmp_path)


def test_list_image_files_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        data.list_image_files(tmp_path / "nope")


def test_read_image_list_text_resolves_against_list_folder(tmp_path):
    a = write_constant(str(tmp_path / "img" / "a.png"), (1, 2, 3))
    b = write_constant(str(tmp_path / "img" / "b.png"), (1, 2, 3))
    list_path = tmp_path / "list.txt"
    list_path.write_text(f"# a comment\nimg/a.png\n\n{b}\n")
    assert data.read_image_list(list_path) == [a, b]


def test_read_image_list_text_resolves_against_root(tmp_path):
    a = write_constant(str(tmp_path / "root" / "a.png"), (1, 2, 3))
    list_path = tmp_path / "lists" / "list.txt"
    list_path.parent.mkdir()
    list_path.write_text("a.png\n")
    assert data.read_image_list(list_path, root=tmp_path / "root") == [a]


def test_read_image_list_csv_with_path_column(tmp_path):
    a = write_constant(str(tmp_path / "a.png"), (1, 2, 3))
    b = write_constant(str(tmp_path / "b.png"), (1, 2, 3))
    list_path = tmp_path / "list.csv"
    list_path.write_text("label,Path\ncat,a.png\ndog,b.png\n")
    assert data.read_image_list(list_path) == [a, b]


def test_read_image_list_csv_first_column_with_and_without_header(tmp_path):
    a = write_constant(str(tmp_path / "a.png"), (1, 2, 3))
    with_header = tmp_path / "with.csv"
    with_header.write_text("image,label\na.png,1\n")
    without_header = tmp_path / "without.csv"
    without_header.write_text("a.png,1\na.png,2\n")
    assert data.read_image_list(with_header) == [a]
    assert data.read_image_list(without_header) == [a, a]


def test_read_image_list_missing_entries_are_reported(tmp_path):
    write_constant(str(tmp_path / "a.png"), (1, 2, 3))
    list_path = tmp_path / "list.txt"
    list_path.write_text("a.png\nmissing1.png\nmissing2.png\n")
    with pytest.raises(FileNotFoundError, match="2 of the 3 files.*missing1.png"):
        data.read_image_list(list_path)


def test_read_image_list_missing_or_empty_list(tmp_path):
    with pytest.raises(FileNotFoundError, match="list.txt"):
        data.read_image_list(tmp_path / "list.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n")
    with pytest.raises(ValueError, match="empty.txt"):
        data.read_image_list(empty)


@pytest.mark.parametrize("list_name", ["list.txt", "list.csv"])
def test_a_list_naming_a_file_that_is_not_utf8_finds_it(tmp_path, list_name):
    folder = os.fsencode(str(tmp_path))
    odd = os.path.join(folder, b"caf\xe9.png")  # Latin-1: not valid UTF-8
    write_constant(os.fsdecode(odd), (1, 2, 3))
    (tmp_path / list_name).write_bytes(b"caf\xe9.png\n")
    assert data.read_image_list(tmp_path / list_name) == [os.fsdecode(odd)]
    assert data.list_image_files(tmp_path) == [os.fsdecode(odd)]
