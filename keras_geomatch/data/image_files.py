"""Finding the image files a synthetic-pair data set is made from.

Two sources: a folder searched recursively (`list_image_files`), or a list
file (`read_image_list`). Both return absolute paths; neither opens an image
(that is `check_image_files`' job).
"""

import csv
import os

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")

# Column name looked for in the header of a CSV list.
_PATH_COLUMN = "path"


def _is_image_name(name):
    return name.lower().endswith(IMAGE_EXTENSIONS)


def list_image_files(directory):
    """All image files under `directory`, recursively, sorted by path.

    An image file is one whose name ends with one of `IMAGE_EXTENSIONS`
    (case-insensitive). Hidden folders (name starting with ".") are skipped.
    Symbolic links to files are listed; links to folders are not followed.

    Args:
        directory: the folder to search.

    Returns:
        A sorted list of absolute paths (str).

    Raises:
        FileNotFoundError: `directory` is not a folder.
        ValueError: no image file was found.

    Example:
        >>> files = list_image_files("VOC2011/JPEGImages")
    """
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"Expected a folder of images. Received: directory={directory!r}")
    files = []
    for folder, subfolders, names in os.walk(directory):
        subfolders[:] = [s for s in subfolders if not s.startswith(".")]
        files.extend(os.path.abspath(os.path.join(folder, n)) for n in names if _is_image_name(n))
    if not files:
        raise ValueError(
            f"Expected image files ({', '.join(IMAGE_EXTENSIONS)}) under the folder. "
            f"Received: directory={directory!r} with none."
        )
    return sorted(files)


def read_image_list(list_path, root=None):
    """Image paths read from a list file.

    Two formats:

    * a text file (any extension but `.csv`): one path per line; blank lines
      and lines starting with `#` are ignored;
    * a CSV file (`.csv`): the column named `path` (case-insensitive) if the
      header has one, otherwise the first column. Without a `path` column the
      first row is taken as a header unless its first cell ends with an image
      extension.

    The list is read as UTF-8; bytes that are not (a Latin-1 file name, say)
    name the file as the operating system does. Relative paths are resolved
    against `root`, or against the folder of the
    list file when `root` is None. Duplicate entries are kept (they weight
    the image).

    Args:
        list_path: the list file.
        root: folder relative paths are resolved against.

    Returns:
        A list of absolute paths, in the order of the file.

    Raises:
        FileNotFoundError: the list file is missing, or entries name files
            that do not exist (the message shows the first few).
        ValueError: the list names no file.

    Example:
        >>> files = read_image_list("train.txt", root="VOC2011/JPEGImages")
    """
    list_path = os.fspath(list_path)
    if not os.path.isfile(list_path):
        raise FileNotFoundError(f"Expected an image list file. Received: list_path={list_path!r}")
    if list_path.lower().endswith(".csv"):
        entries = _read_csv_paths(list_path)
    else:
        # Names that are not valid UTF-8 come back as os.listdir gives them.
        with open(list_path, encoding="utf-8", errors="surrogateescape") as f:
            entries = [line.strip() for line in f]
        entries = [e for e in entries if e and not e.startswith("#")]
    if not entries:
        raise ValueError(f"Expected at least one image path in the list. Received: {list_path!r} with none.")
    base = os.fspath(root) if root is not None else os.path.dirname(os.path.abspath(list_path))
    files = [os.path.abspath(os.path.join(base, os.path.expanduser(e))) for e in entries]
    missing = [f for f in files if not os.path.isfile(f)]
    if missing:
        shown = ", ".join(repr(m) for m in missing[:5])
        raise FileNotFoundError(
            f"{len(missing)} of the {len(files)} files named in {list_path!r} do not exist "
            f"(relative paths resolved against {base!r}); first: {shown}"
        )
    return files


def _read_csv_paths(list_path):
    with open(list_path, newline="", encoding="utf-8", errors="surrogateescape") as f:
        rows = [row for row in csv.reader(f) if row and any(cell.strip() for cell in row)]
    if not rows:
        return []
    header = [cell.strip().lower() for cell in rows[0]]
    if _PATH_COLUMN in header:
        column = header.index(_PATH_COLUMN)
        body = rows[1:]
    else:
        column = 0
        body = rows if _is_image_name(rows[0][0].strip()) else rows[1:]
    return [row[column].strip() for row in body if len(row) > column and row[column].strip()]
