"""Routers in the order they are tried: commands and wizards first, the catch-all last."""

from __future__ import annotations

from aiogram import Router


def get_routers() -> list[Router]:
    """Fresh routers each call (a router can be attached to one dispatcher only)."""
    from handlers import common, errors, fallback

    return [
        errors.create_router(),
        common.create_router(),
        # Area routers go here, before the catch-all.
        fallback.create_router(),
    ]
