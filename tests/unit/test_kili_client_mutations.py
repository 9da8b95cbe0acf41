"""KiliClient against a real local HTTP server that speaks a little Kili
(``kili_fake_server.py``): mutations whose answer is lost are checked before
anything is sent again, paging and chunking, uploads to signed storage URLs."""

import itertools
import json

import pytest
from kili_fake_server import (  # noqa: F401  (kili, make_client and client are fixtures)
    DropAfterApplying,
    client,
    kili,
    make_client,
    new_assets,
)
from scripted_http import Apply, Drop, Respond

from fo_annotation_backends.core.errors import AuthenticationError, OutcomeUnknownError, ServiceError

# --------------------------------------------------------------------------
# mutations whose answer is lost
# --------------------------------------------------------------------------


def test_create_project_sends_the_interface_as_a_json_string(kili, client):
    interface = {"jobs": {"JOB_0": {"mlTask": "CLASSIFICATION"}}}

    project_id = client.create_project("My title", "run d1", interface, input_type="IMAGE")

    (variables,) = kili.variables_of("createProject")
    data = variables["data"]
    assert data["title"] == "My title"
    assert data["description"] == "run d1"
    assert data["inputType"] == "IMAGE"
    assert isinstance(data["jsonInterface"], str)
    assert json.loads(data["jsonInterface"]) == interface
    project = client.get_project(project_id)
    assert project["jsonInterface"] == interface  # decoded
    assert project["title"] == "My title"


@pytest.mark.parametrize("lost", [Drop(apply=True), Apply(503)])
def test_create_project_after_a_lost_answer_finds_the_project_instead_of_creating_another(kili, client, lost):
    other = kili.add_project("Shared title", "another run")  # same title, other description
    kili.add_project("Shared title 2", "run d1")  # matched by the search, not by the title
    kili.fault("createProject", lost)

    project_id = client.create_project("Shared title", "run d1", {"jobs": {}})

    assert project_id != other
    assert kili.projects[project_id]["description"] == "run d1"
    assert kili.fields_called() == ["createProject", "projects"]
    assert kili.variables_of("projects")[0]["where"] == {"searchQuery": "Shared title"}
    assert sum(1 for p in kili.projects.values() if p["title"] == "Shared title") == 2


@pytest.mark.parametrize("lost", [Drop(apply=False), Respond(503)])
def test_create_project_not_applied_is_sent_once_more(kili, client, lost):
    kili.fault("createProject", lost)

    project_id = client.create_project("t", "run d2", {"jobs": {}})

    assert kili.fields_called() == ["createProject", "projects", "createProject"]
    assert list(kili.projects) == [project_id]


def test_create_project_gives_up_after_max_checks(kili, make_client):
    client = make_client(max_checks=2)
    kili.fault("createProject", Drop(), Drop(), Drop(), Drop())

    with pytest.raises(OutcomeUnknownError):
        client.create_project("t", "run d3", {"jobs": {}})

    assert kili.fields_called() == ["createProject", "projects"] * 2 + ["createProject"]
    assert kili.projects == {}


def test_find_projects_pages_and_keeps_exact_titles(kili, client):
    for n in range(130):
        kili.add_project("dup", "d%d" % n)
    kili.add_project("dup and more", "x")

    found = client.find_projects("dup")

    assert len(found) == 130
    assert {p["title"] for p in found} == {"dup"}
    assert [v["skip"] for v in kili.variables_of("projects")] == [0, 100]


def test_get_project_of_a_missing_project_is_none(kili, client):
    assert client.get_project("nope") is None
    assert kili.variables_of("projects") == [{"where": {"id": "nope"}, "first": 1, "skip": 0}]


def test_update_json_interface_is_idempotent_and_retried(kili, client, fake_sleep):
    project_id = kili.add_project("t")
    kili.fault("updatePropertiesInProject", Apply(503), Drop(apply=True))

    client.update_json_interface(project_id, {"jobs": {"J": {}}})

    assert kili.fields_called() == ["updatePropertiesInProject"] * 3
    assert json.loads(kili.projects[project_id]["jsonInterface"]) == {"jobs": {"J": {}}}
    assert kili.variables_of("updatePropertiesInProject")[0]["where"] == {"id": project_id}


def test_append_assets_wire_format(kili, client):
    project_id = kili.add_project("t")

    client.append_assets(project_id, new_assets(["c1", "c2"]) + [{"id": "c3", "external_id": "e3", "content": "u3"}])

    (variables,) = kili.variables_of("appendManyAssets")
    assert variables["where"] == {"id": project_id}
    data = variables["data"]
    assert data["idArray"] == ["c1", "c2", "c3"]
    assert data["externalIDArray"] == ["ext-c1", "ext-c2", "e3"]
    assert data["contentArray"] == ["http://media/c1.jpg", "http://media/c2.jpg", "u3"]
    assert data["isHoneypotArray"] == [False] * 3
    assert data["jsonContentArray"] == [""] * 3
    assert data["jsonMetadataArray"] == ['{"n": 0}', '{"n": 1}', "{}"]
    assert list(kili.assets) == ["c1", "c2", "c3"]


def test_append_assets_refuses_more_than_100_before_sending(kili, client):
    with pytest.raises(ValueError, match="100"):
        client.append_assets("p", new_assets(["c%d" % i for i in range(101)]))
    assert kili.count() == 0


@pytest.mark.parametrize("lost", [Drop(apply=True), Apply(503), Apply(502)])
def test_append_assets_applied_but_unanswered_is_not_sent_again(kili, client, lost):
    project_id = kili.add_project("t")
    ids = ["c%d" % i for i in range(5)]
    kili.fault("appendManyAssets", lost)

    client.append_assets(project_id, new_assets(ids))

    assert kili.fields_called() == ["appendManyAssets", "assets"]
    (check,) = kili.variables_of("assets")
    assert check["where"] == {"project": {"id": project_id}, "idIn": ids}
    assert list(kili.assets) == ids


@pytest.mark.parametrize("lost", [Drop(apply=False), Respond(503)])
def test_append_assets_not_applied_is_sent_again_in_full(kili, client, lost):
    project_id = kili.add_project("t")
    ids = ["c%d" % i for i in range(5)]
    kili.fault("appendManyAssets", lost)

    client.append_assets(project_id, new_assets(ids))

    assert kili.fields_called() == ["appendManyAssets", "assets", "appendManyAssets"]
    first, second = kili.variables_of("appendManyAssets")
    assert second == first
    assert list(kili.assets) == ids


def test_append_assets_partly_applied_sends_only_the_missing_ones(kili, client):
    project_id = kili.add_project("t")
    ids = ["c%d" % i for i in range(6)]
    kili.fault("appendManyAssets", DropAfterApplying(2), DropAfterApplying(1))

    client.append_assets(project_id, new_assets(ids))

    assert kili.fields_called() == ["appendManyAssets", "assets"] * 2 + ["appendManyAssets"]
    sent = [v["data"] for v in kili.variables_of("appendManyAssets")]
    assert [d["idArray"] for d in sent] == [ids, ids[2:], ids[3:]]
    # the arrays stay aligned with their asset
    assert sent[1]["externalIDArray"] == ["ext-" + i for i in ids[2:]]
    assert sent[1]["contentArray"] == ["http://media/%s.jpg" % i for i in ids[2:]]
    assert sent[2]["jsonMetadataArray"] == [json.dumps({"n": n}) for n in range(3, 6)]
    assert [v["where"]["idIn"] for v in kili.variables_of("assets")] == [ids, ids[2:]]
    assert list(kili.assets) == ids
    assert [a["externalId"] for a in kili.assets.values()] == ["ext-" + i for i in ids]


def test_append_assets_gives_up_after_max_checks(kili, make_client):
    client = make_client(max_checks=1)
    project_id = kili.add_project("t")
    kili.fault("appendManyAssets", Drop(), Drop(), Drop())

    with pytest.raises(OutcomeUnknownError):
        client.append_assets(project_id, new_assets(["c1"]))

    assert kili.fields_called() == ["appendManyAssets", "assets", "appendManyAssets"]
    assert kili.assets == {}


def test_delete_project_answer_lost_after_deleting_is_not_sent_again(kili, client):
    project_id = kili.add_project("t")
    kili.fault("deleteProjectAsynchronously", Drop(apply=True))

    client.delete_project(project_id)

    assert kili.fields_called() == ["deleteProjectAsynchronously", "projects"]
    assert kili.variables_of("deleteProjectAsynchronously") == [{"where": {"id": project_id}}]
    assert kili.projects == {}


def test_delete_project_not_applied_is_sent_again(kili, client):
    project_id = kili.add_project("t")
    kili.fault("deleteProjectAsynchronously", Respond(503))

    client.delete_project(project_id)

    assert kili.fields_called() == ["deleteProjectAsynchronously", "projects", "deleteProjectAsynchronously"]
    assert kili.projects == {}


def test_delete_project_already_deleted_elsewhere_before_a_lost_answer(kili, client):
    """Kili deleted it (or someone did) and the answer is lost: the check
    sees no project, so nothing is sent again and no error is raised."""
    kili.fault("deleteProjectAsynchronously", Drop(apply=False))

    client.delete_project("gone")

    assert kili.fields_called() == ["deleteProjectAsynchronously", "projects"]


def test_delete_project_of_a_project_already_gone_counts_as_deleted(kili, client):
    client.delete_project("gone")


def test_delete_assets_100_a_call_and_lost_answers_are_checked(kili, client):
    project_id = kili.add_project("t")
    ids = kili.add_assets(project_id, 150)
    kili.fault("deleteAssets", Drop(apply=True))

    client.delete_assets(project_id, ids)

    assert kili.fields_called() == ["deleteAssets", "assets", "deleteAssets"]
    chunks = [v["where"] for v in kili.variables_of("deleteAssets")]
    assert chunks == [
        {"project": {"id": project_id}, "idIn": ids[:100]},
        {"project": {"id": project_id}, "idIn": ids[100:]},
    ]
    assert kili.assets == {}


def test_delete_assets_partly_applied_sends_again_only_the_assets_still_there(kili, client):
    project_id = kili.add_project("t")
    ids = kili.add_assets(project_id, 5)
    kili.fault("deleteAssets", DropAfterApplying(2))

    client.delete_assets(project_id, ids)

    assert kili.fields_called() == ["deleteAssets", "assets", "deleteAssets"]
    assert [v["where"]["idIn"] for v in kili.variables_of("deleteAssets")] == [ids, ids[2:]]
    assert kili.assets == {}


def test_append_predictions_wire_format_and_chunks(kili, client):
    project_id = kili.add_project("t")
    ids = kili.add_assets(project_id, 150)
    labels = [(a, {"JOB": {"categories": [{"name": "K%d" % n}]}}) for n, a in enumerate(ids)]

    client.append_predictions(project_id, "fiftyone", labels)

    sent = kili.variables_of("appendManyLabels")
    assert [len(v["data"]["labelsData"]) for v in sent] == [100, 50]
    first = sent[0]
    assert first["data"]["labelType"] == "PREDICTION"
    assert first["data"]["overwrite"] is False
    assert first["where"] == {"project": {"id": project_id}, "idIn": ids[:100]}
    item = first["data"]["labelsData"][7]
    assert item == {"assetID": ids[7], "jsonResponse": json.dumps(labels[7][1]), "modelName": "fiftyone"}
    assert "authorID" not in item
    assert all(len(a["labels"]) == 1 for a in kili.assets.values())


@pytest.mark.parametrize("lost", [Drop(apply=True), Apply(503)])
def test_append_predictions_applied_but_unanswered_is_not_sent_again(kili, client, lost):
    project_id = kili.add_project("t")
    ids = kili.add_assets(project_id, 3)
    kili.fault("appendManyLabels", lost)

    client.append_predictions(project_id, "m1", [(a, {"J": {}}) for a in ids])

    assert kili.fields_called() == ["appendManyLabels", "assets"]
    (check,) = kili.variables_of("assets")
    assert check["where"] == {"project": {"id": project_id}, "idIn": ids}
    assert [len(a["labels"]) for a in kili.assets.values()] == [1, 1, 1]


def test_append_predictions_checks_the_model_name_and_resends_only_the_missing(kili, client):
    project_id = kili.add_project("t")
    ids = kili.add_assets(project_id, 4)
    # a prediction of another model does not count
    kili.assets[ids[3]]["labels"].append(
        {"id": "old", "labelType": "PREDICTION", "modelName": "other", "jsonResponse": "{}"}
    )
    kili.assets[ids[2]]["labels"].append(
        {"id": "old2", "labelType": "DEFAULT", "modelName": "m1", "jsonResponse": "{}"}
    )
    kili.fault("appendManyLabels", DropAfterApplying(2))

    client.append_predictions(project_id, "m1", [(a, {"J": {"n": n}}) for n, a in enumerate(ids)])

    assert kili.fields_called() == ["appendManyLabels", "assets", "appendManyLabels"]
    second = kili.variables_of("appendManyLabels")[1]
    assert [item["assetID"] for item in second["data"]["labelsData"]] == ids[2:]
    assert [json.loads(item["jsonResponse"]) for item in second["data"]["labelsData"]] == [
        {"J": {"n": 2}},
        {"J": {"n": 3}},
    ]
    assert second["where"]["idIn"] == ids[2:]
    for asset_id in ids:
        m1 = [
            label
            for label in kili.assets[asset_id]["labels"]
            if label["labelType"] == "PREDICTION" and label["modelName"] == "m1"
        ]
        assert len(m1) == 1
    assert client.assets_with_prediction(project_id, ids, "m1") == set(ids)
    assert client.assets_with_prediction(project_id, ids, "other") == {ids[3]}


def test_append_predictions_not_applied_is_sent_again(kili, client):
    project_id = kili.add_project("t")
    ids = kili.add_assets(project_id, 2)
    kili.fault("appendManyLabels", Drop(apply=False))

    client.append_predictions(project_id, "m1", [(a, {}) for a in ids])

    assert kili.fields_called() == ["appendManyLabels", "assets", "appendManyLabels"]
    assert [len(a["labels"]) for a in kili.assets.values()] == [1, 1]


# --------------------------------------------------------------------------
# paging and chunking
# --------------------------------------------------------------------------


def test_iter_assets_advances_skip_and_stops_on_a_short_page(kili, client):
    project_id = kili.add_project("t")
    ids = kili.add_assets(project_id, 250)

    got = list(itertools.islice(client.iter_assets({"project": {"id": project_id}}, "id externalId", 100), 1000))

    assert [a["id"] for a in got] == ids
    sent = kili.variables_of("assets")
    assert [(v["skip"], v["first"]) for v in sent] == [(0, 100), (100, 100), (200, 100)]
    assert all(v["where"] == {"project": {"id": project_id}} for v in sent)
    assert "{ id externalId }" in json.loads(kili.requests[0].body)["query"]


def test_iter_assets_of_an_exact_multiple_stops_on_the_empty_page(kili, client):
    project_id = kili.add_project("t")
    kili.add_assets(project_id, 20)

    got = list(itertools.islice(client.iter_assets({"project": {"id": project_id}}, page_size=10), 1000))

    assert len(got) == 20
    assert [v["skip"] for v in kili.variables_of("assets")] == [0, 10, 20]


def test_iter_assets_treats_null_as_an_empty_page(kili, client):
    kili.fault("assets", Respond(200, json_body={"data": {"data": None}}))

    assert list(client.iter_assets({})) == []
    assert kili.count() == 1


def test_assets_by_id_chunks_the_ids_and_drops_the_missing(kili, client):
    project_id = kili.add_project("t")
    ids = kili.add_assets(project_id, 25)
    wanted = ids[:20] + ["missing1", "missing2"]

    got = client.assets_by_id(project_id, wanted, fields="id", page_size=10)

    assert sorted(got) == sorted(ids[:20])
    assert got[ids[3]]["id"] == ids[3]
    chunks = [v["where"]["idIn"] for v in kili.variables_of("assets")]
    assert all(len(c) <= 10 for c in chunks)
    assert [c for n, c in enumerate(chunks) if n == 0 or c != chunks[n - 1]] == [
        ids[:10],
        ids[10:20],
        ["missing1", "missing2"],
    ]
    assert all(v["where"]["project"] == {"id": project_id} for v in kili.variables_of("assets"))


def test_assets_by_id_of_no_ids_asks_nothing(kili, client):
    assert client.assets_by_id("p", []) == {}
    assert kili.count() == 0


def test_count_assets(kili, client):
    project_id = kili.add_project("t")
    kili.add_assets(project_id, 7)

    assert client.count_assets({"project": {"id": project_id}}) == 7


def test_existing_external_ids_asks_100_per_call(kili, client):
    project_id = kili.add_project("t")
    kili.add_assets(project_id, 120)  # external ids ext-a000 ... ext-a119
    wanted = ["ext-a%03d" % i for i in range(0, 250)]

    found = client.existing_external_ids(project_id, wanted)

    assert found == {"ext-a%03d" % i for i in range(120)}
    sent = kili.variables_of("filterExistingAssets")
    assert [len(v["externalIDs"]) for v in sent] == [100, 100, 50]
    assert [v["externalIDs"] for v in sent] == [wanted[:100], wanted[100:200], wanted[200:]]
    assert all(v["projectID"] == project_id for v in sent)


def test_existing_external_ids_null_answer_is_empty(kili, client):
    kili.fault("filterExistingAssets", Respond(200, json_body={"data": {"external_ids": None}}))

    assert client.existing_external_ids("p", ["e1"]) == set()


def test_signed_upload_urls_asks_30_paths_per_call(kili, client):
    paths = ["projects/p/assets/c%02d/content" % i for i in range(65)]

    urls = client.signed_upload_urls(paths)

    assert len(urls) == 65
    assert all(url.startswith("%s/storage/%s?" % (kili.url, path)) for url, path in zip(urls, paths))
    sent = kili.variables_of("createUploadBucketSignedUrls")
    assert [v["filePaths"] for v in sent] == [paths[:30], paths[30:60], paths[60:]]


@pytest.mark.parametrize("answer", [["only-one"], None])
def test_signed_upload_urls_of_the_wrong_count_is_an_error(kili, client, answer):
    kili.fault("createUploadBucketSignedUrls", Respond(200, json_body={"data": {"urls": answer}}))

    with pytest.raises(ServiceError, match="for 2 files"):
        client.signed_upload_urls(["a", "b"])


# --------------------------------------------------------------------------
# uploads to signed storage URLs
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, mime", [("img.png", "image/png"), ("photo.jpg", "image/jpeg"), ("blob.xyz123", "application/octet-stream")]
)
def test_upload_file_puts_the_raw_bytes_to_the_url_cut_before_id(kili, client, tmp_path, name, mime):
    data = bytes(range(256)) * 10
    path = tmp_path / name
    path.write_bytes(data)
    (signed,) = client.signed_upload_urls(["projects/p/assets/c1/content"])
    assert "&id=" in signed

    content = client.upload_file(signed, str(path))

    assert content == signed  # the full URL is the asset content
    put = [r for r in kili.requests if r.method == "PUT"]
    assert len(put) == 1
    assert put[0].path == "/storage/projects/p/assets/c1/content"
    assert put[0].body == data
    assert put[0].headers["Content-Type"] == mime
    assert "Authorization" not in put[0].headers  # the key never goes to storage
    raw = [p for m, p in kili.raw_paths if m == "PUT"]
    assert raw == [signed.split("&id=", 1)[0][len(kili.url) :]]
    assert "&id=" not in raw[0]
    assert kili.stored == {"projects/p/assets/c1/content": data}


def test_upload_file_is_retried_with_the_whole_body(kili, client, tmp_path, fake_sleep):
    path = tmp_path / "img.png"
    path.write_bytes(b"\x89PNG" + b"x" * 5000)
    storage_path = "/storage/projects/p/assets/c1/content"
    kili.script(storage_path, Respond(503), Drop(), Respond(200))
    signed = "%s%s?X-Sig=s&id=abc" % (kili.url, storage_path)

    assert client.upload_file(signed, str(path)) == signed

    put = [r for r in kili.requests if r.method == "PUT"]
    assert len(put) == 3
    assert all(r.body == path.read_bytes() for r in put)
    assert len(fake_sleep.calls) == 2
    assert client.storage.request_count == 3
    assert client.http.request_count == 0


def test_upload_file_refused_by_storage_is_a_service_error(kili, client, tmp_path):
    path = tmp_path / "img.png"
    path.write_bytes(b"x")
    storage_path = "/storage/projects/p/assets/c1/content"
    kili.script(storage_path, Respond(403, body=b"SignatureDoesNotMatch"))

    with pytest.raises(AuthenticationError, match="SignatureDoesNotMatch"):
        client.upload_file("%s%s?X-Sig=bad&id=1" % (kili.url, storage_path), str(path))
