"""Media checks before upload, and upload chunking."""

import random
import struct
import zlib

import pytest
from PIL import Image

from fo_annotation_backends.core.errors import MediaError, ParameterError
from fo_annotation_backends.core.media import (
    check_image_media,
    chunk_by_count_and_bytes,
    image_size,
    is_remote,
)


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "ok.png"
    Image.new("RGB", (7, 5), "red").save(path)
    return str(path)


def test_good_local_files_return_their_sizes_and_urls_are_accepted(image, tmp_path):
    other = tmp_path / "b.jpg"
    Image.new("RGB", (3, 2), "blue").save(other)
    sizes = check_image_media(
        [("s1", image), ("s2", str(other)), ("s3", "https://example.com/a.jpg"), ("s4", "http://h/b.png")]
    )
    assert sizes == {"s1": (tmp_path / "ok.png").stat().st_size, "s2": other.stat().st_size}


def _png_header(width, height):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "content", [b"x" * 10, b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, _png_header(0, 0), _png_header(4, 0)]
)
def test_corrupt_bytes_and_empty_images_are_refused(tmp_path, image, content):
    bad = tmp_path / "bad.png"
    bad.write_bytes(content)
    with pytest.raises(MediaError, match="not a decodable image") as info:
        check_image_media([("s1", image), ("s2", str(bad))])
    assert str(bad) in str(info.value)
    assert image not in str(info.value)


def test_a_sample_listed_twice_is_refused(image):
    with pytest.raises(ParameterError, match="more than once") as info:
        check_image_media([("s1", image), ("s2", image), ("s1", image)])
    assert "s1" in str(info.value)
    check_image_media([("s1", image), ("s2", image)])  # the same file in two samples is fine


def test_missing_file_is_named(tmp_path):
    missing = str(tmp_path / "nope.jpg")
    with pytest.raises(MediaError) as info:
        check_image_media([("s1", missing)])
    assert missing in str(info.value)
    assert "not found" in str(info.value)
    assert "nothing was uploaded" in str(info.value)


def test_empty_file_is_named(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(MediaError, match="empty") as info:
        check_image_media([("s1", str(empty))])
    assert str(empty) in str(info.value)


def test_video_file_is_refused(tmp_path):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00" * 100)
    with pytest.raises(MediaError, match="video") as info:
        check_image_media([("s1", str(video))])
    assert str(video) in str(info.value)


@pytest.mark.parametrize("path", ["s3://bucket/a.jpg", "gs://bucket/b.png", "azure://c/d.jpg"])
def test_cloud_paths_are_refused(path):
    with pytest.raises(MediaError, match="cloud") as info:
        check_image_media([("s1", path)])
    assert path in str(info.value)


def test_remote_urls_can_be_refused():
    with pytest.raises(MediaError, match="remote"):
        check_image_media([("s1", "https://example.com/a.jpg")], allow_remote=False)


def test_missing_path_names_the_sample():
    with pytest.raises(MediaError, match="sample s9 has no media path"):
        check_image_media([("s9", None)])


def test_file_over_max_bytes_is_refused(tmp_path):
    big = tmp_path / "big.png"
    Image.new("RGB", (7, 5), "red").save(big)
    size = big.stat().st_size
    with pytest.raises(MediaError, match="%d bytes" % size):
        check_image_media([("s1", str(big))], max_bytes=size - 1)
    assert check_image_media([("s1", str(big))], max_bytes=size) == {"s1": size}


def test_every_problem_is_reported_at_once(image, tmp_path):
    empty = tmp_path / "e.png"
    empty.write_bytes(b"")
    with pytest.raises(MediaError) as info:
        check_image_media([("a", image), ("b", str(tmp_path / "x.png")), ("c", str(empty)), ("d", "s3://b/k")])
    message = str(info.value)
    assert message.startswith("3 media file(s)")
    assert str(tmp_path / "x.png") in message
    assert str(empty) in message
    assert "s3://b/k" in message
    assert image not in message


def test_more_than_ten_problems_are_summarised(tmp_path):
    paths = [str(tmp_path / ("missing_%02d.jpg" % i)) for i in range(13)]
    with pytest.raises(MediaError) as info:
        check_image_media([("s%d" % i, p) for i, p in enumerate(paths)])
    message = str(info.value)
    assert message.startswith("13 media file(s)")
    assert all(p in message for p in paths[:10])
    assert not any(p in message for p in paths[10:])
    assert message.endswith("... and 3 more")


def test_is_remote():
    assert is_remote("http://a/b.jpg") and is_remote("https://a/b.jpg")
    assert not is_remote("s3://a/b.jpg")
    assert not is_remote("/data/http://x")
    assert not is_remote(None)


def test_image_size_reads_the_header(image, tmp_path):
    assert image_size(image) == (7, 5)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    with pytest.raises(MediaError, match="not a readable image"):
        image_size(str(broken))


# --------------------------------------------------------------------------
# chunking
# --------------------------------------------------------------------------


def test_chunks_respect_the_count_limit():
    items = list("abcdefg")
    sizes = {k: 1 for k in items}
    assert list(chunk_by_count_and_bytes(items, sizes, 3, 1000)) == [["a", "b", "c"], ["d", "e", "f"], ["g"]]


def test_chunks_respect_the_byte_limit():
    items = list("abcde")
    sizes = {"a": 40, "b": 40, "c": 30, "d": 60, "e": 40}
    assert list(chunk_by_count_and_bytes(items, sizes, 100, 100)) == [["a", "b"], ["c", "d"], ["e"]]


def test_a_chunk_may_fill_the_byte_limit_exactly():
    sizes = {"a": 50, "b": 50, "c": 1}
    assert list(chunk_by_count_and_bytes(["a", "b", "c"], sizes, 10, 100)) == [["a", "b"], ["c"]]


def test_oversize_item_gets_its_own_chunk():
    items = ["a", "big", "b", "c", "huge"]
    sizes = {"a": 10, "big": 500, "b": 10, "c": 10, "huge": 1000}
    assert list(chunk_by_count_and_bytes(items, sizes, 10, 100)) == [["a"], ["big"], ["b", "c"], ["huge"]]


def test_items_without_size_count_as_zero_bytes():
    assert list(chunk_by_count_and_bytes(["url1", "url2", "a"], {"a": 100}, 5, 100)) == [["url1", "url2", "a"]]


def test_empty_input_gives_no_chunks():
    assert list(chunk_by_count_and_bytes([], {}, 5, 100)) == []


def test_random_chunking_keeps_order_and_both_limits():
    rng = random.Random(7)
    for _ in range(200):
        items = list(range(rng.randint(0, 60)))
        sizes = {i: rng.choice([0, 1, 5, 20, 50, 99, 100, 150]) for i in items}
        max_count, max_bytes = rng.randint(1, 8), 100
        chunks = list(chunk_by_count_and_bytes(items, sizes, max_count, max_bytes))
        assert [i for chunk in chunks for i in chunk] == items
        for chunk in chunks:
            assert 1 <= len(chunk) <= max_count
            assert sum(sizes[i] for i in chunk) <= max_bytes or len(chunk) == 1
