"""/offices (issue 12): admins fill in the directory in Telegram; students see the contacts at
once, and never a made-up one; staff may read it, nobody else."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiogram.methods import SendMessage
from aiogram.types import ForceReply

from bot.db.models.faq import OfficeOverride
from handlers.offices import OfficeCallback
from tests.faq_support import harness_pair, make_staff
from tests.harness import ADMIN, STAFF, STUDENT_EN, Harness

VOLLEYBALL = "is the volleyball section free"


@pytest.fixture
async def harness(database_url: str) -> AsyncIterator[Harness]:
    async for h in harness_pair(database_url):
        yield h


async def _edit(h: Harness, office: str, field: str, value: str) -> str:
    await h.send("/offices", user=ADMIN)
    await h.click_button(office, user=ADMIN)
    await h.click_button(field, user=ADMIN)
    assert isinstance(h.last(SendMessage, ADMIN.id).reply_markup, ForceReply)
    await h.send(value, user=ADMIN)
    return h.last_text(ADMIN.id)


async def test_an_admin_fills_in_a_contact_and_students_see_it_at_once(harness: Harness) -> None:
    h = harness
    await h.send(VOLLEYBALL, user=STUDENT_EN)
    assert "☎️" not in h.last_text(STUDENT_EN.id)
    await h.send("/offices", user=ADMIN)
    assert "Offices the bot sends students to (14)" in h.last_text(ADMIN.id)
    await h.click_button("Student Affairs", user=ADMIN)
    card = h.last_text(ADMIN.id)
    assert "☎️ Phone: <i>— to be filled by the university</i>" in card
    assert "✏️ ☎️ Phone" in h.buttons(ADMIN.id)
    await h.click_button("☎️ Phone", user=ADMIN)
    await h.send("call us maybe", user=ADMIN)
    assert "not a phone number" in h.last_text(ADMIN.id)
    await h.send("+7 (7122) 27-63-18", user=ADMIN)
    assert "Saved" in h.last_text(ADMIN.id)
    assert "☎️ Phone: +7 (7122) 27-63-18" in h.last_text(ADMIN.id)
    await h.send(VOLLEYBALL, user=STUDENT_EN)
    assert "☎️ +7 (7122) 27-63-18" in h.last_text(STUDENT_EN.id)
    # hours in English only: shown to English users, not to Russian ones
    await _edit(h, "Student Affairs", "Working hours (en)", "Mon-Fri 9:00-18:00 <b>")
    await h.send(VOLLEYBALL, user=STUDENT_EN)
    assert "🕘 Mon-Fri 9:00-18:00 &lt;b&gt;" in h.last_text(STUDENT_EN.id)
    # "-" clears it: back to "to be filled", and students see no line
    text = await _edit(h, "Student Affairs", "☎️ Phone", "-")
    assert "☎️ Phone: <i>— to be filled by the university</i>" in text
    await h.send(VOLLEYBALL, user=STUDENT_EN)
    assert "☎️" not in h.last_text(STUDENT_EN.id)


async def test_an_admin_teaches_an_office_new_keywords(harness: Harness) -> None:
    h = harness
    await h.send("is there a swimming pool", user=STUDENT_EN)
    assert "does not cover this." in h.last_text(STUDENT_EN.id)  # no office: the helpdesk
    text = await _edit(h, "Student Affairs", "Keywords", "бассейн, swimming pool, жүзу")
    assert "swimming pool" in text
    await h.send("is there a swimming pool", user=STUDENT_EN)
    assert "Student Affairs and Youth Policy Office handles it" in h.last_text(STUDENT_EN.id)


async def test_staff_read_the_directory_and_cannot_edit_it(harness: Harness) -> None:
    h = harness
    await make_staff(h, STAFF)
    await h.send("/offices", user=STAFF)
    await h.click_button("Офис регистратора", user=STAFF)
    assert "Офис регистратора" in h.last_text(STAFF.id)
    assert not [b for b in h.buttons(STAFF.id) if b.startswith("✏️")]
    forged = OfficeCallback(action="edit", office="registrar", field=3).pack()
    await h.click(forged, STAFF)
    assert not isinstance(h.last(SendMessage, STAFF.id).reply_markup, ForceReply)
    await h.send("+7 700 000 00 00", user=STAFF)
    async with h.ctx.sessionmaker() as session:
        assert await session.get(OfficeOverride, "registrar") is None


async def test_a_student_gets_nothing_from_offices(harness: Harness) -> None:
    h = harness
    await h.send("/offices", user=STUDENT_EN)
    assert "don't know this command" in h.last_text(STUDENT_EN.id)
    await h.click(OfficeCallback(action="show", office="registrar").pack(), STUDENT_EN)
    assert "Only staff" in " ".join(h.alerts())
