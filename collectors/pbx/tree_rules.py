"""How a configuration tree is walked, locally or over SFTP: the rules both accesses share.

* Symbolic links are followed, also when they point outside the tree (FreePBX links
  extensions.conf and friends from /var/lib/asterisk), but a folder is read once: a link back to a
  folder already read (a loop, or a second way to the same folder) becomes an error entry.
* Key material is never read: anything under a `keys/` folder and files named *.pem, *.key, *.p12,
  *.pfx, *.der, *.crt, *.csr get `DumpFile(data=None, error="key material; not read")`.
* Bounds (`dump.MAX_FILE_BYTES`, `MAX_TREE_BYTES`, `MAX_FILES`, read when a walk starts so a test
  can lower them): a bigger file is listed but not read; when the tree total or the file count is
  reached the walk notes it and stops reading.
* Whatever cannot be read (permission denied, broken link, FIFO, device, socket) becomes a
  `DumpFile` with an error, never an exception. Only the root folder failing raises
  `PbxAccessError`.
* Every file read goes through `redact_config`.

`walk_tree` does this over a `TreeFs`: `LocalFs` here, the SFTP one in ssh.py.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat as statmod
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Protocol

from collectors.pbx import dump
from collectors.pbx.dump import DumpFile
from collectors.pbx.errors import PbxAccessError
from collectors.pbx.redact import redact_config

KEY_SUFFIXES = (".pem", ".key", ".p12", ".pfx", ".der", ".crt", ".csr")
KEY_ERROR = "key material; not read"
MAX_DEPTH = 40  # folders deeper than this are not entered (a chain of links can nest without looping)


@dataclass(frozen=True)
class Limits:
    file_bytes: int
    tree_bytes: int
    files: int

    @classmethod
    def current(cls) -> Limits:
        """The bounds of dump.py as they are now (tests monkeypatch them)."""
        return cls(dump.MAX_FILE_BYTES, dump.MAX_TREE_BYTES, dump.MAX_FILES)


@dataclass(frozen=True)
class Node:
    """What a path is once symbolic links are followed."""

    kind: str  # "dir", "file" or "other" (FIFO, socket, device)
    size: int = 0


class TreeFs(Protocol):
    """The few file-system operations a walk needs. Paths are the access's own (absolute)."""

    def stat(self, path: str) -> Node:
        """Follows symbolic links; raises OSError."""
        ...

    def is_symlink(self, path: str) -> bool:
        """Whether `path` itself is a symbolic link (False when it cannot be known)."""
        ...

    def dir_key(self, path: str) -> Hashable:
        """A value equal for two paths of the same folder (inode, or the resolved path)."""
        ...

    def listdir(self, path: str) -> list[str]: ...

    def read(self, path: str, limit: int) -> bytes:
        """At most `limit` bytes of the regular file at `path`; raises OSError."""
        ...

    def join(self, folder: str, name: str) -> str: ...


def is_key_material(rel: str) -> bool:
    """Whether the file at `rel` (relative to the tree's root) must not be read."""
    parts = PurePosixPath(rel).parts
    return any(p.lower() == "keys" for p in parts[:-1]) or rel.lower().endswith(KEY_SUFFIXES)


def os_reason(exc: BaseException) -> str:
    """A short, secret-free reason for an OSError (local or SFTP)."""
    code = getattr(exc, "errno", None)
    reasons = {
        errno.EACCES: "permission denied", errno.EPERM: "permission denied", errno.ENOENT: "not found",
        errno.ELOOP: "symbolic link loop", errno.ENOTDIR: "not a folder", errno.EISDIR: "is a folder",
        errno.ENXIO: "not a regular file", errno.EIO: "input/output error",
    }
    if isinstance(code, int) and code in reasons:
        return reasons[code]
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text)[:200]


@dataclass
class Walk:
    """The result of one walk: files by relative path, and notes for the dump."""

    files: dict[str, DumpFile] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def walk_tree(fs: TreeFs, root: str, *, label: str, include: Callable[[str, bool], bool] | None = None,
              limits: Limits | None = None) -> Walk:
    """Read the tree at `root` by the rules above. `label` names the tree in notes ("asterisk").
    `include(rel, is_dir)` may restrict what is read (fail2ban: the jail files only). Raises
    PbxAccessError when `root` itself cannot be listed."""
    lim = limits or Limits.current()
    walk = Walk()
    state = {"bytes": 0, "stopped": False, "tree_full": False}
    try:
        names = sorted(fs.listdir(root))
        seen: dict[Hashable, str] = {fs.dir_key(root): "."}
    except OSError as exc:
        raise PbxAccessError(f"cannot read the {label} folder {root}: {os_reason(exc)}") from exc

    def add(entry: DumpFile) -> bool:
        if len(walk.files) >= lim.files:
            if not state["stopped"]:
                walk.notes.append(f"{label}: stopped after {lim.files} files (the file count limit)")
                state["stopped"] = True
            return False
        walk.files[entry.path] = entry
        return True

    def visit(folder: str, rel_folder: str, entries: list[str], depth: int) -> None:
        for name in entries:
            if state["stopped"]:
                return
            rel = f"{rel_folder}/{name}" if rel_folder else name
            path = fs.join(folder, name)
            try:
                node = fs.stat(path)
            except OSError as exc:
                reason = os_reason(exc)
                if getattr(exc, "errno", None) in (errno.ENOENT, None) and fs.is_symlink(path):
                    reason = "broken symbolic link"
                if include is None or include(rel, False):
                    add(DumpFile(rel, None, error=reason))
                continue
            if node.kind == "dir":
                if include is not None and not include(rel, True):
                    continue
                enter_folder(path, rel, depth + 1)
                continue
            if include is not None and not include(rel, False):
                continue
            if node.kind != "file":
                add(DumpFile(rel, None, error="not a regular file; not read"))
            elif is_key_material(rel):
                add(DumpFile(rel, None, error=KEY_ERROR, size=node.size))
            elif node.size > lim.file_bytes:
                add(DumpFile(rel, None, error=f"larger than {lim.file_bytes} bytes; not read", size=node.size))
            elif state["tree_full"] or state["bytes"] + node.size > lim.tree_bytes:
                if not state["tree_full"]:
                    walk.notes.append(f"{label}: stopped reading at {lim.tree_bytes} bytes (the tree size limit);"
                                      " the files after it are listed, not read")
                    state["tree_full"] = True
                add(DumpFile(rel, None, error="tree size limit reached; not read", size=node.size))
            else:
                add(read_file(path, rel))

    def read_file(path: str, rel: str) -> DumpFile:
        try:
            data = fs.read(path, lim.file_bytes + 1)
        except OSError as exc:
            return DumpFile(rel, None, error=os_reason(exc))
        if len(data) > lim.file_bytes:  # grew since it was listed
            return DumpFile(rel, None, error=f"larger than {lim.file_bytes} bytes; not read", size=len(data))
        state["bytes"] += len(data)
        return DumpFile(rel, redact_config(rel, data), size=len(data))

    def enter_folder(path: str, rel: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            add(DumpFile(rel, None, error=f"folder nested deeper than {MAX_DEPTH}; not read"))
            return
        try:
            key = fs.dir_key(path)
            if key in seen:
                first = "the tree's root" if seen[key] == "." else seen[key]
                add(DumpFile(rel, None, error=f"same folder as {first} (symbolic link); not read again"))
                return
            seen[key] = rel
            entries = sorted(fs.listdir(path))
        except OSError as exc:
            add(DumpFile(rel, None, error=f"folder not readable: {os_reason(exc)}"))
            return
        visit(path, rel, entries, depth)

    visit(root, "", names, 0)
    return walk


class LocalFs:
    """The local file system."""

    def stat(self, path: str) -> Node:
        st = os.stat(path)
        if statmod.S_ISDIR(st.st_mode):
            return Node("dir")
        if statmod.S_ISREG(st.st_mode):
            return Node("file", st.st_size)
        return Node("other")

    def is_symlink(self, path: str) -> bool:
        return os.path.islink(path)

    def dir_key(self, path: str) -> Hashable:
        st = os.stat(path)
        return (st.st_dev, st.st_ino)

    def listdir(self, path: str) -> list[str]:
        return os.listdir(path)

    def read(self, path: str, limit: int) -> bytes:
        # O_NONBLOCK: should the file have become a FIFO since it was listed, do not hang on it.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
        try:
            if not statmod.S_ISREG(os.fstat(fd).st_mode):
                raise OSError(errno.ENXIO, "not a regular file")
            chunks: list[bytes] = []
            left = limit
            while left > 0:
                chunk = os.read(fd, min(left, 1 << 20))
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)

    def join(self, folder: str, name: str) -> str:
        return os.path.join(folder, name)


def fail2ban_include(rel: str, is_dir: bool) -> bool:
    """The fail2ban files read: jail.conf, jail.local and jail.d/* (what decides which jails run)."""
    if is_dir:
        return rel == "jail.d" or rel.startswith("jail.d/")
    return rel in ("jail.conf", "jail.local") or rel.startswith("jail.d/")


def posix_join(folder: str, name: str) -> str:
    return posixpath.join(folder, name)
