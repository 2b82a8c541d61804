"""Issue 16, items 2–5 and 8: applications that end well.

An applicant without an IIN, a teacher-training student with a health ground, statements a
clerk can file (A4, names declined, the Kazakh "from"), summaries and staff cards in a clerk's
words, the arts question with buttons, and an assistant not yet connected to the office.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import docx
import pytest
from aiogram.methods import SendDocument, SendMessage
from sqlalchemy import select

from bot.db.models.applications import Application
from bot.db.models.helpdesk import Ticket
from bot.services.documents import pdf_font
from tests.harness import STAFF_CHAT_ID, STUDENT_EN, STUDENT_RU, Harness, TgUser
from tests.test_applications import NOW, PDF
from tests.test_helpdesk import WEDNESDAY_11, at

PARENT_RU = TgUser(id=1102, first_name="Гульнар", last_name="Сейткалиева", language_code="ru")


@pytest.fixture
async def office(database_url: str) -> AsyncIterator[Harness]:
    """A harness whose staff chat speaks English, so the tests can read the staff card."""
    h = await Harness.create(database_url, default_language="en")
    h.ctx.services.applications.clock = lambda: NOW
    try:
        yield h
    finally:
        await h.close()


def documents(h: Harness, chat_id: int) -> list[SendDocument]:
    return [m for m in h.session.requests if isinstance(m, SendDocument) and m.chat_id == chat_id]


def docx_text(method: SendDocument) -> str:
    data = method.document.data  # type: ignore[union-attr]
    return "\n".join(p.text for p in docx.Document(io.BytesIO(data)).paragraphs)


async def stored(h: Harness) -> list[Application]:
    async with h.ctx.sessionmaker() as session:
        return list((await session.scalars(select(Application).order_by(Application.id))).all())


# --- item 2: no IIN ------------------------------------------------------------------------------


async def test_foreign_applicant_without_an_iin_gets_statements_for_the_office(
    office: Harness,
) -> None:
    """A foreign applicant writing in English has no IIN and no student ID: they press «I have
    no IIN», give a passport number, and the statement says so. It comes in English, and they
    can get it in Russian for the office; the staff chat gets its own copy too."""
    h, user = office, STUDENT_EN
    await h.send("/apply", user=user)
    await h.click("ap:kind:online", user)
    await h.send("6B06102", user=user)
    await h.send("Smith John", user=user)
    assert "I have no IIN" in h.buttons(user.id)[0]
    await h.click_button("I have no IIN", user=user)
    assert "passport" in h.last_text(user.id)
    await h.send("12", user=user)  # too short: asked again
    assert "5 to 16 letters and digits" in "\n".join(h.texts(user.id)[-2:])
    await h.send("N 1234567", user=user)
    await h.send("+44 7700 900123", user=user)
    for _ in range(3):
        await h.click("ap:accept:", user)
    summary = h.last_text(user.id)
    assert "No IIN; passport / ID document:</b> N1234567" in summary
    await h.click("ap:submit:", user)
    [app] = await stored(h)
    assert app.identifier_kind == "passport" and app.identifier == "N1234567"

    [english] = [d for d in documents(h, user.id) if d.document.filename.endswith(".docx")]  # type: ignore[union-attr]
    text = docx_text(english)
    assert "no IIN; passport / identity document No. N1234567" in text
    assert "APPLICATION" in text
    assert h.buttons(user.id) == ["📄 Kazakh", "📄 Russian"]
    await h.click_button("Russian", user=user)
    russian = documents(h, user.id)[-1 if pdf_font() is None else -2]
    assert russian.document.filename == "OL-2026-00001-ru.docx"  # type: ignore[union-attr]
    text = docx_text(russian)
    assert "ЗАЯВЛЕНИЕ" in text and "ИИН отсутствует" in text and "N1234567" in text

    staff = [d.document.filename for d in documents(h, STAFF_CHAT_ID)]  # type: ignore[union-attr]
    assert staff == ["OL-2026-00001.docx"]  # the office speaks English here: no second copy


# --- item 3: teacher training with a health ground ---------------------------------------------


async def test_teacher_training_student_with_a_health_ground_reaches_a_person(
    office: Harness,
) -> None:
    """A teacher-training student applies on health grounds: the bot explains the exception
    of article 37-2 in plain words, says the office decides, and hands the case to a person
    with the answers given so far attached to the request."""
    h, user = office, STUDENT_RU
    at(h, WEDNESDAY_11)
    await h.send("/apply", user=user)
    await h.click("ap:kind:dl", user)
    await h.click("ap:ground:health", user)
    await h.click("ap:role:student", user)
    await h.send("Петров Иван", user=user)
    await h.send("900101300126", user=user)
    await h.send("6B01101", user=user)
    refusal = h.texts(user.id)[-2]
    assert "Простыми словами" in refusal and "37-2" in refusal
    assert "офис регистратора" in refusal and "Helpdesk" in refusal
    await h.click_button("Спросить человека", user=user)
    assert "уйдут вместе с вопросом" in h.last_text(user.id)
    calls = await h.send("Подходит ли моя ситуация под исключение?", user=user)

    async with h.ctx.sessionmaker() as session:
        [ticket] = (await session.scalars(select(Ticket))).all()
    assert ticket.topic == "application" and ticket.status == "open"
    to_staff = [c.text for c in calls if isinstance(c, SendMessage) and c.chat_id == STAFF_CHAT_ID]
    attachment = next(t for t in to_staff if "Unfinished application" in t)
    assert "6B01101" in attachment and "37-2" in attachment
    assert "Петров Иван" in attachment and "900101300126" not in attachment  # masked
    assert "Health condition" in attachment
    assert await stored(h) == []  # nothing was submitted


# --- item 4: the statement a clerk can file ----------------------------------------------------


async def parent_applies(h: Harness, user: TgUser) -> None:
    await h.send("/apply", user=user)
    await h.click("ap:kind:dl", user)
    await h.click("ap:ground:health", user)
    await h.click("ap:role:parent", user)
    await h.send("Сейткалиева Гульнар Бакытовна", user=user)
    await h.send("Сейткалиев Арман Ерланович", user=user)
    await h.send("900101300126", user=user)
    await h.send("6B06102", user=user)
    await h.click("ap:course:2", user)
    await h.send("01.02.2027", user=user)
    await h.send("30.06.2027", user=user)
    await h.send("87012345678", user=user)
    await h.send_content(user, document=PDF)


async def test_statement_declines_names_and_is_a4(harness: Harness) -> None:
    """A mother applies for her son in Russian: the statement is «от Сейткалиевой Гульнар
    Бакытовны» about «перевод Сейткалиева Армана Ерлановича»; its Kazakh copy has the
    ablative «…Бакытовнадан». Both files are A4 with a 30 mm binding margin."""
    h, user = harness, PARENT_RU
    h.ctx.services.applications.clock = lambda: NOW
    await parent_applies(h, user)
    await h.click("ap:submit:", user)
    [statement] = [d for d in documents(h, user.id) if d.document.filename.endswith(".docx")]  # type: ignore[union-attr]
    text = docx_text(statement)
    assert "от Сейткалиевой Гульнар Бакытовны" in text
    assert "перевод Сейткалиева Армана Ерлановича" in text
    assert "обучающегося 2 курса" in text and "ИИН 900101300126" in text
    page = docx.Document(io.BytesIO(statement.document.data)).sections[0]  # type: ignore[union-attr]
    measured = [
        round(length.mm)  # type: ignore[union-attr]
        for length in (page.page_width, page.page_height, page.left_margin, page.right_margin)
    ]
    assert measured == [210, 297, 30, 10]  # python-docx's own template is US Letter
    assert round(page.top_margin.mm) == round(page.bottom_margin.mm) == 20  # type: ignore[union-attr]
    if pdf_font() is not None:
        [pdf] = [d for d in documents(h, user.id) if d.document.filename.endswith(".pdf")]  # type: ignore[union-attr]
        assert re.search(rb"/MediaBox \[0 0 595\.2\d+ 841\.8\d+\]", pdf.document.data)  # type: ignore[union-attr]

    await h.click_button("казахском", user=user)
    kazakh = [d for d in documents(h, user.id) if d.document.filename.endswith("-kk.docx")]  # type: ignore[union-attr]
    text = docx_text(kazakh[0])
    assert "Сейткалиева Гульнар Бакытовнадан" in text and "ӨТІНІШ" in text
    # The office (Kazakh by default) got the Kazakh copy too.
    staff = [d.document for d in documents(h, STAFF_CHAT_ID)]
    assert any(getattr(f, "filename", "").endswith("-kk.docx") for f in staff)


def test_names_in_the_cases_a_statement_needs() -> None:
    from bot.services.names import ablative_kk, dative_ru, genitive_ru

    assert genitive_ru("Сейткалиев Арман Ерланович") == "Сейткалиева Армана Ерлановича"
    assert genitive_ru("Сейткалиева Гульнар Бакытовна") == "Сейткалиевой Гульнар Бакытовны"
    assert genitive_ru("Жумабаев Нурлан Асхатұлы") == "Жумабаева Нурлана Асхатұлы"
    assert dative_ru("Ахметова Айгерим") == "Ахметовой Айгерим"
    assert genitive_ru("Smith John") == "Smith John"
    assert ablative_kk("Сейткалиев Арман Ерланович") == "Сейткалиев Арман Ерлановичтен"
    assert ablative_kk("Жумабаев Нурлан Асхатұлы") == "Жумабаев Нурлан Асхатұлынан"
    assert ablative_kk("Ахметова Айгерим") == "Ахметова Айгеримнен"
    assert ablative_kk("Иванов Иван") == "Иванов Иваннан"
    assert ablative_kk("Нұрланова Әйгерім Бақытқызы") == "Нұрланова Әйгерім Бақытқызынан"
    assert ablative_kk("Серікбаева Дана") == "Серікбаева Данадан"
    assert ablative_kk("Smith John") == "Smith John"


# --- item 5: a clerk's words -------------------------------------------------------------------


async def test_summary_and_staff_card_read_as_a_clerk_would(office: Harness) -> None:
    """The summary says «Заявитель: родитель, …», not the button «Я — родитель»; the staff
    card states the rules in the office's terms, not the applicant's «your programme»."""
    h, user = office, PARENT_RU
    await parent_applies(h, user)
    summary = h.last_text(user.id)
    assert "Заявитель:</b> родитель, Сейткалиева Гульнар Бакытовна" in summary
    assert "Я — родитель" not in summary and "Кто подаёт" not in summary
    assert "Обучающийся:</b> Сейткалиев Арман Ерланович" in summary
    assert "Период:</b> 01.02.2027 – 30.06.2027" in summary
    assert "Основание:</b> Состояние здоровья" in summary and "(5.4.1, 5.4.2)" in summary
    await h.click("ap:submit:", user)
    card = next(
        m.text
        for m in h.session.requests
        if isinstance(m, SendMessage)
        and m.chat_id == STAFF_CHAT_ID
        and "New application" in m.text
    )
    assert "Applicant:</b> a parent, Сейткалиева Гульнар Бакытовна" in card
    assert "IIN:</b> ••••••••0126" in card
    assert "Cap: at most 50 % of all disciplines" in card
    assert "Your programme" not in card and "you get" not in card
    assert "I am a parent" not in card


# --- item 8: arts, and no staff chat --------------------------------------------------------


async def test_arts_applicant_answers_music_or_choreography_with_a_button(h_en: Any) -> None:
    h, user = h_en, STUDENT_EN
    await h.send("/apply", user=user)
    await h.click("ap:kind:dl", user)
    await h.click("ap:ground:competition", user)
    await h.click("ap:role:student", user)
    await h.send("Smith John", user=user)
    await h.send("900101300126", user=user)
    await h.send("6B02101", user=user)
    assert "music art or choreography" in h.last_text(user.id)
    assert h.buttons(user.id)[:2] == ["🎼 Music art or choreography", "🎨 Another arts programme"]
    await h.send("2", user=user)  # typing a course year is not the answer: asked again
    assert "Which course year" not in h.last_text(user.id)
    await h.click_button("Music art", user=user)
    assert "Which course year" in h.last_text(user.id)
    for step in ("ap:course:2",):
        await h.click(step, user)
    await h.send("01.02.2027", user=user)
    await h.send("30.06.2027", user=user)
    await h.send("87012345678", user=user)
    await h.click("ap:inperson:", user)
    summary = h.last_text(user.id)
    assert "at most 20 %" in summary and "5.4.5" in summary


@pytest.fixture
async def h_en(harness: Harness) -> Harness:
    harness.ctx.services.applications.clock = lambda: NOW
    return harness


async def test_without_a_staff_chat_the_applicant_is_told_the_truth(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """STAFF_CHAT_ID is not set: the start-up log warns, and an applicant who submits is told
    that nobody received it and to take the statement to the office, not that it is under
    review."""
    with caplog.at_level(logging.WARNING):
        h = await Harness.create(database_url, staff_chat_id=None)
    try:
        assert any("STAFF_CHAT_ID is not set" in r.getMessage() for r in caplog.records)
        h.ctx.services.applications.clock = lambda: NOW
        await parent_applies(h, PARENT_RU)
        await h.click("ap:submit:", PARENT_RU)
        said = "\n".join(h.texts(PARENT_RU.id)[-4:])
        assert "никто не получил" in said and "лично" in said
        assert "Офис рассмотрит" not in said
        assert documents(h, PARENT_RU.id)  # the statement to take along
    finally:
        await h.close()
