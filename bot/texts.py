"""Translation for code that also runs without aiogram (issue 18: ``studentbot ask`` starts fast).

The bot translates with aiogram's ``I18n`` (gettext catalogs, a context set by the i18n
middleware or :func:`use_locale`). Importing aiogram builds every Bot API model and takes most
of a CLI call's start-up, so the answer path (``bot.services.answers``, ``faq``,
``programmes``) translates through :func:`gettext` here instead:

* inside the bot, with aiogram's context set, :func:`gettext` is aiogram's;
* in ``studentbot ask`` (and anything else given a :class:`Catalogs`), :func:`use_locale`
  puts the standard library's translations of the same compiled catalogs
  (``locales/*/LC_MESSAGES/messages.mo``) in this module's context, and aiogram is never
  imported.
"""

from __future__ import annotations

import gettext as _gettext
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Any

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"


class Catalogs:
    """The compiled catalogs with the part of aiogram's ``I18n`` the answer path uses."""

    def __init__(self, path: Path = LOCALES_DIR, default_locale: str = "kk", domain: str = DOMAIN):
        self.path = path
        self.default_locale = default_locale
        self.domain = domain

    def translations(self, locale: str) -> _gettext.NullTranslations:
        return _translations(str(self.path), self.domain, locale)

    @contextmanager
    def use_locale(self, locale: str) -> Iterator[None]:
        token = _current.set((self, locale))
        try:
            yield
        finally:
            _current.reset(token)


_current: ContextVar[tuple[Catalogs, str] | None] = ContextVar("studentbot_catalogs", default=None)


@lru_cache(maxsize=16)
def _translations(path: str, domain: str, locale: str) -> _gettext.NullTranslations:
    return _gettext.translation(domain, path, languages=[locale], fallback=True)


def make_catalogs(default_locale: str = "kk", path: Path = LOCALES_DIR) -> Catalogs:
    """The catalogs, compiled first when a ``.po`` is newer than its ``.mo``."""
    from bot.catalogs import compile_catalogs

    compile_catalogs(path)
    return Catalogs(path, default_locale)


def gettext(singular: str, plural: str | None = None, n: int = 1, **_kwargs: Any) -> str:
    """``_()``: this module's catalogs when :func:`use_locale` set them, else aiogram's."""
    current = _current.get()
    if current is None:
        from aiogram.utils.i18n import gettext as aiogram_gettext

        return aiogram_gettext(singular, plural, n)
    catalogs, locale = current
    translations = catalogs.translations(locale)
    if plural is None:
        return translations.gettext(singular)
    return translations.ngettext(singular, plural, n)


@contextmanager
def use_locale(i18n: Any, lang: str) -> Iterator[None]:
    """Translate with ``_()`` in ``lang`` outside an update (CLI, background jobs): ``i18n``
    is aiogram's ``I18n`` or :class:`Catalogs`."""
    if isinstance(i18n, Catalogs):
        with i18n.use_locale(lang):
            yield
        return
    with i18n.context(), i18n.use_locale(lang):
        yield


def current_locale(default: str = "kk") -> str:
    """The language being rendered now — the one way to read it (handlers, views, services):
    :func:`use_locale`'s, else aiogram's (the update's, set by the locale middleware), else
    ``default``."""
    current = _current.get()
    if current is not None:
        return current[1]
    from aiogram.utils.i18n import I18n

    i18n = I18n.get_current(no_error=True)
    return str(i18n.current_locale) if i18n is not None else default


@contextmanager
def switch_locale(lang: str) -> Iterator[None]:
    """Render in ``lang`` with whatever translations are current (this module's or aiogram's)."""
    current = _current.get()
    if current is not None:
        with current[0].use_locale(lang):
            yield
        return
    from aiogram.utils.i18n import I18n

    i18n = I18n.get_current(no_error=True)
    with i18n.use_locale(lang) if i18n is not None else nullcontext():
        yield


__all__ = [
    "Catalogs",
    "current_locale",
    "gettext",
    "make_catalogs",
    "switch_locale",
    "use_locale",
]
