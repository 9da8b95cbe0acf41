"""The video core without a database: frame numbering, checks and
refusals, PyAV probing, tracks from frame labels, and service regions back
to FiftyOne's frame labels (interpolation, ids, indexes, keyframes)."""

import dataclasses
import fractions
import math

import fiftyone.core.labels as fol
import pytest

from fo_annotation_backends.core import video as vid, video_probe
from fo_annotation_backends.core.errors import ParameterError
from fo_annotation_backends.core.idmap import is_object_id
from fo_annotation_backends.core.regions import NewLabelIds, Region
from fo_annotation_backends.core.schema import normalize_label_schema
from fo_annotation_backends.core.video import (
    FIFTYONE,
    ONE_BASED,
    ZERO_BASED,
    FrameNumbering,
    FrameRangeError,
    VideoError,
    VideoItem,
    check_frame_count,
    check_video_items,
    check_video_schema,
    frame_at_time,
    frame_time,
    keyframe_flags_kept,
    only_keyframes,
)
from fo_annotation_backends.core.video_download import (
    VideoContext,
    expand_track,
    interpolate_region,
    video_frame_labels,
)
from fo_annotation_backends.core.video_probe import _rate_profile, probe_video
from fo_annotation_backends.core.video_tracks import frame_id_map, track_labels, tracks_from_frames
from fo_annotation_backends.testing.videos import (
    MovingBox,
    make_mpeg4_video,
    make_vfr_video,
    make_video,
    track_detections,
    video_metadata,
)

FRAMES = 30
#: how the backends will name their numberings (core names no service)
LABEL_STUDIO = FrameNumbering("Label Studio", 1)
KILI = FrameNumbering("Kili", 0)
FASTLABEL = FrameNumbering("FastLabel", 1)


def det(label="car", box=(0.1, 0.1, 0.2, 0.2), index=None, keyframe=None):
    detection = fol.Detection(label=label, bounding_box=list(box), index=index)
    if keyframe is not None:
        detection["keyframe"] = keyframe
    return detection


def dets(*labels):
    return fol.Detections(detections=list(labels))


def spec_of(label_type="detections"):
    return normalize_label_schema({"frames.gt": {"type": label_type, "classes": ["car", "person"]}})["frames.gt"]


def context_of(current=None, uploaded=None, frame_count=FRAMES, keep_keyframes=True, frame_ids=None):
    current = current or {}
    if uploaded is None:
        uploaded = {label.id for value in current.values() for label in value.detections}
    if frame_ids is None:
        frame_ids = {n: "frame%02d" % n for n in range(1, frame_count + 1)}
    return VideoContext(
        sample_id="s1",
        field="frames.gt",
        frame_ids=frame_ids,
        frame_count=frame_count,
        frame_size=(64, 48),
        frame_rate=25.0,
        current=current,
        uploaded_ids=set(uploaded),
        keep_keyframes=keep_keyframes,
    )


def by_frame(out):
    """``{frame_number: [label]}`` from ``{frame_id: {label_id: label}}``."""
    return {int(frame_id[5:]): list(labels.values()) for frame_id, labels in out.items()}


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    return {
        "cfr": make_video(str(folder / "cfr.mp4"), [MovingBox(2, 2, 8, 8)], frames=FRAMES),
        "vfr": make_vfr_video(str(folder / "vfr.mp4"), frames=FRAMES),
        "mpeg4": make_mpeg4_video(str(folder / "mpeg4.mp4"), frames=FRAMES),
        "late": make_video(str(folder / "late.mp4"), frames=10, frame_times=[0.5 + i / 25 for i in range(10)]),
    }


# frame numbering -----------------------------------------------------------


@pytest.mark.parametrize(
    "numbering, first", [(FIFTYONE, 1), (LABEL_STUDIO, 1), (KILI, 0), (FASTLABEL, 1)], ids=lambda v: str(v)
)
def test_every_frame_maps_to_the_service_and_back_without_drift(numbering, first):
    for frame_number in range(1, FRAMES + 1):
        number = numbering.to_service(frame_number, FRAMES)
        assert number == frame_number - 1 + first
        assert numbering.from_service(number, FRAMES) == frame_number
        assert numbering.from_service(numbering.key(frame_number, FRAMES), FRAMES) == frame_number


def test_kili_keys_start_at_zero_and_fastlabel_keys_at_one():
    assert (ZERO_BASED.base, ONE_BASED.base) == (0, 1)
    assert ZERO_BASED.key(1, FRAMES) == KILI.key(1, FRAMES) and ONE_BASED.key(1, FRAMES) == FASTLABEL.key(1, FRAMES)
    assert KILI.key(1, FRAMES) == "0" and KILI.from_service("29", FRAMES) == 30
    assert FASTLABEL.key(1, FRAMES) == "1" and FASTLABEL.from_service("30", FRAMES) == 30


@pytest.mark.parametrize("numbering, number", [(KILI, 30), (KILI, -1), (FASTLABEL, 0), (LABEL_STUDIO, 31)])
def test_a_service_frame_outside_the_decoded_frames_is_refused(numbering, number):
    with pytest.raises(
        FrameRangeError, match="%s frame %d is outside the video's 30 frames" % (numbering.service, number)
    ):
        numbering.from_service(number, FRAMES)


@pytest.mark.parametrize("key", ["x", "1.5", "", True, 2.0])
def test_a_frame_key_that_is_not_a_number_is_refused(key):
    with pytest.raises(FrameRangeError, match="not a frame number"):
        KILI.from_service(key, FRAMES)


def test_to_service_refuses_frames_outside_the_video_and_unknown_counts():
    with pytest.raises(FrameRangeError):
        KILI.to_service(0, FRAMES)
    with pytest.raises(FrameRangeError):
        KILI.to_service(31, FRAMES)
    with pytest.raises(FrameRangeError, match="frame count is unknown"):
        KILI.to_service(1, 0)


def test_frame_time_is_frame_over_fps_and_reads_back_to_the_same_frame():
    assert frame_time(1, 25) == 0.04 and frame_time(25, 25) == 1.0
    assert frame_time(18, 25) == pytest.approx(0.72)
    for fps in (25, 29.97, 30000 / 1001, 60):
        for frame_number in range(1, 301):
            assert frame_at_time(frame_time(frame_number, fps), fps, 300) == frame_number
    with pytest.raises(FrameRangeError):
        frame_at_time(0.0, 25, 30)  # time 0 is frame 0: not a frame
    with pytest.raises(VideoError, match="frame rate"):
        frame_time(1, 0)


def test_a_service_frame_count_other_than_the_decoded_one_is_refused():
    check_frame_count("Label Studio", 30, 30)
    check_frame_count("Label Studio", None, 30)
    with pytest.raises(VideoError, match="Label Studio counts 31 frames in clip.mp4, which decodes to 30"):
        check_frame_count("Label Studio", 31, 30, "clip.mp4")


# probing -------------------------------------------------------------------


def test_a_made_video_is_constant_rate_h264_with_its_frames(videos):
    probe = probe_video(videos["cfr"])
    assert (probe.codec, probe.fourcc, probe.pix_fmt) == ("h264", "avc1", "yuv420p")
    assert (probe.width, probe.height, probe.frame_rate) == (64, 48, 25)
    assert probe.decoded_frames == probe.container_frames == FRAMES
    assert probe.constant_rate and probe.duration == pytest.approx(FRAMES / 25) and probe.start_time == 0
    assert probe.mime_type == "video/mp4"


def test_video_metadata_is_computed_with_pyav(videos):
    metadata = video_metadata(videos["cfr"])
    assert metadata.total_frame_count == FRAMES and metadata.frame_rate == 25.0
    assert (metadata.frame_width, metadata.frame_height, metadata.encoding_str) == (64, 48, "avc1")
    assert metadata.mime_type == "video/mp4" and metadata.size_bytes > 0
    assert metadata.duration == pytest.approx(FRAMES / 25)


def test_video_metadata_refuses_a_container_that_declares_other_frames(videos):
    probe = dataclasses.replace(probe_video(videos["cfr"]), container_frames=FRAMES + 1)
    with pytest.raises(vid.MediaError, match="declares 31 frames but 30 decode"):
        video_metadata(videos["cfr"], probe)


def test_variable_rate_non_h264_and_late_start_are_seen(videos):
    vfr = probe_video(videos["vfr"])
    assert not vfr.constant_rate
    assert vfr.min_frame_duration == pytest.approx(0.04) and vfr.max_frame_duration == pytest.approx(0.08)
    assert probe_video(videos["mpeg4"]).codec == "mpeg4"
    assert probe_video(videos["late"]).start_time == pytest.approx(0.5)


def test_timestamps_rounded_to_the_time_base_are_still_constant_rate():
    base = fractions.Fraction(1, 12800)
    stamps = [round(i * 12800 / 30) for i in range(60)]  # 426/427 ticks
    assert _rate_profile(stamps, base, fractions.Fraction(30))[0]
    assert not _rate_profile([0, 512, 1024, 2048], base, fractions.Fraction(25))[0]
    assert not _rate_profile([0, 512, 512, 1024], base, fractions.Fraction(25))[0]  # a repeated timestamp
    assert _rate_profile([0], base, fractions.Fraction(25)) == (True, 0.0, 0.0)


def test_probing_a_file_that_is_not_a_video(tmp_path):
    path = tmp_path / "x.mp4"
    path.write_bytes(b"not a video")
    with pytest.raises(vid.MediaError, match="not a decodable video"):
        probe_video(str(path))
    with pytest.raises(vid.MediaError, match="file not found"):
        probe_video(str(tmp_path / "missing.mp4"))


# checks --------------------------------------------------------------------


def item(path, sample_id="s1", **meta):
    metadata = {"frame_width": 64, "frame_height": 48, "frame_rate": 25.0, "total_frame_count": FRAMES}
    metadata.update(meta)
    return VideoItem(sample_id, path, metadata)


def refusal(items, **kwargs):
    with pytest.raises(VideoError) as error:
        check_video_items(items, **kwargs)
    return str(error.value)


def test_a_good_video_passes_and_returns_its_probe(videos):
    probes = check_video_items([item(videos["cfr"], duration=1.2)], allowed_codecs={"h264"})
    assert probes["s1"].decoded_frames == FRAMES


def test_a_video_without_metadata_is_refused_naming_the_fix(videos):
    message = refusal([VideoItem("s1", videos["cfr"], None)])
    assert "has no video metadata" in message
    assert "compute_metadata()" in message and "video_metadata(sample.filepath)" in message
    assert "frame_rate, total_frame_count missing" in refusal(
        [item(videos["cfr"], frame_rate=None, total_frame_count=0)]
    )


def test_a_variable_frame_rate_is_refused(videos):
    message = refusal([item(videos["vfr"])])
    assert "has a variable frame rate (frames last 0.0400s to 0.0800s)" in message and "-fps_mode cfr" in message


def test_metadata_whose_frame_count_is_not_the_decoded_one_is_refused(videos):
    message = refusal([item(videos["cfr"], total_frame_count=FRAMES + 1)], service="Kili")
    assert "the metadata says 31 frames but the file decodes to 30" in message and "Kili numbers" in message


def test_metadata_that_contradicts_itself_is_refused_without_probing(videos):
    message = refusal([item(videos["cfr"], duration=2.0)], probe=False)
    assert "contradicts itself (30 frames, but 2.000s x 25.000 fps = 50.0 frames)" in message


def test_metadata_of_another_size_or_rate_is_refused(videos):
    assert "says 80x48 pixels but the frames are 64x48" in refusal([item(videos["cfr"], frame_width=80)])
    assert "frame rate 30.000 is not the file's 25.000" in refusal([item(videos["cfr"], frame_rate=30.0)])


def test_a_codec_the_service_refuses_is_named(videos):
    message = refusal([item(videos["mpeg4"])], allowed_codecs={"h264"}, service="FastLabel")
    assert "is encoded with mpeg4 (mp4v); FastLabel takes h264 only" in message


def test_a_late_start_is_refused_only_where_it_shifts_frames(videos):
    late = item(videos["late"], total_frame_count=10)
    check_video_items([late])
    assert "starts at 0.500s, not 0" in refusal([late], allow_start_offset=False, service="Label Studio")


def test_images_missing_files_and_remote_files(videos, tmp_path):
    message = refusal([item(str(tmp_path / "a.png")), item(str(tmp_path / "gone.mp4"), "s2"), VideoItem("s3", None)])
    assert "is an image, not a video" in message and "gone.mp4): file not found" in message
    assert "sample s3 has no media path" in message
    assert check_video_items([item("https://example.com/v.mp4")]) == {"s1": None}  # metadata only


def test_every_problem_is_listed_up_to_ten(videos):
    message = refusal([VideoItem("s%d" % i, videos["cfr"], None) for i in range(12)])
    assert "12 problem(s)" in message and "... and 2 more" in message


def test_repeated_samples_and_probe_without_pyav(videos, monkeypatch):
    with pytest.raises(ParameterError, match="more than once"):
        check_video_items([item(videos["cfr"]), item(videos["cfr"])])
    monkeypatch.setattr(vid, "pyav_available", lambda: False)
    with pytest.raises(ParameterError, match="pip install av"):
        check_video_items([item(videos["cfr"])], probe=True)
    assert check_video_items([item(videos["vfr"])]) == {"s1": None}  # auto: not probed


def test_schema_checks_frames_fields_and_sample_fields():
    detections = {"type": "detections", "classes": ["car"]}
    with pytest.raises(VideoError, match="frame field, but the collection holds image"):
        check_video_schema("image", {"frames.gt": detections})
    with pytest.raises(VideoError, match="spatial labels of a video are kept per frame, annotate 'frames.gt'"):
        check_video_schema("video", {"gt": detections})
    scene = {"scene": {"type": "classification", "classes": ["day"]}}
    with pytest.raises(VideoError, match="which this backend does not annotate"):
        check_video_schema("video", scene)
    check_video_schema("video", scene, supports_video_sample_fields=True)
    check_video_schema("video", {"frames.gt": detections})
    check_video_schema("image", {"gt": detections})


def test_keyframe_rules_read_from_the_label_schema():
    schema = {
        "frames.a": {"existing_field": True, "only_keyframes": True},
        "frames.b": {"existing_field": True, "only_keyframes": False},
        "frames.c": {"existing_field": False},
    }
    assert [only_keyframes(schema, f) for f in schema] == [True, False, False]
    assert [keyframe_flags_kept(schema, f) for f in schema] == [True, False, True]


# tracks from labels --------------------------------------------------------


def test_labels_sharing_an_index_make_a_track_with_ids_frames_and_keyframes():
    a1, a2, a3 = det(index=1, keyframe=True), det(index=1), det(index=1, keyframe=False)
    b = det("person", index=2)
    tracks = tracks_from_frames({1: dets(a1, b), 2: dets(a2), 3: dets(a3), 4: None})
    assert [(t.index, t.label, t.frame_numbers) for t in tracks] == [(1, "car", [1, 2, 3]), (2, "person", [1])]
    first = tracks[0]
    assert first.label_ids == [a1.id, a2.id, a3.id]
    assert [f.keyframe for f in first.frames] == [True, False, False] and first.has_keyframes
    assert (first.first_frame, first.last_frame, first.key) == (1, 3, "1:car")
    assert track_labels(tracks)[a2.id] == (2, 1)


def test_labels_without_index_are_tracks_of_their_own():
    x, y = det(), det("person")
    tracks = tracks_from_frames({3: dets(x), 5: dets(y, det(index=4))})
    assert [(t.index, t.frame_numbers) for t in tracks] == [(4, [5]), (None, [3]), (None, [5])]
    assert tracks[1].key == "id:%s" % x.id and tracks[1].frames[0].segment_start and tracks[1].frames[0].segment_end


def test_gaps_make_segments_and_mark_their_ends():
    track = tracks_from_frames({n: dets(det(index=7)) for n in [2, 3, 4, 8, 9, 12]})[0]
    assert track.segments == [(2, 4), (8, 9), (12, 12)]
    assert [(f.frame_number, f.segment_start, f.segment_end) for f in track.frames] == [
        (2, True, False),
        (3, False, False),
        (4, False, True),
        (8, True, False),
        (9, False, True),
        (12, True, True),
    ]


def test_a_class_change_mid_track_splits_it_per_class_with_the_same_index():
    frames = {n: dets(det("person" if 4 <= n <= 6 else "car", index=1)) for n in range(1, 10)}
    tracks = tracks_from_frames(frames)
    assert [(t.index, t.label, t.segments) for t in tracks] == [
        (1, "car", [(1, 3), (7, 9)]),
        (1, "person", [(4, 6)]),
    ]


def test_two_labels_with_one_index_on_a_frame_are_refused():
    with pytest.raises(VideoError, match="frame 3: labels .* both have index 2"):
        tracks_from_frames({3: dets(det(index=2), det("person", index=2))}, "frames.gt", "s1")


def test_keyframes_only_uploads_keyframes_and_segment_ends():
    frames = {n: dets(det(index=1, keyframe=n in (1, 5))) for n in [1, 2, 3, 4, 5, 6, 7, 10, 11, 12]}
    track = tracks_from_frames(frames)[0]
    assert [f.frame_number for f in track.upload_frames(only_keyframes=True)] == [1, 5, 7, 10, 12]
    assert [f.frame_number for f in track.upload_frames(only_keyframes=False)] == sorted(frames)


def test_frame_id_map_lists_the_labels_of_each_frame():
    a, b = det(index=1), det(index=2)
    assert frame_id_map({1: "f1", 2: "f2"}, {1: dets(a, b), 2: dets()}) == {"f1": [a.id, b.id]}
    with pytest.raises(VideoError, match="no frame document"):
        frame_id_map({}, {1: dets(a)})


def test_moving_boxes_are_tracks_with_exact_pixel_boxes():
    boxes = [MovingBox(2, 4, 10, 8, dx=2), MovingBox(60, 0, 8, 8, first=3, last=5)]
    frames = track_detections(boxes, frames=10, keyframe_every=4)
    assert frames[1].detections[0].bounding_box == [2 / 64, 4 / 48, 10 / 64, 8 / 48]
    assert frames[3].detections[0].bounding_box == [6 / 64, 4 / 48, 10 / 64, 8 / 48]
    second = [d for n in frames for d in frames[n].detections if d.index == 2]
    assert len(second) == 3 and second[0].bounding_box == [60 / 64, 0, 4 / 64, 8 / 48]  # clipped at the edge
    assert [d["keyframe"] for d in second] == [True, False, True]


# regions back to labels ----------------------------------------------------


def test_interpolation_is_linear_and_exact_at_keyframes():
    a = Region(label="car", box=[0.1, 0.2, 0.3, 0.4], frame_number=1, label_id="x", attributes={"n": 1})
    b = Region(label="person", box=[0.5, 0.2, 0.3, 0.8], frame_number=5)
    mid = interpolate_region(a, b, 0.5, 3)
    assert mid.box == pytest.approx([0.3, 0.2, 0.3, 0.6]) and mid.label == "car" and mid.attributes == {"n": 1}
    assert (mid.label_id, mid.keyframe, mid.frame_number) == (None, False, 3)
    expanded = expand_track([b, a], 10, interpolate=True, extend_last=False)
    assert [f for f, _, _ in expanded] == [1, 2, 3, 4, 5]
    assert expanded[0][1] is a and expanded[-1][1] is b  # the keyframes as sent
    assert [k for _, _, k in expanded] == [True, False, False, False, True]


def test_points_and_shapes_interpolate_when_alike_and_hold_otherwise():
    a = Region(points=[[0.0, 0.0], [1.0, math.nan]], shapes=[[[0.0, 0.0], [1.0, 1.0]]], frame_number=1)
    b = Region(points=[[1.0, 1.0], [0.0, 0.0]], shapes=[[[1.0, 0.0], [1.0, 1.0], [0.5, 0.5]]], frame_number=3)
    mid = interpolate_region(a, b, 0.5, 2)
    assert mid.points[0] == [0.5, 0.5] and math.isnan(mid.points[1][1])
    assert mid.shapes == a.shapes  # a different shape: the earlier keyframe's
    c = Region(shapes=[[[1.0, 0.0], [1.0, 0.0]]], frame_number=3)
    assert interpolate_region(a, c, 0.5, 2).shapes == [[[0.5, 0.0], [1.0, 0.5]]]


def test_segment_ends_stop_a_track_and_the_last_keyframe_holds_to_the_end():
    regions = [
        Region(box=[0.1, 0.1, 0.1, 0.1], frame_number=2),
        Region(box=[0.2, 0.1, 0.1, 0.1], frame_number=4, segment_end=True),
        Region(box=[0.5, 0.1, 0.1, 0.1], frame_number=8),
    ]
    assert [f for f, _, _ in expand_track(regions, 10, interpolate=True)] == [2, 3, 4, 8, 9, 10]
    assert [f for f, _, _ in expand_track(regions, 10, interpolate=True, extend_last=False)] == [2, 3, 4, 8]
    assert [f for f, _, _ in expand_track(regions, 10)] == [2, 4, 8]  # every frame sent: as sent


def test_uploaded_frames_keep_their_ids_and_indexes_interpolated_or_not():
    labels = {n: det(box=(0.01 * n, 0.1, 0.2, 0.2), index=3) for n in range(1, 11)}
    current = {n: dets(label) for n, label in labels.items()}
    regions = [
        Region(label="car", region_id="t", index=3, box=[0.01, 0.1, 0.2, 0.2], frame_number=1),
        Region(label="car", region_id="t", index=3, box=[0.1, 0.1, 0.2, 0.2], frame_number=10, segment_end=True),
    ]
    out = by_frame(video_frame_labels(spec_of(), regions, context_of(current), interpolate=True))
    assert sorted(out) == list(range(1, 11))
    for n, (label,) in out.items():
        assert (label.id, label.index, label["keyframe"]) == (labels[n].id, 3, n in (1, 10))
        assert label.bounding_box == pytest.approx(labels[n].bounding_box, abs=1e-12)
    assert out[1][0].bounding_box == [0.01, 0.1, 0.2, 0.2] and out[10][0].bounding_box == [0.1, 0.1, 0.2, 0.2]


def test_new_tracks_get_new_ids_an_index_above_all_and_the_same_ids_next_time():
    old = det(index=5)
    context = context_of({1: dets(old)})
    regions = [Region(label="person", region_id="n", box=[0.1, 0.1, 0.1, 0.1], frame_number=n) for n in (2, 3)]
    memory = NewLabelIds()
    out = by_frame(video_frame_labels(spec_of(), regions, context, new_ids=memory))
    new = [out[2][0], out[3][0]]
    assert [label.index for label in new] == [6, 6] and all(is_object_id(label.id) for label in new)
    assert memory.current == {"frames.gt:n@2": new[0].id, "frames.gt:n@3": new[1].id}
    # the next load: FiftyOne merged them (index 6 became, say, 9) and recorded their ids
    merged = [det("person", index=9) for _ in new]
    for label, added in zip(new, merged):
        added.id = label.id
    context = context_of({1: dets(old), 2: dets(merged[0]), 3: dets(merged[1])})
    again = by_frame(video_frame_labels(spec_of(), regions, context, new_ids=NewLabelIds(memory.current)))
    assert [(again[n][0].id, again[n][0].index) for n in (2, 3)] == [(new[0].id, 9), (new[1].id, 9)]


def test_an_uploaded_label_without_index_stays_so_unless_it_became_a_track():
    lone = det()
    context = context_of({4: dets(lone)})
    back = [Region(label="car", region_id="l", label_id=lone.id, box=[0.1, 0.1, 0.2, 0.2], frame_number=4)]
    (label,) = by_frame(video_frame_labels(spec_of(), back, context))[4]
    assert (label.id, label.index) == (lone.id, None)
    extended = back + [dataclasses.replace(back[0], label_id=None, frame_number=5)]
    out = by_frame(video_frame_labels(spec_of(), extended, context))
    assert out[4][0].id == lone.id and out[4][0].index == out[5][0].index == 1 and out[5][0].id != lone.id


def test_split_service_tracks_of_one_index_are_one_fiftyone_track_again():
    labels = {n: det("person" if n == 2 else "car", index=1) for n in (1, 2, 3)}
    current = {n: dets(label) for n, label in labels.items()}
    regions = [
        Region(label="car", region_id="car", index=1, box=[0.1, 0.1, 0.2, 0.2], frame_number=1, segment_end=True),
        Region(label="car", region_id="car", index=1, box=[0.1, 0.1, 0.2, 0.2], frame_number=3, segment_end=True),
        Region(label="person", region_id="p", index=1, box=[0.1, 0.1, 0.2, 0.2], frame_number=2, segment_end=True),
    ]
    out = by_frame(video_frame_labels(spec_of(), regions, context_of(current), interpolate=True))
    assert {n: (v[0].id, v[0].label, v[0].index) for n, v in out.items()} == {
        n: (labels[n].id, labels[n].label, 1) for n in (1, 2, 3)
    }


def test_a_second_region_of_a_track_on_one_frame_is_a_new_label():
    a = det(index=1)
    regions = [
        Region(label="car", region_id="t", index=1, box=[0.1, 0.1, 0.2, 0.2], frame_number=1),
        Region(label="car", region_id="t", index=1, box=[0.5, 0.5, 0.2, 0.2], frame_number=1),
    ]
    (first, second) = by_frame(video_frame_labels(spec_of(), regions, context_of({1: dets(a)})))[1]
    assert (first.id, first.index) == (a.id, 1)
    assert second.id != a.id and second.index == 2 and second.bounding_box == [0.5, 0.5, 0.2, 0.2]


def test_frames_outside_the_video_or_without_a_document_are_left_out(caplog):
    regions = [
        Region(label="car", region_id="t", box=[0.1, 0.1, 0.2, 0.2], frame_number=n, keyframe=n == 2)
        for n in (2, 3, 31)
    ]
    context = context_of(frame_ids={2: "frame02"})
    out = by_frame(video_frame_labels(spec_of(), regions, context))
    assert list(out) == [2] and out[2][0]["keyframe"] is True
    assert "2 track frame(s) outside the video's 30 frames" in caplog.text


def test_keyframe_flags_are_left_unset_where_fiftyone_deletes_them():
    regions = [Region(label="car", region_id="t", box=[0.1, 0.1, 0.2, 0.2], frame_number=1, keyframe=False)]
    (label,) = by_frame(video_frame_labels(spec_of(), regions, context_of(keep_keyframes=False)))[1]
    assert not label.has_field("keyframe")
    (label,) = by_frame(video_frame_labels(spec_of(), regions, context_of()))[1]
    assert label["keyframe"] is False


def test_polyline_and_keypoint_tracks():
    line = fol.Polyline(label="car", points=[[[0.1, 0.1], [0.2, 0.2]]], closed=True, filled=True, index=2)
    regions = [
        Region(label="car", region_id="t", index=2, shapes=[[[0.1, 0.1], [0.2, 0.2]]], frame_number=1),
        Region(
            label="car", region_id="t", index=2, shapes=[[[0.3, 0.1], [0.4, 0.2]]], frame_number=3, segment_end=True
        ),
    ]
    context = context_of({1: fol.Polylines(polylines=[line])}, uploaded={line.id})
    out = by_frame(video_frame_labels(spec_of("polylines"), regions, context, interpolate=True))
    assert out[1][0].id == line.id and out[1][0].closed and out[1][0].filled
    assert out[2][0].points == [[pytest.approx([0.2, 0.1]), pytest.approx([0.3, 0.2])]] and out[2][0].index == 2
    points = [Region(label="car", region_id="k", points=[[0.1, 0.2], [0.3, 0.4]], frame_number=n) for n in (1, 2)]
    out = by_frame(video_frame_labels(spec_of("keypoints"), points, context_of()))
    assert isinstance(out[1][0], fol.Keypoint) and out[2][0].points == [[0.1, 0.2], [0.3, 0.4]]
    assert out[1][0].index == out[2][0].index == 1


def test_a_video_region_needs_its_frame():
    with pytest.raises(ValueError, match="needs its frame_number"):
        video_frame_labels(spec_of(), [Region(label="car", box=[0, 0, 1, 1])], context_of())


def test_untouched_samples_return_their_uploaded_labels_by_frame_id():
    a, b = det(index=1), det(index=1)
    context = context_of({1: dets(a), 2: dets(b)}, uploaded={a.id})
    assert context.uploaded_by_frame() == {"frame01": {a.id: a}}
    assert video_probe.pyav_available()
