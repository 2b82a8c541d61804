"""Applications, as the applicant and the office live them: /apply through feed_update."""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime
from pathlib import Path

import docx
import pytest
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageReplyMarkup,
    SendDocument,
    SendMessage,
    SendPhoto,
)
from sqlalchemy import select

from bot.db.models import Role, User
from bot.db.models.applications import Application
from bot.services.documents import pdf_font
from bot.services.users import UserRepository
from tests.harness import (
    ADMIN,
    STAFF,
    STAFF_CHAT_ID,
    STUDENT,
    STUDENT_EN,
    STUDENT_RU,
    Harness,
    TgUser,
)

NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
PDF = {
    "file_id": "BQACAgIAAxk-cert",
    "file_unique_id": "cert-1",
    "file_name": "dkk.pdf",
    "mime_type": "application/pdf",
    "file_size": 250_000,
}


@pytest.fixture
def h(harness: Harness) -> Harness:
    harness.ctx.services.applications.clock = lambda: NOW
    return harness


async def stored(h: Harness, **where: object) -> list[Application]:
    async with h.ctx.sessionmaker() as session:
        query = select(Application).order_by(Application.id)
        for key, value in where.items():
            query = query.where(getattr(Application, key) == value)
        return list((await session.scalars(query)).all())


async def grant(h: Harness, user: TgUser, role: Role) -> None:
    async with h.ctx.sessionmaker() as session:
        await UserRepository(session).set_role(user.id, role)
        await session.commit()


async def dl_until_summary(
    h: Harness, user: TgUser, *, name: str = "Petrov Ivan", phone: str = "87012345678"
) -> None:
    await h.send("/apply", user=user)
    await h.click("ap:kind:dl", user)
    await h.click("ap:ground:health", user)
    await h.click("ap:role:student", user)
    await h.send(name, user=user)
    await h.send("900101300126", user=user)
    await h.send("6B06102", user=user)
    await h.click("ap:course:2", user)
    await h.send("01.02.2027", user=user)
    await h.send("30.06.2027", user=user)
    await h.send(phone, user=user)
    await h.send_content(user, document=PDF)


def statement_text_sent(h: Harness, user: TgUser) -> str:
    """The text of the newest DOCX statement sent to ``user``."""
    for m in reversed(h.session.requests):
        if isinstance(m, SendDocument) and m.chat_id == user.id:
            if m.document.filename.endswith(".docx"):
                return "\n".join(
                    p.text for p in docx.Document(io.BytesIO(m.document.data)).paragraphs
                )
    raise AssertionError("no statement sent")


def staff_buttons(h: Harness) -> dict[str, str]:
    method = h.last(SendMessage, STAFF_CHAT_ID)
    assert method.reply_markup is not None
    return {
        b.callback_data.split(":")[2]: b.callback_data
        for row in method.reply_markup.inline_keyboard
        for b in row
    }


# --- the distance-learning wizard -------------------------------------------------------------


@pytest.mark.parametrize(
    "user, title, submitted",
    [
        (STUDENT, "ӨТІНІШ", "Өтініш жіберілді"),
        (STUDENT_RU, "ЗАЯВЛЕНИЕ", "Заявление подано"),
        (STUDENT_EN, "APPLICATION", "Your application is submitted"),
    ],
)
async def test_student_applies_for_distance_learning_in_their_language(
    h: Harness, user: TgUser, title: str, submitted: str
) -> None:
    await dl_until_summary(h, user)
    summary = h.last_text(user.id)
    assert "6B06102" in summary and "+77012345678" in summary
    # The trace cites the ground, the cap and what happens next.
    for clause in ("5.4.1", "5.4.2", "5.2.2", "5.4.7", "5.4.3", "5.4.10"):
        assert clause in summary, clause
    await h.click("ap:submit:", user)
    assert any(submitted in t for t in h.texts(user.id)[-4:])
    docs = [m for m in h.session.requests if isinstance(m, SendDocument) and m.chat_id == user.id]
    names = [d.document.filename for d in docs]
    assert names[0] == "DL-2026-00001.docx"
    if pdf_font() is not None:
        assert names[1:] == ["DL-2026-00001.pdf"]
        assert docs[1].document.data.startswith(b"%PDF")
    sent = docs[0]
    statement = docx.Document(io.BytesIO(sent.document.data))
    text = "\n".join(p.text for p in statement.paragraphs)
    assert title in text and "Petrov Ivan" in text and "01.02.2027" in text
    assert "DL-2026-00001" in text
    [app] = await stored(h)
    assert app.reference == "DL-2026-00001" and app.status == "submitted"
    assert app.user_id == user.id and app.language == user.language_code
    assert app.period_start.isoformat() == "2027-02-01" and app.document_file_id == PDF["file_id"]
    assert [e.status for e in app.events] == ["submitted"]
    # The office sees the card, the applicant's file and the statement, and a copy in its own
    # language (kk here) when the applicant wrote in another.
    staff_docs = [
        m for m in h.session.requests if isinstance(m, SendDocument) and m.chat_id == STAFF_CHAT_ID
    ]
    assert "DL-2026-00001" in (staff_docs[-1].caption or "")
    copies = [] if user.language_code == "kk" else ["DL-2026-00001-kk.docx"]
    assert [
        d.document if isinstance(d.document, str) else d.document.filename for d in staff_docs
    ] == [PDF["file_id"], "DL-2026-00001.docx", *copies]
    assert set(staff_buttons(h)) == {"approve", "reject", "more"}


async def test_menu_button_opens_the_wizard_and_apply_resumes_it(h: Harness) -> None:
    await h.send("/start", user=STUDENT_EN)
    await h.click_button("English", user=STUDENT_EN)
    await h.send("📝 Apply", user=STUDENT_EN)
    assert h.buttons() == ["Distance learning (DL)", "Online form (OL)"]
    await h.click_button("Distance learning", user=STUDENT_EN)
    await h.send("/apply", user=STUDENT_EN)
    assert "unfinished application" in h.texts()[-2]
    assert "On what ground" in h.last_text()
    # A button from an earlier question shows where we are instead of acting.
    await h.click("ap:course:2", STUDENT_EN)
    assert "On what ground" in h.last_text()
    await h.send_content(
        STUDENT_EN,
        sticker={
            "file_id": "s",
            "file_unique_id": "s",
            "type": "regular",
            "width": 1,
            "height": 1,
            "is_animated": False,
            "is_video": False,
        },
    )
    assert "answer the question above" in h.texts()[-2]


async def test_parent_applies_and_gives_own_name(h: Harness) -> None:
    await h.send("/apply", user=STUDENT_EN)
    await h.click("ap:kind:dl", STUDENT_EN)
    await h.click("ap:ground:competition", STUDENT_EN)
    await h.click("ap:role:parent", STUDENT_EN)
    assert "parent or representative" in h.last_text()
    await h.send("Smith Anna", user=STUDENT_EN)
    assert "student's full name" in h.last_text()
    await h.send("Smith John", user=STUDENT_EN)
    await h.send("S2024153", user=STUDENT_EN)
    await h.send("7M042", user=STUDENT_EN)  # law, master: 20 %, course 1-2
    assert h.buttons() == ["1", "2", "⬅️ Back"]
    await h.send("3", user=STUDENT_EN)
    assert "from 1 to 2" in h.texts()[-2]
    await h.send("1", user=STUDENT_EN)
    await h.send("10.01.2027", user=STUDENT_EN)
    await h.send("20.01.2027", user=STUDENT_EN)
    await h.send("+7 701 111 22 33", user=STUDENT_EN)
    await h.send_content(
        STUDENT_EN,
        photo=[
            {
                "file_id": "small",
                "file_unique_id": "s",
                "width": 90,
                "height": 90,
                "file_size": 1000,
            },
            {
                "file_id": "big",
                "file_unique_id": "b",
                "width": 1280,
                "height": 960,
                "file_size": 300_000,
            },
        ],
    )
    summary = h.last_text()
    assert "5.1.2" in summary and "5.4.5" in summary and "20 %" in summary
    await h.click("ap:submit:", STUDENT_EN)
    [app] = await stored(h)
    assert app.applicant_role == "parent" and app.applicant_name == "Smith Anna"
    assert app.document_kind == "photo" and app.document_file_id == "big"
    assert any(isinstance(m, SendPhoto) and m.photo == "big" for m in h.session.requests)
    text = statement_text_sent(h, STUDENT_EN)
    assert "I am the student's parent" in text and "from Smith Anna" in text


async def test_every_validation_error_repeats_the_question(h: Harness) -> None:
    u = STUDENT_EN
    await h.send("/apply", user=u)
    await h.click("ap:kind:dl", u)
    await h.click("ap:ground:mobility", u)
    await h.click("ap:role:student", u)
    cases = [
        ("Ivan", "at least the surname", "full name"),
        ("Ivan Petrov 3rd", "only Kazakh, Russian or Latin letters", "full name"),
        ("Petrov Ivan", None, None),
        ("900101300127", "IIN is not valid", "student ID or the IIN"),
        ("12345678901234", "exactly 12 digits", "student ID or the IIN"),
        ("900101300126", None, None),
        ("6B99999", "was not found", "code of the educational programme"),
        ("nonsenseprogramme", "No direction of training matches", "code of the educational"),
        ("6B06102", None, None),
        ("9", "from 1 to 5", "course year"),
        ("2", None, None),
        ("1 Feb 2027", "DD.MM.YYYY", "First day"),
        ("30.02.2027", "no such date", "First day"),
        ("01.11.2026", "in the past", "First day"),
        ("01.02.2027", None, None),
        ("31.01.2027", "must be after the start", "Last day"),
        ("01.06.2028", "longer than 366 days", "Last day"),
        ("30.06.2027", None, None),
        ("call me", "does not look like a phone number", "phone number"),
        ("+7 701 234 56 78", None, None),
    ]
    for text, error, asked_again in cases:
        calls = await h.send(text, user=u)
        texts = [c.text for c in calls if isinstance(c, SendMessage)]
        if error is None:
            assert not any("not valid" in t for t in texts), (text, texts)
            continue
        assert len(texts) >= 2, (text, texts)
        assert error in "\n".join(texts[:-1]), (text, texts)
        assert asked_again in texts[-1], (text, texts)
    # The document step: wrong type, too big, then "in person".
    await h.send_content(
        u, document={**PDF, "file_name": "a.docx", "mime_type": "application/msword"}
    )
    assert "are not accepted" in h.texts()[-2]
    await h.send_content(u, document={**PDF, "file_size": 25 * 1024 * 1024})
    assert "at most 20 MB" in h.texts()[-2]
    await h.send("here it is", user=u)
    assert "photo or a PDF" in h.texts()[-2]
    await h.click("ap:inperson:", u)
    summary = h.last_text()
    assert "5.4.13" in summary and "20 % of the total academic credits" in summary


async def dl_until_programme(h: Harness, user: TgUser, name: str = "Petrov Ivan") -> None:
    await h.send("/apply", user=user)
    await h.click("ap:kind:dl", user)
    await h.click("ap:ground:health", user)
    await h.click("ap:role:student", user)
    await h.send(name, user=user)
    await h.send("900101300126", user=user)


async def test_pedagogical_programme_is_refused_with_the_legal_exception(h: Harness) -> None:
    """The student confirms the programme is pedagogical: the application stops (5.4.6)."""
    await dl_until_programme(h, STUDENT_RU, "Петров Иван")
    await h.send("6B01101", user=STUDENT_RU)
    refusal, asked_again = h.texts(STUDENT_RU.id)[-2:]
    assert "Для этой программы дистанционное обучение невозможно" in refusal
    assert "5.4.6" in refusal and "37-2" in refusal
    assert asked_again.startswith("Код образовательной программы")
    assert h.buttons(STUDENT_RU.id) == [
        "🙋 Спросить человека, с моими ответами",
        "✖️ Прекратить оформление заявления",
        "⬅️ Назад",
    ]
    await h.click_button("Прекратить", user=STUDENT_RU)
    stop = h.last_text(STUDENT_RU.id)
    assert "Для этой программы дистанционное обучение невозможно" in stop
    assert "37-2" in stop and "офис регистратора" in stop and "ничего не отправлено" in stop
    assert "Задать вопрос" in " ".join(h.buttons(STUDENT_RU.id))  # the main menu is back
    async with h.ctx.sessionmaker() as session:
        assert await session.scalar(select(User.id).where(User.id == STUDENT_RU.id))
    await h.send("6B06102", user=STUDENT_RU)  # the wizard is over: a question now
    assert "Какой курс" not in h.last_text(STUDENT_RU.id)
    assert await stored(h) == []


@pytest.mark.parametrize(
    "user, not_possible, clause, programme_question, stop",
    [
        (
            STUDENT_EN,
            "Distance learning is not possible for this programme",
            "clause 5.4.6",
            "The code of the educational programme",
            "✖️ Stop the application",
        ),
        (
            STUDENT,
            "Бұл бағдарлама үшін қашықтан оқыту мүмкін емес",
            "5.4.6-тармақ",
            "Білім беру бағдарламасының коды",
            "✖️ Өтінішті тоқтату",
        ),
    ],
    ids=["en", "kk"],
)
async def test_a_mistyped_pedagogical_code_is_asked_again_and_the_answers_are_kept(
    h: Harness, user: TgUser, not_possible: str, clause: str, programme_question: str, stop: str
) -> None:
    """A student means 6B06102 but types 6B01102 (pedagogical): they are told why it cannot
    be (5.4.6), asked for the programme again, and the application goes on with the name and
    ID they already gave."""
    await dl_until_programme(h, user)
    await h.send("6B01102", user=user)
    refusal, asked_again = h.texts(user.id)[-2:]
    assert not_possible in refusal and clause in refusal and "37-2" in refusal
    assert asked_again.startswith(programme_question)
    assert stop in h.buttons(user.id)

    await h.send("6B06102", user=user)
    assert h.buttons(user.id)[:2] == ["1", "2"]  # the course question: the wizard goes on
    await h.click("ap:course:2", user)
    await h.send("01.02.2027", user=user)
    await h.send("30.06.2027", user=user)
    await h.send("87012345678", user=user)
    await h.send_content(user, document=PDF)
    summary = h.last_text(user.id)
    assert "Petrov Ivan" in summary and "900101300126" in summary and "6B06102" in summary
    assert "5.4.6" not in summary
    assert stop not in h.buttons(user.id)
    await h.click("ap:submit:", user)
    [app] = await stored(h)
    assert app.full_name == "Petrov Ivan" and app.identifier == "900101300126"
    assert app.programme_code == "6B06102" and app.status == "submitted"


async def test_pedagogical_refusal_survives_a_restart_and_back(h: Harness) -> None:
    u = STUDENT_EN
    await dl_until_programme(h, u)
    await h.send("6B01101", user=u)
    h2 = await h.restart()
    await h2.send("/apply", user=u)
    assert "unfinished application" in h2.texts(u.id)[-2]
    assert h2.buttons(u.id) == [
        "🙋 Ask a person, with my answers",
        "✖️ Stop the application",
        "⬅️ Back",
    ]
    await h2.click("ap:back:", u)
    assert "student ID or the IIN" in h2.last_text(u.id)
    await h2.send("900101300126", user=u)
    await h2.send("6B06102", user=u)
    assert "Which course year" in h2.last_text(u.id)
    # The stop button of the refusal no longer stops anything.
    await h2.click("ap:stop:", u)
    assert "Which course year" in h2.last_text(u.id)
    await h2.click("ap:course:3", u)
    assert "First day of the period" in h2.last_text(u.id)


async def test_back_edit_and_cancel_from_the_summary(h: Harness) -> None:
    u = STUDENT_EN
    await h.send("/apply", user=u)
    await h.click("ap:kind:dl", u)
    await h.click("ap:ground:health", u)
    await h.click("ap:role:student", u)
    await h.send("Petrov Ivan", user=u)
    await h.click("ap:back:", u)
    assert "student's full name" in h.last_text()
    await h.click("ap:back:", u)
    assert "Who is applying" in h.last_text()
    await h.click("ap:back:", u)
    await h.click("ap:back:", u)
    assert "What would you like to apply for" in h.last_text()
    await dl_until_summary(h, u)
    await h.click("ap:edit:", u)
    assert "Phone" in h.buttons()
    await h.click("ap:field:phone", u)
    await h.send("+7 777 000 11 22", user=u)
    assert "+77770001122" in h.last_text() and "Check the data" in h.last_text()
    # Changing the start date asks for the end date again.
    await h.click("ap:edit:", u)
    await h.click("ap:field:start", u)
    await h.send("01.03.2027", user=u)
    assert "Last day" in h.last_text()
    await h.send("01.05.2027", user=u)
    assert "01.03.2027" in h.last_text() and "01.05.2027" in h.last_text()
    await h.click("ap:cancel:", u)
    assert "cancelled" in h.last_text()
    assert await stored(h) == []
    await h.send("/apply", user=u)
    await h.send("/cancel", user=u)
    assert h.last_text() == "Cancelled. What would you like to do?"


async def test_wizard_resumes_after_a_restart(h: Harness) -> None:
    u = STUDENT_RU
    await h.send("/apply", user=u)
    await h.click("ap:kind:dl", u)
    await h.click("ap:ground:double_degree", u)
    await h.click("ap:role:student", u)
    await h.send("Петров Иван", user=u)
    fresh = await h.restart()
    fresh.ctx.services.applications.clock = lambda: NOW
    await fresh.send("/apply", user=u)
    assert "ИИН" in fresh.last_text()
    await fresh.send("900101300126", user=u)
    await fresh.send("6B06102", user=u)
    await fresh.send("3", user=u)
    await fresh.send("01.02.2027", user=u)
    await fresh.send("30.06.2027", user=u)
    await fresh.send("87012345678", user=u)
    await fresh.click("ap:inperson:", u)
    assert "5.4.14" in fresh.last_text()
    await fresh.click("ap:submit:", u)
    [app] = await stored(fresh)
    assert app.full_name == "Петров Иван" and app.ground == "double_degree" and app.course == 3


async def test_two_users_at_once_do_not_mix(h: Harness) -> None:
    a, b = STUDENT_RU, STUDENT_EN
    await h.send("/apply", user=a)
    await h.send("/apply", user=b)
    await h.click("ap:kind:dl", a)
    await h.click("ap:kind:dl", b)
    await h.click("ap:ground:health", a)
    await h.click("ap:ground:mobility", b)
    await h.click("ap:role:student", b)
    await h.click("ap:role:student", a)
    await h.send("Петров Иван", user=a)
    await h.send("Smith John", user=b)
    await h.send("S7", user=b)  # too short for a student ID: b is asked again, a is not
    await h.send("900101300126", user=a)
    await h.send("S7777", user=b)
    for u, code in ((a, "6B06102"), (b, "6B042")):
        await h.send(code, user=u)
    await h.send("1", user=a)
    await h.send("4", user=b)
    for u in (a, b):
        await h.send("01.02.2027", user=u)
    await h.send("30.06.2027", user=b)
    await h.send("30.05.2027", user=a)
    await h.send("87011111111", user=a)
    await h.send("87022222222", user=b)
    await h.click("ap:inperson:", b)
    await h.click("ap:inperson:", a)
    await h.click("ap:submit:", b)
    await h.click("ap:submit:", a)
    first, second = await stored(h)
    assert (first.user_id, first.full_name, first.identifier, first.phone) == (
        b.id,
        "Smith John",
        "S7777",
        "+77022222222",
    )
    assert (second.user_id, second.full_name, second.identifier, second.phone) == (
        a.id,
        "Петров Иван",
        "900101300126",
        "+77011111111",
    )
    assert first.reference == "DL-2026-00001" and second.reference == "DL-2026-00002"
    assert first.programme_code == "6B042" and second.period_end.isoformat() == "2027-05-30"


# --- the online form --------------------------------------------------------------------------


async def test_online_form_refuses_an_appendix_1_direction(h: Harness) -> None:
    await h.send("/apply", user=STUDENT_EN)
    await h.click("ap:kind:online", STUDENT_EN)
    await h.send("6B091", user=STUDENT_EN)
    text = h.last_text()
    assert "not possible" in text and "Appendix 1" in text and "6.2" in text
    assert "allowed instead" in text
    assert await stored(h) == []


@pytest.mark.parametrize(
    "u, titles",
    [
        (STUDENT, ("Техникалық талаптар", "Дербес деректерді өңдеу", "пайдаланушылық келісімі")),
        (STUDENT_RU, ("Технические требования", "персональных данных", "Пользовательское")),
        (STUDENT_EN, ("Technical requirements", "Processing of personal data", "user agreement")),
    ],
)
async def test_online_enrollment_records_each_consent_with_version_and_time(
    h: Harness, u: TgUser, titles: tuple[str, ...]
) -> None:
    await h.send("/apply", user=u)
    await h.click("ap:kind:online", u)
    await h.send("7M061", user=u)
    await h.send("Smith John", user=u)
    await h.send("900101300126", user=u)
    await h.send("+7 701 234 56 78", user=u)
    for expected in titles:
        assert expected in h.last_text() and "6.7" in h.last_text()
        await h.click("ap:accept:", u)
    summary = h.last_text()
    for clause in ("6.3", "6.6", "6.9.4", "6.14", "6.17"):
        assert clause in summary, clause
    assert "20 %" in summary and "10 %" in summary
    await h.click("ap:submit:", u)
    [app] = await stored(h)
    assert app.reference == "OL-2026-00001" and app.kind == "online"
    assert [(c.consent, c.version) for c in app.consents] == [
        ("technical", "2026-12-tech-2"),
        ("personal_data", "2026-11-pd-1"),
        ("user_agreement", "2026-11-ua-1"),
    ]
    assert all(c.accepted_at == NOW and c.language == u.language_code for c in app.consents)


# --- the office -------------------------------------------------------------------------------


async def test_staff_decisions_and_unauthorised_presses(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    await grant(h, STAFF, Role.STAFF)
    await dl_until_summary(h, STUDENT_RU)
    await h.click("ap:submit:", STUDENT_RU)
    buttons = staff_buttons(h)

    # A student presses the staff buttons: refused, logged, nothing changes.
    with caplog.at_level(logging.WARNING):
        calls = await h.click(
            buttons["approve"], STUDENT_EN, chat_id=STAFF_CHAT_ID, chat_type="supergroup"
        )
    alerts = [c for c in calls if isinstance(c, AnswerCallbackQuery)]
    assert alerts and alerts[0].show_alert and "Only helpdesk staff" in (alerts[0].text or "")
    assert "unauthorised" in caplog.text
    # A forged button for an application that does not exist.
    calls = await h.click(
        "apd:999:approve:1", STAFF, chat_id=STAFF_CHAT_ID, chat_type="supergroup"
    )
    assert next(c for c in calls if isinstance(c, AnswerCallbackQuery)).show_alert
    assert (await stored(h))[0].status == "submitted"

    # Staff asks for more, with a comment; the applicant hears it in Russian.
    await h.click(buttons["more"], STAFF, chat_id=STAFF_CHAT_ID, chat_type="supergroup")
    # A reply in a helpdesk ticket's topic meanwhile is not taken as the comment.
    await h.send(
        "Answer to a ticket",
        user=STAFF,
        chat_id=STAFF_CHAT_ID,
        chat_type="supergroup",
        thread_id=7,
    )
    assert (await stored(h))[0].status == "submitted"
    calls = await h.send(
        "Нужна справка ВКК с печатью", user=STAFF, chat_id=STAFF_CHAT_ID, chat_type="supergroup"
    )
    assert any(isinstance(c, EditMessageReplyMarkup) and c.reply_markup is None for c in calls)
    note = h.last_text(STUDENT_RU.id)
    assert "DL-2026-00001" in note and "справка ВКК" in note
    assert (await stored(h))[0].status == "needs_info"
    # The old card's buttons are now stale (replayed).
    calls = await h.click(buttons["approve"], STAFF, chat_id=STAFF_CHAT_ID, chat_type="supergroup")
    assert "устарела" in (next(c for c in calls if isinstance(c, AnswerCallbackQuery)).text or "")

    # The applicant answers from /myapplications with a file; a fresh card reaches the office.
    await h.send("/myapplications", user=STUDENT_RU)
    assert h.buttons() == ["✉️ Ответить DL-2026-00001"]
    await h.click_button("DL-2026-00001", user=STUDENT_RU)
    await h.send_content(STUDENT_RU, document={**PDF, "file_id": "second"}, caption="Вот справка")
    assert (await stored(h))[0].status == "submitted"
    new_buttons = staff_buttons(h)
    assert new_buttons["approve"] != buttons["approve"]

    # An admin approves; pressing again is refused.
    await h.click(new_buttons["approve"], ADMIN, chat_id=STAFF_CHAT_ID, chat_type="supergroup")
    assert (await stored(h))[0].status == "approved"
    assert "5.4.3" in h.last_text(STUDENT_RU.id)
    calls = await h.click(
        new_buttons["approve"], ADMIN, chat_id=STAFF_CHAT_ID, chat_type="supergroup"
    )
    replay = next(c for c in calls if isinstance(c, AnswerCallbackQuery))
    assert replay.show_alert and "already handled: approved" in (replay.text or "")

    await h.send("/myapplications", user=STUDENT_RU)
    history = h.last_text()
    assert "DL-2026-00001" in history and history.count("\n  ") == 4
    assert "справка ВКК" in history


async def test_staff_rejects_with_a_reason(h: Harness) -> None:
    await grant(h, STAFF, Role.STAFF)
    await dl_until_summary(h, STUDENT_EN)
    await h.click("ap:submit:", STUDENT_EN)
    await h.send("/apply", user=STUDENT_EN)
    await h.click("ap:kind:dl", STUDENT_EN)
    assert "DL-2026-00001 of this kind is still under review" in h.texts()[-2]
    await h.send("/cancel", user=STUDENT_EN)
    buttons = staff_buttons(h)
    await h.click(buttons["reject"], STAFF, chat_id=STAFF_CHAT_ID, chat_type="supergroup")
    assert "reason" in h.last_text(STAFF_CHAT_ID) or "причин" in h.last_text(STAFF_CHAT_ID)
    await h.send(
        "Period overlaps the exam session",
        user=STAFF,
        chat_id=STAFF_CHAT_ID,
        chat_type="supergroup",
    )
    [app] = await stored(h)
    assert (
        app.status == "rejected" and app.events[-1].comment == "Period overlaps the exam session"
    )
    assert "rejected" in h.last_text(STUDENT_EN.id)


async def test_commands_while_answering_the_office_are_not_taken_as_the_answer(h: Harness) -> None:
    """The wizard's router is tried before /myapplications' (handlers/applications/__init__):
    /apply and /myapplications typed instead of the answer do what they say."""
    await grant(h, STAFF, Role.STAFF)
    await dl_until_summary(h, STUDENT_EN)
    await h.click("ap:submit:", STUDENT_EN)
    buttons = staff_buttons(h)
    await h.click(buttons["more"], STAFF, chat_id=STAFF_CHAT_ID, chat_type="supergroup")
    await h.send("The PMPC stamp", user=STAFF, chat_id=STAFF_CHAT_ID, chat_type="supergroup")
    [app] = await stored(h)
    assert app.status == "needs_info"

    await h.click(f"ap:reply:{app.id}", STUDENT_EN)
    await h.send("/myapplications", user=STUDENT_EN)
    assert "DL-2026-00001" in h.last_text(STUDENT_EN.id)
    await h.click(f"ap:reply:{app.id}", STUDENT_EN)
    await h.send("/apply", user=STUDENT_EN)
    assert "Applications" in h.last_text(STUDENT_EN.id)
    [app] = await stored(h)
    assert app.status == "needs_info" and len(app.events) == 2  # nothing was sent as an answer


# --- personal data ----------------------------------------------------------------------------


async def test_mydata_and_forget(h: Harness) -> None:
    import json

    await dl_until_summary(h, STUDENT_EN)
    await h.click("ap:submit:", STUDENT_EN)
    await h.send("Can I study law online?", user=STUDENT_EN)  # another area's row
    await h.send("/mydata", user=STUDENT_EN)
    data = json.loads(h.last(SendDocument, STUDENT_EN.id).document.data)
    assert data["user"]["id"] == STUDENT_EN.id
    assert "applications" not in data["other"]  # covered by its own section
    assert any("law" in json.dumps(rows) for rows in data["other"].values())
    assert data["applications"][0]["reference"] == "DL-2026-00001"
    assert data["applications"][0]["phone"] == "+77012345678"

    await h.send("/apply", user=STUDENT_EN)  # an unfinished wizard is personal data too
    await h.send("/mydata", user=STUDENT_EN)
    data = json.loads(h.last(SendDocument, STUDENT_EN.id).document.data)
    assert data["fsm"] and data["fsm"][0]["state"] == "ApplyForm:kind"

    await h.send("/forget", user=STUDENT_EN)
    await h.click_button("Keep", user=STUDENT_EN)
    assert h.last_text() == "Nothing was deleted."
    await h.send("/forget", user=STUDENT_EN)
    await h.click_button("Yes", user=STUDENT_EN)
    assert "deleted" in h.last_text()
    [app] = await stored(h)
    assert app.user_id is None and app.full_name is None and app.phone is None
    assert app.reference == "DL-2026-00001" and app.anonymised_at is not None
    async with h.ctx.sessionmaker() as session:
        assert await session.get(User, STUDENT_EN.id) is None
    export = await export_csv(h)
    assert "DL-2026-00001" in export and "+77012345678" not in export


async def export_csv(h: Harness) -> str:
    async with h.ctx.sessionmaker() as session:
        return await h.ctx.services.applications.export_csv(session)


async def test_export_cli(
    h: Harness,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    import asyncio

    from bot.cli import main

    await dl_until_summary(h, STUDENT_EN)
    await h.click("ap:submit:", STUDENT_EN)
    monkeypatch.setenv("DATABASE_URL", h.ctx.settings.database_url)
    code = await asyncio.to_thread(main, ["applications", "export", "--csv"])
    assert code == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("reference,kind,status")
    assert "DL-2026-00001,dl,submitted" in out
    target = tmp_path / "office.csv"
    args = ["applications", "export", "--csv", "--status", "approved", "-o", str(target)]
    assert await asyncio.to_thread(main, args) == 0
    assert "wrote 0 applications" in capsys.readouterr().out
    assert target.read_text(encoding="utf-8-sig").startswith("reference,")


async def test_reference_numbers_stay_unique_under_concurrency(h: Harness) -> None:
    import asyncio

    service = h.ctx.services.applications
    for user in (STUDENT, STUDENT_RU, STUDENT_EN):
        await h.send("/help", user=user)
    data = {
        "kind": "dl",
        "ground": "health",
        "full_name": "Petrov Ivan",
        "programme_code": "6B061",
    }

    async def one(user: TgUser) -> str:
        async with h.ctx.sessionmaker() as session:
            app = await service.create(session, user_id=user.id, language="en", data=data)
            await session.commit()
            return str(app.reference)

    refs = await asyncio.gather(*(one(u) for u in (STUDENT, STUDENT_RU, STUDENT_EN) * 4))
    assert len(set(refs)) == 12
    assert sorted(refs) == [f"DL-2026-{n:05d}" for n in range(1, 13)]
