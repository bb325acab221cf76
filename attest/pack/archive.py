"""Deterministic ZIP writing and defensive ZIP reading for evidence packs.

Written: entries sorted by name, each stamped 1980-01-01 00:00 (the ZIP epoch), Unix mode 0644,
no extra fields, no comment, deflated at a fixed level: the same files give the same bytes.

Read: refused (``UnusableInput``) when the file is not a ZIP or is truncated, when an entry name
is absolute, holds ``..``, a backslash or a drive letter, when a name repeats, or when the
declared sizes exceed the caps (a zip bomb). Entries are read up to their declared size only.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import PurePosixPath

from attest.verify import UnusableInput

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644  # regular file, rw-r--r--
MAX_TOTAL = 512 * 1024 * 1024  # uncompressed bytes in a whole pack
MAX_ENTRIES = 100_000
MAX_RATIO = 1000  # uncompressed / compressed, per entry above 1 MiB


def write_zip(files: Mapping[str, bytes]) -> bytes:
    """The ZIP of *files* (name → bytes), byte-for-byte reproducible."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so the mode below is read as one
            info.external_attr = FILE_MODE << 16
            info.extra = b""
            zf.writestr(info, files[name], compresslevel=9)
    return buffer.getvalue()


def safe_name(name: str) -> bool:
    """Whether *name* is a plain relative path that stays inside the folder it is extracted to."""
    if not name or name.startswith("/") or "\\" in name or "\0" in name or ":" in name:
        return False
    parts = PurePosixPath(name).parts
    return all(p not in ("", ".", "..") for p in parts) and not name.endswith("/")


def read_zip(data: bytes, where: str) -> tuple[dict[str, bytes], dict[str, str]]:
    """Every entry of the ZIP *data* (named *where* in messages), and the entries that could not
    be read (name → why: a CRC mismatch means the entry's bytes were altered or damaged)."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise UnusableInput(f"{where} is not a readable ZIP file ({exc})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ENTRIES:
            raise UnusableInput(f"{where}: {len(infos)} entries is more than the {MAX_ENTRIES} accepted")
        total = 0
        seen: set[str] = set()
        for info in infos:
            if not safe_name(info.filename):
                raise UnusableInput(f"{where}: entry name {info.filename!r} is refused (absolute, '..', a folder "
                                    "or an odd character)")
            if info.filename in seen:
                raise UnusableInput(f"{where}: entry {info.filename!r} appears twice")
            seen.add(info.filename)
            total += info.file_size
            if total > MAX_TOTAL:
                raise UnusableInput(f"{where}: its entries would uncompress to more than {MAX_TOTAL // 2**20} MiB")
            if info.file_size > 2**20 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
                raise UnusableInput(f"{where}: entry {info.filename!r} compresses more than {MAX_RATIO}:1 "
                                    "(a zip bomb?)")
        files: dict[str, bytes] = {}
        damaged: dict[str, str] = {}
        for info in infos:
            try:
                with zf.open(info) as entry:
                    content = entry.read(info.file_size + 1)
            except zlib.error:
                damaged[info.filename] = "its compressed bytes cannot be decompressed: altered or damaged"
                continue
            except zipfile.BadZipFile as exc:
                if "CRC" in str(exc):
                    damaged[info.filename] = "its bytes do not match the ZIP's CRC: altered or damaged"
                    continue
                raise UnusableInput(f"{where}: entry {info.filename!r} cannot be read ({exc})") from None
            except (OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
                raise UnusableInput(f"{where}: entry {info.filename!r} cannot be read ({exc})") from None
            if len(content) != info.file_size:
                raise UnusableInput(f"{where}: entry {info.filename!r} is not the size its header declares")
            files[info.filename] = content
    return files, damaged
