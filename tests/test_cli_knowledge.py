"""``studentbot ask`` (one question or JSON lines) and ``studentbot kb export``."""

from __future__ import annotations

import io
import json

import pytest

from bot.cli import main
from bot.services.answers import load_knowledge


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    monkeypatch.setenv("DATABASE_URL", "sqlite+aiosqlite:///unused.db")
    monkeypatch.delenv("BOT_TOKEN", raising=False)


def run(
    argv: list[str],
    capsys: pytest.CaptureFixture[str],
    stdin: str | None = None,
    monkeypatch: pytest.MonkeyPatch | None = None,
) -> tuple[int, str]:
    if stdin is not None:
        assert monkeypatch is not None
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(argv)
    return code, capsys.readouterr().out


def test_ask_jsonl_answers_every_line_and_reports_bad_ones(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [
        {"id": "a", "lang": "en", "question": "Can I study veterinary online?"},
        {"id": "b", "lang": "ru", "question": "Что такое онлайн-прокторинг?"},
        {"id": "c", "lang": "kk", "question": "Асханада бүгін қандай тамақ бар?"},
        {"id": "d", "lang": "en", "question": "😀"},
    ]
    stdin = "\n".join(json.dumps(x, ensure_ascii=False) for x in lines)
    stdin += '\n{"id": "e", "lang": "xx", "question": "hi"}\n{"id": "f"}\nnot json\n\n'
    code, out = run(["ask"], capsys, stdin, monkeypatch)
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in rows] == ["a", "b", "c", "d", "e", "f", None]
    a, b, c, d, e, f, g = rows
    assert a["clauses"][:2] == ["6.2", "appendix-1"] and a["confidence"] >= 0.45
    assert "not allowed" in a["answer"] and "<b>" not in a["answer"]
    assert b["clauses"][0] == "3.9" and "п. 3.9" in b["answer"]
    assert c["kind"] == "out_of_scope" and c["confidence"] < 0.45
    assert "қамтымайды" in c["answer"] and "тармақ" not in c["answer"]
    assert d["clauses"] == [] and d["answer"]
    for row in (a, b, c, d):
        assert set(row) >= {"id", "clauses", "confidence", "answer"}
        assert 0.0 <= row["confidence"] <= 1.0
    assert "lang" in e["error"]
    assert "question" in f["error"]
    assert "JSON" in g["error"]


def test_ask_one_question_as_text_and_as_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    question = "Можно ли учиться онлайн на ветеринарии?".split()
    code, out = run(["ask", "--lang", "ru", *question], capsys)
    assert code == 0
    assert "не допускается" in out and "п. 6.2" in out
    code, out = run(["ask", "--json", "--lang", "en", "5.4.5"], capsys)
    data = json.loads(out)
    assert data["clauses"] == ["5.4.5"] and data["confidence"] == 1.0
    assert "clause 5.4.5" in data["answer"]


def test_ask_uses_the_bots_answer_service_and_loads_the_index_once(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    knowledge = load_knowledge()
    stdin = "\n".join(
        json.dumps({"id": i, "lang": "en", "question": "Who may change the regulation?"})
        for i in range(50)
    )
    code, out = run(["ask"], capsys, stdin, monkeypatch)
    assert code == 0 and len(out.splitlines()) == 50
    assert load_knowledge() is knowledge


def test_kb_export_prints_every_clause(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(["kb", "export", "--lang", "ru", "--json"], capsys)
    assert code == 0
    clauses = json.loads(out)
    assert len(clauses) == len(load_knowledge().regulation) == 88
    first = clauses[0]
    assert set(first) == {"id", "title", "text"}
    assert first["id"] == "1.1"
    ids = [c["id"] for c in clauses]
    assert "5.4.5" in ids and ids[-1] == "appendix-1"
    by_id = {c["id"]: c for c in clauses}
    assert "двадцати процентов" in by_id["5.4.5"]["text"]


def test_studentbot_ask_answers_without_importing_aiogram() -> None:
    """Issue 18: the CLI's answer path translates with the catalogs directly; importing
    aiogram (every Bot API model) would be most of its start-up."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "sys.argv = ['studentbot', 'ask', '--lang', 'ru', 'Можно ли учиться онлайн на юриста?']\n"
        "from bot.cli import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('aiogram loaded:', 'aiogram' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    assert "Форма онлайн-обучения: допускается" in out and "п. 6.2" in out
    assert "aiogram loaded: False" in out
