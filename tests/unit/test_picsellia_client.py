"""The Picsellia client against a scripted local HTTP server: the handshake,
XGET lookups, cursor pagination, error bodies, the presigned upload, jobs."""

import json

import pytest
from scripted_http import Drop, Respond

from fo_annotation_backends.core.errors import AuthenticationError, ParameterError, ServiceError
from fo_annotation_backends.picsellia import PicselliaClient

ORG = "0b8f7a7e-1111-4222-8333-444455556666"
CONNECTOR = "c0c0c0c0-1111-4222-8333-444455556666"


def client_for(server, **kwargs):
    kwargs.setdefault("sleep", lambda seconds: None)
    return PicselliaClient(server.url, "secret-token", **kwargs)


def body_of(request):
    return json.loads(request.body.decode("utf-8")) if request.body else None


def test_the_handshake_finds_the_default_organization_with_the_bearer_token(http_server):
    http_server.script(
        "/api/home/ping",
        Respond(200, json_body={"sdk_version": "6.37.0", "default_organization": ORG, "username": "me"}),
    )
    http_server.script(
        "/api/organization/%s" % ORG,
        Respond(200, json_body={"id": ORG, "name": "acme", "default_connector_id": CONNECTOR}),
    )
    client = client_for(http_server)
    assert client.organization()["name"] == "acme"
    assert client.organization()["id"] == ORG  # found once
    assert http_server.count(path="/api/home/ping") == 1
    assert all(r.headers["Authorization"] == "Bearer secret-token" for r in http_server.requests)
    assert "secret-token" not in repr(client)


def test_an_organization_by_name_and_an_unknown_name(http_server):
    http_server.script("/api/organizations/find", Respond(200, json_body={"id": ORG, "name": "acme"}))
    assert client_for(http_server, organization="acme").organization()["id"] == ORG
    http_server.script("/api/organizations/find", Respond(404, json_body={"message": "not found", "detail": "no org"}))
    with pytest.raises(ParameterError, match="No Picsellia organization named 'nope'"):
        client_for(http_server, organization="nope").organization()


def test_a_refused_token_and_a_host_that_is_not_picsellia(http_server):
    http_server.script("/api/home/ping", Respond(401, json_body={"message": "Unauthorized", "detail": "bad token"}))
    with pytest.raises(AuthenticationError, match="FIFTYONE_PICSELLIA_API_KEY"):
        client_for(http_server).ping()
    http_server.script("/api/home/ping", Respond(404, body=b"<html>nope</html>"))
    with pytest.raises(ParameterError, match="does not answer as Picsellia's host"):
        client_for(http_server).ping()
    with pytest.raises(AuthenticationError):
        PicselliaClient(http_server.url, "")
    with pytest.raises(ParameterError, match="`url` must be Picsellia's host"):
        PicselliaClient("app.picsellia.com", "token")


def test_error_bodies_keep_picsellias_words(http_server):
    http_server.script(
        "/api/dataset/version/v1", Respond(409, json_body={"message": "Conflict", "detail": "version is locked"})
    )
    with pytest.raises(ServiceError, match="version is locked") as info:
        client_for(http_server).call("PATCH", "/api/dataset/version/v1", body={"type": "OBJECT_DETECTION"})
    assert info.value.status_code == 409


def test_lists_follow_the_cursor_until_it_ends(http_server):
    http_server.script(
        "/api/campaigns/annotation/c1/assignments",
        Respond(200, json_body={"items": [{"id": "a"}, {"id": "b"}], "count": 3, "next_cursor": "k1"}),
        Respond(200, json_body={"items": [{"id": "c"}], "count": 3, "next_cursor": None}),
    )
    items = list(client_for(http_server).iter_list("/api/campaigns/annotation/c1/assignments", {"status": "DONE"}))
    assert [i["id"] for i in items] == ["a", "b", "c"]
    assert http_server.count(path="/api/campaigns/annotation/c1/assignments") == 2


def test_xget_lookups_send_a_json_body_1000_ids_a_request(http_server):
    http_server.script(
        "/api/dataset/version/v1/assets", Respond(200, json_body={"items": [{"id": "x", "data": {"id": "d1"}}]})
    )
    found = client_for(http_server).assets_by_data_id("v1", ["d%d" % i for i in range(1500)])
    assert list(found) == ["d1"]
    sent = [r for r in http_server.requests if r.path == "/api/dataset/version/v1/assets"]
    assert [r.method for r in sent] == ["XGET", "XGET"]
    assert [len(body_of(r)["data_ids"]) for r in sent] == [1000, 500]
    assert body_of(sent[0])["upload_statuses"] == ["PENDING", "COMPUTING", "DONE", "ERROR"]


def test_a_local_image_goes_up_through_the_presigned_post_then_becomes_data(http_server, tmp_path):
    image = tmp_path / "cat.png"
    image.write_bytes(b"\x89PNG fake image bytes")
    http_server.script("/api/home/ping", Respond(200, json_body={"default_organization": ORG, "username": "me"}))
    http_server.script("/api/organization/%s" % ORG, Respond(200, json_body={"id": ORG, "name": "acme"}))
    http_server.script(
        "/api/organization/%s/connector/%s/generate_object_name" % (ORG, CONNECTOR),
        Respond(200, json_body={"object_name": "objects/cat-123.png"}),
    )
    http_server.script(
        "/api/object-storage/%s/generate_presigned_url" % CONNECTOR,
        Respond(
            200,
            json_body={
                "client_type": "minio",
                "presigned_url_data": {"url": http_server.url + "/storage", "fields": {"key": "objects/cat-123.png"}},
            },
        ),
    )
    http_server.script("/storage", Respond(204))
    http_server.script(
        "/api/datalake/dl1/datas",
        Respond(201, json_body={"id": "data1", "filename": "s1.png", "upload_status": "DONE"}),
    )
    client = client_for(http_server)
    data = client.upload_file(
        {"id": "dl1", "connector_id": CONNECTOR}, str(image), "s1.png", meta={"width": 4, "height": 3}
    )
    assert data["id"] == "data1"
    (storage,) = [r for r in http_server.requests if r.path == "/storage"]
    assert "Authorization" not in storage.headers  # the token never goes to the storage
    assert b"objects/cat-123.png" in storage.body and b"fake image bytes" in storage.body
    (create,) = [r for r in http_server.requests if r.path == "/api/datalake/dl1/datas"]
    assert body_of(create) == {
        "type": "IMAGE",
        "filename": "s1.png",
        "object_name": "objects/cat-123.png",
        "content_type": "image/png",
        "tags": [],
        "meta": {"width": 4, "height": 3},
    }


def test_a_lost_data_create_is_found_by_its_filename_not_sent_twice(http_server, tmp_path):
    image = tmp_path / "cat.png"
    image.write_bytes(b"bytes")
    http_server.script("/api/organizations/find", Respond(200, json_body={"id": ORG, "name": "acme"}))
    http_server.script(
        "/api/organization/%s/connector/%s/generate_object_name" % (ORG, CONNECTOR),
        Respond(200, json_body={"object_name": "o/1"}),
    )
    http_server.script(
        "/api/object-storage/%s/generate_presigned_url" % CONNECTOR,
        Respond(
            200,
            json_body={"client_type": "aws", "presigned_url_data": {"url": http_server.url + "/storage", "fields": {}}},
        ),
    )
    http_server.script("/storage", Respond(204))
    http_server.script(
        "/api/datalake/dl1/datas",
        Drop(apply=True),
        Respond(200, json_body={"items": [{"id": "data1", "filename": "s1.png"}]}),
    )
    client = client_for(http_server, organization="acme")
    data = client.upload_file({"id": "dl1", "connector_id": CONNECTOR}, str(image), "s1.png")
    assert data["id"] == "data1"
    creates = [r for r in http_server.requests if r.path == "/api/datalake/dl1/datas"]
    assert [r.method for r in creates] == ["POST", "XGET"]


def test_jobs_are_followed_to_their_end_and_a_failed_job_is_an_error(http_server):
    http_server.script(
        "/api/job/j1",
        Respond(200, json_body={"status": "RUNNING"}),
        Respond(200, json_body={"status": "SUCCESS"}),
    )
    client_for(http_server).wait_for_job("j1")
    assert http_server.count(path="/api/job/j1") == 2
    http_server.script("/api/job/j2", Respond(200, json_body={"status": "FAILED"}))
    with pytest.raises(ServiceError, match="job j2 ended FAILED"):
        client_for(http_server).wait_for_job("j2")


def test_annotations_are_imported_100_assets_a_request_and_loaded_by_id(http_server):
    http_server.script("/api/dataset/version/v1/bulk-annotations", Respond(200, json_body={}))
    client = client_for(http_server)
    client.import_annotations("v1", [{"asset_id": "a%d" % i, "rectangles": []} for i in range(250)], status="PENDING")
    sent = [body_of(r) for r in http_server.requests if r.path == "/api/dataset/version/v1/bulk-annotations"]
    assert [len(b["annotations"]) for b in sent] == [100, 100, 50]
    assert {b["import_type"] for b in sent} == {"REPLACE"} and {b["status"] for b in sent} == {"PENDING"}
    http_server.script("/api/dataset/version/v1/annotations", Respond(200, json_body=[{"id": "n1", "rectangles": []}]))
    assert client.load_annotations("v1", ["n1"]) == [{"id": "n1", "rectangles": []}]
