"""The ``annotation_runs`` panel: the dataset's annotation runs of our
backends, their progress in the service (fetched on demand), and buttons
that open the plugin's operators."""

from __future__ import annotations

import fiftyone.operators as foo
import fiftyone.operators.types as types
from fiftyone.operators import ExecutionContext

from fo_annotation_backends import registry
from fo_annotation_backends.plugin import helpers as h


class AnnotationRunsPanel(foo.Panel):
    """Lists the runs; each has buttons to fetch its progress, load, show
    the status, clean up, delete, and open the project in the service."""

    @property
    def config(self) -> foo.PanelConfig:
        return foo.PanelConfig(
            name=h.ANNOTATION_RUNS_PANEL,
            label="Annotation runs",
            icon="assignment",
            surfaces="grid",
            help_markdown="Annotation runs of the %s backends of fo-annotation-backends. Progress is asked "
            "of the service only when you fetch it." % registry.titles(),
        )

    # -- events

    def on_load(self, ctx: ExecutionContext) -> None:
        runs = []
        errors = []
        dataset = ctx.dataset
        for run in h.list_runs(dataset) if dataset is not None else []:
            try:
                creds = h.run_credentials(ctx, dataset, run["anno_key"])  # the URL may come from the secrets
                results = h.load_results(dataset, run["anno_key"], creds)  # no call to the service
                run["project_url"] = getattr(results, "project_url", None)
            except Exception as error:
                run["project_url"] = None
                errors.append("%s: %s" % (run["anno_key"], h.readable_message(error)))
            runs.append(run)
        progress = ctx.panel.get_state("progress") or {}
        keys = {r["anno_key"] for r in runs}
        ctx.panel.set_state("runs", runs)
        ctx.panel.set_state("progress", {k: v for k, v in progress.items() if k in keys})
        ctx.panel.set_state("error", "; ".join(errors) or None)

    def on_change_dataset(self, ctx: ExecutionContext) -> None:
        ctx.panel.set_state("progress", {})
        self.on_load(ctx)

    def refresh(self, ctx: ExecutionContext) -> None:
        self.on_load(ctx)

    def fetch_progress(self, ctx: ExecutionContext) -> None:
        """Asks the service for one run's progress (``get_status()``)."""
        anno_key = ctx.params.get("anno_key")
        dataset = ctx.dataset
        try:
            with h.readable_errors("Getting the progress of '%s'" % anno_key):
                h.get_run(dataset, anno_key)
                creds = h.run_credentials(ctx, dataset, anno_key)
                status = h.jsonable(h.load_results(dataset, anno_key, creds).get_status())
            summary = h.progress_summary(status)
        except h.AnnotationPluginError as error:
            summary = "error: %s" % error
            ctx.ops.notify(str(error), variant="error")
        ctx.panel.set_state("progress.%s" % anno_key, summary)

    def request(self, ctx: ExecutionContext) -> None:
        ctx.prompt(h.uri(h.REQUEST_ANNOTATIONS), on_success=self.on_load)

    def load(self, ctx: ExecutionContext) -> None:
        ctx.prompt(h.uri(h.LOAD_ANNOTATIONS), params={"anno_key": ctx.params.get("anno_key")}, on_success=self.on_load)

    def status(self, ctx: ExecutionContext) -> None:
        ctx.prompt(h.uri(h.GET_ANNOTATION_STATUS), params={"anno_key": ctx.params.get("anno_key")})

    def cleanup(self, ctx: ExecutionContext) -> None:
        ctx.prompt(
            h.uri(h.CLEANUP_ANNOTATIONS), params={"anno_key": ctx.params.get("anno_key")}, on_success=self.on_load
        )

    def delete(self, ctx: ExecutionContext) -> None:
        ctx.prompt(
            h.uri(h.DELETE_ANNOTATION_RUN), params={"anno_key": ctx.params.get("anno_key")}, on_success=self.on_load
        )

    # -- layout

    def render(self, ctx: ExecutionContext) -> types.Property:
        panel = types.Object()
        runs = ctx.panel.get_state("runs") or []
        progress = ctx.panel.get_state("progress") or {}

        panel.md(
            "%d annotation run(s) of the %s backends on this dataset." % (len(runs), registry.titles()),
            name="header",
        )
        toolbar = panel.h_stack("toolbar", gap=1)
        toolbar.btn("refresh", label="Refresh", icon="refresh", on_click=self.refresh)
        toolbar.btn("request", label="Request annotations", icon="add_task", variant="contained", on_click=self.request)
        error = ctx.panel.get_state("error")
        if error:
            panel.view("error", types.Warning(label="Some runs could not be read", description=error))

        for i, run in enumerate(runs):
            key = run["anno_key"]
            service = h.service_title(run.get("service"), run.get("service"))
            lines = [
                "---",
                "**%s**" % key,
                "- backend: %s (%s)" % (run.get("backend"), service),
                "- fields: %s" % (", ".join(run.get("fields") or []) or "none"),
                "- created: %s" % (run.get("created") or "unknown"),
                "- progress: %s" % progress.get(key, "not fetched"),
            ]
            panel.md("\n".join(lines), name="run_%d" % i)
            row = panel.h_stack("actions_%d" % i, gap=1)
            params = {"anno_key": key}
            row.btn("progress_%d" % i, label="Progress", icon="sync", on_click=self.fetch_progress, params=params)
            row.btn("load_%d" % i, label="Load", icon="download", on_click=self.load, params=params)
            row.btn("status_%d" % i, label="Status", icon="fact_check", on_click=self.status, params=params)
            if run.get("project_url"):
                row.btn("open_%d" % i, label="Open in %s" % service, icon="open_in_new", href=run["project_url"])
            manage = panel.h_stack("manage_%d" % i, gap=1)
            manage.btn(
                "cleanup_%d" % i, label="Clean up", icon="cleaning_services", on_click=self.cleanup, params=params
            )
            manage.btn("delete_%d" % i, label="Delete run", icon="delete", on_click=self.delete, params=params)

        return types.Property(panel, view=types.GridView(orientation="vertical", gap=2))


PANELS = (AnnotationRunsPanel,)
