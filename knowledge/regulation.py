"""Load the regulation's clauses from the YAML data files in ``knowledge/regulation/``.

Each data file holds a list of clauses::

    - id: "5.4.5"            # canonical ID from CLAUSE-IDS.md
      parent: "5.4"          # optional: the clause this item belongs to
      section: "5"           # "1" … "7" or "appendix-1"
      title: {kk: …, ru: …, en: …}
      text: {kk: …, ru: …, en: …}   # kk verbatim from the source, ru/en unofficial translations
      aliases: {kk: […], ru: […], en: […]}  # search aids: synonyms, abbreviations, slang

``sections.yaml`` holds the section titles: a list of ``{id, title: {kk, ru, en}}``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from knowledge.languages import LANGUAGES

LANGS = LANGUAGES
DATA_DIR = Path(__file__).resolve().parent / "regulation"


@dataclass(frozen=True, slots=True)
class Clause:
    id: str
    section: str
    title: dict[str, str]
    text: dict[str, str]
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    parent: str | None = None

    def title_in(self, lang: str) -> str:
        return self.title.get(lang) or self.title["kk"]

    def text_in(self, lang: str) -> str:
        return self.text.get(lang) or self.text["kk"]


@dataclass(frozen=True, slots=True)
class Section:
    id: str
    title: dict[str, str]

    def title_in(self, lang: str) -> str:
        return self.title.get(lang) or self.title["kk"]


def _id_key(clause_id: str) -> tuple[int, ...]:
    if clause_id.startswith("appendix-"):
        return (100, int(clause_id.split("-", 1)[1]))
    return tuple(int(part) for part in clause_id.split("."))


class Regulation:
    """All clauses, in document order, with lookups by ID and by section."""

    def __init__(self, clauses: list[Clause], sections: list[Section]) -> None:
        self.clauses: dict[str, Clause] = {
            c.id: c for c in sorted(clauses, key=lambda c: _id_key(c.id))
        }
        self.sections: dict[str, Section] = {s.id: s for s in sections}
        # per clause its items, in document order (every answer's quote asks for them)
        self._children: dict[str, list[Clause]] = {}
        for c in self.clauses.values():
            if c.parent is not None:
                self._children.setdefault(c.parent, []).append(c)

    def __iter__(self) -> Iterator[Clause]:
        return iter(self.clauses.values())

    def __len__(self) -> int:
        return len(self.clauses)

    def __contains__(self, clause_id: object) -> bool:
        return clause_id in self.clauses

    def get(self, clause_id: str) -> Clause | None:
        return self.clauses.get(clause_id)

    def in_section(self, section_id: str) -> list[Clause]:
        return [c for c in self.clauses.values() if c.section == section_id]

    def children(self, clause_id: str) -> list[Clause]:
        return list(self._children.get(clause_id, ()))


def _clause(raw: dict[str, Any]) -> Clause:
    aliases = {lang: tuple(raw.get("aliases", {}).get(lang) or ()) for lang in LANGS}
    return Clause(
        id=str(raw["id"]),
        section=str(raw["section"]),
        title={k: str(v).strip() for k, v in raw["title"].items()},
        text={k: str(v).strip() for k, v in raw["text"].items()},
        aliases=aliases,
        parent=str(raw["parent"]) if raw.get("parent") else None,
    )


def load_regulation(data_dir: Path = DATA_DIR) -> Regulation:
    """Read every ``*.yaml`` clause file (and ``sections.yaml``) under ``data_dir``."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    clauses: list[Clause] = []
    sections: list[Section] = []
    for path in sorted(data_dir.glob("*.yaml")):
        with path.open(encoding="utf-8") as fh:
            raw = yaml.load(fh, Loader=loader) or []
        if path.name == "sections.yaml":
            sections = [Section(id=str(s["id"]), title=dict(s["title"])) for s in raw]
        else:
            clauses.extend(_clause(item) for item in raw)
    return Regulation(clauses, sections)
