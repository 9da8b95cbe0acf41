"""MultipartFileStream: a streamed multipart body, checked by a real server
and the stdlib ``email`` parser."""

import email.policy
import os
import random
from email.parser import BytesParser

import psutil
import pytest
from scripted_http import Respond

from fo_annotation_backends.core.http import HttpSession, RetryPolicy
from fo_annotation_backends.core.multipart import MultipartFileStream


def parse_multipart(content_type, body):
    """The ``[(field name, filename, content type, bytes)]`` of a body."""
    raw = ("Content-Type: %s\r\n\r\n" % content_type).encode("ascii") + body
    message = BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    assert message.is_multipart()
    assert not message.defects
    return [
        (
            part.get_param("name", header="content-disposition"),
            part.get_filename(),
            part.get_content_type(),
            part.get_payload(decode=True),
        )
        for part in message.iter_parts()
    ]


def open_paths():
    return {os.path.realpath(f.path) for f in psutil.Process().open_files()}


@pytest.fixture
def upload_files(tmp_path):
    """``[(field, filename, path, content)]`` with awkward names and content."""
    rng = random.Random(1234)
    specs = [
        ("file", "photo.jpg", rng.randbytes(2048)),
        ("file", "große Überraschung 日本.png", rng.randbytes((1 << 20) + 4321)),  # > 1 MiB
        ("file", "empty.png", b""),
        ("other", "lines.txt", b"--not-a-boundary\r\n\r\nx\r\n"),
        ("file", "no extension", bytes(range(256)) * 3),
    ]
    out = []
    for i, (field, filename, content) in enumerate(specs):
        path = tmp_path / ("src_%d.bin" % i)
        path.write_bytes(content)
        out.append((field, filename, str(path), content))
    return out


def make_stream(upload_files, **kwargs):
    return MultipartFileStream([(f, n, p) for f, n, p, _ in upload_files], **kwargs)


def read_all(stream, size):
    chunks = []
    while True:
        chunk = stream.read(size)
        if not chunk:
            return b"".join(chunks)
        assert len(chunk) <= size
        chunks.append(chunk)


def test_every_file_arrives_intact_at_a_real_server(http_server, upload_files):
    http_server.script("/upload", Respond(201, json_body={"ok": True}))
    stream = make_stream(upload_files)
    session = HttpSession(http_server.url, timeout=(2, 5), sleep=lambda s: None)
    try:
        response = session.request("POST", "/upload", data=stream, headers={"Content-Type": stream.content_type})
    finally:
        session.close()

    assert response.status_code == 201
    (received,) = http_server.requests
    assert int(received.headers["Content-Length"]) == len(stream)
    assert len(received.body) == len(stream)
    assert received.headers["Content-Type"] == stream.content_type

    parts = parse_multipart(received.headers["Content-Type"], received.body)
    assert [(name, filename, data) for name, filename, _, data in parts] == [
        (field, filename, content) for field, filename, _, content in upload_files
    ]
    content_types = [ctype for _, _, ctype, _ in parts]
    assert content_types[:4] == ["image/jpeg", "image/png", "image/png", "text/plain"]
    assert content_types[4] == "application/octet-stream"

    # read to the end: no source file is left open
    sources = {os.path.realpath(p) for _, _, p, _ in upload_files}
    assert not sources & open_paths()


def test_length_matches_the_bytes_read(upload_files):
    stream = make_stream(upload_files)
    assert len(read_all(stream, 1 << 16)) == len(stream)


@pytest.mark.parametrize("size", [1, 7, 4096, 1 << 20, 5 << 20])
def test_read_size_does_not_change_the_bytes(upload_files, size):
    stream = make_stream(upload_files, block_size=1 << 20)
    reference = read_all(stream, 1 << 20)
    stream.seek(0)
    assert read_all(stream, size) == reference


def test_default_read_returns_one_block(upload_files):
    stream = make_stream(upload_files, block_size=1000)
    assert len(stream.read()) == 1000
    assert len(stream.read(-1)) == 1000
    assert len(stream.read(None)) == 1000


def test_rewinding_reproduces_identical_bytes(upload_files):
    stream = make_stream(upload_files)
    first = read_all(stream, 8192)
    assert stream.seek(0) == 0
    second = read_all(stream, 3000)
    assert first == second

    # rewinding half-way through also starts over
    stream.seek(0)
    stream.read(len(first) // 2)
    stream.seek(0)
    assert read_all(stream, 1 << 20) == first


def test_only_seek_to_start_is_supported(upload_files):
    stream = make_stream(upload_files)
    with pytest.raises(OSError):
        stream.seek(10)
    with pytest.raises(OSError):
        stream.seek(0, os.SEEK_END)


def test_at_most_one_file_is_open_and_none_after_the_end(upload_files):
    sources = {os.path.realpath(p) for _, _, p, _ in upload_files}
    big = os.path.realpath(upload_files[1][2])
    stream = make_stream(upload_files, block_size=4096)
    assert not sources & open_paths()

    # into the middle of the > 1 MiB file
    stream.read(len(stream) // 2)
    assert sources & open_paths() == {big}

    read_all(stream, 4096)
    assert not sources & open_paths()

    # rewinding or closing mid-file also closes it
    stream.seek(0)
    stream.read(len(stream) // 2)
    assert sources & open_paths() == {big}
    stream.seek(0)
    assert not sources & open_paths()
    stream.read(len(stream) // 2)
    stream.close()
    assert not sources & open_paths()


def test_retried_upload_sends_the_same_body_twice(http_server, upload_files):
    http_server.script("/upload", Respond(503), Respond(201))
    stream = make_stream(upload_files)
    retry = RetryPolicy(max_retries=2, backoff_factor=0.0, jitter=0.0)
    session = HttpSession(http_server.url, retry=retry, timeout=(2, 5), sleep=lambda s: None)
    try:
        session.request("POST", "/upload", idempotent=True, data=stream, headers={"Content-Type": stream.content_type})
    finally:
        session.close()

    first, second = (r.body for r in http_server.requests)
    assert first == second
    assert len(first) == len(stream)


def test_quotes_and_newlines_in_names_cannot_break_the_headers(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"abc")
    stream = MultipartFileStream([('fi"le', 'evil"\r\nX-Injected: 1.txt', str(path))])
    body = read_all(stream, 4096)
    assert b"\r\nX-Injected" not in body
    ((name, filename, _, data),) = parse_multipart(stream.content_type, body)
    assert data == b"abc"
    assert name == "fi%22le"
    assert filename == "evil%22X-Injected: 1.txt"
