"""KiliClient against the Kili emulator: large label payloads are split by
bytes and sent gzipped (as Kili's own SDK does from 1 MB); lookups by id
ask for no page past the last."""

import json

from fo_annotation_backends.kili.client import GZIP_MIN_BYTES, MAX_LABEL_BYTES_PER_CALL, KiliClient

INTERFACE = {
    "jobs": {
        "NOTE": {
            "mlTask": "TRANSCRIPTION",
            "instruction": "note",
            "required": 0,
            "isChild": False,
            "content": {"input": "textField"},
        }
    }
}


def test_large_predictions_are_split_by_bytes_and_gzipped(kili_emulator):
    client = KiliClient(kili_emulator.url, kili_emulator.api_key, max_calls=None)
    project_id = client.create_project("Large", "large labels", INTERFACE)
    assets = [
        {"id": "casset%021d" % i, "external_id": "a%d" % i, "content": "http://127.0.0.1:9/%d.png" % i}
        for i in range(3)
    ]
    client.append_assets(project_id, assets)
    text = "x" * (MAX_LABEL_BYTES_PER_CALL // 2 - 1000)  # two fit in one call, not three
    assert len(text) > GZIP_MIN_BYTES
    kili_emulator.reset_stats()

    client.append_predictions(project_id, "fiftyone", [(a["id"], {"NOTE": {"text": text}}) for a in assets])

    assert kili_emulator.stats()["operations"]["appendManyLabels"] == 2
    stored = client.assets_by_id(project_id, [a["id"] for a in assets], fields="id labels { jsonResponse modelName }")
    for asset in assets:
        (label,) = stored[asset["id"]]["labels"]
        assert label["modelName"] == "fiftyone"
        assert json.loads(label["jsonResponse"]) == {"NOTE": {"text": text}}


def test_lookups_by_id_never_ask_past_the_last_page(kili_emulator):
    client = KiliClient(kili_emulator.url, kili_emulator.api_key, max_calls=None)
    project_id = client.create_project("Pages", "pages", INTERFACE)
    ids = ["cpage%020d" % i for i in range(7)]
    client.append_assets(project_id, [{"id": i, "external_id": i, "content": "http://127.0.0.1:9/x.png"} for i in ids])
    kili_emulator.reset_stats()

    found = client.assets_by_id(project_id, ids, fields="id", page_size=7)
    assert sorted(found) == ids
    assert kili_emulator.stats()["operations"]["assets"] == 1  # a full page of all the ids asked: done

    found = client.assets_by_id(project_id, ids, fields="id", page_size=3)
    assert sorted(found) == ids
    assert kili_emulator.stats()["operations"]["assets"] == 1 + 3
