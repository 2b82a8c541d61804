"""Every user-facing string exists in Kazakh, Russian and English, none fuzzy or missing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

LOCALES = Path(__file__).resolve().parent.parent / "locales"
PLACEHOLDER = re.compile(r"\{[a-z_0-9]*\}")


def catalog(lang: str):  # type: ignore[no-untyped-def]
    with (LOCALES / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=lang)


@pytest.mark.parametrize("lang", ["kk", "ru", "en"])
def test_catalog_is_complete_and_not_fuzzy(lang: str) -> None:
    problems = [
        ("fuzzy" if m.string else "untranslated", m.id)
        for m in catalog(lang)
        if m.id and (not m.string or "fuzzy" in m.flags)
    ]
    assert not problems, f"{lang}: {problems[:10]}"


@pytest.mark.parametrize("lang", ["kk", "ru"])
def test_translations_keep_placeholders(lang: str) -> None:
    bad = [
        m.id
        for m in catalog(lang)
        if m.id
        and m.string
        and sorted(PLACEHOLDER.findall(str(m.id))) != sorted(PLACEHOLDER.findall(str(m.string)))
    ]
    assert not bad, f"{lang}: placeholders differ in {bad[:5]}"


def test_catalogs_cover_the_same_messages() -> None:
    ids = {lang: {m.id for m in catalog(lang) if m.id} for lang in ("kk", "ru", "en")}
    assert ids["kk"] == ids["ru"] == ids["en"]


@pytest.mark.parametrize("lang", ["kk", "ru"])
def test_catalog_is_really_translated(lang: str) -> None:
    """A catalog that copies English into kk/ru is no translation (short symbols excepted)."""
    same = [
        m.id
        for m in catalog(lang)
        if m.id and m.string == m.id and re.search(r"[A-Za-z]{4,}\s+[A-Za-z]{3,}", str(m.id))
    ]
    assert len(same) <= 3, f"{lang}: left in English: {same[:10]}"
