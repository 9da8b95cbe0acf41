"""The App plugin's operators: request annotations, load them (after a
preview), a run's status, cleanup and deletion of a run.

Every operator can be run from Python with
``fiftyone.operators.execute_operator("@fo-annotation-backends/annotation/<name>",
ctx={"dataset": ..., "view": ..., "params": {...}})``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import fiftyone as fo
import fiftyone.operators as foo
import fiftyone.operators.types as types
from fiftyone.operators import ExecutionContext

from fo_annotation_backends import registry
from fo_annotation_backends.plugin import helpers as h

if TYPE_CHECKING:
    from fiftyone.core.collections import SampleCollection

_EXAMPLE = registry.SERVICES[0]
_NO_BACKEND = (
    "Register one in FiftyOne's annotation config, e.g. "
    '{"backends": {"%s": {"config_cls": "%s"}}} '
    "(see the README of fo-annotation-backends)" % (_EXAMPLE.name, _EXAMPLE.config_cls)
)
#: the services' titles, in the operators' labels
_SERVICES = ", ".join(service.title for service in registry.SERVICES)


def _form(inputs: types.Object, label: str, description: str | None = None) -> types.Property:
    return types.Property(inputs, view=types.View(label=label, description=description))


def _runs_input(ctx: ExecutionContext, inputs: types.Object, description: str = "The annotation run") -> str | None:
    """A required dropdown of the dataset's runs of our backends; returns the
    chosen key (or None)."""
    runs = h.list_runs(ctx.dataset) if ctx.dataset is not None else []
    if not runs:
        prop = inputs.view(
            "no_runs",
            types.Warning(
                label="No annotation runs",
                description="This dataset has no annotation run of a %s backend of fo-annotation-backends"
                % registry.titles(conjunction="or"),
            ),
        )
        prop.invalid = True
        prop.error_message = "No annotation runs"
        return None
    choices = types.Dropdown(label="Annotation run", description=description)
    for run in runs:
        choices.add_choice(
            run["anno_key"],
            label=run["anno_key"],
            description="%s (%s): %s"
            % (run["backend"], h.service_title(run["service"], run["service"]), ", ".join(run["fields"])),
        )
    inputs.enum("anno_key", choices.values(), required=True, label="Annotation run", view=choices)
    return ctx.params.get("anno_key")


def _confirm_input(inputs: types.Object, label: str, description: str) -> types.Property:
    return inputs.bool("confirm", default=False, label=label, description=description)


def _require_confirmation(ctx: ExecutionContext, prop: types.Property, what: str) -> None:
    if not ctx.params.get("confirm"):
        prop.invalid = True
        prop.error_message = "Tick the box to confirm that %s" % what


def _executing(ctx: ExecutionContext) -> bool:
    """Whether ``resolve_input`` runs for an execution (its inputs are being
    validated), not to build the form: only then is there an executor."""
    return ctx.executor is not None


class RequestAnnotations(foo.Operator):
    """Sends the target samples to one of the registry's services."""

    @property
    def config(self) -> foo.OperatorConfig:
        return foo.OperatorConfig(
            name=h.REQUEST_ANNOTATIONS,
            label="Request annotations (%s)" % _SERVICES,
            description="Send samples to a labeling service with fo-annotation-backends",
            icon="add_task",
            dynamic=True,
            allow_immediate_execution=True,
            allow_delegated_execution=True,
        )

    def resolve_input(self, ctx: ExecutionContext) -> types.Property:
        inputs = types.Object()
        if ctx.dataset is None:
            prop = inputs.view("no_dataset", types.Warning(label="Open a dataset first"))
            prop.invalid = True
            prop.error_message = "No dataset"
            return _form(inputs, "Request annotations")
        backends = h.our_backends()
        if not backends:
            prop = inputs.view(
                "no_backends",
                types.Warning(label="No backend of fo-annotation-backends is registered", description=_NO_BACKEND),
            )
            prop.invalid = True
            prop.error_message = "No backend registered"
            return _form(inputs, "Request annotations")

        inputs.view_target(ctx, action_description="Annotate")
        target = ctx.target_view()

        choices = types.RadioGroup(orientation="horizontal")
        for name, kind in backends.items():
            choices.add_choice(name, label=name, description=h.service_title(kind, kind))
        default_backend = fo.annotation_config.default_backend
        if default_backend not in backends:
            default_backend = next(iter(backends))
        inputs.enum("backend", choices.values(), default=default_backend, required=True, label="Backend", view=choices)
        backend = ctx.params.get("backend") or default_backend
        service = backends.get(backend)

        key_prop = inputs.str(
            "anno_key",
            required=True,
            label="Annotation key",
            description="A name for this run (letters, digits and underscores)",
        )
        anno_key = ctx.params.get("anno_key")
        if anno_key:
            if not str(anno_key).isidentifier():
                key_prop.invalid = True
                key_prop.error_message = "Keys must be valid variable names (letters, digits, underscores)"
            elif ctx.dataset is not None and anno_key in ctx.dataset.list_annotation_runs():
                key_prop.invalid = True
                key_prop.error_message = "The dataset already has an annotation run '%s'" % anno_key

        self._field_inputs(ctx, inputs, target)
        self._backend_inputs(ctx, inputs, service)

        inputs.bool(
            "launch_editor",
            default=False,
            label="Launch editor",
            description="Open the project in the service's web app when the upload is done",
        )
        return _form(inputs, "Request annotations", "Send samples to %s" % h.service_title(service, backend))

    def _field_inputs(self, ctx: ExecutionContext, inputs: types.Object, target: SampleCollection) -> None:
        inputs.view("field_header", types.Header(label="Label field", divider=True))
        fields = h.annotatable_fields(target)
        field_choices = types.AutocompleteView(allow_user_input=True)
        for name, label_types in fields.items():
            field_choices.add_choice(name, label=name, description=label_types[0])
        inputs.str(
            "label_field",
            required=True,
            label="Label field",
            description="An existing field (its labels go up as pre-annotations) or the name of a new field",
            view=field_choices,
        )
        field = ctx.params.get("label_field")
        label_type = None
        is_new = bool(field) and field not in fields
        if field and not is_new:
            label_types = fields[field]
            if len(label_types) > 1:
                type_choices = types.Dropdown()
                for t in label_types:
                    type_choices.add_choice(t, label=t)
                inputs.enum(
                    "label_type",
                    type_choices.values(),
                    default=label_types[0],
                    label="Label type",
                    description="Inferred from the field",
                    view=type_choices,
                )
                label_type = ctx.params.get("label_type") or label_types[0]
                if label_type not in label_types:
                    label_type = label_types[0]
            else:
                label_type = label_types[0]
                inputs.view("label_type_notice", types.Notice(label="Label type: %s (from the field)" % label_type))
        elif is_new:
            type_choices = types.Dropdown()
            for t in h.NEW_FIELD_TYPES:
                type_choices.add_choice(t, label=t)
            inputs.enum(
                "label_type",
                type_choices.values(),
                required=True,
                label="Label type",
                description="The type of the new field's labels",
                view=type_choices,
            )
            label_type = ctx.params.get("label_type")

        classes_required = is_new and label_type not in (None, "scalar")
        inputs.list(
            "classes",
            types.String(),
            required=classes_required,
            label="Classes" if label_type != "segmentation" else "Classes (mask values 1, 2, ...)",
            description="The class names annotators can choose"
            + (" (optional for scalars)" if label_type == "scalar" else "")
            + ("" if is_new else "; empty: the classes of the field's labels"),
        )

        if label_type not in ("scalar", "segmentation"):
            attribute = types.Object()
            attribute.str("name", required=True, label="Name", view=types.View(space=4))
            attr_choices = types.Dropdown(space=4)
            for t in h.ATTRIBUTE_TYPES:
                attr_choices.add_choice(t, label=t)
            attribute.enum(
                "type", attr_choices.values(), required=True, default="text", label="Type", view=attr_choices
            )
            attribute.list("values", types.String(), label="Values", description="Required for select and radio")
            attribute.str("default", label="Default", description="Optional value of new labels")
            attrs_prop = inputs.list(
                "attributes",
                attribute,
                label="Attributes",
                description="Attributes of the labels (select, radio, checkbox or text)",
            )
            for attr in ctx.params.get("attributes") or []:
                attr = attr or {}
                if attr.get("type") in ("select", "radio") and not attr.get("values"):
                    attrs_prop.invalid = True
                    attrs_prop.error_message = "Attribute '%s' (%s) needs values" % (attr.get("name"), attr.get("type"))

    def _backend_inputs(self, ctx: ExecutionContext, inputs: types.Object, service: str | None) -> None:
        inputs.view(
            "backend_header",
            types.Header(label="%s options" % h.service_title(service, "Backend"), divider=True),
        )
        inputs.str(
            "project_name",
            label="Project name",
            description="The name of the new project (default: FiftyOne <dataset>)",
        )
        for option in _app_inputs(service):
            _render_input(ctx, inputs, option)

    def execute(self, ctx: ExecutionContext) -> dict[str, Any]:
        params = ctx.params
        backend = params.get("backend")
        backends = h.our_backends()
        if backend not in backends:
            raise h.AnnotationPluginError(
                "'%s' is not a registered backend of fo-annotation-backends (registered: %s)"
                % (backend, ", ".join(backends) or "none")
            )
        service = backends[backend]
        anno_key = params.get("anno_key")
        target = ctx.target_view()
        label_schema = h.build_label_schema(
            params.get("label_field"),
            label_type=params.get("label_type"),
            classes=params.get("classes"),
            attributes=params.get("attributes"),
        )
        kwargs = _backend_kwargs(service, params)
        kwargs.update(h.credentials(ctx, backend))
        launch_editor = bool(params.get("launch_editor")) and not ctx.delegated

        count = len(target)
        ctx.set_progress(progress=0.0, label="Sending %d sample(s) to %s" % (count, backend))
        with h.readable_errors("Requesting annotations", ctx):
            results = target.annotate(
                anno_key,
                backend=backend,
                label_schema=label_schema,
                launch_editor=launch_editor,
                **kwargs,
            )
        ctx.set_progress(progress=1.0, label="Sent %d sample(s) to %s" % (count, backend))
        project_url = getattr(results, "project_url", None)
        message = "Run `%s`: %d sample(s) sent to %s." % (anno_key, count, h.service_title(service, backend))
        if project_url:
            message += " [Open the project](%s)" % project_url
        return {
            "anno_key": anno_key,
            "backend": backend,
            "samples": count,
            "fields": list(label_schema),
            "project_url": project_url,
            "message": message,
        }

    def resolve_output(self, ctx: ExecutionContext) -> types.Property:
        outputs = types.Object()
        outputs.str("message", label="Annotations requested", view=types.MarkdownView())
        return types.Property(outputs)


def _app_inputs(service: str | None) -> tuple[registry.AppInput, ...]:
    """The registry's App inputs of a service (none for an unknown one)."""
    if service is None:
        return ()
    try:
        return registry.get(service).app_inputs
    except KeyError:
        return ()


def _render_input(ctx: ExecutionContext, inputs: types.Object, option: registry.AppInput) -> None:
    """One of a service's :class:`~fo_annotation_backends.registry.AppInput`."""
    required = option.required_if is not None and ctx.params.get(option.required_if[0]) == option.required_if[1]
    if option.kind == "choice":
        choices = types.Dropdown()
        for value in option.choice_values():
            choices.add_choice(value, label=value, description=option.choice_descriptions.get(value))
        inputs.enum(
            option.name,
            choices.values(),
            default=option.default,
            required=required,
            label=option.label,
            description=option.description,
            view=choices,
        )
    elif option.kind == "list":
        inputs.list(option.name, types.String(), required=required, label=option.label, description=option.description)
    else:
        inputs.str(
            option.name, default=option.default, required=required, label=option.label, description=option.description
        )


def _backend_kwargs(service: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The ``annotate()`` parameters of the form: the project name, then the
    service's own inputs that were given."""
    kwargs: dict[str, Any] = {}
    if params.get("project_name"):
        kwargs["project_name"] = params["project_name"]
    for option in _app_inputs(service):
        value = params.get(option.name)
        if option.kind == "list":
            value = [item for item in (value or []) if item]
        if value:
            kwargs[option.name] = value
    return kwargs


class LoadAnnotations(foo.Operator):
    """Merges a run's annotations into the dataset, after a preview of what
    will change."""

    @property
    def config(self) -> foo.OperatorConfig:
        return foo.OperatorConfig(
            name=h.LOAD_ANNOTATIONS,
            label="Load annotations (%s)" % _SERVICES,
            description="Merge the work of a labeling service back into the dataset",
            icon="download",
            dynamic=True,
            allow_immediate_execution=True,
            allow_delegated_execution=True,
        )

    def resolve_input(self, ctx: ExecutionContext) -> types.Property:
        inputs = types.Object()
        anno_key = _runs_input(ctx, inputs, description="The run whose annotations are merged")
        inputs.bool(
            "preview",
            default=True,
            label="Preview the changes",
            description="Download the annotations and count what the merge will add, edit and delete",
        )
        if anno_key and ctx.params.get("preview", True) and not _executing(ctx):
            try:
                creds = h.run_credentials(ctx, ctx.dataset, anno_key)
                preview = h.cached_preview(ctx.dataset, anno_key, creds)
                inputs.md("#### What the merge will change\n" + h.preview_markdown(preview), name="preview_result")
            except Exception as error:
                inputs.view(
                    "preview_error",
                    types.Error(label="Preview failed", description=h.readable_message(error)),
                )
        return _form(inputs, "Load annotations")

    def execute(self, ctx: ExecutionContext) -> dict[str, Any]:
        dataset = ctx.dataset
        anno_key = ctx.params.get("anno_key")
        with h.readable_errors("Loading annotations", ctx):
            run = h.get_run(dataset, anno_key)
            creds = h.run_credentials(ctx, dataset, anno_key)
        ctx.set_progress(progress=0.0, label="Downloading the annotations of run '%s'" % anno_key)
        progress = None
        if ctx.delegated:
            progress = fo.report_progress(
                lambda pb: ctx.set_progress(progress=pb.progress, label="Merging run '%s'" % anno_key), dt=2.0
            )
        if creds:
            h.forget_cached_results(dataset, anno_key)
        with h.readable_errors("Loading annotations", ctx):
            dataset.load_annotations(anno_key, unexpected="keep", progress=progress, **creds)
        h.forget_preview(dataset, anno_key)
        ctx.set_progress(progress=1.0, label="Merged run '%s'" % anno_key)
        if not ctx.delegated:
            ctx.ops.reload_dataset()
        return {
            "anno_key": anno_key,
            "fields": run["fields"],
            "message": "Merged the annotations of run `%s` into %s." % (anno_key, ", ".join(run["fields"])),
        }

    def resolve_output(self, ctx: ExecutionContext) -> types.Property:
        outputs = types.Object()
        outputs.str("message", label="Annotations loaded", view=types.MarkdownView())
        return types.Property(outputs)


class GetAnnotationStatus(foo.Operator):
    """Shows a run's progress, from the service."""

    @property
    def config(self) -> foo.OperatorConfig:
        return foo.OperatorConfig(
            name=h.GET_ANNOTATION_STATUS,
            label="Annotation run status (%s)" % _SERVICES,
            description="A run's progress in the labeling service",
            icon="fact_check",
            dynamic=True,
        )

    def resolve_input(self, ctx: ExecutionContext) -> types.Property:
        inputs = types.Object()
        _runs_input(ctx, inputs)
        return _form(inputs, "Annotation run status")

    def execute(self, ctx: ExecutionContext) -> dict[str, Any]:
        dataset = ctx.dataset
        anno_key = ctx.params.get("anno_key")
        with h.readable_errors("Getting the status", ctx):
            run = h.get_run(dataset, anno_key)
            results = h.load_results(dataset, anno_key, h.run_credentials(ctx, dataset, anno_key))
            status = h.jsonable(results.get_status())
        project_url = getattr(results, "project_url", None)
        text = "#### Run `%s` (%s)\n%s" % (anno_key, run["backend"], h.format_status(status))
        if project_url:
            text += "\n\n[Open the project](%s)" % project_url
        return {
            "anno_key": anno_key,
            "backend": run["backend"],
            "status": status,
            "summary": h.progress_summary(status),
            "project_url": project_url,
            "text": text,
        }

    def resolve_output(self, ctx: ExecutionContext) -> types.Property:
        outputs = types.Object()
        outputs.str("text", label="Status", view=types.MarkdownView())
        outputs.obj("status", label="As JSON", view=types.JSONView())
        return types.Property(outputs)


class CleanupAnnotations(foo.Operator):
    """Deletes a run's data (project, or the run's tasks) from the service."""

    @property
    def config(self) -> foo.OperatorConfig:
        return foo.OperatorConfig(
            name=h.CLEANUP_ANNOTATIONS,
            label="Clean up an annotation run (%s)" % _SERVICES,
            description="Delete a run's project or tasks from the labeling service",
            icon="cleaning_services",
            dynamic=True,
        )

    def resolve_input(self, ctx: ExecutionContext) -> types.Property:
        inputs = types.Object()
        anno_key = _runs_input(ctx, inputs, description="The run whose data is deleted from the service")
        inputs.view(
            "cleanup_warning",
            types.Warning(
                label="This deletes data in the labeling service",
                description="The project the run created (or only the run's tasks, in a project it reused) is "
                "deleted, with the work not yet loaded. The run's record in FiftyOne stays.",
            ),
        )
        prop = _confirm_input(inputs, "Delete the run's data from the service", "Required")
        _require_confirmation(ctx, prop, "the run's data will be deleted from the service")
        return _form(inputs, "Clean up '%s'" % anno_key if anno_key else "Clean up an annotation run")

    def execute(self, ctx: ExecutionContext) -> dict[str, Any]:
        if ctx.params.get("confirm") is not True:
            raise h.AnnotationPluginError("Cleanup needs confirmation: pass confirm=True")
        dataset = ctx.dataset
        anno_key = ctx.params.get("anno_key")
        with h.readable_errors("Cleaning up", ctx):
            run = h.get_run(dataset, anno_key)
            results = h.load_results(dataset, anno_key, h.run_credentials(ctx, dataset, anno_key))
            results.cleanup()
        h.forget_preview(dataset, anno_key)
        return {
            "anno_key": anno_key,
            "message": "Deleted the data of run `%s` from %s."
            % (anno_key, h.service_title(run["service"], run["backend"])),
        }

    def resolve_output(self, ctx: ExecutionContext) -> types.Property:
        outputs = types.Object()
        outputs.str("message", label="Cleaned up", view=types.MarkdownView())
        return types.Property(outputs)


class DeleteAnnotationRun(foo.Operator):
    """Deletes a run's record from the dataset, optionally cleaning up the
    service first."""

    @property
    def config(self) -> foo.OperatorConfig:
        return foo.OperatorConfig(
            name=h.DELETE_ANNOTATION_RUN,
            label="Delete an annotation run (%s)" % _SERVICES,
            description="Delete a run's record from the dataset (labels stay)",
            icon="delete",
            dynamic=True,
        )

    def resolve_input(self, ctx: ExecutionContext) -> types.Property:
        inputs = types.Object()
        _runs_input(ctx, inputs, description="The run whose record is deleted (the dataset's labels stay)")
        inputs.bool(
            "cleanup",
            default=False,
            label="Clean up the service first",
            description="Also delete the run's project or tasks from the labeling service",
        )
        if ctx.params.get("cleanup"):
            prop = _confirm_input(inputs, "Delete the run's data from the service", "Required with cleanup")
            _require_confirmation(ctx, prop, "the run's data will be deleted from the service")
        return _form(inputs, "Delete an annotation run")

    def execute(self, ctx: ExecutionContext) -> dict[str, Any]:
        dataset = ctx.dataset
        anno_key = ctx.params.get("anno_key")
        cleanup = bool(ctx.params.get("cleanup"))
        if cleanup and ctx.params.get("confirm") is not True:
            raise h.AnnotationPluginError("Cleanup needs confirmation: pass confirm=True")
        with h.readable_errors("Deleting the run", ctx):
            h.get_run(dataset, anno_key)
            if cleanup:
                results = h.load_results(dataset, anno_key, h.run_credentials(ctx, dataset, anno_key))
                results.cleanup()
            dataset.delete_annotation_run(anno_key)
        h.forget_preview(dataset, anno_key)
        message = "Deleted run `%s`" % anno_key
        if cleanup:
            message += " and its data in the service"
        return {"anno_key": anno_key, "cleanup": cleanup, "message": message + "."}

    def resolve_output(self, ctx: ExecutionContext) -> types.Property:
        outputs = types.Object()
        outputs.str("message", label="Deleted", view=types.MarkdownView())
        return types.Property(outputs)


OPERATORS = (RequestAnnotations, LoadAnnotations, GetAnnotationStatus, CleanupAnnotations, DeleteAnnotationRun)
