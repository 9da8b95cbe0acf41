"""The object storage side of the Picsellia emulator: parsing the presigned
multipart POST (an S3/MinIO form upload)."""

from __future__ import annotations

from .formats import bad_request


def _boundary(content_type: str) -> bytes:
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/form-data":
        raise bad_request("the storage takes a multipart/form-data POST, not %r" % kind.strip())
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary" and value:
            return value.strip('"').encode("latin-1")
    raise bad_request("the multipart Content-Type has no boundary")


def _disposition_name(headers: dict[str, str], key: str) -> str | None:
    for param in headers.get("content-disposition", "").split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.lower() == key:
            return value.strip('"')
    return None


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], bytes]:
    """``(fields, file content)`` of a form POST; the file is the part named
    ``file``, which must come last (as S3 requires)."""
    delimiter = b"--" + _boundary(content_type)
    chunks = body.split(delimiter)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        raise bad_request("malformed multipart body")
    fields: dict[str, str] = {}
    content: bytes | None = None
    for chunk in chunks[1:-1]:
        if not chunk.startswith(b"\r\n") or not chunk.endswith(b"\r\n"):
            raise bad_request("malformed multipart part")
        head, sep, value = chunk[2:-2].partition(b"\r\n\r\n")
        if not sep:
            raise bad_request("a multipart part has no header end")
        headers: dict[str, str] = {}
        for line in head.decode("latin-1").split("\r\n"):
            key, _, val = line.partition(":")
            headers[key.strip().lower()] = val.strip()
        part_name = _disposition_name(headers, "name")
        if part_name is None:
            raise bad_request("a multipart part has no name")
        if content is not None:
            raise bad_request("the file part must be the last one")
        if part_name == "file":
            content = value
        else:
            fields[part_name] = value.decode("utf-8")
    if content is None:
        raise bad_request("the form has no file part")
    return fields, content
