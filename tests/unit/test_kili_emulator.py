"""The Kili emulator over real sockets, with plain ``requests``: GraphQL
operations (transport, auth, schema, users, projects, assets, labels),
JSON-string fields, paging and uploads."""

import gzip
import json
import time

import requests
from graphql import build_client_schema, get_introspection_query
from kili_emulator_helpers import (  # noqa: F401  (emulator, media_server, project are fixtures)
    APPEND_ASSETS,
    APPEND_LABELS,
    ASSETS,
    CREATE_PROJECT,
    INTERFACE,
    LABELS,
    SIGNED_URLS,
    WEATHER,
    append_assets,
    append_labels,
    create_project,
    emulator,
    gql,
    gql_error,
    headers,
    hosted,
    label_item,
    list_assets,
    media_server,
    png_bytes,
    post,
    project,
    reason,
)

from fo_annotation_backends.testing.kili import KiliEmulator
from fo_annotation_backends.testing.kili.server import VERSION

# -- transport, auth, schema -------------------------------------------------------


def test_viewer_with_aliases_and_version(emulator):
    data = gql(emulator, "query { data: viewer { id email } me: viewer { email organization { id } } }")
    assert data["data"]["email"] == "emulator-admin@kili.local"
    assert data["me"]["email"] == data["data"]["email"] and data["me"]["organization"]["id"]
    version = requests.get(emulator.base_url + "/api/label/v2/version", timeout=10)
    assert version.status_code == 200 and version.json() == {"version": VERSION}
    assert emulator.url.endswith("/api/label/v2/graphql") and emulator.url.startswith("http://127.0.0.1:")


def test_missing_or_wrong_key_is_401_with_errors(emulator):
    for hdrs in ({}, {"Authorization": "X-API-Key: wrong"}, {"Authorization": "Bearer wrong"}):
        response = requests.post(emulator.url, json={"query": "{ viewer { id } }"}, headers=hdrs, timeout=10)
        assert response.status_code == 401
        assert reason(response.json()["errors"][0]) == "invalidApiKey"
    bare = requests.post(
        emulator.url, json={"query": "{ data: viewer { id } }"}, headers={"X-API-Key": emulator.api_key}, timeout=10
    )
    assert bare.status_code == 200 and bare.json()["data"]["data"]["id"] == emulator.admin["id"]


def test_api_keys_query_as_the_sdk_sends_it(emulator):
    data = gql(
        emulator,
        "query apiKeys($where: ApiKeyWhere!) { data: apiKeys(where: $where, skip: 0, first: 1) { expiryDate } }",
        {"where": {"key": emulator.api_key}},
    )
    assert data["data"] == [{"expiryDate": "2099-12-31T23:59:59.000Z"}]
    assert (
        gql(
            emulator,
            "query($w: ApiKeyWhere!) { data: apiKeys(where: $w, skip: 0, first: 1) { id } }",
            {"w": {"key": "x"}},
        )["data"]
        == []
    )


def test_introspection_builds_a_client_schema(emulator):
    data = gql(
        emulator, get_introspection_query(descriptions=True, directive_is_repeatable=True, input_value_deprecation=True)
    )
    schema = build_client_schema(data)
    assert "appendManyAssets" in schema.mutation_type.fields
    assert str(schema.query_type.fields["filterExistingAssets"].args["projectID"].type) == "ID!"
    assert str(schema.query_type.fields["assets"].args["first"].type) == "PageSize!"


def test_validation_and_parse_errors_are_graphql_errors(emulator):
    assert gql_error(emulator, "{ data: projectz { id } }")["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert gql_error(emulator, "{ data: viewer { id ")["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    error = gql_error(
        emulator, "query($f: PageSize!) { data: projects(where: {}, first: $f, skip: 0) { id } }", {"f": -1}
    )
    assert "PageSize" in error["message"]


def test_gzip_body(emulator):
    body = gzip.compress(json.dumps({"query": "{ data: viewer { email } }"}).encode())
    response = requests.post(
        emulator.url,
        data=body,
        headers=dict(headers(emulator), **{"Content-Encoding": "gzip", "Content-Type": "application/json"}),
        timeout=10,
    )
    assert response.status_code == 200 and response.json()["data"]["data"]["email"]
    broken = requests.post(
        emulator.url, data=b"not gzip", headers=dict(headers(emulator), **{"Content-Encoding": "gzip"}), timeout=10
    )
    assert broken.status_code == 400


def test_fragments_and_operation_name(emulator, project):
    query = """
        fragment P on Project { id title inputType }
        query first($where: ProjectWhere!) { data: projects(where: $where, first: 1, skip: 0) { ...P } }
        query second { data: countProjects(where: {}) }
    """
    response = requests.post(
        emulator.url,
        json={"query": query, "variables": {"where": {"id": project}}, "operationName": "first"},
        headers=headers(emulator),
        timeout=10,
    )
    assert response.json()["data"]["data"] == [{"id": project, "title": "Project", "inputType": "IMAGE"}]
    assert emulator.stats()["operations"]["projects"] == 1


# -- users and projects ------------------------------------------------------------


def test_users(emulator):
    created = gql(
        emulator,
        "mutation($data: CreateUserData!) { data: createUser(data: $data) { id email firstname } }",
        {"data": {"email": "Ann@Example.com", "password": "x", "organizationRole": "USER", "firstname": "Ann"}},
    )["data"]
    assert created["email"] == "ann@example.com"
    users = gql(emulator, "{ data: users(where: {}, first: 10, skip: 0) { id email } }")["data"]
    assert [u["email"] for u in users] == ["emulator-admin@kili.local", "ann@example.com"]
    assert (
        gql(emulator, "query($w: UserWhere!) { data: countUsers(where: $w) }", {"w": {"email": "ann@example.com"}})[
            "data"
        ]
        == 1
    )
    duplicate = gql_error(
        emulator,
        "mutation($data: CreateUserData!) { data: createUser(data: $data) { id } }",
        {"data": {"email": "ann@example.com"}},
    )
    assert reason(duplicate) == "userAlreadyExists"


def test_project_lifecycle(emulator):
    project_id = create_project(emulator, title="Cars and Trucks")
    other = create_project(emulator, title="Other")
    fields = "id title description inputType jsonInterface createdAt numberOfAssets workflowVersion author { email } roles { role user { email } }"
    projects = gql(
        emulator,
        "query($w: ProjectWhere!) { data: projects(where: $w, first: 10, skip: 0) { %s } }" % fields,
        {"w": {"id": project_id}},
    )["data"]
    assert len(projects) == 1
    assert isinstance(projects[0]["jsonInterface"], str) and json.loads(projects[0]["jsonInterface"]) == INTERFACE
    assert projects[0]["numberOfAssets"] == 0 and projects[0]["workflowVersion"] == "V1"
    assert projects[0]["roles"] == [{"role": "ADMIN", "user": {"email": "emulator-admin@kili.local"}}]
    found = gql(emulator, '{ data: projects(where: {searchQuery: "and truck"}, first: 10, skip: 0) { id } }')["data"]
    assert found == [{"id": project_id}]
    assert gql(emulator, "{ data: countProjects(where: {}) }")["data"] == 2

    interface = {"jobs": {"ONLY": {"mlTask": "CLASSIFICATION", "content": {"categories": {}}}}}
    updated = gql(
        emulator,
        "mutation($data: ProjectData!, $where: ProjectWhere!) { data: updatePropertiesInProject(data: $data, where: $where) { id title jsonInterface } }",
        {"data": {"title": "Renamed", "jsonInterface": json.dumps(interface)}, "where": {"id": project_id}},
    )["data"]
    assert updated["title"] == "Renamed" and json.loads(updated["jsonInterface"]) == interface

    deleted = gql(
        emulator,
        "mutation($w: ProjectWhere!) { data: deleteProjectAsynchronously(where: $w) }",
        {"w": {"id": project_id}},
    )
    assert deleted["data"] == project_id
    assert gql(emulator, "{ data: countProjects(where: {}) }")["data"] == 1
    old_api = gql(emulator, "mutation($id: ID!) { data: deleteProject(where: {id: $id}) { id } }", {"id": other})
    assert old_api["data"] == {"id": other}
    missing = gql_error(
        emulator, "mutation($w: ProjectWhere!) { data: deleteProjectAsynchronously(where: $w) }", {"w": {"id": other}}
    )
    assert reason(missing) == "projectNotFound"


def test_project_json_interface_must_be_json(emulator):
    data = {"title": "T", "inputType": "IMAGE", "jsonInterface": "{not json"}
    assert reason(gql_error(emulator, CREATE_PROJECT, {"data": data})) == "invalidJsonInterface"
    data["jsonInterface"] = json.dumps({"jobs": {"J": {"content": {}}}})
    assert reason(gql_error(emulator, CREATE_PROJECT, {"data": data})) == "invalidJsonInterface"


# -- assets --------------------------------------------------------------------------


def test_append_assets_keeps_client_ids_and_defaults(emulator, project):
    created = append_assets(
        emulator,
        project,
        hosted(2),
        idArray=["cidone", "cidtwo"],
        externalIDArray=["ext-1", "ext-2"],
        jsonMetadataArray=[json.dumps({"k": 1}), json.dumps({"k": 2})],
        jsonContentArray=["", ""],
        isHoneypotArray=[False, True],
    )
    assert [a["id"] for a in created] == ["cidone", "cidtwo"]
    assert all(a["status"] == "TODO" and a["resolution"] is None for a in created)
    assets = list_assets(
        emulator, {"project": {"id": project}}, "id externalId jsonMetadata isHoneypot content project { id }"
    )
    assert assets[0]["jsonMetadata"] == '{"k": 1}' and assets[1]["isHoneypot"] is True
    assert assets[0]["project"] == {"id": project}
    again = gql_error(
        emulator, APPEND_ASSETS, {"data": {"contentArray": hosted(1), "idArray": ["cidone"]}, "where": {"id": project}}
    )
    assert reason(again) == "assetIdAlreadyExists"
    without_ids = append_assets(emulator, project, hosted(1))
    assert without_ids[0]["id"].startswith("c") and without_ids[0]["externalId"] == without_ids[0]["id"]


def test_append_assets_refusals(emulator, project):
    def refused(data):
        return reason(gql_error(emulator, APPEND_ASSETS, {"data": data, "where": {"id": project}}))

    assert refused({"contentArray": hosted(101)}) == "tooManyAssets"
    assert refused({"contentArray": ["/home/me/image.jpg"]}) == "invalidContent"
    assert refused({"contentArray": hosted(2), "externalIDArray": ["a"]}) == "arraysLengthMismatch"
    assert refused({"contentArray": hosted(1), "jsonMetadataArray": ["{bad"]}) == "invalidJsonMetadata"
    assert (
        reason(gql_error(emulator, APPEND_ASSETS, {"data": {"contentArray": hosted(1)}, "where": {"id": "nope"}}))
        == "projectNotFound"
    )
    assert list_assets(emulator, {"project": {"id": project}}) == []
    # raw text is a valid content for a TEXT project
    text_project = create_project(emulator, "Texts", "TEXT", {"jobs": {}})
    assert len(append_assets(emulator, text_project, ["some text"])) == 1


def test_filter_existing_assets(emulator, project):
    append_assets(emulator, project, hosted(3), externalIDArray=["a", "b", "c"])
    query = "query($projectID: ID!, $externalIDs: [String!]!) { external_ids: filterExistingAssets(projectID: $projectID, externalIDs: $externalIDs) }"
    found = gql(emulator, query, {"projectID": project, "externalIDs": ["c", "x", "a", "a"]})
    assert found == {"external_ids": ["c", "a"]}


def test_signed_upload_put_get_and_append(emulator, project):
    image = png_bytes((40, 30))
    path = "projects/%s/assets/cupload1/content" % project
    urls = gql(emulator, SIGNED_URLS, {"filePaths": [path]})["urls"]
    url = urls[0]
    assert url.startswith(emulator.base_url + "/storage/" + path + "?X-Goog-Signature=") and "&id=" in url
    put_url = url.split("&id=")[0]
    # appending before the PUT is refused
    refused = gql_error(
        emulator, APPEND_ASSETS, {"data": {"contentArray": [url], "idArray": ["cupload1"]}, "where": {"id": project}}
    )
    assert reason(refused) == "contentNotUploaded"
    assert (
        requests.put(put_url.replace("X-Goog-Signature=", "X-Goog-Signature=0"), data=image, timeout=10).status_code
        == 403
    )
    put = requests.put(put_url, data=image, headers={"Content-Type": "image/png"}, timeout=10)
    assert put.status_code == 200
    for get_url in (url, put_url):
        got = requests.get(get_url, timeout=10)
        assert got.status_code == 200 and got.content == image and got.headers["Content-Type"] == "image/png"
    unsigned = emulator.base_url + "/storage/" + path
    assert requests.get(unsigned, timeout=10).status_code == 403
    assert requests.get(unsigned, headers=headers(emulator), timeout=10).content == image
    assert emulator.stored_content(path) == (image, "image/png")

    # a stored image and a hosted one in the same call
    created = append_assets(emulator, project, [url, hosted(1)[0]], idArray=["cupload1", "chosted1"])
    assert created[0]["resolution"] == {"width": 40, "height": 30}
    assert created[1]["resolution"] is None
    assert list_assets(emulator, {"id": "cupload1"}, "content")[0]["content"] == url


def test_signed_urls_limits(emulator, project):
    paths = ["projects/%s/assets/a%d/content" % (project, i) for i in range(31)]
    assert reason(gql_error(emulator, SIGNED_URLS, {"filePaths": paths})) == "tooManyFilePaths"
    assert len(gql(emulator, SIGNED_URLS, {"filePaths": paths[:30]})["urls"]) == 30
    assert reason(gql_error(emulator, SIGNED_URLS, {"filePaths": ["elsewhere/x"]})) == "invalidFilePath"
    assert reason(gql_error(emulator, SIGNED_URLS, {"filePaths": ["projects/unknown/x"]})) == "projectNotFound"


def test_remote_image_resolution(media_server):
    base, _ = media_server
    with KiliEmulator(api_key="k") as emulator:
        project = create_project(emulator)
        start = time.monotonic()
        created = append_assets(
            emulator, project, [base + "/a.png", base + "/b.jpg", base + "/missing.png", "http://127.0.0.1:9/x.png"]
        )
        assert time.monotonic() - start < 5
    assert [a["resolution"] for a in created] == [{"width": 64, "height": 48}, {"width": 10, "height": 20}, None, None]


def test_asset_paging_ordering_and_max_page_size():
    with KiliEmulator(api_key="k", max_page_size=5, resolve_remote_media=False) as emulator:
        project = create_project(emulator)
        append_assets(emulator, project, hosted(4), externalIDArray=["e0", "e1", "e2", "e3"])
        append_assets(emulator, project, hosted(3), externalIDArray=["e4", "e5", "e6"])
        where = {"project": {"id": project}}
        pages, skip = [], 0
        while True:
            page = list_assets(emulator, where, "externalId createdAt", first=3, skip=skip)
            pages.append([a["externalId"] for a in page])
            if len(page) < 3:
                break
            skip += len(page)
        assert pages == [["e0", "e1", "e2"], ["e3", "e4", "e5"], ["e6"]]
        created = [
            a["createdAt"]
            for a in list_assets(emulator, where, "createdAt", first=5)
            + list_assets(emulator, where, "createdAt", first=5, skip=5)
        ]
        assert created == sorted(created) and len(set(created)) == 7
        assert list_assets(emulator, where, first=0) == []
        error = gql_error(emulator, ASSETS % "id", {"where": where, "first": 6, "skip": 0})
        assert reason(error) == "pageSizeTooLarge"
        assert gql(emulator, "query($w: AssetWhere!) { data: countAssets(where: $w) }", {"w": where})["data"] == 7


def test_asset_filters(emulator, project):
    ids = [
        a["id"]
        for a in append_assets(
            emulator,
            project,
            hosted(4),
            externalIDArray=["cat-1", "cat-2", "dog-1", "bird"],
            jsonMetadataArray=[json.dumps({"split": s}) for s in ("train", "val", "train", "test")],
            isHoneypotArray=[False, False, False, True],
        )
    ]
    update = (
        "mutation($w: [AssetWhere!]!, $d: [AssetData!]!) { data: updatePropertiesInAssets(where: $w, data: $d) { id } }"
    )
    gql(
        emulator,
        update,
        {
            "w": [{"id": ids[0]}, {"id": ids[1]}],
            "d": [{"consensusMark": 0.2, "honeypotMark": 0.9}, {"consensusMark": 0.8}],
        },
    )
    append_labels(emulator, "DEFAULT", [label_item(ids[2])])

    def external_ids(where):
        where = dict(where, project={"id": project})
        return [a["externalId"] for a in list_assets(emulator, where)]

    assert external_ids({"idIn": [ids[3], ids[0]]}) == ["cat-1", "bird"]
    assert external_ids({"externalIdStrictlyIn": ["cat-1", "dog"]}) == ["cat-1"]
    assert external_ids({"externalIdIn": ["cat", "dog"]}) == ["cat-1", "cat-2", "dog-1"]
    assert external_ids({"statusIn": ["LABELED"]}) == ["dog-1"]
    assert external_ids({"statusIn": ["TODO"], "idNotIn": [ids[0]]}) == ["cat-2", "bird"]
    assert external_ids({"consensusMarkGte": 0.5}) == ["cat-2"]
    assert external_ids({"consensusMarkLte": 0.5}) == ["cat-1"]
    assert external_ids({"honeypotMarkGte": 0.5, "honeypotMarkLte": 1}) == ["cat-1"]
    assert external_ids({"isHoneypot": True}) == ["bird"]
    assert external_ids({"metadata": {"split": "train"}}) == ["cat-1", "dog-1"]
    assert external_ids({"label": {"typeIn": ["DEFAULT"]}}) == ["dog-1"]
    assert external_ids({"label": {"authorIn": ["Emulator Admin"]}}) == ["dog-1"]
    assert external_ids({"label": {"typeIn": ["REVIEW"]}}) == []
    unsupported = gql_error(emulator, ASSETS % "id", {"where": {"assigneeIn": ["x"]}, "first": 10, "skip": 0})
    assert reason(unsupported) == "unsupportedFilter"


def test_update_properties_in_assets(emulator, project):
    ids = [a["id"] for a in append_assets(emulator, project, hosted(2))]
    update = "mutation($w: [AssetWhere!]!, $d: [AssetData!]!) { data: updatePropertiesInAssets(where: $w, data: $d) { id status consensusMark honeypotMark jsonMetadata priority resolution { width height } } }"
    data = [
        {
            "status": "REVIEWED",
            "consensusMark": 0.5,
            "jsonMetadata": json.dumps({"a": 1}),
            "priority": 3,
            "resolution": {"width": 4, "height": 5},
        },
        {"honeypotMark": 1, "isHoneypot": True, "consensusMark": None},
    ]
    updated = gql(emulator, update, {"w": [{"id": i} for i in ids], "d": data})["data"]
    assert updated[0] == {
        "id": ids[0],
        "status": "REVIEWED",
        "consensusMark": 0.5,
        "honeypotMark": None,
        "jsonMetadata": '{"a": 1}',
        "priority": 3,
        "resolution": {"width": 4, "height": 5},
    }
    assert updated[1]["honeypotMark"] == 1.0 and updated[1]["consensusMark"] is None
    assert reason(gql_error(emulator, update, {"w": [{"id": ids[0]}], "d": [{"consensusMark": 1.5}]})) == "invalidMark"
    assert reason(gql_error(emulator, update, {"w": [{"id": "nope"}], "d": [{"priority": 1}]})) == "assetNotFound"
    assert reason(gql_error(emulator, update, {"w": [{"id": ids[0]}], "d": []})) == "arraysLengthMismatch"


def test_delete_assets(emulator, project):
    ids = [a["id"] for a in append_assets(emulator, project, hosted(3), externalIDArray=["a", "b", "c"])]
    append_labels(emulator, "DEFAULT", [label_item(ids[0])])
    delete = (
        "mutation($where: AssetWhere!) { data: deleteAssets(where: $where) "
        "{ succeeded { assetId externalId } declined { assetId externalId } failed { assetId externalId details } } }"
    )
    outcome = gql(emulator, delete, {"where": {"idIn": [ids[0], "gone"], "project": {"id": project}}})["data"]
    assert outcome == {
        "succeeded": [{"assetId": ids[0], "externalId": "a"}, {"assetId": "gone", "externalId": None}],
        "declined": [],
        "failed": [],
    }
    other = create_project(emulator, "Other")
    declined = gql(emulator, delete, {"where": {"idIn": [ids[1]], "project": {"id": other}}})["data"]
    assert declined["declined"] == [{"assetId": ids[1], "externalId": "b"}]
    assert reason(gql_error(emulator, delete, {"where": {"idIn": ["x%d" % i for i in range(101)]}})) == "tooManyAssets"
    assert gql(emulator, "{ data: countLabels(where: {}) }")["data"] == 0
    many = gql(
        emulator,
        "mutation($w: AssetWhere!) { data: deleteManyFromDataset(where: $w) { id } }",
        {"w": {"project": {"id": project}}},
    )
    assert many["data"] == {"id": project}
    assert list_assets(emulator, {"project": {"id": project}}) == []


def test_asset_actions(emulator, project):
    ids = [a["id"] for a in append_assets(emulator, project, hosted(2), externalIDArray=["a", "b"])]
    append_labels(emulator, "DEFAULT", [label_item(ids[0])])
    fragment = "{ succeeded { assetId } declined { assetId } failed { assetId } }"

    def action(name, extra=""):
        query = "mutation($where: AssetWhere!) { data: %s(where: $where%s) %s }" % (name, extra, fragment)
        out = gql(emulator, query, {"where": {"idIn": ids}})["data"]
        return [r["assetId"] for r in out["succeeded"]], [r["assetId"] for r in out["declined"]]

    assert action("addAssetsToReview") == ([ids[0]], [ids[1]])
    assert action("setAssetsPriority", ", priority: 4") == ([ids[1]], [ids[0]])
    assert action("sendAssetsBackToQueue") == ([ids[0]], [ids[1]])
    assets = list_assets(emulator, {"project": {"id": project}}, "status priority labels { isSentBackToQueue }")
    assert [(a["status"], a["priority"]) for a in assets] == [("ONGOING", 0), ("TODO", 4)]
    assert assets[0]["labels"] == [{"isSentBackToQueue": True}]


# -- labels --------------------------------------------------------------------------


def test_labels_statuses_and_latest_flags(emulator, project):
    ids = [a["id"] for a in append_assets(emulator, project, hosted(3))]
    ann = emulator.create_user("ann@example.com", "Ann", "Otator", api_key="ann-key")
    rev = emulator.create_user("rev@example.com", "Rev", "Iewer")

    autosave = append_labels(emulator, "AUTOSAVE", [label_item(ids[0])], key="ann-key")
    assert autosave[0]["author"]["email"] == "ann@example.com"  # the viewer by default
    first = append_labels(
        emulator, "DEFAULT", [label_item(ids[0], authorID=ann["id"]), label_item(ids[1], authorID=ann["id"])]
    )
    second = append_labels(
        emulator,
        "DEFAULT",
        [label_item(ids[0], authorID=ann["id"])],
        where={"idIn": [ids[0]], "project": {"id": project}},
    )
    review = append_labels(emulator, "REVIEW", [label_item(ids[1], authorID=rev["id"])])
    prediction = append_labels(emulator, "PREDICTION", [label_item(ids[2], modelName="m1")])

    statuses = {a["id"]: a["status"] for a in list_assets(emulator, {"project": {"id": project}}, "id status")}
    assert statuses == {ids[0]: "LABELED", ids[1]: "REVIEWED", ids[2]: "TODO"}

    fields = "id labelType createdAt modelName secondsToLabel isLatestLabelForUser isLatestReviewLabelForUser isLatestDefaultLabelForUser assetId author { email } jsonResponse"
    labels = gql(emulator, LABELS % fields, {"where": {"project": {"id": project}}, "first": 100, "skip": 0})["data"]
    assert [label["id"] for label in labels] == [x["id"] for x in autosave + first + second + review + prediction]
    stamps = [label["createdAt"] for label in labels]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert all(s.endswith("Z") and len(s) == len("2024-01-01T00:00:00.000Z") for s in stamps)
    by_id = {label["id"]: label for label in labels}
    assert by_id[autosave[0]["id"]]["isLatestLabelForUser"] is False
    assert by_id[first[0]["id"]]["isLatestLabelForUser"] is False
    assert by_id[second[0]["id"]]["isLatestLabelForUser"] is True
    assert by_id[second[0]["id"]]["isLatestDefaultLabelForUser"] is True
    assert by_id[review[0]["id"]]["isLatestReviewLabelForUser"] is True
    assert by_id[first[1]["id"]]["isLatestReviewLabelForUser"] is False
    assert by_id[prediction[0]["id"]]["isLatestLabelForUser"] is False
    assert by_id[prediction[0]["id"]]["modelName"] == "m1"
    assert json.loads(by_id[second[0]["id"]]["jsonResponse"]) == WEATHER

    assets = list_assets(
        emulator, {"project": {"id": project}}, "id latestLabel { id } latestLabels { id } labels { id }"
    )
    assert assets[0]["latestLabel"] == {"id": second[0]["id"]}
    assert [label["id"] for label in assets[0]["labels"]] == [autosave[0]["id"], first[0]["id"], second[0]["id"]]
    assert assets[1]["latestLabel"] == {"id": review[0]["id"]}
    assert [label["id"] for label in assets[1]["latestLabels"]] == [first[1]["id"], review[0]["id"]]
    assert assets[2]["latestLabel"] is None

    def label_ids(where):
        where = dict(where, project={"id": project})
        return [
            label["id"] for label in gql(emulator, LABELS % "id", {"where": where, "first": 100, "skip": 0})["data"]
        ]

    assert label_ids({"typeIn": ["REVIEW", "PREDICTION"]}) == [review[0]["id"], prediction[0]["id"]]
    assert label_ids({"authorIn": ["rev@example.com"]}) == [review[0]["id"]]
    assert label_ids({"asset": {"id": ids[1]}}) == [first[1]["id"], review[0]["id"]]
    assert label_ids({"reviewerIn": ["Rev"]}) == [review[0]["id"]]
    count = gql(
        emulator,
        "query($w: LabelWhere!) { data: countLabels(where: $w) }",
        {"w": {"project": {"id": project}, "typeIn": ["DEFAULT"]}},
    )
    assert count["data"] == 3

    deleted = gql(
        emulator, "mutation($ids: [ID!]!) { data: deleteLabels(ids: $ids) }", {"ids": [prediction[0]["id"], "unknown"]}
    )
    assert deleted["data"] == [prediction[0]["id"]]
    assert label_ids({"typeIn": ["PREDICTION"]}) == []


def test_label_refusals(emulator, project):
    asset_id = append_assets(emulator, project, hosted(1))[0]["id"]
    other_asset = append_assets(emulator, create_project(emulator, "Other"), hosted(1))[0]["id"]

    def refused(label_type, items, where=None):
        data = {"labelType": label_type, "labelsData": items}
        return reason(gql_error(emulator, APPEND_LABELS, {"data": data, "where": where or {}}))

    assert refused("PREDICTION", [label_item(asset_id)]) == "missingModelName"
    assert refused("INFERENCE", [label_item(asset_id)]) == "missingModelName"
    assert refused("DEFAULT", [label_item(asset_id, authorID="nobody")]) == "userNotFound"
    assert refused("DEFAULT", [label_item("nope")]) == "assetNotFound"
    assert refused("DEFAULT", [label_item(asset_id, {"NOT_A_JOB": {}})]) == "invalidJsonResponse"
    assert refused("DEFAULT", [dict(label_item(asset_id), jsonResponse="{bad")]) == "invalidJsonResponse"
    assert refused("DEFAULT", [label_item(asset_id)] * 101) == "tooManyLabels"
    assert refused("DEFAULT", [label_item(other_asset)], {"project": {"id": project}}) == "assetNotInProject"
    assert refused("DEFAULT", [label_item(asset_id)], {"idIn": [other_asset]}) == "assetNotInWhere"
    bad_type = post(emulator, APPEND_LABELS, {"data": {"labelType": "HUMAN", "labelsData": []}, "where": {}}).json()
    assert bad_type["data"] is None and "HUMAN" in bad_type["errors"][0]["message"]
    assert gql(emulator, "{ data: countLabels(where: {}) }")["data"] == 0


def test_overwrite_replaces_a_models_predictions(emulator, project):
    asset_id = append_assets(emulator, project, hosted(1))[0]["id"]
    append_labels(emulator, "PREDICTION", [label_item(asset_id, modelName="m1")])
    append_labels(emulator, "PREDICTION", [label_item(asset_id, modelName="m2")])
    newest = append_labels(emulator, "PREDICTION", [label_item(asset_id, modelName="m1")], overwrite=True)
    models = [(label["modelName"], label["id"]) for label in emulator.list_labels(project)]
    assert [m for m, _ in models] == ["m2", "m1"] and models[1][1] == newest[0]["id"]
