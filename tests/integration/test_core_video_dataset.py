"""The video core on a real dataset: PyAV-made videos with PyAV metadata,
their frame labels turned into tracks, sent to a tiny in-test "service"
that speaks like Label Studio (keyframes only, 1-based frames, ``time =
frame / fps``, ``enabled: false`` ends a segment), edited there, and loaded
back through FiftyOne's own ``annotate()``/``load_annotations()`` machinery
(its track merge included): ids, indexes, frames and boxes exact.

(Named ``test_core_video_dataset`` because ``tests/unit/test_core_video.py``
exists and pytest's default import mode needs distinct test module names.)
"""

import math

import fiftyone as fo
import fiftyone.core.labels as fol
import fiftyone.utils.annotations as foua
import pytest
from registration import temporary_dataset

from fo_annotation_backends.core.regions import NewLabelIds, Region
from fo_annotation_backends.core.schema import normalize_label_schema
from fo_annotation_backends.core.video import (
    FrameNumbering,
    VideoError,
    check_frame_count,
    check_video_samples,
    frame_at_time,
    frame_time,
    load_frames,
    only_keyframes,
)
from fo_annotation_backends.core.video_download import build_video_annotations, video_frame_labels
from fo_annotation_backends.core.video_tracks import frame_id_map, tracks_from_frames
from fo_annotation_backends.testing.registration import registered_backend
from fo_annotation_backends.testing.videos import (
    MovingBox,
    make_mpeg4_video,
    make_vfr_video,
    make_video,
    track_detections,
    video_metadata,
    video_sample,
)

FRAMES = 40
LABEL_STUDIO = FrameNumbering("Label Studio", 1)
BOXES = [
    MovingBox(2, 4, 10, 8, dx=1, dy=0, label="car"),
    MovingBox(50, 30, 8, 8, dx=-1, dy=0, first=5, last=30, label="person", color=(64, 255, 64)),
    MovingBox(20, 2, 6, 6, dx=0, dy=1, first=10, last=35, label="car", color=(64, 64, 255)),
]

#: the tiny service: {anno_key: {sample_id: {field: [track]}}}
SERVICE = {}
#: new-label memory of the tiny backend: {(sample_id, field): {origin: id}}
MEMORY = {}


class VideoTestBackendConfig(foua.AnnotationBackendConfig):
    pass


class VideoTestBackend(foua.AnnotationBackend):
    """Uploads tracks like Label Studio's ``videorectangle`` results
    (keyframes only), downloads them through the video core."""

    supported_media_types = ["video"]
    supported_label_types = ["detections"]
    supported_scalar_types = []
    supported_attr_types = ["text"]
    supports_keyframes = True
    supports_video_sample_fields = False
    requires_label_schema = True

    def recommend_attr_tool(self, name, value):
        return {"type": "text"}

    def requires_attr_values(self, attr_type):
        return False

    def upload_annotations(self, samples, anno_key, launch_editor=False):
        schema = self.config.label_schema
        check_video_samples(samples, schema, allowed_codecs={"h264"}, allow_start_offset=False, service="test")
        samples.ensure_frames()
        frames = load_frames(samples, list(schema))
        service = SERVICE.setdefault(anno_key, {})
        id_map = {}
        for sample_id, sample_frames in frames.items():
            for field in schema:
                values = sample_frames.values[field]
                id_map.setdefault(field, {})[sample_id] = frame_id_map(sample_frames.frame_ids, values)
                tracks = []
                for track in tracks_from_frames(values, field, sample_id):
                    sequence = [
                        {
                            "frame": LABEL_STUDIO.to_service(f.frame_number, sample_frames.frame_count),
                            "time": frame_time(f.frame_number, sample_frames.frame_rate),
                            "box": list(f.label.bounding_box),
                            "enabled": not f.segment_end,
                        }
                        for f in track.upload_frames(only_keyframes(schema, field))
                    ]
                    tracks.append(
                        {
                            "id": "%s/%s" % (sample_id, track.key),
                            "index": track.index,
                            "label_id": track.frames[0].label_id if track.index is None else None,
                            "label": track.label,
                            "framesCount": sample_frames.frame_count,
                            "sequence": sequence,
                        }
                    )
                service.setdefault(sample_id, {})[field] = tracks
        return VideoTestResults(samples, self.config, anno_key, id_map, backend=self)

    def download_annotations(self, results):
        schema = self.config.label_schema
        fields = normalize_label_schema(schema)
        service = SERVICE[results.key]

        def convert(spec, annotation, context):
            memory = NewLabelIds(MEMORY.get((context.sample_id, spec.name)))
            regions = []
            for track in annotation[spec.name]:
                check_frame_count("test", track["framesCount"], context.frame_count)
                for key in track["sequence"]:
                    frame_number = LABEL_STUDIO.from_service(key["frame"], context.frame_count)
                    assert frame_at_time(key["time"], context.frame_rate, context.frame_count) == frame_number
                    regions.append(
                        Region(
                            label=track["label"],
                            region_id=track["id"],
                            index=track["index"],
                            label_id=track["label_id"],
                            box=key["box"],
                            frame_number=frame_number,
                            segment_end=not key["enabled"],
                        )
                    )
            labels = video_frame_labels(spec, regions, context, interpolate=True, new_ids=memory)
            MEMORY[(context.sample_id, spec.name)] = memory.current
            return labels

        sample_ids = results.samples.values("id")
        return build_video_annotations(results.samples, fields, results.id_map, sample_ids, service, convert, schema)


class VideoTestResults(foua.AnnotationResults):
    @classmethod
    def _from_dict(cls, d, samples, config, anno_key):
        return cls(samples, config, anno_key, d["id_map"])

    def launch_editor(self):
        pass

    def cleanup(self):
        SERVICE.pop(self.key, None)


@pytest.fixture
def backend():
    entry = {"config_cls": __name__ + ".VideoTestBackendConfig"}
    with registered_backend("videotest", entry) as name:
        yield name


@pytest.fixture
def dataset():
    yield from temporary_dataset("video")


def add_videos(dataset, folder, count=2, keyframe_every=None):
    samples = []
    for i in range(count):
        path = make_video(str(folder / ("clip_%d.mp4" % i)), BOXES, frames=FRAMES)
        sample = video_sample(path)
        for number, detections in track_detections(BOXES, FRAMES, keyframe_every=keyframe_every).items():
            sample.frames[number]["gt"] = detections
        samples.append(sample)
    dataset.add_samples(samples)
    return dataset


def snapshot(dataset):
    """``{sample_id: {(frame_number, label_id): (index, label, box, keyframe)}}``."""
    out = {}
    for sample in dataset.select_fields("frames.gt"):
        labels = {}
        for number, frame in sample.frames.items():
            for det in (frame["gt"] or fol.Detections()).detections:
                labels[(number, det.id)] = (
                    det.index,
                    det.label,
                    list(det.bounding_box),
                    det.get_field("keyframe") if det.has_field("keyframe") else None,
                )
        out[sample.id] = labels
    return out


def annotate(dataset, backend):
    dataset.annotate(
        "run", backend=backend, label_field="frames.gt", label_type="detections", classes=["car", "person"]
    )


def close(a, b):
    return all(math.isclose(p, q, rel_tol=0, abs_tol=1e-12) for p, q in zip(a, b))


def test_video_metadata_from_pyav_is_what_fiftyone_stores(dataset, tmp_path):
    add_videos(dataset, tmp_path, count=1)
    sample = dataset.first()
    assert sample.metadata.total_frame_count == FRAMES
    assert (sample.metadata.frame_width, sample.metadata.frame_height) == (64, 48)
    assert sample.metadata.frame_rate == 25.0 and sample.metadata.encoding_str == "avc1"
    dataset.ensure_frames()  # numbered from the metadata: one document per decoded frame
    assert sorted(load_frames(dataset, ["frames.gt"])[sample.id].frame_ids) == list(range(1, FRAMES + 1))


def test_untouched_round_trip_keeps_every_frame_label_exactly(dataset, backend, tmp_path):
    add_videos(dataset, tmp_path)
    before = snapshot(dataset)
    annotate(dataset, backend)
    dataset.load_annotations("run")
    assert snapshot(dataset) == before


def test_keyframes_only_round_trip_interpolates_between_keyframes_with_ids_kept(dataset, backend, tmp_path):
    add_videos(dataset, tmp_path, keyframe_every=5)
    before = snapshot(dataset)
    annotate(dataset, backend)
    sent = SERVICE["run"][dataset.first().id]["frames.gt"]
    assert len(sent[0]["sequence"]) < FRAMES  # keyframes only
    dataset.load_annotations("run")
    after = snapshot(dataset)
    assert set(after) == set(before)
    for sample_id, labels in before.items():
        assert set(after[sample_id]) == set(labels)  # same frames, same ids
        for key, (index, label, box, keyframe) in labels.items():
            new_index, new_label, new_box, new_keyframe = after[sample_id][key]
            assert (new_index, new_label, new_keyframe) == (index, label, keyframe)
            if keyframe:
                assert new_box == box  # exact at keyframes
            else:
                assert close(new_box, box)  # linear motion, linear interpolation


def test_edited_tracks_merge_with_ids_indexes_frames_and_boxes(dataset, backend, tmp_path):
    add_videos(dataset, tmp_path, count=1)
    before = snapshot(dataset)
    sample_id = dataset.first().id
    annotate(dataset, backend)
    tracks = {t["index"]: t for t in SERVICE["run"][sample_id]["frames.gt"]}
    # track 1: moved on frame 10 (every frame is a keyframe: the rest stays)
    tracks[1]["sequence"][9]["box"] = [0.5, 0.5, 0.1, 0.1]
    # track 2 shortened: ends at frame 20
    tracks[2]["sequence"] = [k for k in tracks[2]["sequence"] if k["frame"] <= 20]
    tracks[2]["sequence"][-1]["enabled"] = False
    # track 3 deleted, a new track drawn on frames 5..15 (two keyframes, interpolated)
    del tracks[3]
    new = {"id": "new-track", "index": None, "label_id": None, "label": "person", "framesCount": FRAMES}
    new["sequence"] = [
        {"frame": 5, "time": 5 / 25, "box": [0.1, 0.1, 0.2, 0.2], "enabled": True},
        {"frame": 15, "time": 15 / 25, "box": [0.3, 0.1, 0.2, 0.2], "enabled": False},
    ]
    SERVICE["run"][sample_id]["frames.gt"] = list(tracks.values()) + [new]

    dataset.load_annotations("run")
    after = snapshot(dataset)[sample_id]
    by_index = {}
    for (number, label_id), (index, label, box, _) in after.items():
        by_index.setdefault(index, {})[number] = (label_id, label, box)
    old = {}
    for (number, label_id), (index, label, box, _) in before[sample_id].items():
        old.setdefault(index, {})[number] = (label_id, label, box)

    assert sorted(by_index) == [1, 2, 4]  # 3 deleted, the new track got the next index
    assert by_index[1][10][2] == [0.5, 0.5, 0.1, 0.1]
    assert {n: v for n, v in by_index[1].items() if n != 10} == {n: v for n, v in old[1].items() if n != 10}
    assert by_index[1][10][0] == old[1][10][0]  # the moved box kept its id
    assert by_index[2] == {n: v for n, v in old[2].items() if n <= 20}
    assert sorted(by_index[4]) == list(range(5, 16))
    assert by_index[4][5][2] == [0.1, 0.1, 0.2, 0.2] and by_index[4][15][2] == [0.3, 0.1, 0.2, 0.2]
    assert close(by_index[4][10][2], [0.2, 0.1, 0.2, 0.2])
    old_ids = {label_id for _, label_id in before[sample_id]}
    assert not old_ids & {v[0] for v in by_index[4].values()}

    # a second load changes nothing: the new track's ids and index are remembered
    dataset.load_annotations("run")
    assert snapshot(dataset)[sample_id] == after


def test_a_track_whose_class_changes_is_split_on_the_service_and_one_track_again(dataset, backend, tmp_path):
    add_videos(dataset, tmp_path, count=1)
    sample = dataset.first()
    for number in range(10, 20):
        frame = sample.frames[number]
        for det in frame["gt"].detections:
            if det.index == 1:
                det.label = "person"
    sample.save()
    before = snapshot(dataset)
    annotate(dataset, backend)
    sent = [t for t in SERVICE["run"][sample.id]["frames.gt"] if t["index"] == 1]
    assert sorted(t["label"] for t in sent) == ["car", "person"]
    car = next(t for t in sent if t["label"] == "car")
    assert [k["frame"] for k in car["sequence"] if not k["enabled"]] == [9, FRAMES]  # a gap where it was a person
    dataset.load_annotations("run")
    assert snapshot(dataset) == before


def test_refusals_before_upload(dataset, tmp_path):
    schema = {"frames.gt": {"type": "detections", "classes": ["car"]}}
    vfr = fo.Sample(filepath=make_vfr_video(str(tmp_path / "vfr.mp4")))
    vfr.metadata = video_metadata(vfr.filepath)
    mpeg4 = fo.Sample(filepath=make_mpeg4_video(str(tmp_path / "mpeg4.mp4")))
    mpeg4.metadata = video_metadata(mpeg4.filepath)
    bare = fo.Sample(filepath=make_video(str(tmp_path / "bare.mp4")))
    dataset.add_samples([vfr, mpeg4, bare])
    with pytest.raises(VideoError) as error:
        check_video_samples(dataset, schema, allowed_codecs={"h264"}, service="FastLabel")
    message = str(error.value)
    assert "3 problem(s)" in message
    assert "vfr.mp4) has a variable frame rate" in message
    assert "mpeg4.mp4) is encoded with mpeg4 (mp4v); FastLabel takes h264 only" in message
    assert "bare.mp4) has no video metadata" in message and "video_metadata(sample.filepath)" in message

    with pytest.raises(VideoError, match="sample-level field"):
        check_video_samples(dataset, {"gt": {"type": "detections", "classes": ["car"]}})


def test_frames_fields_on_images_are_refused(tmp_path):
    from PIL import Image

    for ds in temporary_dataset("images"):
        path = str(tmp_path / "a.png")
        Image.new("RGB", (8, 8)).save(path)
        ds.add_sample(fo.Sample(filepath=path))
        with pytest.raises(VideoError, match="frame field, but the collection holds image"):
            check_video_samples(ds, {"frames.gt": {"type": "detections", "classes": ["car"]}})
