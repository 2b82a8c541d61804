"""The languages the assistant speaks, written once: Kazakh, Russian, English (in that order,
the order of every catalog, answer and fallback list). ``bot.config.LANGUAGES`` is this tuple."""

from __future__ import annotations

LANGUAGES: tuple[str, ...] = ("kk", "ru", "en")

__all__ = ["LANGUAGES"]
