"""Benchmark: a deadline rush — many users at the same moment, mixed actions, for a minute.

    .venv/bin/python bench/bench_rush.py                        # 50 users, 60 s, SQLite
    .venv/bin/python bench/bench_rush.py --backend postgres     # PostgreSQL (TEST_POSTGRES_URL)
    .venv/bin/python bench/bench_rush.py -u 20 -s 30 --backend both

The real dispatcher polls the local Bot API server over HTTP (``devtools.rush``): each user
sends /start, questions, /rules, /profile and walks the /apply wizard (buttons, /cancel); an
admin creates a broadcast to everyone, delivered during the rush. Wizard state lives in the
database (no Redis), the embedded default. Printed: reply latency (median, p95), error
replies, lost replies (none within 30 s), "database is locked" in the log, and the
broadcast — next to the figures issue 17 measured before the fix (20 users, 60 s, SQLite: 66
"database is locked", 9 error replies, median reply 13 s, the broadcast never created).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import Settings  # noqa: E402
from bot.db.migrate import upgrade  # noqa: E402
from devtools.pgdb import create_database, drop_database  # noqa: E402
from devtools.rush import rush  # noqa: E402

BEFORE = (
    'before (issue 17, 20 users, SQLite): 66 "database is locked", 9 error replies, '
    "median reply 13 s, the admin broadcast never created"
)


async def one(backend: str, users: int, seconds: float, pg_base: str) -> None:
    dropped: tuple[str, str] | None = None
    with tempfile.TemporaryDirectory() as tmp:
        if backend == "sqlite":
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'rush.db'}"
        else:
            url, name = await create_database(pg_base, "rush")
            dropped = (pg_base, name)
        try:
            await upgrade(url)
            settings = Settings(database_url=url, redis_url=None, _env_file=None)  # type: ignore[call-arg]
            result = await rush(settings, users=users, seconds=seconds)
        finally:
            if dropped is not None:
                await drop_database(*dropped)
    print(f"\n== {backend}: wizard state in the database, no Redis")
    for line in result.lines():
        print("  " + line)
    ok = (
        result.error_replies == 0
        and result.lost == 0
        and result.locked == 0
        and result.p95 < 1.0
        and result.broadcasts == 1
    )
    print(
        f"  target (no errors, none lost, no locks, p95 < 1 s, broadcast made): "
        f"{'met' if ok else 'MISSED'}"
    )


async def main_async(args: argparse.Namespace) -> None:
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    print(BEFORE)
    for backend in backends:
        await one(backend, args.users, args.seconds, args.postgres)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-u", "--users", type=int, default=50)
    parser.add_argument("-s", "--seconds", type=float, default=60)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
