"""Runs the Kili emulator until SIGTERM or SIGINT.

    python -m fo_annotation_backends.testing.kili --port 0 --api-key KEY

The first line of stdout is the GraphQL URL alone; with no ``--api-key`` the
second line gives the random key.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ..emulator_base import emulator_kwargs, main_parser, serve


def main(argv: Sequence[str] | None = None) -> int:
    parser = main_parser("A local emulator of Kili's API (GraphQL and upload bucket) on 127.0.0.1")
    parser.add_argument("--max-page-size", type=int, default=500, help="largest `first` of a list query")
    parser.add_argument("--admin-email", default="emulator-admin@kili.local", help="email of the API key's user")
    parser.add_argument(
        "--notification-reads", type=int, default=1, help="reads of an import's notification before it ends"
    )
    args = parser.parse_args(argv)
    from .server import KiliEmulator

    try:
        emulator = KiliEmulator(
            max_page_size=args.max_page_size,
            admin_email=args.admin_email,
            notification_reads=args.notification_reads,
            **emulator_kwargs(args),
        )
    except ValueError as e:
        parser.error(str(e))
    return serve(emulator, show_key=args.api_key is None)


if __name__ == "__main__":
    sys.exit(main())
