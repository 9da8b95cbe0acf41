"""GraphQL resolvers of the Kili emulator: the SDL schema bound to
:class:`~fo_annotation_backends.testing.kili.state.KiliState`.

Root resolvers turn arguments into state calls; object fields that are not
stored (``Asset.labels``, ``Label.isLatestLabelForUser``...) have resolvers of
their own. The executor holds the state lock for the whole request.
"""

import os
import threading
import urllib.request

from graphql import (
    DirectiveLocation,
    GraphQLDeprecatedDirective,
    GraphQLDirective,
    GraphQLError,
    GraphQLIncludeDirective,
    GraphQLSkipDirective,
    GraphQLSpecifiedByDirective,
    build_schema,
)

from .rules import KiliError, image_resolution, paginate

SCHEMA_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schema.graphql")

#: how long the emulator waits for remote media when measuring images
REMOTE_MEDIA_TIMEOUT = 2.0
MAX_REMOTE_MEDIA_BYTES = 64 * 1024 * 1024


class Context:
    """What resolvers see as ``info.context``."""

    def __init__(self, state, viewer, max_page_size, resolve_remote_media=True):
        self.state = state
        self.viewer = viewer
        self.max_page_size = max_page_size
        self.resolve_remote_media = resolve_remote_media


def _page(info, items, first, skip):
    return paginate(items, first, skip, info.context.max_page_size)


# -- users, keys, organization -------------------------------------------------


def viewer(_, info):
    return info.context.viewer


def api_keys(_, info, where, first, skip):
    return _page(info, info.context.state.filter_api_keys(where, info.context.viewer), first, skip)


def count_api_keys(_, info, where):
    return len(info.context.state.filter_api_keys(where, info.context.viewer))


def users(_, info, where, first, skip):
    return _page(info, info.context.state.filter_users(where), first, skip)


def count_users(_, info, where):
    return len(info.context.state.filter_users(where))


def organizations(_, info, where, first, skip):
    return _page(info, info.context.state.filter_organizations(where), first, skip)


def count_organizations(_, info, where):
    return len(info.context.state.filter_organizations(where))


def create_user(_, info, data):
    return info.context.state.create_user(data)


def user_organization(user, info):
    return info.context.state.organization


def user_name(user, info):
    return ("%s %s" % (user["firstname"], user["lastname"])).strip() or user["email"]


def api_key_user(record, info):
    return info.context.state.users.get(record["_user_id"])


# -- projects ------------------------------------------------------------------


def projects(_, info, where, first, skip):
    return _page(info, info.context.state.filter_projects(where), first, skip)


def count_projects(_, info, where):
    return len(info.context.state.filter_projects(where))


def create_project(_, info, data):
    return info.context.state.create_project(data, info.context.viewer)


def update_project(_, info, data, where):
    return info.context.state.update_project(where, data)


def delete_project_asynchronously(_, info, where):
    return info.context.state.delete_project(where)["id"]


def delete_project(_, info, where):
    return info.context.state.delete_project(where)


def project_author(project, info):
    return info.context.state.users.get(project["_author_id"])


def project_roles(project, info):
    state = info.context.state
    return [dict(role, user=state.users.get(role["_user_id"])) for role in project["roles"]]


def _project_count(name):
    def resolve(project, info):
        return info.context.state.project_counts(project).get(name, 0)

    return resolve


# -- assets --------------------------------------------------------------------


def assets(_, info, where, first, skip):
    return _page(info, info.context.state.filter_assets(where), first, skip)


def count_assets(_, info, where):
    return len(info.context.state.filter_assets(where))


def count_asset_annotations(_, info, where):
    # the emulator keeps no separate annotation objects: one per label
    state = info.context.state
    return sum(len(a["_labels"]) for a in state.filter_assets(where))


def filter_existing_assets(_, info, projectID, externalIDs):
    return info.context.state.existing_external_ids(projectID, externalIDs)


def create_upload_bucket_signed_urls(_, info, filePaths=None):
    return info.context.state.signed_urls(filePaths)


def append_many_assets(_, info, data, where):
    state = info.context.state
    project, prepared = state.prepare_assets(data, where)
    resolutions = {}
    remote = {}
    for asset in prepared:
        if project["inputType"] not in ("IMAGE", "GEOSPATIAL") or not asset["content"]:
            continue
        if state.storage_path_of(asset["content"]) is not None:
            resolutions[asset["id"]] = state.stored_resolution(asset["content"])
        elif info.context.resolve_remote_media and asset["content"].lower().startswith(("http://", "https://")):
            remote[asset["id"]] = asset["content"]
    if remote:
        # measured without the lock: other requests go on meanwhile
        with state.unlocked():
            resolutions.update(measure_remote_images(remote))
    return state.add_assets(project["id"], prepared, resolutions)


def update_properties_in_assets(_, info, where, data):
    return info.context.state.update_assets(where, data)


def delete_assets(_, info, where):
    return info.context.state.delete_assets(where)


def delete_many_from_dataset(_, info, where):
    return info.context.state.delete_many_from_dataset(where)


def add_assets_to_review(_, info, where):
    return info.context.state.asset_action(where, "review")


def send_assets_back_to_queue(_, info, where):
    return info.context.state.asset_action(where, "back_to_queue")


def set_assets_priority(_, info, where, priority):
    return info.context.state.asset_action(where, "priority", priority)


def asset_project(asset, info):
    return info.context.state.projects.get(asset["_project_id"])


def asset_labels(asset, info):
    return info.context.state.asset_labels(asset)


def asset_latest_label(asset, info):
    return info.context.state.latest_label(asset)


def asset_latest_labels(asset, info):
    return info.context.state.latest_labels(asset)


def asset_to_be_labeled_by(asset, info):
    state = info.context.state
    users = []
    for name in asset["_to_be_labeled_by"]:
        user = state.users.get(name) or state.user_by_email(name)
        if user is not None:
            users.append(user)
    return users


def measure_remote_images(urls):
    """``{key: {width, height} or None}`` of images at http URLs, fetched in
    parallel; waits :data:`REMOTE_MEDIA_TIMEOUT` seconds at most in all."""
    results = {}

    def fetch(key, url):
        try:
            with urllib.request.urlopen(url, timeout=REMOTE_MEDIA_TIMEOUT) as response:
                data = response.read(MAX_REMOTE_MEDIA_BYTES)
            results[key] = image_resolution(data)
        except Exception:
            results[key] = None

    threads = [threading.Thread(target=fetch, args=item, daemon=True) for item in urls.items()]
    for thread in threads:
        thread.start()
    # a name lookup is not bounded by the socket timeout: bound the whole wait
    deadline = REMOTE_MEDIA_TIMEOUT + 0.5
    for thread in threads:
        thread.join(deadline)
        deadline = 0.05
    return {key: results.get(key) for key in urls}


# -- labels --------------------------------------------------------------------


def labels(_, info, where, first, skip):
    return _page(info, info.context.state.filter_labels(where), first, skip)


def count_labels(_, info, where):
    return len(info.context.state.filter_labels(where))


def append_many_labels(_, info, data, where):
    return info.context.state.append_labels(data, where, info.context.viewer)


def delete_labels(_, info, ids):
    return info.context.state.delete_labels(ids)


def label_author(label, info):
    return info.context.state.users.get(label["_author_id"])


def label_asset(label, info):
    return info.context.state.assets.get(label["assetId"])


def label_reviewed(label, info):
    return info.context.state.labels.get(label["_referenced_label_id"] or "")


def _latest_of_author(types):
    def resolve(label, info):
        return info.context.state.is_latest_of_author(label, types)

    return resolve


# -- the schema ----------------------------------------------------------------

QUERY_RESOLVERS = {
    "viewer": viewer,
    "me": viewer,
    "apiKeys": api_keys,
    "countApiKeys": count_api_keys,
    "users": users,
    "countUsers": count_users,
    "organizations": organizations,
    "countOrganizations": count_organizations,
    "projects": projects,
    "countProjects": count_projects,
    "assets": assets,
    "countAssets": count_assets,
    "countAssetAnnotations": count_asset_annotations,
    "labels": labels,
    "countLabels": count_labels,
    "filterExistingAssets": filter_existing_assets,
    "createUploadBucketSignedUrls": create_upload_bucket_signed_urls,
}

MUTATION_RESOLVERS = {
    "createUser": create_user,
    "createProject": create_project,
    "updatePropertiesInProject": update_project,
    "deleteProjectAsynchronously": delete_project_asynchronously,
    "deleteProject": delete_project,
    "appendManyAssets": append_many_assets,
    "updatePropertiesInAssets": update_properties_in_assets,
    "deleteAssets": delete_assets,
    "deleteManyFromDataset": delete_many_from_dataset,
    "addAssetsToReview": add_assets_to_review,
    "sendAssetsBackToQueue": send_assets_back_to_queue,
    "setAssetsPriority": set_assets_priority,
    "appendManyLabels": append_many_labels,
    "deleteLabels": delete_labels,
}

FIELD_RESOLVERS = {
    "User": {"organization": user_organization, "name": user_name},
    "ApiKey": {"user": api_key_user},
    "ProjectUser": {},
    "Project": {
        "author": project_author,
        "roles": project_roles,
        "numberOfAssets": _project_count("numberOfAssets"),
        "numberOfRemainingAssets": _project_count("numberOfRemainingAssets"),
        "numberOfReviewedAssets": _project_count("numberOfReviewedAssets"),
        "numberOfAssetsWithSkippedLabels": _project_count("numberOfAssetsWithSkippedLabels"),
    },
    "Asset": {
        "project": asset_project,
        "labels": asset_labels,
        "latestLabel": asset_latest_label,
        "latestLabels": asset_latest_labels,
        "toBeLabeledBy": asset_to_be_labeled_by,
    },
    "Label": {
        "author": label_author,
        "asset": label_asset,
        "reviewedLabel": label_reviewed,
        "isLatestLabelForUser": _latest_of_author(("AUTOSAVE", "DEFAULT", "REVIEW")),
        "isLatestReviewLabelForUser": _latest_of_author(("REVIEW",)),
        "isLatestDefaultLabelForUser": _latest_of_author(("DEFAULT",)),
    },
}


def _parse_page_size(value):
    if isinstance(value, bool) or not isinstance(value, int):
        raise GraphQLError("PageSize must be an integer, not %r" % (value,))
    if value < 0:
        raise GraphQLError("PageSize must be >= 0")
    return value


def _parse_page_size_literal(node, _variables=None):
    try:
        return _parse_page_size(int(node.value))
    except (AttributeError, TypeError, ValueError):
        raise GraphQLError("PageSize must be an integer") from None


# graphql-core >= 3.2.7 also allows @deprecated on directive definitions, a
# location that older clients (the Kili SDK's graphql-core 3.2.6) cannot read
# back from introspection: serve the directives of the 2021 spec
_CLIENT_COMPATIBLE_DIRECTIVES = (
    GraphQLIncludeDirective,
    GraphQLSkipDirective,
    GraphQLDirective(
        name=GraphQLDeprecatedDirective.name,
        locations=[
            DirectiveLocation.FIELD_DEFINITION,
            DirectiveLocation.ARGUMENT_DEFINITION,
            DirectiveLocation.INPUT_FIELD_DEFINITION,
            DirectiveLocation.ENUM_VALUE,
        ],
        args=GraphQLDeprecatedDirective.args,
        description=GraphQLDeprecatedDirective.description,
    ),
    GraphQLSpecifiedByDirective,
)


def load_sdl():
    """The emulator's schema, as SDL text."""
    with open(SCHEMA_PATH, encoding="utf-8") as f:
        return f.read()


def build_kili_schema(sdl=None):
    """The executable schema: the SDL with the resolvers attached."""
    schema = build_schema(sdl or load_sdl())
    for fields, resolvers in (
        (schema.query_type.fields, QUERY_RESOLVERS),
        (schema.mutation_type.fields, MUTATION_RESOLVERS),
    ):
        missing = set(fields) - set(resolvers)
        if missing:
            raise RuntimeError("root fields without a resolver: %s" % sorted(missing))
        for name, resolve in resolvers.items():
            fields[name].resolve = resolve
    for type_name, resolvers in FIELD_RESOLVERS.items():
        fields = schema.type_map[type_name].fields
        for name, resolve in resolvers.items():
            fields[name].resolve = resolve
    schema.directives = _CLIENT_COMPATIBLE_DIRECTIVES
    page_size = schema.type_map["PageSize"]
    page_size.parse_value = _parse_page_size
    page_size.parse_literal = _parse_page_size_literal
    page_size.serialize = int
    return schema


__all__ = ["Context", "KiliError", "build_kili_schema", "load_sdl", "measure_remote_images"]
