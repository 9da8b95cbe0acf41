"""A streamed ``multipart/form-data`` body with a known length.

``requests`` builds multipart bodies in memory; uploading a chunk of images
that way costs the chunk's size in RAM. :class:`MultipartFileStream` reads
each file only while it is being sent, keeps at most one file open, and can be
rewound for a retry.
"""

from __future__ import annotations

import mimetypes
import os
import uuid
from collections.abc import Iterable
from typing import IO, Union

#: one file of the body: ``(field_name, upload_filename, path)``
FilePart = tuple[str, str, Union[str, os.PathLike[str]]]


class MultipartFileStream:
    """A file-like body of one ``multipart/form-data`` request.

    Args:
        files: a list of ``(field_name, upload_filename, path)`` tuples
        block_size (1 MiB): the largest block read from a file at once
    """

    # the read position, set by seek()
    _file: IO[bytes] | None
    _index: int
    _stage: str
    _pending: bytes

    def __init__(self, files: Iterable[FilePart], block_size: int = 1 << 20) -> None:
        self.boundary = uuid.uuid4().hex
        self.block_size = block_size
        self._parts: list[tuple[bytes, str | os.PathLike[str], int]] = []
        total = 0
        for field_name, filename, path in files:
            content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
            head = (
                '--%s\r\nContent-Disposition: form-data; name="%s"; filename="%s"\r\n'
                "Content-Type: %s\r\n\r\n" % (self.boundary, _quote(field_name), _quote(filename), content_type)
            ).encode("utf-8")
            size = os.path.getsize(path)
            self._parts.append((head, path, size))
            total += len(head) + size + 2
        self._tail = ("--%s--\r\n" % self.boundary).encode("ascii")
        self._length = total + len(self._tail)
        self.seek(0)

    @property
    def content_type(self) -> str:
        """The ``Content-Type`` header value of this body."""
        return "multipart/form-data; boundary=%s" % self.boundary

    def __len__(self) -> int:
        return self._length

    def seek(self, offset: int, whence: int = 0) -> int:
        """Rewinds to the start (the only supported seek)."""
        if offset != 0 or whence != 0:
            raise OSError("MultipartFileStream can only be rewound to its start")
        self._close_current()
        self._index = 0
        self._stage = "head"
        self._pending = b""
        return 0

    def tell(self) -> int:
        """Unsupported position; present so ``requests`` treats us as a stream."""
        return 0

    def read(self, size: int | None = -1) -> bytes:
        """Reads up to ``size`` bytes of the body (``-1``: one block)."""
        if size is None or size < 0:
            size = self.block_size
        out = bytearray(self._pending)
        self._pending = b""
        while len(out) < size:
            chunk = self._next_chunk(min(size - len(out), self.block_size))
            if chunk is None:
                break
            out += chunk
        if len(out) > size:
            self._pending = bytes(out[size:])
            del out[size:]
        return bytes(out)

    def close(self) -> None:
        """Closes any file still open."""
        self._close_current()

    def _next_chunk(self, size: int) -> bytes | None:
        while self._index < len(self._parts):
            head, path, _ = self._parts[self._index]
            if self._stage == "head":
                self._stage = "body"
                return head
            if self._stage == "body":
                if self._file is None:
                    self._file = open(path, "rb")
                data = self._file.read(size)
                if data:
                    return data
                self._close_current()
                self._stage = "crlf"
            if self._stage == "crlf":
                self._index += 1
                self._stage = "head"
                return b"\r\n"
        if self._stage != "done":
            self._stage = "done"
            return self._tail
        return None

    def _close_current(self) -> None:
        current = getattr(self, "_file", None)
        if current is not None:
            current.close()
        self._file = None


def _quote(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', "%22").replace("\r", "").replace("\n", "")
