"""The Kili emulator's native video over real sockets: VIDEO projects,
``appendManyAssetsAsynchronously`` with uploaded files, ``notifications``,
and the checks of frame-keyed labels."""

import json

import pytest
import requests
from kili_emulator_helpers import (  # noqa: F401  (emulator is a fixture)
    ASSETS,
    SIGNED_URLS,
    append_labels,
    create_project,
    emulator,
    gql,
    gql_error,
    reason,
)

from fo_annotation_backends.testing.kili import KiliEmulator
from fo_annotation_backends.testing.videos import make_video

pytest.importorskip("av")

VIDEO_INTERFACE = {
    "jobs": {
        "TRACKS": {
            "mlTask": "OBJECT_DETECTION",
            "tools": ["rectangle"],
            "required": 0,
            "isChild": False,
            "content": {"input": "radio", "categories": {"CAR": {"name": "car"}, "PERSON": {"name": "person"}}},
        },
        "SCENE": {
            "mlTask": "CLASSIFICATION",
            "required": 0,
            "isChild": False,
            "content": {"input": "radio", "categories": {"DAY": {"name": "day"}}},
        },
    }
}
APPEND_ASYNC = (
    "mutation appendManyAssetsAsynchronously($data: AppendManyAssetsAsynchronouslyData!, $where: ProjectWhere!) "
    "{ data: appendManyAssetsAsynchronously(data: $data, where: $where) { id } }"
)
NOTIFICATIONS = (
    "query notifications($where: NotificationWhere!, $first: PageSize!, $skip: Int!) "
    "{ data: notifications(where: $where, first: $first, skip: $skip) { status } }"
)
COUNT_NOTIFICATIONS = "query($where: NotificationWhere!) { data: countNotifications(where: $where) }"
FRAMES = 12


@pytest.fixture(scope="module")
def mp4(tmp_path_factory):
    return make_video(str(tmp_path_factory.mktemp("kili-video") / "clip.mp4"), frames=FRAMES, fps=25)


@pytest.fixture
def video_project(emulator):
    return create_project(emulator, "Videos", input_type="VIDEO", interface=VIDEO_INTERFACE)


def upload(emulator, project_id, asset_id, data, content_type="video/mp4"):
    """PUTs bytes to the asset's bucket path; returns the content URL."""
    path = "projects/%s/assets/%s/content" % (project_id, asset_id)
    url = gql(emulator, SIGNED_URLS, {"filePaths": [path]})["urls"][0]
    put = requests.put(url.split("&id=")[0], data=data, headers={"Content-Type": content_type}, timeout=10)
    assert put.status_code == 200
    return url


def append_async(emulator, project_id, contents, ids, external_ids, metadata=None, upload_type="NATIVE_VIDEO"):
    data = {
        "contentArray": contents,
        "externalIDArray": external_ids,
        "idArray": ids,
        "jsonMetadataArray": metadata or ["{}"] * len(contents),
        "uploadType": upload_type,
    }
    return {"data": data, "where": {"id": project_id}}


def import_videos(emulator, project_id, files, metadata=None):
    """Uploads ``{asset_id: (bytes, content_type)}`` and imports them; returns the notification id."""
    ids = list(files)
    contents = [upload(emulator, project_id, i, data, mime) for i, (data, mime) in files.items()]
    variables = append_async(emulator, project_id, contents, ids, ["ext-" + i for i in ids], metadata)
    return gql(emulator, APPEND_ASYNC, variables)["data"]["id"]


def status(emulator, notification_id):
    return gql(emulator, NOTIFICATIONS, {"where": {"id": notification_id}, "first": 1, "skip": 0})["data"][0]["status"]


def video_assets(emulator, project_id):
    fields = "id externalId resolution { width height } jsonMetadata"
    return gql(emulator, ASSETS % fields, {"where": {"project": {"id": project_id}}, "first": 10, "skip": 0})["data"]


def test_native_video_import_goes_pending_then_success(emulator, video_project, mp4):
    with open(mp4, "rb") as f:
        data = f.read()
    notification = import_videos(emulator, video_project, {"cvid1": (data, "video/mp4")})
    assert gql(emulator, COUNT_NOTIFICATIONS, {"where": {"id": notification}})["data"] == 1
    assert video_assets(emulator, video_project) == []  # not imported before the job ends
    assert status(emulator, notification) == "SUCCESS"  # the default: one read
    assert status(emulator, notification) == "SUCCESS"
    (asset,) = video_assets(emulator, video_project)
    assert asset["id"] == "cvid1" and asset["externalId"] == "ext-cvid1"
    assert asset["resolution"] == {"width": 64, "height": 48}
    parameters = json.loads(asset["jsonMetadata"])["processingParameters"]
    assert parameters["numberOfFrames"] == FRAMES and parameters["framesPlayedPerSecond"] == 25
    assert parameters["shouldUseNativeVideo"] is True and parameters["shouldKeepNativeFrameRate"] is True
    found = gql(
        emulator,
        ASSETS % "id",
        {"where": {"project": {"id": video_project}, "externalIdStrictlyIn": ["ext-cvid1"]}, "first": 10, "skip": 0},
    )["data"]
    assert found == [{"id": "cvid1"}]


def test_notification_reads_are_configurable(mp4):
    with KiliEmulator(api_key="k", resolve_remote_media=False, notification_reads=3) as emu:
        project_id = create_project(emu, "V", input_type="VIDEO", interface=VIDEO_INTERFACE)
        with open(mp4, "rb") as f:
            notification = import_videos(emu, project_id, {"a1": (f.read(), "video/mp4")})
        # ids of an import still pending are taken
        variables = append_async(emu, project_id, ["https://example.com/v.mp4"], ["a1"], ["other"])
        assert reason(gql_error(emu, APPEND_ASYNC, variables)) == "assetIdAlreadyExists"
        assert [status(emu, notification) for _ in range(4)] == ["PENDING", "PENDING", "SUCCESS", "SUCCESS"]
        assert reason(gql_error(emu, APPEND_ASYNC, variables)) == "assetIdAlreadyExists"
    with KiliEmulator(api_key="k", resolve_remote_media=False, notification_reads=0) as emu:
        project_id = create_project(emu, "V", input_type="VIDEO", interface=VIDEO_INTERFACE)
        with open(mp4, "rb") as f:
            import_videos(emu, project_id, {"a1": (f.read(), "video/mp4")})
        assert len(video_assets(emu, project_id)) == 1  # ended at once
    with pytest.raises(ValueError):
        KiliEmulator(notification_reads=-1)


def test_a_requested_frame_rate_resamples(emulator, video_project, mp4):
    with open(mp4, "rb") as f:
        data = f.read()
    metadata = [json.dumps({"processingParameters": {"framesPlayedPerSecond": 5, "shouldKeepNativeFrameRate": False}})]
    notification = import_videos(emulator, video_project, {"v5": (data, "video/mp4")}, metadata)
    assert status(emulator, notification) == "SUCCESS"
    parameters = json.loads(video_assets(emulator, video_project)[0]["jsonMetadata"])["processingParameters"]
    assert parameters["framesPlayedPerSecond"] == 5 and parameters["numberOfFrames"] == round(FRAMES * 5 / 25)


def test_bad_files_fail_the_notification_and_good_ones_import(emulator, video_project, mp4):
    with open(mp4, "rb") as f:
        good = f.read()
    files = {
        "good": (good, "video/mp4"),
        "garbage": (b"not a video at all", "video/mp4"),
        "image": (good, "image/png"),
    }
    notification = import_videos(emulator, video_project, files)
    assert status(emulator, notification) == "FAILURE"
    assert [a["id"] for a in video_assets(emulator, video_project)] == ["good"]
    # a hosted file with a wrong extension is refused without being fetched
    variables = append_async(emulator, video_project, ["https://example.com/a.gif"], ["h1"], ["h1"])
    notification = gql(emulator, APPEND_ASYNC, variables)["data"]["id"]
    assert status(emulator, notification) == "FAILURE"
    # hosted with an allowed extension, remote media not resolved: imported without metadata
    variables = append_async(emulator, video_project, ["https://example.com/b.webm"], ["h2"], ["h2"])
    assert status(emulator, gql(emulator, APPEND_ASYNC, variables)["data"]["id"]) == "SUCCESS"


def test_async_import_refusals(emulator, video_project, mp4):
    image_project = create_project(emulator, "Images")
    url = "https://example.com/v.mp4"
    cases = [
        (append_async(emulator, image_project, [url], ["x1"], ["x1"]), "invalidInputType"),
        (
            append_async(emulator, video_project, [url], ["x1"], ["x1"], upload_type="FRAME_VIDEO"),
            "unsupportedUploadType",
        ),
        (append_async(emulator, video_project, [url, url], ["x1"], ["x1", "x2"]), "arraysLengthMismatch"),
        (
            append_async(
                emulator,
                video_project,
                [url],
                ["x1"],
                ["x1"],
                ['{"processingParameters": {"shouldUseNativeVideo": false}}'],
            ),
            "invalidUploadType",
        ),
        (append_async(emulator, video_project, ["local/file.mp4"], ["x1"], ["x1"]), "invalidContent"),
    ]
    for variables, expected in cases:
        assert reason(gql_error(emulator, APPEND_ASYNC, variables)) == expected, variables
    # content that was never uploaded
    path = "projects/%s/assets/x9/content" % video_project
    signed = gql(emulator, SIGNED_URLS, {"filePaths": [path]})["urls"][0]
    variables = append_async(emulator, video_project, [signed], ["x9"], ["x9"])
    assert reason(gql_error(emulator, APPEND_ASYNC, variables)) == "contentNotUploaded"
    unknown = gql(emulator, NOTIFICATIONS, {"where": {"id": "nope"}, "first": 1, "skip": 0})["data"]
    assert unknown == []


# -- frame-keyed labels --------------------------------------------------------------


def track_box(mid, x0, key=True, category="CAR"):
    vertices = [{"x": x0, "y": 0.6}, {"x": x0, "y": 0.2}, {"x": x0 + 0.2, "y": 0.2}, {"x": x0 + 0.2, "y": 0.6}]
    return {
        "mid": mid,
        "type": "rectangle",
        "categories": [{"name": category}],
        "boundingPoly": [{"normalizedVertices": vertices}],
        "isKeyFrame": key,
        "children": {},
    }


def valid_response():
    response = {str(i): {} for i in range(FRAMES)}
    response["0"] = {
        "TRACKS": {"annotations": [track_box("t1", 0.1)]},
        "SCENE": {"categories": [{"name": "DAY"}], "isKeyFrame": True},
        "ANNOTATION_JOB_COUNTER": {"TRACKS": {"CAR": 1}},
        "ANNOTATION_NAMES_JOB": {"t1": "car 1"},
    }
    response["1"] = {"TRACKS": {"annotations": [track_box("t1", 0.15, key=False)]}}
    response["2"] = {"TRACKS": {"annotations": [track_box("t1", 0.2)]}}
    return response


@pytest.fixture
def video_asset(emulator, video_project, mp4):
    with open(mp4, "rb") as f:
        notification = import_videos(emulator, video_project, {"lab1": (f.read(), "video/mp4")})
    assert status(emulator, notification) == "SUCCESS"
    return "lab1"


def test_frame_keyed_label_round_trip(emulator, video_project, video_asset):
    response = valid_response()
    append_labels(emulator, "DEFAULT", [{"assetID": video_asset, "jsonResponse": json.dumps(response)}])
    labels = gql(
        emulator,
        "query($where: LabelWhere!) { data: labels(where: $where, first: 20, skip: 0) { jsonResponse jsonResponseUrl } }",
        {"where": {"project": {"id": video_project}}},
    )["data"]
    assert len(labels) == 1 and json.loads(labels[0]["jsonResponse"]) == response
    assert labels[0]["jsonResponseUrl"] is None


def _refusal(emulator, asset_id, response):
    items = [{"assetID": asset_id, "jsonResponse": json.dumps(response)}]
    query = (
        "mutation($data: AppendManyLabelsData!, $where: AssetWhere!) "
        "{ data: appendManyLabels(data: $data, where: $where) { id } }"
    )
    error = gql_error(emulator, query, {"data": {"labelType": "DEFAULT", "labelsData": items}, "where": {}})
    assert reason(error) == "invalidJsonResponse", error
    assert error["extensions"]["code"] == "OPERATION_RESOLUTION_FAILURE"
    return error["message"]


def _with(frame, value):
    response = valid_response()
    response[frame] = value
    return response


def test_frame_keyed_label_refusals(emulator, video_asset):
    box = track_box
    cases = {
        "beyond the last frame": _with(str(FRAMES), {}),
        "not a frame index": _with("first", {}),
        "padded index": _with("01", {}),
        "unknown job": _with("3", {"NOPE": {"categories": [{"name": "DAY"}]}}),
        "counter off frame 0": _with("3", {"ANNOTATION_JOB_COUNTER": {"TRACKS": {"CAR": 1}}}),
        "names off frame 0": _with("4", {"ANNOTATION_NAMES_JOB": {"t1": "x"}}),
        "isKeyFrame missing": _with("3", {"TRACKS": {"annotations": [dict(box("t1", 0.1), isKeyFrame=None)]}}),
        "isKeyFrame not bool": _with("3", {"SCENE": {"categories": [{"name": "DAY"}], "isKeyFrame": "yes"}}),
        "category changes": _with("3", {"TRACKS": {"annotations": [box("t1", 0.1, category="PERSON")]}}),
        "unknown category": _with("3", {"TRACKS": {"annotations": [box("t2", 0.1, category="BUS")]}}),
        "twice in a frame": _with("3", {"TRACKS": {"annotations": [box("t2", 0.1), box("t2", 0.3)]}}),
        "vertex outside": _with("3", {"TRACKS": {"annotations": [box("t2", 0.9)]}}),
        "empty mid": _with("3", {"TRACKS": {"annotations": [box("", 0.1)]}}),
        "frame not object": _with("3", []),
        "bad counter": _with("0", dict(valid_response()["0"], ANNOTATION_JOB_COUNTER={"TRACKS": {"CAR": "one"}})),
    }
    for name, response in cases.items():
        assert _refusal(emulator, video_asset, response), name
    # the refusals created nothing
    assert gql(emulator, "query { data: countLabels(where: {}) }")["data"] == 0


def test_cli_takes_notification_reads(capsys):
    from fo_annotation_backends.testing.kili.__main__ import main

    with pytest.raises(SystemExit):
        main(["--port", "0", "--notification-reads", "-1"])
    assert "notification_reads must be >= 0" in capsys.readouterr().err
