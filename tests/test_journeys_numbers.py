"""Issue 16, item 8: ticket numbers (and application references) never restart.

SQLite handed the id of an erased row to the next one, so after a student's /forget the next
request was "#1" again while the staff chat still had the old #1.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from sqlalchemy import select

from bot.db.migrate import upgrade_sync
from bot.db.models.helpdesk import Ticket
from tests.harness import STUDENT_EN, STUDENT_RU, Harness
from tests.test_helpdesk import WEDNESDAY_11, at, open_ticket


async def test_a_new_request_after_forget_gets_a_new_number(harness: Harness) -> None:
    """A student opens request #1, closes it and erases their data with /forget; another
    student's request is then #2, never #1 again."""
    h = harness
    at(h, WEDNESDAY_11)
    await open_ticket(h, STUDENT_EN, "First question")
    await h.send("/close", user=STUDENT_EN)
    await h.send("/forget", user=STUDENT_EN)
    await h.click_button("Yes", user=STUDENT_EN)
    async with h.ctx.sessionmaker() as session:
        assert (await session.scalars(select(Ticket))).all() == []
    await open_ticket(h, STUDENT_RU, "Второй вопрос", "Техническ")
    assert "#2" in h.last_text(STUDENT_RU.id)


def test_upgrading_an_existing_database_keeps_every_row(tmp_path: Path) -> None:
    """A database made before AUTOINCREMENT keeps its tickets, their messages, applications and
    their history through the upgrade, and numbers go on from the highest one ever used."""
    path = tmp_path / "old.db"
    url = f"sqlite+aiosqlite:///{path}"
    asyncio.run(asyncio.to_thread(upgrade_sync, url, "0007"))
    db = sqlite3.connect(path)
    db.executescript(
        """
        PRAGMA foreign_keys=ON;
        INSERT INTO users (id, first_name, role, is_active, created_at, last_seen_at)
            VALUES (7, 'A', 'student', 1, '2026-01-01', '2026-01-01');
        INSERT INTO helpdesk_tickets (id, user_id, status, topic, language, staff_chat_id,
            relay_mode, created_at) VALUES
            (1, 7, 'closed', 'other', 'kk', -100, 'topic', '2026-01-01'),
            (2, 7, 'open', 'other', 'kk', -100, 'topic', '2026-01-01');
        INSERT INTO helpdesk_messages (ticket_id, direction, sender_id, student_message_id,
            staff_message_id, content_type, created_at) VALUES
            (2, 'in', 7, 10, 20, 'text', '2026-01-01');
        INSERT INTO applications (id, user_id, reference, kind, status, language, trace,
            created_at, updated_at) VALUES
            (1, 7, 'DL-2026-00001', 'dl', 'submitted', 'kk', '[]', '2026-01-01', '2026-01-01');
        INSERT INTO application_events (application_id, status, created_at)
            VALUES (1, 'submitted', '2026-01-01');
        """
    )
    db.commit()
    db.close()

    upgrade_sync(url)

    db = sqlite3.connect(path)
    db.execute("PRAGMA foreign_keys=ON")
    assert db.execute("SELECT count(*) FROM helpdesk_tickets").fetchone() == (2,)
    assert db.execute("SELECT ticket_id FROM helpdesk_messages").fetchall() == [(2,)]
    assert db.execute("SELECT application_id FROM application_events").fetchall() == [(1,)]
    assert (
        "AUTOINCREMENT"
        in db.execute("SELECT sql FROM sqlite_master WHERE name = 'helpdesk_tickets'").fetchone()[
            0
        ]
    )
    indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"ix_helpdesk_tickets_status", "ix_applications_user_id"} <= indexes
    # Erase the newest ticket and application: the next ones do not take their numbers.
    db.execute("DELETE FROM helpdesk_tickets WHERE id = 2")
    db.execute("DELETE FROM applications WHERE id = 1")
    db.execute(
        "INSERT INTO helpdesk_tickets (user_id, status, topic, language, staff_chat_id, "
        "relay_mode, created_at) VALUES (7, 'open', 'other', 'kk', -100, 'topic', '2026-01-02')"
    )
    db.execute(
        "INSERT INTO applications (user_id, kind, status, language, trace, created_at, "
        "updated_at) VALUES (7, 'dl', 'submitted', 'kk', '[]', '2026-01-02', '2026-01-02')"
    )
    assert db.execute("SELECT max(id) FROM helpdesk_tickets").fetchone() == (3,)
    assert db.execute("SELECT max(id) FROM applications").fetchone() == (2,)
    assert db.execute("SELECT count(*) FROM helpdesk_messages").fetchone() == (0,)  # cascaded
    db.close()
