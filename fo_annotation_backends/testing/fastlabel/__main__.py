"""Runs the FastLabel emulator until SIGTERM or SIGINT.

    python -m fo_annotation_backends.testing.fastlabel --port 0 --api-key KEY

The first line of stdout is the base URL alone (``http://127.0.0.1:PORT/v1/``,
what ``FASTLABEL_API_URL`` takes); with no ``--api-key`` the second line gives
the random key. The call budget defaults to FastLabel's documented limit,
10,000 calls per 600 s; ``--max-calls 0`` or ``--no-limit`` removes it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ..emulator_base import emulator_kwargs, main_parser, serve


def main(argv: Sequence[str] | None = None) -> int:
    parser = main_parser("A local emulator of FastLabel's REST API (/v1/) on 127.0.0.1")
    parser.set_defaults(max_calls=10000, window_seconds=600.0)
    parser.add_argument("--no-limit", action="store_true", help="no call budget (same as --max-calls 0)")
    parser.add_argument(
        "--count-only", action="store_true", help="count the calls over the budget without answering them 429"
    )
    parser.add_argument(
        "--max-file-bytes", type=int, default=20 * 1024 * 1024, help="largest task image, in bytes (default 20 MiB)"
    )
    parser.add_argument(
        "--max-video-bytes",
        type=int,
        default=250 * 1024 * 1024,
        help="largest task video, in bytes (default 250 MiB)",
    )
    parser.add_argument(
        "--tags-match",
        choices=("all", "any"),
        default="all",
        help="a tags filter matches tasks with all (default) or any of the tags",
    )
    parser.add_argument(
        "--delete-status", type=int, choices=(200, 204), default=204, help="status of a successful DELETE"
    )
    parser.add_argument(
        "--annotation-order",
        choices=("created", "reversed"),
        default="created",
        help="the order tasks list their annotations in",
    )
    args = parser.parse_args(argv)
    from .server import FastLabelEmulator

    kwargs = emulator_kwargs(args)
    if args.no_limit or kwargs["max_calls"] == 0:
        kwargs["max_calls"] = None
    try:
        emulator = FastLabelEmulator(
            enforce_limit=not args.count_only,
            max_file_bytes=args.max_file_bytes,
            max_video_bytes=args.max_video_bytes,
            tags_match=args.tags_match,
            delete_status=args.delete_status,
            annotation_order=args.annotation_order,
            **kwargs,
        )
    except ValueError as e:
        parser.error(str(e))
    return serve(emulator, show_key=args.api_key is None)


if __name__ == "__main__":
    sys.exit(main())
