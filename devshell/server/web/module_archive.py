"""Module archives (zip) as ``devshell deploy`` sends them: checked before anything is unpacked.

An archive holds exactly one module: every entry lives under one top folder named
like a module, which holds a ``__manifest__.py``. Refused: archives over the size
limits, absolute or ``..`` paths, backslashes, symlinks and other special files,
encrypted entries. Extraction re-checks every path against the target folder,
and an entry whose data does not match its record (CRC, sizes) is refused too.
"""

from __future__ import annotations

import io
import keyword
import re
import stat
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from ...errors import DevshellError

if TYPE_CHECKING:
    from ...modules import Manifest

MAX_ARCHIVE_BYTES = 32 * 1024 * 1024  #: the zip as uploaded
MAX_UNPACKED_BYTES = 256 * 1024 * 1024  #: all its files unpacked
MAX_ENTRIES = 10_000
MANIFEST = "__manifest__.py"
_MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class ArchiveError(DevshellError):
    """An uploaded archive that devshell refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ModuleArchive:
    """A checked archive: the module's name and its file entries."""

    name: str
    data: bytes
    files: tuple[zipfile.ZipInfo, ...]


def _kind(info: zipfile.ZipInfo) -> int:
    """The file type bits an archive made on Unix records (0 when it records none)."""
    return stat.S_IFMT(info.external_attr >> 16)


def _check_entry(info: zipfile.ZipInfo) -> PurePosixPath:
    name = info.filename
    if "\\" in name or "\x00" in name:
        raise ArchiveError(f"archive entry {name!r}: backslashes and NUL bytes are not allowed in paths")
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise ArchiveError(f"archive entry {name!r} points outside the module folder (absolute or '..' path)")
    kind = _kind(info)
    if kind == stat.S_IFLNK:
        raise ArchiveError(f"archive entry {name!r} is a symbolic link: deploy real files only")
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise ArchiveError(f"archive entry {name!r} is not a regular file or folder")
    if info.flag_bits & 0x1:
        raise ArchiveError(f"archive entry {name!r} is encrypted")
    return path


def inspect_archive(data: bytes, *, max_bytes: int = MAX_ARCHIVE_BYTES,
                    max_unpacked: int = MAX_UNPACKED_BYTES) -> ModuleArchive:
    """Check *data* without unpacking it; an :class:`ArchiveError` says what is wrong."""
    if len(data) > max_bytes:
        raise ArchiveError(f"the archive is {len(data)} bytes, over the limit of {max_bytes} bytes", 413)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise ArchiveError(f"not a zip archive: {exc}") from None
    if len(infos) > MAX_ENTRIES:
        raise ArchiveError(f"the archive has {len(infos)} entries, over the limit of {MAX_ENTRIES}", 413)
    if sum(info.file_size for info in infos) > max_unpacked:
        raise ArchiveError(f"the archive unpacks to more than {max_unpacked} bytes", 413)
    tops: set[str] = set()
    files: list[zipfile.ZipInfo] = []
    for info in infos:
        path = _check_entry(info)
        if not path.parts:
            continue
        tops.add(path.parts[0])
        if not info.is_dir():
            if len(path.parts) == 1:
                raise ArchiveError(f"archive entry {info.filename!r} is not inside the module's folder")
            files.append(info)
    if len(tops) != 1:
        found = ", ".join(sorted(tops)[:5]) or "nothing"
        raise ArchiveError(f"the archive must hold exactly one module folder, found: {found}")
    name = tops.pop()
    if not _MODULE_NAME.match(name) or keyword.iskeyword(name):
        raise ArchiveError(f"{name!r} is not a valid module name (a Python identifier)")
    if not any(info.filename == f"{name}/{MANIFEST}" for info in files):
        raise ArchiveError(f"the module {name!r} has no {MANIFEST} at its top")
    return ModuleArchive(name, data, tuple(files))


def extract_archive(archive: ModuleArchive, parent: Path) -> Path:
    """Unpack the checked *archive* into ``parent/<name>`` (which must not exist); returns that folder."""
    root = parent / archive.name
    root.mkdir()
    resolved = root.resolve()
    with zipfile.ZipFile(io.BytesIO(archive.data)) as opened:
        for info in archive.files:
            target = (parent / PurePosixPath(info.filename)).resolve()
            if resolved not in target.parents:
                raise ArchiveError(f"archive entry {info.filename!r} points outside the module folder")
            target.parent.mkdir(parents=True, exist_ok=True)
            try:  # a bad CRC, a size the central directory understates, a broken stream: the archive lies
                with opened.open(info) as source, target.open("wb") as out:
                    while chunk := source.read(1024 * 1024):
                        out.write(chunk)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, ValueError) as exc:
                raise ArchiveError(f"archive entry {info.filename!r} cannot be unpacked: {exc}") from None
    return root


def read_checked_manifest(root: Path) -> "Manifest":
    """The module's validated manifest; errors name the file inside the archive, not the staging folder."""
    from ...modules import ModuleError, read_manifest

    try:
        manifest = read_manifest(root / MANIFEST, root.name)
    except ModuleError as exc:
        raise ArchiveError(exc.message.replace(str(root.parent) + "/", "")) from None
    for source in sorted(root.rglob("*.py")):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # e.g. invalid escape sequences: the module's business
                compile(source.read_bytes(), str(source.relative_to(root.parent)), "exec")
        except (SyntaxError, ValueError) as exc:
            line = f" line {exc.lineno}" if isinstance(exc, SyntaxError) and exc.lineno else ""
            raise ArchiveError(f"{source.relative_to(root.parent)}{line}: not valid Python: "
                               f"{getattr(exc, 'msg', exc)}") from None
    return manifest
