"""The `bench` subcommand: registered by the CLI, which this package never imports."""

from __future__ import annotations

import argparse

from commons_assets.bench.common import DEFAULT_EVENTS, DEFAULT_USERS, BenchError

# Modules the benchmark needs beyond the release itself: the `bench` extra of pyproject.toml.
REQUIRED = ("psutil", "sqlalchemy")


def check_dependencies() -> None:
    import importlib.util

    missing = [name for name in REQUIRED if importlib.util.find_spec(name) is None]
    if missing:
        raise BenchError(
            f"the benchmark needs {', '.join(missing)}: install the bench extra, e.g. pip install -e '.[bench]'"
        )


def _cmd_bench(args: argparse.Namespace) -> int:
    check_dependencies()
    from commons_assets.bench.run import run_bench

    run_bench(args.users, args.events, args.week, seed=args.seed)
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "bench",
        help="seed the demo at scale, time a full release against PostgreSQL alone and pandas, measure memory",
    )
    parser.add_argument("--users", type=int, default=DEFAULT_USERS)
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS)
    parser.add_argument(
        "--week", help="ISO week of the incremental run, e.g. 2026-W47 (default: the last complete week); the "
        "full run releases the week before"
    )
    parser.add_argument(
        "--no-seed", dest="seed", action="store_false",
        help="use the data already in the source schema (seeded by an earlier bench at the same scale and week)",
    )
    parser.set_defaults(func=_cmd_bench)
    return parser
