"""Runs the Picsellia emulator until SIGTERM or SIGINT.

    python -m fo_annotation_backends.testing.picsellia --port 0 --api-key KEY

The first line of stdout is the base URL alone (``http://127.0.0.1:PORT``,
the SDK's ``host``); with no ``--api-key`` the second line gives the random
key. There is no call budget unless ``--max-calls`` sets one.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ..emulator_base import emulator_kwargs, main_parser, serve


def main(argv: Sequence[str] | None = None) -> int:
    """Parses the options and serves until SIGTERM or SIGINT."""
    parser = main_parser("A local emulator of Picsellia's REST API (/api/) on 127.0.0.1")
    parser.add_argument("--organization", default="emulator", help="the organization's name")
    parser.add_argument("--username", default="emulator-user", help="the token's user")
    parser.add_argument("--processing-reads", type=int, default=1, help="reads of a new data before it is DONE")
    parser.add_argument("--job-reads", type=int, default=1, help="reads of a job before it succeeds")
    args = parser.parse_args(argv)
    from .server import PicselliaEmulator

    try:
        emulator = PicselliaEmulator(
            organization=args.organization,
            username=args.username,
            processing_reads=args.processing_reads,
            job_reads=args.job_reads,
            **emulator_kwargs(args),
        )
    except ValueError as e:
        parser.error(str(e))
    return serve(emulator, show_key=args.api_key is None)


if __name__ == "__main__":
    sys.exit(main())
