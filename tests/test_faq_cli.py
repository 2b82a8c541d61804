"""``studentbot faq export`` / ``faq import``: the FAQ reviewed outside Telegram (issue 12)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.cli import main
from knowledge.faq import load_faq_files


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/bot.db")
    monkeypatch.delenv("BOT_TOKEN", raising=False)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


NEW = {
    "entries": [
        {
            "id": "printing",
            "office": "library",
            "tags": ["printing"],
            "to_confirm": False,
            "confirmed_by": "Library, 2026-12-06",
            "reviewed": "2026-12-06",
            "question": {"ru": "Где распечатать курсовую?", "en": "Where can I print?"},
            "variants": {"ru": ["распечатать курсовую"]},
            "answer": {"ru": "В библиотеке.", "en": "In the library."},
        }
    ],
    "clause_examples": [
        {"question": "кто проверяет мои входы на платформу", "lang": "ru", "clause": "5.4.11"}
    ],
}


def test_export_all_has_every_entry_and_the_files_shape(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _err = run(["faq", "export", "--all", "-o", str(tmp_path / "faq.yaml")], capsys)
    assert code == 0 and f"wrote {len(load_faq_files())} entries" in out
    data = yaml.safe_load((tmp_path / "faq.yaml").read_text(encoding="utf-8"))
    assert {e["id"] for e in data["entries"]} == {e.key for e in load_faq_files()}
    assert data["clause_examples"] == []
    first = data["entries"][0]
    assert {"id", "office", "question", "variants", "answer", "reviewed", "source"} <= set(first)


def test_import_then_export_round_trips_and_a_bad_file_changes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "new.yaml"
    path.write_text(yaml.safe_dump(NEW, allow_unicode=True), encoding="utf-8")
    code, out, _err = run(["faq", "import", str(path)], capsys)
    assert code == 0 and "imported 1 entries and 1 new clause examples" in out
    code, out, _err = run(["faq", "export"], capsys)
    data = yaml.safe_load(out)
    [entry] = data["entries"]
    assert entry["id"] == "printing" and entry["answer"]["en"] == "In the library."
    assert entry["origin"] == "import"
    assert data["clause_examples"] == [
        {"question": "кто проверяет мои входы на платформу", "lang": "ru", "clause": "5.4.11"}
    ]
    # importing the same file again adds no duplicate example
    code, out, _err = run(["faq", "import", str(path)], capsys)
    assert "imported 1 entries and 0 new clause examples" in out
    # a file with one bad entry: refused whole, with where and why
    bad = {
        "entries": [
            NEW["entries"][0] | {"id": "other"},
            {"id": "x2", "office": "nowhere", "answer": {"en": "a"}, "question": {"en": "q"}},
        ]
    }
    path.write_text(yaml.safe_dump(bad, allow_unicode=True), encoding="utf-8")
    code, _out, err = run(["faq", "import", str(path)], capsys)
    assert code == 1 and "unknown office 'nowhere'" in err and "nothing was imported" in err
    code, out, _err = run(["faq", "export"], capsys)
    assert [e["id"] for e in yaml.safe_load(out)["entries"]] == ["printing"]
    # not YAML at all
    path.write_text("entries: [", encoding="utf-8")
    code, _out, err = run(["faq", "import", str(path)], capsys)
    assert code == 1 and "not valid YAML" in err
