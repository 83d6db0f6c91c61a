"""Files on local paths and on URIs (s3://, gs://, file://), through pyarrow.fs; no ray.

The one filesystem module of the project: the runner writes experiments with it, the
analysis reads them, and every result file is written atomically through `atomic_write`.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import pyarrow.fs as pafs
from pyarrow.fs import FileType


def is_uri(path: str | Path) -> bool:
    """True for URIs (file://, s3://, gs://, ...), False for plain local paths."""
    return "://" in str(path)


def open_location(path: str | Path) -> tuple[pafs.FileSystem, str]:
    """(filesystem, path inside it) for a local path (made absolute) or any URI pyarrow reads.

    Raises OSError (pyarrow's ArrowInvalid is one) for a URI it cannot open."""
    text = str(path)
    if is_uri(text):
        return pafs.FileSystem.from_uri(text)
    return pafs.LocalFileSystem(), Path(text).expanduser().resolve().as_posix()


def join(base: str, *names: str) -> str:
    """`base/name/...` for local paths and URIs alike."""
    return "/".join([str(base).rstrip("/"), *names])


def sibling(path: str | Path, name: str) -> str | Path:
    """The file `name` in the folder of `path`: a Path for a local path, a URI for a URI."""
    if is_uri(path):
        return join(str(path).rsplit("/", 1)[0], name)
    return Path(path).with_name(name)


def delete_file(path: str | Path) -> None:
    """Remove the file at a local path or URI; nothing when it is not there."""
    fs, inner = open_location(path)
    try:
        fs.delete_file(inner)
    except FileNotFoundError:
        pass


def file_type(fs: pafs.FileSystem, path: str) -> FileType:
    """NotFound, File or Directory."""
    return fs.get_file_info(path).type


def exists(path: str | Path) -> bool:
    """Whether anything (file or folder) is at `path`."""
    fs, inner = open_location(path)
    return file_type(fs, inner) != FileType.NotFound


def is_dir(path: str | Path) -> bool:
    """Whether `path` is a folder."""
    fs, inner = open_location(path)
    return file_type(fs, inner) == FileType.Directory


def list_dir(fs: pafs.FileSystem, path: str) -> list[pafs.FileInfo]:
    """The direct children of a directory."""
    return fs.get_file_info(pafs.FileSelector(path, recursive=False))


def read_bytes(path: str | Path) -> bytes:
    """The whole file at a local path or URI."""
    fs, inner = open_location(path)
    with fs.open_input_stream(inner) as stream:
        return stream.read()


def read_text(path: str | Path) -> str:
    """The whole file as UTF-8 text (invalid bytes replaced)."""
    return read_bytes(path).decode("utf-8", errors="replace")


def atomic_write(path: str | Path, write: Callable[[io.BytesIO], object]) -> None:
    """Write what `write` puts into a buffer to `path`, all or nothing: locally through a
    temp file beside it and a rename, on object stores as one PUT (already all-or-nothing).
    Readers never see half a file. Creates the parent folder."""
    buffer = io.BytesIO()
    write(buffer)
    if not is_uri(path):
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")
        try:
            tmp.write_bytes(buffer.getvalue())
            tmp.replace(target)
        except OSError as exc:  # said of the file asked for: the temp file is ours, not the caller's
            tmp.unlink(missing_ok=True)
            raise OSError(f"cannot write {target}: {exc.strerror or exc}") from None
        return
    fs, inner = open_location(path)
    fs.create_dir(inner.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(inner) as stream:
        stream.write(buffer.getvalue())


def write_text(path: str | Path, text: str) -> None:
    """atomic_write of UTF-8 text."""
    atomic_write(path, lambda buffer: buffer.write(text.encode("utf-8")))
