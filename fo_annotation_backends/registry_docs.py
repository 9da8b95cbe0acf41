"""The parts of ``README.md`` and ``fiftyone.yml`` generated from the service
registry.

    python -m fo_annotation_backends.registry_docs --write   # after editing the registry
    python -m fo_annotation_backends.registry_docs --check   # exit 1 when out of date (a test runs it)

Each generated part sits between two marker lines (``<!-- registry:NAME:start -->``
in Markdown, ``# registry:NAME:start`` in YAML) and is replaced as a whole.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable

from . import registry


def services_table() -> str:
    """The README's table of services: how each is registered and configured."""
    rows = [
        "| backend | service | `config_cls` | API key from | url from | default url |",
        "|---|---|---|---|---|---|",
    ]
    for service in registry.SERVICES:
        rows.append(
            "| `%s` | %s | `%s` | %s | %s | %s |"
            % (
                service.name,
                service.title,
                service.config_cls,
                ", ".join("`%s`" % env for env in service.key_envs_for(service.name)),
                ", ".join("`%s`" % env for env in service.url_envs_for(service.name)),
                "`%s`" % service.default_url if service.default_url else "none (%s)" % service.endpoint_hint,
            )
        )
    return "\n".join(rows)


def commands_list() -> str:
    """The README's list of the per-service choices of ``./run demo`` and ``./run bench``."""
    names = "|".join(registry.names())
    return "\n".join(
        [
            "- `./run demo [--backend %s]`: the main job against a local server of that service" % names,
            "- `./run bench [%s|all] [options]`: its benchmark (figures in `bench/RESULTS.md`)" % names,
        ]
    )


def manifest_secrets() -> str:
    """The plugin manifest's ``secrets`` list: every service's url and key."""
    lines = ["secrets:"]
    for service in registry.SERVICES:
        lines.append("  - %s" % service.url_envs_for(service.name)[0])
        lines.append("  - %s" % service.key_envs_for(service.name)[0])
    return "\n".join(lines)


#: file -> {part name: its renderer}
PARTS: dict[str, dict[str, Callable[[], str]]] = {
    "README.md": {"services": services_table, "commands": commands_list},
    "fiftyone.yml": {"secrets": manifest_secrets},
}


def _markers(path: str, name: str) -> tuple[str, str]:
    if path.endswith((".yml", ".yaml")):
        return "# registry:%s:start" % name, "# registry:%s:end" % name
    return "<!-- registry:%s:start -->" % name, "<!-- registry:%s:end -->" % name


def render(path: str, text: str) -> str:
    """``text`` (the content of ``path``) with its generated parts rewritten.

    Raises:
        ValueError: a part's markers are missing
    """
    for name, renderer in PARTS[os.path.basename(path)].items():
        start, end = _markers(path, name)
        pattern = re.compile(r"(^%s\n).*?(^%s$)" % (re.escape(start), re.escape(end)), re.S | re.M)
        if not pattern.search(text):
            raise ValueError("%s has no '%s' ... '%s' lines" % (path, start, end))
        body = renderer()

        def replace(match: re.Match[str], body: str = body) -> str:
            return match.group(1) + body + "\n" + match.group(2)

        text = pattern.sub(replace, text, count=1)
    return text


def outdated(root: str) -> list[str]:
    """The files under ``root`` whose generated parts are not current."""
    stale = []
    for filename in PARTS:
        path = os.path.join(root, filename)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        if render(path, text) != text:
            stale.append(filename)
    return stale


def write(root: str) -> list[str]:
    """Rewrites the generated parts under ``root``; returns the files changed."""
    changed = []
    for filename in PARTS:
        path = os.path.join(root, filename)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        new = render(path, text)
        if new != text:
            with open(path, "w", encoding="utf-8") as f:
                f.write(new)
            changed.append(filename)
    return changed


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit code."""
    parser = argparse.ArgumentParser(description="Regenerate the registry's parts of README.md and fiftyone.yml")
    parser.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true")
    action.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    if args.write:
        for filename in write(args.root):
            print("rewrote the generated parts of %s" % filename)
        return 0
    stale = outdated(args.root)
    for filename in stale:
        print("%s is out of date: run python -m fo_annotation_backends.registry_docs --write" % filename)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
