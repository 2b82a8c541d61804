"""Parsing a raw update (from getUpdates, a webhook or the inbox) on its own, so one that aiogram
rejects (a *poison* update) is set aside instead of failing a batch."""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.types import Update
from pydantic import ValidationError


def parse_update(bot: Bot, raw: dict[str, Any]) -> Update | None:
    """The update, or None when aiogram cannot parse it (a poison update)."""
    try:
        return Update.model_validate(raw, context={"bot": bot})
    except (ValidationError, ValueError, TypeError):
        return None


def describe_error(raw: dict[str, Any]) -> str:
    """Where the payload is wrong, in one line: ``message.message_id: Input should be …``."""
    try:
        Update.model_validate(raw)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()[:3]
        ]
        return "; ".join(problems)[:500]
    except (ValueError, TypeError) as exc:
        return str(exc).splitlines()[0][:500]
    return "unknown"
