"""GraphQL resolvers of the Kili emulator: the SDL schema bound to
:class:`~fo_annotation_backends.testing.kili.state.KiliState`.

Root resolvers turn arguments into state calls; object fields that are not
stored (``Asset.labels``, ``Label.isLatestLabelForUser``...) have resolvers of
their own. The executor holds the state lock for the whole request.
"""

from __future__ import annotations

import os
import threading
import urllib.request
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from graphql import (
    DirectiveLocation,
    GraphQLDeprecatedDirective,
    GraphQLDirective,
    GraphQLError,
    GraphQLIncludeDirective,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLSkipDirective,
    GraphQLSpecifiedByDirective,
    ValueNode,
    build_schema,
)

from . import resolvers_video
from .rules import KiliError, Record, image_resolution, paginate

if TYPE_CHECKING:
    from .state import KiliState, Outcome

_T = TypeVar("_T")

SCHEMA_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schema.graphql")

#: how long the emulator waits for remote media when measuring images
REMOTE_MEDIA_TIMEOUT = 2.0
MAX_REMOTE_MEDIA_BYTES = 64 * 1024 * 1024


class Context:
    """What resolvers see as ``info.context``."""

    def __init__(self, state: KiliState, viewer: Record, max_page_size: int, resolve_remote_media: bool = True) -> None:
        self.state = state
        self.viewer = viewer
        self.max_page_size = max_page_size
        self.resolve_remote_media = resolve_remote_media


class Info(Protocol):
    """The ``info`` of a resolver as ours read it: a ``GraphQLResolveInfo``
    whose ``context`` is a :class:`Context`."""

    @property
    def context(self) -> Context: ...


def _page(info: Info, items: list[_T], first: int, skip: int) -> list[_T]:
    return paginate(items, first, skip, info.context.max_page_size)


# -- users, keys, organization -------------------------------------------------


def viewer(_: object, info: Info) -> Record:
    return info.context.viewer


def api_keys(_: object, info: Info, where: Mapping[str, Any], first: int, skip: int) -> list[Record]:
    return _page(info, info.context.state.filter_api_keys(where, info.context.viewer), first, skip)


def count_api_keys(_: object, info: Info, where: Mapping[str, Any]) -> int:
    return len(info.context.state.filter_api_keys(where, info.context.viewer))


def users(_: object, info: Info, where: Mapping[str, Any], first: int, skip: int) -> list[Record]:
    return _page(info, info.context.state.filter_users(where), first, skip)


def count_users(_: object, info: Info, where: Mapping[str, Any]) -> int:
    return len(info.context.state.filter_users(where))


def organizations(_: object, info: Info, where: Mapping[str, Any], first: int, skip: int) -> list[Record]:
    return _page(info, info.context.state.filter_organizations(where), first, skip)


def count_organizations(_: object, info: Info, where: Mapping[str, Any]) -> int:
    return len(info.context.state.filter_organizations(where))


def create_user(_: object, info: Info, data: Mapping[str, Any]) -> Record:
    return info.context.state.create_user(data)


def user_organization(user: Record, info: Info) -> Record:
    return info.context.state.organization


def user_name(user: Record, info: Info) -> str:
    return ("%s %s" % (user["firstname"], user["lastname"])).strip() or user["email"]


def api_key_user(record: Record, info: Info) -> Record | None:
    return info.context.state.users.get(record["_user_id"])


# -- projects ------------------------------------------------------------------


def projects(_: object, info: Info, where: Mapping[str, Any], first: int, skip: int) -> list[Record]:
    return _page(info, info.context.state.filter_projects(where), first, skip)


def count_projects(_: object, info: Info, where: Mapping[str, Any]) -> int:
    return len(info.context.state.filter_projects(where))


def create_project(_: object, info: Info, data: Mapping[str, Any]) -> Record:
    return info.context.state.create_project(data, info.context.viewer)


def update_project(_: object, info: Info, data: Mapping[str, Any], where: Mapping[str, Any]) -> Record:
    return info.context.state.update_project(where, data)


def delete_project_asynchronously(_: object, info: Info, where: Mapping[str, Any]) -> str:
    return info.context.state.delete_project(where)["id"]


def delete_project(_: object, info: Info, where: Mapping[str, Any]) -> Record:
    return info.context.state.delete_project(where)


def project_author(project: Record, info: Info) -> Record | None:
    return info.context.state.users.get(project["_author_id"])


def project_roles(project: Record, info: Info) -> list[Record]:
    state = info.context.state
    return [dict(role, user=state.users.get(role["_user_id"])) for role in project["roles"]]


def _project_count(name: str) -> Callable[[Record, Info], int]:
    def resolve(project: Record, info: Info) -> int:
        return info.context.state.project_counts(project).get(name, 0)

    return resolve


# -- assets --------------------------------------------------------------------


def assets(_: object, info: Info, where: Mapping[str, Any], first: int, skip: int) -> list[Record]:
    return _page(info, info.context.state.filter_assets(where), first, skip)


def count_assets(_: object, info: Info, where: Mapping[str, Any]) -> int:
    return len(info.context.state.filter_assets(where))


def count_asset_annotations(_: object, info: Info, where: Mapping[str, Any]) -> int:
    # the emulator keeps no separate annotation objects: one per label
    state = info.context.state
    return sum(len(a["_labels"]) for a in state.filter_assets(where))


def filter_existing_assets(_: object, info: Info, projectID: str, externalIDs: list[str]) -> list[str]:
    return info.context.state.existing_external_ids(projectID, externalIDs)


def create_upload_bucket_signed_urls(_: object, info: Info, filePaths: list[str] | None = None) -> list[str]:
    return info.context.state.signed_urls(filePaths)


def append_many_assets(_: object, info: Info, data: Mapping[str, Any], where: Mapping[str, Any]) -> list[Record]:
    state = info.context.state
    project, prepared = state.prepare_assets(data, where)
    resolutions: dict[str, dict[str, int] | None] = {}
    remote: dict[str, str] = {}
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


def update_properties_in_assets(
    _: object, info: Info, where: list[Mapping[str, Any]], data: list[Mapping[str, Any]]
) -> list[Record]:
    return info.context.state.update_assets(where, data)


def delete_assets(_: object, info: Info, where: Mapping[str, Any]) -> Outcome:
    return info.context.state.delete_assets(where)


def delete_many_from_dataset(_: object, info: Info, where: Mapping[str, Any]) -> Record | None:
    return info.context.state.delete_many_from_dataset(where)


def add_assets_to_review(_: object, info: Info, where: Mapping[str, Any]) -> Outcome:
    return info.context.state.asset_action(where, "review")


def send_assets_back_to_queue(_: object, info: Info, where: Mapping[str, Any]) -> Outcome:
    return info.context.state.asset_action(where, "back_to_queue")


def set_assets_priority(_: object, info: Info, where: Mapping[str, Any], priority: int) -> Outcome:
    return info.context.state.asset_action(where, "priority", priority)


def asset_project(asset: Record, info: Info) -> Record | None:
    return info.context.state.projects.get(asset["_project_id"])


def asset_labels(asset: Record, info: Info) -> list[Record]:
    return info.context.state.asset_labels(asset)


def asset_latest_label(asset: Record, info: Info) -> Record | None:
    return info.context.state.latest_label(asset)


def asset_latest_labels(asset: Record, info: Info) -> list[Record]:
    return info.context.state.latest_labels(asset)


def asset_to_be_labeled_by(asset: Record, info: Info) -> list[Record]:
    state = info.context.state
    users = []
    for name in asset["_to_be_labeled_by"]:
        user = state.users.get(name) or state.user_by_email(name)
        if user is not None:
            users.append(user)
    return users


def measure_remote_images(urls: Mapping[str, str]) -> dict[str, dict[str, int] | None]:
    """``{key: {width, height} or None}`` of images at http URLs, fetched in
    parallel; waits :data:`REMOTE_MEDIA_TIMEOUT` seconds at most in all."""
    results: dict[str, dict[str, int] | None] = {}

    def fetch(key: str, url: str) -> None:
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


def labels(_: object, info: Info, where: Mapping[str, Any], first: int, skip: int) -> list[Record]:
    return _page(info, info.context.state.filter_labels(where), first, skip)


def count_labels(_: object, info: Info, where: Mapping[str, Any]) -> int:
    return len(info.context.state.filter_labels(where))


def append_many_labels(_: object, info: Info, data: Mapping[str, Any], where: Mapping[str, Any]) -> list[Record]:
    return info.context.state.append_labels(data, where, info.context.viewer)


def delete_labels(_: object, info: Info, ids: list[str]) -> list[str]:
    return info.context.state.delete_labels(ids)


def label_author(label: Record, info: Info) -> Record | None:
    return info.context.state.users.get(label["_author_id"])


def label_asset(label: Record, info: Info) -> Record | None:
    return info.context.state.assets.get(label["assetId"])


def label_reviewed(label: Record, info: Info) -> Record | None:
    return info.context.state.labels.get(label["_referenced_label_id"] or "")


def _latest_of_author(types: tuple[str, ...]) -> Callable[[Record, Info], bool]:
    def resolve(label: Record, info: Info) -> bool:
        return info.context.state.is_latest_of_author(label, types)

    return resolve


# -- the schema ----------------------------------------------------------------

#: the resolvers of the root fields and of the object fields that are not stored
Resolver = Callable[..., Any]

QUERY_RESOLVERS: dict[str, Resolver] = {
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
    "notifications": resolvers_video.notifications,
    "countNotifications": resolvers_video.count_notifications,
}

MUTATION_RESOLVERS: dict[str, Resolver] = {
    "createUser": create_user,
    "createProject": create_project,
    "updatePropertiesInProject": update_project,
    "deleteProjectAsynchronously": delete_project_asynchronously,
    "deleteProject": delete_project,
    "appendManyAssets": append_many_assets,
    "appendManyAssetsAsynchronously": resolvers_video.append_many_assets_asynchronously,
    "updatePropertiesInAssets": update_properties_in_assets,
    "deleteAssets": delete_assets,
    "deleteManyFromDataset": delete_many_from_dataset,
    "addAssetsToReview": add_assets_to_review,
    "sendAssetsBackToQueue": send_assets_back_to_queue,
    "setAssetsPriority": set_assets_priority,
    "appendManyLabels": append_many_labels,
    "deleteLabels": delete_labels,
}

FIELD_RESOLVERS: dict[str, dict[str, Resolver]] = {
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


def _parse_page_size(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise GraphQLError("PageSize must be an integer, not %r" % (value,))
    if value < 0:
        raise GraphQLError("PageSize must be >= 0")
    return value


def _parse_page_size_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> int:
    value: Any = getattr(node, "value", None)  # a list or object literal has none
    try:
        return _parse_page_size(int(value))
    except (TypeError, ValueError):
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


def load_sdl() -> str:
    """The emulator's schema, as SDL text."""
    with open(SCHEMA_PATH, encoding="utf-8") as f:
        return f.read()


def build_kili_schema(sdl: str | None = None) -> GraphQLSchema:
    """The executable schema: the SDL with the resolvers attached."""
    schema = build_schema(sdl or load_sdl())
    if schema.query_type is None or schema.mutation_type is None:
        raise RuntimeError("the schema needs a Query and a Mutation type")
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
        object_type = schema.type_map[type_name]
        if not isinstance(object_type, GraphQLObjectType):
            raise RuntimeError("%s is not an object type of the schema" % type_name)
        for name, resolve in resolvers.items():
            object_type.fields[name].resolve = resolve
    schema.directives = _CLIENT_COMPATIBLE_DIRECTIVES
    page_size = schema.type_map["PageSize"]
    if not isinstance(page_size, GraphQLScalarType):
        raise RuntimeError("PageSize is not a scalar of the schema")
    # graphql-core's way to implement a scalar of an SDL schema: set its methods
    page_size.parse_value = _parse_page_size  # type: ignore[method-assign]
    page_size.parse_literal = _parse_page_size_literal  # type: ignore[method-assign]
    page_size.serialize = int  # type: ignore[method-assign, assignment]
    return schema


__all__ = ["Context", "KiliError", "build_kili_schema", "load_sdl", "measure_remote_images"]
