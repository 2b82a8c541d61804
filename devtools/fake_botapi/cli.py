"""``python -m devtools.fake_botapi``: the server on its own, controlled over HTTP."""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import signal
import sys

from devtools.fake_botapi.server import FakeBotAPI


async def _serve(args: argparse.Namespace) -> None:
    api = FakeBotAPI(
        token=args.token,
        host=args.host,
        port=args.port,
        rate_limit_per_second=args.rate_limit,
        chat_limit=(args.chat_limit, args.chat_window) if args.chat_limit else None,
        group_limit=(args.group_limit, 60.0) if args.group_limit else None,
    )
    async with api:
        print(api.base_url, flush=True)
        print(
            f"FakeBotAPI listening on {api.base_url} "
            f"(token: {args.token or 'any'}; test control under {api.base_url}/_fake/)",
            file=sys.stderr,
            flush=True,
        )
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopped.set)
        await stopped.wait()
        stats = collections.Counter(call.method for call in api.calls)
        print(f"FakeBotAPI stopped; calls: {dict(stats)}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.fake_botapi",
        description="Run the local Telegram Bot API test server.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default=None, help="accept only this token (default: any)")
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=None,
        metavar="N",
        help="answer 429 when more than N send calls arrive within one second",
    )
    parser.add_argument(
        "--chat-limit",
        type=int,
        default=None,
        metavar="N",
        help="answer 429 when a private chat gets more than N sends within --chat-window s",
    )
    parser.add_argument("--chat-window", type=float, default=1.0, metavar="S")
    parser.add_argument(
        "--group-limit",
        type=int,
        default=None,
        metavar="N",
        help="answer 429 when a group gets more than N sends within a minute (Telegram: 20)",
    )
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0
