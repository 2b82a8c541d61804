#!/usr/bin/env python3
"""Catalog tooling: extract strings, update kk/ru/en catalogs, fill translations, check, compile.

    python scripts/i18n.py extract            # pybabel extract + update (creates missing .po)
    python scripts/i18n.py fill FILE.yaml     # FILE: {msgid: {kk: …, ru: …, en: …}} (en optional)
    python scripts/i18n.py check              # untranslated / fuzzy / obsolete entries; exit 1
    python scripts/i18n.py compile            # .po -> .mo

English is the source language: an empty en entry is filled with its msgid. Every command takes
a file lock, so several people (or agents) can run it at once without clobbering the catalogs.
"""

from __future__ import annotations

import fcntl
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from knowledge.languages import LANGUAGES as LANGS

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ROOT / "locales"
POT = LOCALES / "messages.pot"
KEYWORDS = ["-k", "_:1,1t", "-k", "_:1,2", "-k", "__"]


@contextmanager
def locked() -> Iterator[None]:
    LOCALES.mkdir(exist_ok=True)
    with (LOCALES / ".lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def po_path(lang: str) -> Path:
    return LOCALES / lang / "LC_MESSAGES" / "messages.po"


def load(lang: str) -> Catalog:
    with po_path(lang).open("rb") as fh:
        return read_po(fh, locale=lang)


def save(lang: str, catalog: Catalog) -> None:
    with po_path(lang).open("wb") as fh:
        write_po(fh, catalog, width=99, omit_header=False, sort_output=False, ignore_obsolete=True)


def pybabel(*args: str) -> None:
    exe = Path(sys.executable).with_name("pybabel")
    subprocess.run([str(exe), "-q", *args], cwd=ROOT, check=True)


def extract() -> None:
    pybabel(
        "extract",
        "-F",
        "babel.cfg",
        *KEYWORDS,
        "--no-location",
        "--sort-output",
        "--project",
        "atyrau-studentbot",
        "-o",
        str(POT),
        ".",
    )
    for lang in LANGS:
        if not po_path(lang).exists():
            pybabel("init", "-i", str(POT), "-d", str(LOCALES), "-D", "messages", "-l", lang)
        else:
            pybabel(
                "update",
                "-i",
                str(POT),
                "-d",
                str(LOCALES),
                "-D",
                "messages",
                "-l",
                lang,
                "--no-fuzzy-matching",
                "--ignore-obsolete",
            )
    fill_english()


def fill_english() -> None:
    catalog = load("en")
    for message in catalog:
        if message.id and not message.string:
            message.string = message.id
        message.flags.discard("fuzzy")
    save("en", catalog)


def fill(path: Path) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for lang in LANGS:
        catalog = load(lang)
        changed = 0
        for msgid, translations in data.items():
            text = (translations or {}).get(lang) or (msgid if lang == "en" else None)
            message = catalog.get(msgid)
            if text is None or message is None:
                continue
            message.string = text
            message.flags.discard("fuzzy")
            changed += 1
        save(lang, catalog)
        print(f"{lang}: {changed} entries filled")


def check() -> int:
    problems = 0
    for lang in LANGS:
        for message in load(lang):
            if not message.id:
                continue
            if not message.string or "fuzzy" in message.flags:
                problems += 1
                print(f"{lang}: {'fuzzy' if message.string else 'untranslated'}: {message.id!r}")
    return 1 if problems else 0


def compile_all() -> None:
    sys.path.insert(0, str(ROOT))
    from bot.i18n import compile_catalogs

    compile_catalogs(force=True)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    with locked():
        if argv[0] == "extract":
            extract()
        elif argv[0] == "fill" and len(argv) == 2:
            fill(Path(argv[1]))
        elif argv[0] == "check":
            return check()
        elif argv[0] == "compile":
            compile_all()
        else:
            print(__doc__)
            return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
