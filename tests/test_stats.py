"""Issue 13: staff analytics — the numbers on seeded data, the CLI, the wizard's runs.

The seeded week is Monday 2 to Sunday 8 November 2026 in Asia/Atyrau (UTC+5); working hours
09:00–18:00, no public holiday that week, an SLA of 30 working minutes.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.db.base import create_engine, create_sessionmaker
from bot.db.models import Question, User
from bot.db.models.applications import Application, ApplicationEvent
from bot.db.models.broadcasts import Broadcast, BroadcastDelivery
from bot.db.models.faq import UnansweredGroup, UnansweredItem
from bot.db.models.helpdesk import Ticket
from bot.db.models.stats import WizardRun
from bot.services.stats import Period, StatsReport, StatsService, anonymise, percentile
from bot.services.stats_export import to_csv
from tests.harness import STUDENT, Harness

WEEK = Period(date(2026, 11, 2), date(2026, 11, 8))
NOW = datetime(2026, 11, 9, 6, 0, tzinfo=UTC)  # Monday 11:00 local


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of November 2026 given in Atyrau time (UTC+5), as UTC."""
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC) - timedelta(hours=5)


def settings_for(url: str) -> Settings:
    return Settings(database_url=url, _env_file=None)  # type: ignore[call-arg]


async def seed(url: str) -> None:
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as s, s.begin():
            october = datetime(2026, 10, 1, tzinfo=UTC)
            s.add_all(
                [
                    User(id=1001, first_name="Aigerim", language="kk", created_at=local(2, 9)),
                    User(id=1002, first_name="Ivan", language="ru", created_at=local(2, 9)),
                    User(id=1003, first_name="John", language="en", created_at=october),
                    User(id=1004, first_name="Dina", language="kk", created_at=local(4, 9)),
                    User(
                        id=2001, first_name="Dana", language="ru", role="staff", created_at=october
                    ),
                ]
            )
            await s.flush()

            def q(
                user: int,
                lang: str,
                kind: str,
                at: datetime,
                clause: str | None = None,
                faq: str | None = None,
                feedback: int | None = None,
                text: str = "question",
            ) -> Question:
                return Question(
                    user_id=user,
                    text=text,
                    language=lang,
                    kind=kind,
                    created_at=at,
                    clauses=[clause] if clause else [],
                    top_clause=clause,
                    faq_key=faq,
                    feedback=feedback,
                    confidence=0.5,
                )

            questions = [
                # 00:10 on Monday local is still Sunday in UTC: counted on Monday
                q(1001, "kk", "answer", local(2, 0, 10), "5.4.5", feedback=1),
                q(1001, "kk", "answer", local(2, 12), "5.4.5"),
                q(
                    1002,
                    "ru",
                    "unsure",
                    local(2, 13),
                    "5.1.1",
                    text="можно ли жить в общежитии? мой номер 8 701 555 12 34",
                ),
                q(1003, "en", "faq", local(3, 10), faq="dormitory"),
                q(1001, "kk", "out_of_scope", local(3, 11), text="асхана қайда"),
                q(1002, "ru", "answer", local(3, 12), "5.4.5", feedback=-1),
                q(1002, "ru", "answer", local(3, 14), "6.2"),
                # Monday 9th 00:30 local: after the period
                q(1001, "kk", "answer", local(9, 0, 30), "5.4.5"),
            ]
            s.add_all(questions)
            await s.flush()
            g1 = UnansweredGroup(title="общежитие", created_at=local(2, 13))
            g2 = UnansweredGroup(title="асхана", created_at=local(3, 11))
            s.add_all([g1, g2])
            await s.flush()
            s.add_all(
                [
                    UnansweredItem(
                        group_id=g1.id,
                        question_id=questions[2].id,
                        user_id=1002,
                        text=questions[2].text,
                        language="ru",
                        reason="unsure",
                        created_at=local(2, 13),
                    ),
                    UnansweredItem(
                        group_id=g1.id,
                        question_id=questions[5].id,
                        user_id=1002,
                        text=questions[2].text,
                        language="ru",
                        reason="disliked",
                        created_at=local(3, 12),
                    ),
                    UnansweredItem(
                        group_id=g2.id,
                        question_id=questions[4].id,
                        user_id=1001,
                        text=questions[4].text,
                        language="kk",
                        reason="out_of_scope",
                        created_at=local(3, 11),
                    ),
                ]
            )
            s.add_all(
                [
                    # 20 working minutes to the reply, 120 to closing, rated 5
                    Ticket(
                        user_id=1001,
                        topic="technical",
                        staff_chat_id=-1,
                        created_at=local(2, 10),
                        first_response_at=local(2, 10, 20),
                        closed_at=local(2, 12),
                        rating=5,
                        status="closed",
                    ),
                    # 17:50 Monday -> 09:30 Tuesday: 40 working minutes (an SLA breach)
                    Ticket(
                        user_id=1001,
                        topic="technical",
                        staff_chat_id=-1,
                        created_at=local(2, 17, 50),
                        first_response_at=local(3, 9, 30),
                        closed_at=local(3, 10),
                        rating=2,
                        status="closed",
                    ),
                    Ticket(
                        user_id=1004,
                        topic="application",
                        staff_chat_id=-1,
                        created_at=local(4, 11),
                        first_response_at=local(4, 11, 5),
                    ),
                ]
            )
            apps = [
                Application(
                    user_id=1001,
                    reference="DL-1",
                    kind="dl",
                    status="approved",
                    language="kk",
                    created_at=local(2, 15),
                ),
                Application(
                    user_id=1002,
                    reference="OL-2",
                    kind="online",
                    status="rejected",
                    language="ru",
                    created_at=local(3, 10),
                ),
                Application(
                    user_id=1003,
                    reference="DL-3",
                    kind="dl",
                    status="submitted",
                    language="en",
                    created_at=local(4, 10),
                ),
            ]
            s.add_all(apps)
            await s.flush()
            s.add_all(
                [
                    ApplicationEvent(
                        application_id=apps[0].id, status="submitted", created_at=local(2, 15)
                    ),
                    ApplicationEvent(
                        application_id=apps[0].id, status="approved", created_at=local(4, 15)
                    ),
                    ApplicationEvent(
                        application_id=apps[1].id, status="rejected", created_at=local(5, 22)
                    ),
                ]
            )

            def run(kind: str | None, step: str, outcome: str | None, day: int) -> WizardRun:
                return WizardRun(
                    user_id=1001,
                    kind=kind,
                    step=step,
                    outcome=outcome,
                    started_at=local(day, 9),
                    updated_at=local(day, 10),
                )

            s.add_all(
                [
                    run("dl", "summary", "submitted", 2),
                    run("dl", "summary", "submitted", 4),
                    run("dl", "phone", "left", 3),
                    run("dl", "phone", None, 3),  # idle for days: abandoned
                    run("online", "summary", "submitted", 3),
                    run("online", "programme", None, 3),
                    run(None, "kind", "left", 5),
                ]
            )
            b1 = Broadcast(kind="message", text="hello", total=3, created_at=local(2, 16))
            b2 = Broadcast(kind="reminder", text="deadline", total=2, created_at=local(3, 9))
            s.add_all([b1, b2])
            await s.flush()
            s.add_all(
                [
                    BroadcastDelivery(broadcast_id=b1.id, user_id=1001, status="sent"),
                    BroadcastDelivery(broadcast_id=b1.id, user_id=1002, status="sent"),
                    BroadcastDelivery(broadcast_id=b1.id, user_id=1003, status="blocked"),
                    BroadcastDelivery(broadcast_id=b2.id, user_id=1001, status="sent"),
                    BroadcastDelivery(broadcast_id=b2.id, user_id=1004, status="failed"),
                ]
            )
    finally:
        await engine.dispose()


async def report_for(url: str, period: Period = WEEK) -> StatsReport:
    service = StatsService(settings_for(url))
    service.now = lambda: NOW  # type: ignore[method-assign]
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            return await service.report(session, period)
    finally:
        await engine.dispose()


@pytest.fixture
async def seeded(database_url: str) -> str:
    await seed(database_url)
    return database_url


async def test_question_numbers(seeded: str) -> None:
    q = (await report_for(seeded)).questions
    assert q.total == 7
    assert q.by_language == {"kk": 3, "ru": 3, "en": 1}
    per_day = {(d.day.isoformat(), d.language): d.count for d in q.per_day}
    assert per_day == {
        ("2026-11-02", "kk"): 2,
        ("2026-11-02", "ru"): 1,
        ("2026-11-03", "en"): 1,
        ("2026-11-03", "kk"): 1,
        ("2026-11-03", "ru"): 2,
    }
    assert q.outcomes == {"answered": 4, "faq": 1, "unsure": 1, "not_covered": 1}
    assert q.share("answered") == pytest.approx(4 / 7)
    assert [(r.key, r.count) for r in q.top_clauses] == [("5.4.5", 3), ("6.2", 1)]
    assert [(r.key, r.count) for r in q.top_faq] == [("dormitory", 1)]
    assert [(f.clause, f.up, f.down) for f in q.feedback] == [("5.4.5", 1, 1)]
    # three people asked; one of them (1001) also asked a person (1004 asked nothing)
    assert (q.askers, q.escalated) == (3, 1)
    assert q.containment == pytest.approx(2 / 3)
    assert [(u.count, u.language) for u in q.unanswered] == [(2, "ru"), (1, "kk")]
    assert q.unanswered[0].example == "можно ли жить в общежитии? мой номер …"
    assert q.unanswered[1].example == "асхана қайда"


async def test_helpdesk_numbers(seeded: str) -> None:
    h = (await report_for(seeded)).helpdesk
    assert h.total.opened == 3 and h.total.replied == 3 and h.total.closed == 2
    assert h.total.first_reply_median == pytest.approx(20)
    assert h.total.first_reply_p90 == pytest.approx(36)  # between 20 and 40
    assert h.total.close_median == pytest.approx(95)  # 120 and 70 working minutes
    assert h.total.sla_breaches == 1
    assert h.total.csat == pytest.approx(3.5) and h.total.satisfied_share == pytest.approx(0.5)
    topics = {t.topic: t for t in h.by_topic}
    assert set(topics) == {"application", "technical"}
    assert topics["technical"].opened == 2 and topics["technical"].first_reply_median == 30
    assert topics["application"].rated == 0 and topics["application"].csat is None


async def test_application_broadcast_and_user_numbers(seeded: str) -> None:
    report = await report_for(seeded)
    funnels = {f.kind: f for f in report.applications.funnels}
    dl, online, none = funnels["dl"], funnels["online"], funnels[""]
    assert (dl.started, dl.submitted, dl.approved, dl.rejected, dl.under_review) == (4, 2, 1, 0, 1)
    assert dl.median_days_to_decision == pytest.approx(2.0)
    assert dl.abandoned == {"phone": 2}
    assert (online.started, online.submitted, online.rejected) == (2, 1, 1)
    assert online.median_days_to_decision == pytest.approx(2.5)
    assert online.abandoned == {"programme": 1}
    assert none.started == 1 and none.abandoned == {"kind": 1}
    assert report.applications.most_abandoned_step == "phone"

    b = [(x.kind, x.total, x.delivered, x.blocked, x.failed) for x in report.broadcasts]
    assert b == [("message", 3, 2, 1, 0), ("reminder", 2, 1, 0, 1)]

    users = {(u.week.isoformat(), u.role, u.language): (u.new, u.active) for u in report.users}
    assert users == {
        ("2026-11-02", "student", "kk"): (2, 2),  # 1001 and 1004 joined and were active
        ("2026-11-02", "student", "ru"): (1, 1),
        ("2026-11-02", "student", "en"): (0, 1),  # 1003 joined in October
    }
    assert not report.is_empty


async def test_an_empty_period_is_empty(seeded: str) -> None:
    report = await report_for(seeded, Period(date(2025, 1, 1), date(2025, 1, 31)))
    assert report.is_empty
    assert report.questions.total == 0 and report.questions.containment is None
    assert report.helpdesk.total.first_reply_median is None


async def test_csv_and_json_hold_counts_and_no_personal_data(seeded: str) -> None:
    report = await report_for(seeded)
    rows = list(csv.DictReader(io.StringIO(to_csv(report))))
    cell = {(r["section"], r["bucket"], r["dimension"], r["metric"]): r["value"] for r in rows}
    assert cell[("questions_per_day", "2026-11-03", "ru", "questions")] == "2"
    assert cell[("top_clauses", "", "5.4.5", "questions")] == "3"
    assert cell[("helpdesk", "", "technical", "sla_breaches")] == "1"
    assert cell[("helpdesk", "", "all", "first_reply_median_working_minutes")] == "20"
    assert cell[("applications", "", "dl", "median_days_to_decision")] == "2"
    assert cell[("containment", "", "", "containment_rate")] == "0.6667"
    text = to_csv(report) + json.dumps(report.to_json(), ensure_ascii=False)
    for personal in ("Aigerim", "Ivan", "1001", "1002", "555", "DL-1"):
        assert personal not in text


async def test_cli_writes_csv_json_and_says_when_there_is_no_data(
    seeded: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bot.cli import main

    monkeypatch.setenv("DATABASE_URL", seeded)
    monkeypatch.setenv("TIMEZONE", "Asia/Atyrau")
    out = tmp_path / "week.json"
    args = ["stats", "--since", "2026-11-02", "--until", "08.11.2026", "-o", str(out)]
    assert await asyncio.to_thread(main, args) == 0
    data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    assert data["questions"]["total"] == 7 and data["period"]["since"] == "2026-11-02"
    assert data["applications"]["most_abandoned_step"] == "phone"
    capsys.readouterr()
    args = ["stats", "--since", "2026-11-02", "--until", "2026-11-08", "--format", "csv"]
    assert await asyncio.to_thread(main, args) == 0
    assert "questions_per_day,2026-11-03,ru,questions,2," in capsys.readouterr().out
    args = ["stats", "--since", "2025-01-01", "--until", "2025-01-31"]
    assert await asyncio.to_thread(main, args) == 0
    assert "no data" in capsys.readouterr().err
    assert (
        await asyncio.to_thread(main, ["stats", "--since", "2026-12-01", "--until", "2026-11-01"])
        == 2
    )


def test_helpers() -> None:
    assert percentile([], 0.5) is None
    assert percentile([5, 20, 40], 0.5) == 20
    assert percentile([1, 2, 3, 4], 0.9) == pytest.approx(3.7)
    assert anonymise("write to a.b@mail.kz or @aigerim_s, IIN 900101300126") == (
        "write to … or …, IIN …"
    )
    assert anonymise("Меня зовут Айгерим Садыкова, когда сессия?") == (
        "Меня зовут …, когда сессия?"
    )
    assert len(anonymise("x" * 500)) == 120


async def test_each_wizard_run_is_recorded(harness: Harness) -> None:
    from tests.test_applications import dl_until_summary

    h = harness
    await h.send("/apply", user=STUDENT)
    await h.click("ap:kind:dl", STUDENT)
    await h.send("/cancel", user=STUDENT)  # a global cancel: the run stays until it idles
    await dl_until_summary(h, STUDENT)
    await h.click("ap:submit:", STUDENT)
    await h.send("/apply", user=STUDENT)
    await h.click("ap:kind:online", STUDENT)
    async with h.ctx.sessionmaker() as session:
        runs = (await session.scalars(select(WizardRun).order_by(WizardRun.id))).all()
    assert [(r.kind, r.step, r.outcome) for r in runs] == [
        ("dl", "ground", "left"),  # closed when the next run began
        ("dl", "summary", "submitted"),
        ("online", runs[2].step, None),
    ]
    assert runs[2].step != "kind" and all(r.user_id == STUDENT.id for r in runs)


# --- charts and /stats ---------------------------------------------------------------------


def png_info(data: bytes) -> tuple[int, int, dict[str, str]]:
    """Width, height and text chunks of a PNG (raises on anything that is not one)."""
    import struct
    import zlib

    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, texts, size = 8, {}, (0, 0)
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        crc = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])[0]
        assert zlib.crc32(kind + body) == crc, "a damaged chunk"
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        elif kind == b"tEXt":
            key, _, value = body.partition(b"\0")
            texts[key.decode("latin-1")] = value.decode("latin-1")
        elif kind == b"iTXt":
            key, _, rest = body.partition(b"\0")
            value = rest[2:].split(b"\0", 2)[2]  # flags, language tag, translated keyword
            texts[key.decode("latin-1")] = value.decode("utf-8")
        pos += 12 + length
        if kind == b"IEND":
            break
    return size[0], size[1], texts


async def make_staff(h: Harness, user: Any) -> None:
    from bot.db.models import Role
    from bot.services.users import UserRepository

    async with h.ctx.sessionmaker() as session:
        await UserRepository(session).set_role(user.id, Role.STAFF)
        await session.commit()


async def test_staff_get_an_album_of_charts_with_a_summary(seeded: str) -> None:
    from aiogram.methods import SendMediaGroup

    from tests.harness import STAFF, STAFF_CHAT_ID

    h = await Harness.create(seeded)
    try:
        await make_staff(h, STAFF)
        calls = await h.send(
            "/stats 02.11.2026 08.11.2026",
            user=STAFF,
            chat_id=STAFF_CHAT_ID,
            chat_type="supergroup",
        )
        albums = [c for c in calls if isinstance(c, SendMediaGroup)]
        assert len(albums) == 1 and albums[0].chat_id == STAFF_CHAT_ID
        media = albums[0].media
        assert len(media) == 10  # every section has data in the seeded week
        caption = media[0].caption or ""
        # the staff member's language (ru), the numbers of the week
        assert "02.11.2026 – 08.11.2026" in caption
        assert "Вопросы: 7" in caption and "67 %" in caption
        assert "1 нарушений SLA" in caption or "SLA: 1" in caption or "SLA 1" in caption
        assert "«можно ли жить в общежитии? мой номер …» (2)" in caption
        assert all(m.caption is None for m in media[1:])
        titles = []
        for m in media:
            width, height, texts = png_info(m.media.data)
            assert (width, height) == (900, 500)
            assert 10_000 < len(m.media.data) < 400_000
            titles.append(texts["Title"])
        assert titles[0] == "Вопросы по дням, по языкам"
        assert "Где бросали заявки" in " ".join(titles)
        for personal in ("Aigerim", "1001", "555"):
            assert personal not in caption
    finally:
        await h.close()


async def test_others_get_nothing_and_an_empty_period_says_so(seeded: str) -> None:
    from aiogram.methods import SendMediaGroup, SendMessage, SendPhoto

    from tests.harness import STAFF, STAFF_CHAT_ID, STUDENT_EN

    h = await Harness.create(seeded)
    try:
        # a student in the staff chat: no answer at all
        calls = await h.send(
            "/stats", user=STUDENT_EN, chat_id=STAFF_CHAT_ID, chat_type="supergroup"
        )
        assert not [c for c in calls if isinstance(c, (SendMessage, SendMediaGroup, SendPhoto))]
        # a student in private: an unknown command, like any other
        calls = await h.send("/stats 02.11.2026 08.11.2026", user=STUDENT_EN)
        assert not [c for c in calls if isinstance(c, (SendMediaGroup, SendPhoto))]
        assert "don't know this command" in h.last_text(STUDENT_EN.id)
        # staff, in private, a period with nothing in it
        await make_staff(h, STAFF)
        calls = await h.send("/stats 01.01.2025 31.01.2025", user=STAFF)
        assert not [c for c in calls if isinstance(c, (SendMediaGroup, SendPhoto))]
        assert "Нет данных за 01.01.2025 – 31.01.2025" in h.last_text(STAFF.id)
        await h.send("/stats сегодня", user=STAFF)
        assert "/stats 7" in h.last_text(STAFF.id)
    finally:
        await h.close()


@pytest.mark.parametrize(
    "lang, title",
    [
        ("kk", "Сұрақтар күн сайын, тіл бойынша"),
        ("ru", "Вопросы по дням, по языкам"),
        ("en", "Questions per day, by language"),
    ],
)
async def test_charts_are_drawn_in_each_language(seeded: str, lang: str, title: str) -> None:
    from bot.i18n import make_i18n, use_locale
    from bot.views.stats_charts import draw_charts

    report = await report_for(seeded)
    with use_locale(make_i18n("kk"), lang):
        charts = draw_charts(report)  # a missing glyph would warn, and warnings fail tests
    assert charts[0].title == title and png_info(charts[0].png)[2]["Title"] == title
    assert len({c.key for c in charts}) == len(charts) == 10


async def test_a_period_with_one_section_sends_one_photo(database_url: str) -> None:
    from aiogram.methods import SendMediaGroup, SendPhoto

    from tests.harness import STAFF

    h = await Harness.create(database_url)
    try:
        await make_staff(h, STAFF)
        async with h.ctx.sessionmaker() as session:
            session.add(Broadcast(kind="message", text="x", total=0, created_at=local(2, 9)))
            await session.commit()
        calls = await h.send("/stats 02.11.2026 08.11.2026", user=STAFF)
        assert not [c for c in calls if isinstance(c, SendMediaGroup)]
        photo = [c for c in calls if isinstance(c, SendPhoto)]
        assert len(photo) == 1 and "Рассылки" in (photo[0].caption or "")
    finally:
        await h.close()


async def test_cli_writes_the_charts_as_a_zip(
    seeded: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import zipfile

    from bot.cli import main

    monkeypatch.setenv("DATABASE_URL", seeded)
    monkeypatch.setenv("DEFAULT_LANGUAGE", "en")
    target = tmp_path / "week.zip"
    args = ["stats", "--since", "2026-11-02", "--until", "2026-11-08", "-o", str(target)]
    assert await asyncio.to_thread(main, args) == 0
    with zipfile.ZipFile(target) as archive:
        names = archive.namelist()
        first = archive.read("questions_per_day.png")
    assert len(names) == 10 and all(n.endswith(".png") for n in names)
    assert png_info(first)[2]["Title"] == "Questions per day, by language"


async def test_the_local_chat_shows_an_album_as_its_photos(tmp_path: Path) -> None:
    from aiogram.types import BufferedInputFile, InputMediaPhoto

    from bot.factory import create_bot
    from bot.local_session import LocalSession
    from bot.localhub import LocalHub, Record
    from tests.harness import TEST_TOKEN

    shown: list[Record] = []
    session = LocalSession(hub=LocalHub(tmp_path / "hub"), on_record=shown.append)
    bot = create_bot(settings_for("sqlite://"), session=session, token=TEST_TOKEN)
    sent = await bot.send_media_group(
        -100,
        [
            InputMediaPhoto(media=BufferedInputFile(b"one", "a.png"), caption="summary"),
            InputMediaPhoto(media=BufferedInputFile(b"two", "b.png")),
        ],
        message_thread_id=7,
    )
    assert [bool(m.photo) for m in sent] == [True, True] and sent[0].caption == "summary"
    assert [(r.method, r.text, r.thread_id) for r in shown] == [
        ("sendPhoto", "summary", 7),
        ("sendPhoto", "", 7),
    ]
    saved = [await asyncio.to_thread(Path(r.file or "").read_bytes) for r in shown]
    assert saved == [b"one", b"two"]


async def test_weekly_digest_on_monday_morning_once_and_off(seeded: str) -> None:
    from aiogram.methods import SendMediaGroup

    from tests.harness import STAFF, STAFF_CHAT_ID, STUDENT_EN

    h = await Harness.create(seeded)
    digest = h.ctx.services.stats_digest
    try:
        # not staff: ignored, nothing stored
        await h.send(
            "/stats weekly on", user=STUDENT_EN, chat_id=STAFF_CHAT_ID, chat_type="supergroup"
        )
        async with h.ctx.sessionmaker() as session:
            assert await digest.subscription(session, STAFF_CHAT_ID) is None
        await make_staff(h, STAFF)
        await h.send("/stats weekly on", user=STAFF, chat_id=STAFF_CHAT_ID, chat_type="supergroup")
        assert "Еженедельная сводка включена" in h.last_text(STAFF_CHAT_ID)
        h.session.clear()
        # Sunday evening, Monday in quiet hours (07:30) and Monday afternoon: not yet / too late
        for moment in (local(8, 19), local(9, 7, 30), local(9, 13)):
            assert await digest.post_due(h.bot, now=moment) == []
        assert not h.session.requests
        # Monday 10:00 in Atyrau: last week's charts, in Russian, once
        assert await digest.post_due(h.bot, now=local(9, 10)) == [STAFF_CHAT_ID]
        album = h.last(SendMediaGroup, STAFF_CHAT_ID)
        caption = album.media[0].caption or ""
        assert "Еженедельная сводка" in caption and "02.11.2026 – 08.11.2026" in caption
        assert "Вопросы: 7" in caption
        assert await digest.post_due(h.bot, now=local(9, 10, 5)) == []
        # a week with nothing in it says so
        assert await digest.post_due(h.bot, now=local(23, 9)) == [STAFF_CHAT_ID]
        assert "Нет данных за 16.11.2026 – 22.11.2026" in h.last_text(STAFF_CHAT_ID)
        await h.send(
            "/stats weekly off", user=STAFF, chat_id=STAFF_CHAT_ID, chat_type="supergroup"
        )
        assert "выключена" in h.last_text(STAFF_CHAT_ID)
        assert await digest.post_due(h.bot, now=local(30, 9)) == []
    finally:
        await h.close()


async def test_the_web_chat_keeps_an_album_as_its_photos(database_url: str) -> None:
    from aiogram.types import BufferedInputFile, InputMediaPhoto

    from bot.db.models.web import WebMessage
    from bot.web.ids import WEB_ID_MIN
    from tests.web.support import web_harness

    h, _chat = await web_harness(database_url)
    try:
        web_user = WEB_ID_MIN + 13
        async with h.ctx.sessionmaker() as session:
            session.add(User(id=web_user, first_name="Web"))
            await session.commit()
        sent = await h.bot.send_media_group(
            web_user,
            [
                InputMediaPhoto(media=BufferedInputFile(b"\x89PNG one", "a.png"), caption="sum"),
                InputMediaPhoto(media=BufferedInputFile(b"\x89PNG two", "b.png")),
            ],
        )
        assert len(sent) == 2
        async with h.ctx.sessionmaker() as session:
            rows = (
                await session.scalars(
                    select(WebMessage)
                    .where(WebMessage.user_id == web_user)
                    .order_by(WebMessage.seq)
                )
            ).all()
        assert [(r.text, bool(r.file_token)) for r in rows] == [("sum", True), (None, True)]
    finally:
        await h.close()


async def test_days_follow_a_summer_time_change(database_url: str) -> None:
    """Europe/Berlin moves from UTC+1 to UTC+2 on 29 March 2026 at 01:00 UTC."""
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as s, s.begin():
            s.add(User(id=1, first_name="A", language="en"))
            await s.flush()
            for at in (
                datetime(2026, 3, 28, 22, 30, tzinfo=UTC),  # 23:30 on the 28th (UTC+1)
                datetime(2026, 3, 28, 23, 30, tzinfo=UTC),  # 00:30 on the 29th (UTC+1)
                datetime(2026, 3, 29, 22, 30, tzinfo=UTC),  # 00:30 on the 30th (UTC+2)
            ):
                s.add(
                    Question(
                        user_id=1,
                        text="q",
                        language="en",
                        kind="answer",
                        created_at=at,
                        clauses=[],
                        confidence=1.0,
                    )
                )
        service = StatsService(
            Settings(database_url=database_url, timezone="Europe/Berlin", _env_file=None)  # type: ignore[call-arg]
        )
        async with create_sessionmaker(engine)() as session:
            report = await service.report(session, Period(date(2026, 3, 23), date(2026, 4, 5)))
    finally:
        await engine.dispose()
    assert [(d.day.isoformat(), d.count) for d in report.questions.per_day] == [
        ("2026-03-28", 1),
        ("2026-03-29", 1),
        ("2026-03-30", 1),
    ]
    assert [(u.week.isoformat(), u.active) for u in report.users] == [
        ("2026-03-23", 1),
        ("2026-03-30", 1),
    ]
