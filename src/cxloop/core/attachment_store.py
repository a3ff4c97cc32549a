"""Where the bytes of attached files live: content-addressed, one copy per content hash in a
workspace. ``AttachmentStore`` is the interface (put, open, delete); ``LocalAttachmentStore``
keeps files under the data dir (``attachments/<workspace>/<sha256[:2]>/<sha256>``), each written
to a temporary file and renamed into place, so a reader never sees half a file and two writers of
the same content end with one. An S3-compatible store can implement the same three methods.

It knows no table: callers keep the key a ``put`` returns and ask for it again by that key.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from cxloop.core.settings import Settings

_CHUNK = 256 * 1024
_KEY = re.compile(r"^[0-9]{1,12}/[0-9a-f]{2}/[0-9a-f]{64}$")


class TooLarge(Exception):
    """The content is larger than the caller allowed; nothing was stored. ``size`` is how
    large it turned out to be (read to its end, so the caller can say so)."""

    def __init__(self, size: int) -> None:
        super().__init__(f"{size} bytes")
        self.size = size


@dataclass(frozen=True)
class StoredFile:
    key: str
    sha256: str
    size: int


class AttachmentStore(Protocol):
    def put(self, workspace_id: int, source: BinaryIO, *, max_bytes: int) -> StoredFile:
        """Store what ``source`` holds for ``workspace_id`` (once per content); TooLarge, with
        nothing stored, when it holds more than ``max_bytes``."""
        ...

    def open(self, key: str) -> BinaryIO:
        """The stored bytes of ``key``; FileNotFoundError when there are none."""
        ...

    def delete(self, key: str) -> bool:
        """Remove the bytes of ``key``; False when there were none."""
        ...


class LocalAttachmentStore:
    """Files under ``root`` on the local disk (or a shared volume)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        if not _KEY.match(key):  # never a path of the caller's choosing
            raise FileNotFoundError(key)
        return self.root / key

    def put(self, workspace_id: int, source: BinaryIO, *, max_bytes: int) -> StoredFile:
        folder = self.root / str(int(workspace_id))
        folder.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        handle, temp_name = tempfile.mkstemp(dir=folder, prefix=".upload-")
        temp = Path(temp_name)
        try:
            with os.fdopen(handle, "wb") as out:
                while chunk := source.read(_CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        # Read on to the end (without keeping it) to say how large it was.
                        while more := source.read(_CHUNK):
                            size += len(more)
                        raise TooLarge(size)
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha = digest.hexdigest()
            key = f"{int(workspace_id)}/{sha[:2]}/{sha}"
            final = self.root / key
            if final.exists():
                temp.unlink()  # the same content is stored already
            else:
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(temp, final)
            return StoredFile(key=key, sha256=sha, size=size)
        finally:
            if temp.exists():
                temp.unlink()

    def open(self, key: str) -> BinaryIO:
        return self._path(key).open("rb")

    def delete(self, key: str) -> bool:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            return False
        return True


def attachment_store(settings: Settings) -> AttachmentStore:
    """The store the settings name (today: files under the data dir)."""
    return LocalAttachmentStore(settings.data_dir / "attachments")
