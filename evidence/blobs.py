"""Content-addressed storage of artifacts in the evidence folder: blobs/ab/cdef…"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._root = str(root)
        self._dirs: set[str] = set()  # fan-out directories known to exist: one mkdir each, not one per blob

    def _path(self, sha: str) -> Path:
        return self.root / sha[:2] / sha[2:]

    def put(self, data: bytes, sha: str | None = None) -> str:
        """Store *data* under its SHA-256 (*sha*, when the caller has just computed it). Safe from
        several threads and processes: each writes its own temporary file, then renames it.
        Plain os calls, not pathlib: a big collection writes tens of thousands of blobs."""
        sha = sha or hashlib.sha256(data).hexdigest()
        folder = os.path.join(self._root, sha[:2])
        path = os.path.join(folder, sha[2:])
        if os.path.exists(path):
            return sha
        if sha[:2] not in self._dirs:
            os.makedirs(folder, exist_ok=True)
            self._dirs.add(sha[:2])
        tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(tmp, path)  # atomic: a crash never leaves a half-written blob under its name
        return sha

    def get(self, sha: str) -> bytes:
        data = self._path(sha).read_bytes()
        if hashlib.sha256(data).hexdigest() != sha:
            raise ValueError(f"blob {sha} is corrupt: its content no longer matches its digest")
        return data
