"""The regulation knowledge base (``knowledge/regulation/*.yaml``) is complete and faithful.

A student who asks about any clause of Regulation No. 066 must find it, in each language, under
the ID printed in the paper copy, and the Kazakh text we quote must be the regulation's own.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

from knowledge.regulation import DATA_DIR, LANGS, Regulation, load_regulation

SOURCE = Path(__file__).resolve().parents[2] / "shared/regulation/regulation-066-kk.txt"

# The 88 canonical clause IDs of CLAUSE-IDS.md, in document order.
CANONICAL_IDS: tuple[str, ...] = (
    "1.1", "1.2", "1.3",
    "2.1", "2.2", "2.3", "2.4", "2.5",
    "3.1", "3.2", "3.3", "3.4", "3.5", "3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12",
    "3.13",
    "4.1", "4.2", "4.3", "4.4", "4.4.1", "4.4.2", "4.4.3", "4.4.4",
    "5.1", "5.1.1", "5.1.2",
    "5.2", "5.2.1", "5.2.2", "5.2.3",
    "5.3",
    "5.4", "5.4.1", "5.4.2", "5.4.3", "5.4.4", "5.4.5", "5.4.6", "5.4.7", "5.4.8", "5.4.9",
    "5.4.10", "5.4.11", "5.4.12", "5.4.13", "5.4.14", "5.4.15", "5.4.16",
    "6.1", "6.2", "6.3", "6.4", "6.5", "6.6", "6.7",
    "6.8", "6.8.1", "6.8.2", "6.8.3",
    "6.9", "6.9.1", "6.9.2", "6.9.3", "6.9.4",
    "6.10", "6.11", "6.12", "6.13", "6.14", "6.15", "6.16", "6.17",
    "6.18", "6.18.1", "6.18.2", "6.18.3", "6.18.4",
    "6.19", "6.19.1", "6.19.2",
    "7",
    "appendix-1",
)  # fmt: skip

SECTION_IDS: tuple[str, ...] = ("1", "2", "3", "4", "5", "6", "7", "appendix-1")

# Leading list dashes, then leading numbering: "5.4", "1)", "3.", "6.10" (repeatable, "5.4 1.").
_DASHES = re.compile(r"^(?:-\s*)+")
_NUMBERING = re.compile(r"^(?:(?:\d+(?:\.\d+)+\.?|\d+[.)])(?:\s+|$))+")


def normalise(line: str) -> str:
    """One line as the no-text-lost check compares it: markup, dashes, numbering, case dropped."""
    text = " ".join(line.replace("**", "").split())
    text = _DASHES.sub("", text)
    text = _NUMBERING.sub("", text)
    return text.casefold()


def source_lines(raw: str) -> list[str]:
    """Non-empty body lines of the regulation: no title page, approval table, contents, headers."""
    lines = raw.splitlines()
    start = next(
        (i for i, line in enumerate(lines) if line.strip().startswith("1. **Жалпы ережелер**")),
        None,
    )
    assert start is not None, "source has no line starting '1. **Жалпы ережелер**'"
    body: list[str] = []
    skip_next_header_line = False
    for line in lines[start:]:
        if "ATYRAU UNIVERSITY" in line:
            skip_next_header_line = True
            continue
        if skip_next_header_line and "беттен тұрады" in line:
            skip_next_header_line = False
            continue
        skip_next_header_line = False
        if line.strip():
            body.append(line)
    return body


def _doubled(text: str) -> str | None:
    """``X`` if ``text`` is ``X X`` (6.6 is printed twice on one line in the source)."""
    half, rest = divmod(len(text) - 1, 2)
    if rest == 0 and text[half] == " " and text[:half] == text[half + 1 :]:
        return text[:half]
    return None


@pytest.fixture(scope="module")
def regulation() -> Regulation:
    return load_regulation()


def test_exactly_the_canonical_ids(regulation: Regulation) -> None:
    assert len(CANONICAL_IDS) == 88
    loaded = set(regulation.clauses)
    missing = [cid for cid in CANONICAL_IDS if cid not in loaded]
    unexpected = sorted(loaded - set(CANONICAL_IDS))
    assert not missing and not unexpected, f"missing: {missing}; not canonical: {unexpected}"


def test_every_clause_has_title_and_text_in_every_language(regulation: Regulation) -> None:
    gaps = [
        f"{clause.id} {field}.{lang}"
        for clause in regulation
        for field, values in (("title", clause.title), ("text", clause.text))
        for lang in LANGS
        if not values.get(lang, "").strip()
    ]
    assert not gaps, f"empty or missing: {gaps}"


def test_clause_titles_are_short(regulation: Regulation) -> None:
    long = [
        f"{clause.id} {lang} ({len(title)})"
        for clause in regulation
        for lang, title in clause.title.items()
        if len(title) > 70
    ]
    assert not long, f"titles over 70 characters: {long}"


def test_parents_and_sections_exist(regulation: Regulation) -> None:
    assert list(regulation.sections) == list(SECTION_IDS)
    for section in regulation.sections.values():
        assert all(section.title.get(lang, "").strip() for lang in LANGS), section.id
    bad = [
        clause.id
        for clause in regulation
        if clause.section not in regulation.sections
        or (
            clause.parent is not None
            and (clause.parent not in regulation or not clause.id.startswith(clause.parent + "."))
        )
    ]
    assert not bad, f"unknown section or parent: {bad}"


def test_no_clause_id_in_two_places() -> None:
    where: dict[str, list[str]] = {}
    for path in sorted(DATA_DIR.glob("*.yaml")):
        if path.name == "sections.yaml":
            continue
        for item in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            where.setdefault(str(item["id"]), []).append(path.name)
    counts = Counter({cid: len(files) for cid, files in where.items()})
    twice = {cid: where[cid] for cid, n in counts.items() if n > 1}
    assert not twice, f"clause IDs defined more than once: {twice}"


def test_no_kazakh_text_was_lost(regulation: Regulation) -> None:
    """Every line of the source body is found, normalised, in the Kazakh clause texts.

    Section headings are looked up in the kk section titles of ``sections.yaml``.
    """
    if not SOURCE.is_file():
        pytest.skip(f"regulation source not found at {SOURCE}")
    kk_texts = [clause.text["kk"] for clause in regulation]
    kk_texts += [section.title["kk"] for section in regulation.sections.values()]
    haystack = " ".join(
        normalised
        for text in kk_texts
        for line in text.splitlines()
        if (normalised := normalise(line))
    )
    missing: list[str] = []
    previous = ""
    for line in source_lines(SOURCE.read_text(encoding="utf-8")):
        wanted = normalise(line)
        candidates = [wanted, f"{previous} {wanted}", f"{previous}{wanted}"]
        if (single := _doubled(wanted)) is not None:
            candidates.append(single)
        if wanted and not any(candidate in haystack for candidate in candidates):
            missing.append(line.strip())
        previous = wanted
    assert not missing, "Kazakh source lines not found in any clause text:\n" + "\n".join(
        f"  {line[:160]}" for line in missing
    )


def test_word_lists_hold_only_strings() -> None:
    """Unquoted ``on``, ``no``, ``yes``, ``off`` are YAML booleans: a stop word, synonym form or
    transliteration written that way silently becomes ``True``/``False``."""
    data = Path(__file__).resolve().parents[1] / "knowledge" / "data"
    found: list[str] = []

    def walk(node: object, where: str) -> None:
        if isinstance(node, bool):
            found.append(where)
        elif isinstance(node, dict):
            for key, value in node.items():
                if isinstance(key, bool):
                    found.append(f"{where}/{key}")
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}[{i}]")

    for name in ("stopwords.yaml", "synonyms.yaml", "translit.yaml", "kk_suffixes.yaml"):
        walk(yaml.safe_load((data / name).read_text(encoding="utf-8")), name)
    assert not found, found
