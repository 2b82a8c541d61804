"""Broadcast delivery: segments, curator limits, pacing, 429, blocked users, crashes, cancel."""

from __future__ import annotations

import collections
from typing import Any

import pytest
from aiogram.exceptions import (
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import EditMessageText, SendMessage, SendPhoto
from sqlalchemy import func, select

from bot.db.models import User
from bot.db.models.broadcasts import Broadcast, BroadcastDelivery
from bot.services.broadcast import AudienceNotAllowed, counts, create_broadcast
from tests.harness import Harness
from tests.test_reminders_support import (
    FakeClock,
    budget_on,
    make_group,
    make_user,
    services,
)

CURATOR_A, CURATOR_B, STAFF_ID = 3001, 3002, 3003


async def _sender(harness: Harness, user_id: int) -> User:
    async with harness.ctx.sessionmaker() as session:
        user = await session.get(User, user_id)
        assert user is not None
        return user


async def _broadcast(
    harness: Harness, sender_id: int, audience: dict[str, Any], text: str = "Hi", **kw: Any
) -> int:
    async with harness.ctx.sessionmaker() as session, session.begin():
        sender = await session.get(User, sender_id)
        assert sender is not None
        b = await create_broadcast(session, sender=sender, text=text, audience=audience, **kw)
        return b.id


def _sent_to(harness: Harness) -> collections.Counter[int]:
    return collections.Counter(
        int(m.chat_id) for m in harness.session.requests if isinstance(m, (SendMessage, SendPhoto))
    )


@pytest.fixture
async def people(harness: Harness) -> Harness:
    await make_user(harness, CURATOR_A, role="curator", lang="ru")
    await make_user(harness, CURATOR_B, role="curator", lang="kk")
    await make_user(harness, STAFF_ID, role="staff", lang="en")
    g_a = await make_group(harness, CURATOR_A, "IT-21", "AAAA1111")
    g_b = await make_group(harness, CURATOR_B, "LAW-22", "BBBB2222")
    eng = {"faculty": "Engineering", "course_year": 2, "study_form": "online"}
    await make_user(harness, 5001, lang="kk", profile=eng, groups=(g_a,))
    await make_user(harness, 5002, lang="ru", profile={**eng, "course_year": 3}, groups=(g_a,))
    await make_user(harness, 5003, lang="en", profile={**eng, "faculty": "Law"}, groups=(g_b,))
    await make_user(harness, 5004, lang="ru", profile={**eng, "study_form": "distance"})
    await make_user(harness, 5005, lang="kk", profile=eng, active=False)
    await make_user(
        harness, 5006, lang="kk", profile={**eng, "remind_announcements": False}, groups=(g_a,)
    )
    return harness


async def test_staff_segment_selects_faculty_and_course(people: Harness) -> None:
    harness = people
    clock = FakeClock()
    broadcasts, _ = services(harness, clock)
    await _broadcast(harness, STAFF_ID, {"faculty": "engineering", "course_year": 2})
    await broadcasts.drain(harness.bot)
    # 5002 is in course 3, 5003 in Law, 5005 inactive, 5006 switched announcements off;
    # 5004 matches (distance, course 2).
    assert set(_sent_to(harness)) == {5001, 5004}

    harness.session.clear()
    await _broadcast(harness, STAFF_ID, {"study_form": "online", "language": "ru"})
    await broadcasts.drain(harness.bot)
    assert set(_sent_to(harness)) == {5002}


async def test_curator_reaches_only_their_groups(people: Harness) -> None:
    harness = people
    async with harness.ctx.sessionmaker() as session:
        groups_b = list(await session.scalars(select(func.min(Broadcast.id))))  # warm session
        del groups_b
    from bot.services.broadcast import curator_group_ids

    async with harness.ctx.sessionmaker() as session:
        own_b = await curator_group_ids(session, CURATOR_B)
    with pytest.raises(AudienceNotAllowed):
        await _broadcast(harness, CURATOR_A, {"groups": own_b})
    with pytest.raises(AudienceNotAllowed):  # a segment instead of groups
        await _broadcast(harness, CURATOR_A, {"faculty": "Law"})
    async with harness.ctx.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Broadcast)) == 0

    async with harness.ctx.sessionmaker() as session:
        own_a = await curator_group_ids(session, CURATOR_A)
    clock = FakeClock()
    broadcasts, _ = services(harness, clock)
    await _broadcast(harness, CURATOR_A, {"groups": own_a}, text="<b>Group meeting</b>")
    await broadcasts.drain(harness.bot)
    assert set(_sent_to(harness)) == {5001, 5002}
    assert harness.last_text(5001) == "<b>Group meeting</b>"


async def test_pacing_stays_under_the_overall_rate(harness: Harness) -> None:
    for i in range(60):
        await make_user(harness, 6000 + i, lang="kk")
    await make_user(harness, STAFF_ID, role="staff")
    clock = FakeClock()
    budget = budget_on(harness, clock)
    broadcasts, _ = services(harness, clock, concurrency=4)
    times: list[float] = []
    harness.session.on_request = lambda m, _r: (
        times.append(clock.mono) if isinstance(m, SendMessage) else None
    )
    await _broadcast(harness, STAFF_ID, {})
    await _broadcast(harness, STAFF_ID, {}, text="second")
    await broadcasts.drain(harness.bot)
    assert len(times) == 120
    limits = budget.limits
    # Never more than the bot's budget (30) in any window of 1.1 s ...
    for i, t in enumerate(times):
        assert sum(1 for u in times[i:] if u < t + limits.window - 1e-6) <= limits.rate
    # ... and not slower than needed: all but one slot a window (kept for replies).
    per_second = (limits.rate - limits.base_reserve) / limits.window
    assert times[-1] - times[0] < 120 / per_second + 0.5


async def test_one_message_a_second_per_chat(harness: Harness) -> None:
    for i in range(3):
        await make_user(harness, 6100 + i)
    await make_user(harness, STAFF_ID, role="staff")
    clock = FakeClock()
    budget_on(harness, clock)
    broadcasts, _ = services(harness, clock, concurrency=4)
    times: list[tuple[float, int]] = []
    harness.session.on_request = lambda m, _r: (
        times.append((clock.mono, int(m.chat_id))) if isinstance(m, SendMessage) else None
    )
    await _broadcast(harness, STAFF_ID, {})
    await _broadcast(harness, STAFF_ID, {}, text="second")
    await broadcasts.drain(harness.bot)
    per_chat: dict[int, list[float]] = collections.defaultdict(list)
    for t, chat in times:
        per_chat[chat].append(t)
    assert len(per_chat) == 3
    for chat, ts in per_chat.items():
        assert len(ts) == 2 and ts[1] - ts[0] >= 1.0, chat


async def test_retry_after_pauses_the_whole_broadcast(harness: Harness) -> None:
    for i in range(10):
        await make_user(harness, 7000 + i)
    await make_user(harness, STAFF_ID, role="staff")
    clock = FakeClock()
    broadcasts, _ = services(harness, clock, concurrency=1)
    times: list[float] = []
    harness.session.on_request = lambda m, _r: (
        times.append(clock.mono) if isinstance(m, SendMessage) else None
    )
    harness.session.fail_next(
        "sendMessage",
        TelegramRetryAfter(
            method=SendMessage(chat_id=1, text="x"), message="Too Many Requests", retry_after=7
        ),
    )
    bid = await _broadcast(harness, STAFF_ID, {})
    await broadcasts.drain(harness.bot)
    assert broadcasts.stats.retry_after == 1
    assert times[1] - times[0] >= 7.0  # nobody was sent to during the pause
    assert len(times) == 11  # the refused attempt, then each of the ten once
    async with harness.ctx.sessionmaker() as session:
        assert (await counts(session, bid)) == {"sent": 10}


async def test_blocked_user_is_marked_inactive(harness: Harness) -> None:
    await make_user(harness, 7100)
    await make_user(harness, 7101)
    await make_user(harness, STAFF_ID, role="staff")
    clock = FakeClock()
    broadcasts, _ = services(harness, clock, concurrency=1)
    harness.session.fail_next(
        "sendMessage",
        TelegramForbiddenError(
            method=SendMessage(chat_id=7100, text="x"),
            message="Forbidden: bot was blocked by the user",
        ),
    )
    bid = await _broadcast(harness, STAFF_ID, {})
    await broadcasts.drain(harness.bot)
    async with harness.ctx.sessionmaker() as session:
        assert await counts(session, bid) == {"blocked": 1, "sent": 1}
        blocked = await session.scalar(
            select(BroadcastDelivery.user_id).where(BroadcastDelivery.status == "blocked")
        )
        user = await session.get(User, blocked)
        assert user is not None and user.is_active is False


async def test_other_errors_retry_with_backoff_then_fail(harness: Harness) -> None:
    await make_user(harness, 7200)
    await make_user(harness, STAFF_ID, role="staff")
    clock = FakeClock()
    broadcasts, _ = services(harness, clock, concurrency=1, max_attempts=3)
    error = TelegramServerError(method=SendMessage(chat_id=7200, text="x"), message="Bad Gateway")
    harness.session.fail_next("sendMessage", error)
    harness.session.fail_next("sendMessage", error)
    bid = await _broadcast(harness, STAFF_ID, {})
    await broadcasts.drain(harness.bot)
    async with harness.ctx.sessionmaker() as session:
        assert await counts(session, bid) == {"sent": 1}  # third attempt succeeded
    for _ in range(3):
        harness.session.fail_next("sendMessage", error)
    bid = await _broadcast(harness, STAFF_ID, {}, text="again")
    await broadcasts.drain(harness.bot)
    async with harness.ctx.sessionmaker() as session:
        assert await counts(session, bid) == {"failed": 1}
        row = await session.scalar(
            select(BroadcastDelivery).where(BroadcastDelivery.broadcast_id == bid)
        )
        assert row is not None and row.attempts == 3


class Crash(Exception):
    """Stands for the process dying in the middle of a Bot API call."""


async def test_crash_resumes_without_duplicates_or_skips(harness: Harness) -> None:
    for i in range(30):
        await make_user(harness, 8000 + i)
    await make_user(harness, STAFF_ID, role="staff")
    clock = FakeClock()
    # One worker: the crash hits one call in flight (a real crash releases the database locks
    # of every worker at once; cancelling sibling workers mid-transaction would not).
    first, _ = services(harness, clock, concurrency=1)
    bid = await _broadcast(harness, STAFF_ID, {})
    sent = 0

    def crash_after_ten(method: Any, _result: Any) -> None:
        nonlocal sent
        if isinstance(method, SendMessage):
            sent += 1
            if sent == 10:
                raise Crash()

    harness.session.on_request = crash_after_ten
    with pytest.raises(ExceptionGroup):
        await first.deliver(harness.bot)
    harness.session.on_request = None

    # "Restart": a fresh service; the lease of the rows in flight expires first.
    clock.advance(600)
    second, _ = services(harness, clock)
    await second.drain(harness.bot)
    async with harness.ctx.sessionmaker() as session:
        c = await counts(session, bid)
        b = await session.get(Broadcast, bid)
        assert b is not None and b.status == "done"
    received = _sent_to(harness)
    assert max(received.values()) == 1, "somebody got it twice"
    # At most once: rows in flight at the crash are 'unknown', never re-sent; nothing else lost.
    assert c.get("sent", 0) + c.get("unknown", 0) == 30
    assert c.get("unknown", 0) == 1
    assert c["sent"] == 29 and len(received) == 30  # the unknown one did reach the server


async def test_cancel_midway_and_final_report(harness: Harness) -> None:
    for i in range(20):
        await make_user(harness, 8100 + i)
    await make_user(harness, STAFF_ID, role="staff", lang="en")
    clock = FakeClock()
    broadcasts, _ = services(harness, clock, concurrency=1)
    async with harness.ctx.sessionmaker() as session, session.begin():
        sender = await session.get(User, STAFF_ID)
        assert sender is not None
        b = await create_broadcast(session, sender=sender, text="x", audience={})
        b.progress_chat_id, b.progress_message_id = STAFF_ID, 77
        bid = b.id
    sent = 0

    async def cancel_after_five() -> None:
        async with harness.ctx.sessionmaker() as session, session.begin():
            await broadcasts.cancel(session, bid)

    cancel_requested = []

    def hook(method: Any, _result: Any) -> None:
        nonlocal sent
        if isinstance(method, SendMessage) and method.chat_id != STAFF_ID:
            sent += 1
            if sent == 5:
                cancel_requested.append(True)

    harness.session.on_request = hook
    # Deliver in small steps so the cancel lands between sends.
    while not cancel_requested:
        claimed = await broadcasts._claim()
        assert claimed is not None
        await broadcasts._deliver_one(harness.bot, *claimed)
    await cancel_after_five()
    await broadcasts.drain(harness.bot)
    async with harness.ctx.sessionmaker() as session:
        c = await counts(session, bid)
    assert c == {"sent": 5, "cancelled": 15}
    assert len([m for m in _sent_to(harness) if m != STAFF_ID]) == 5


async def test_progress_message_and_report(harness: Harness) -> None:
    for i in range(5):
        await make_user(harness, 8200 + i)
    await make_user(harness, STAFF_ID, role="staff", lang="en")
    clock = FakeClock()
    broadcasts, _ = services(harness, clock, progress_interval=0.0)
    async with harness.ctx.sessionmaker() as session, session.begin():
        sender = await session.get(User, STAFF_ID)
        assert sender is not None
        b = await create_broadcast(session, sender=sender, text="x", audience={})
        b.progress_chat_id, b.progress_message_id = STAFF_ID, 77
    await broadcasts.drain(harness.bot)
    edits = [m for m in harness.session.requests if isinstance(m, EditMessageText)]
    final = edits[-1].text if edits else ""
    assert final and "Sent: 5 of 5" in final and "finished" in final and "blocked" in final


async def test_scheduled_broadcast_waits_for_its_time_and_takes_the_audience_then(
    harness: Harness,
) -> None:
    from datetime import timedelta

    await make_user(harness, 8300)
    await make_user(harness, STAFF_ID, role="staff")
    clock = FakeClock()
    broadcasts, _ = services(harness, clock)
    bid = await _broadcast(
        harness, STAFF_ID, {}, text="later", scheduled_at=clock.now() + timedelta(hours=2)
    )
    await broadcasts.step(harness.bot)
    assert _sent_to(harness) == {}
    await make_user(harness, 8301)  # joins before the time comes: included
    clock.advance(2 * 3600 + 1)
    await broadcasts.drain(harness.bot)
    assert set(_sent_to(harness)) == {8300, 8301}
    async with harness.ctx.sessionmaker() as session:
        assert await counts(session, bid) == {"sent": 2}


async def test_two_senders_never_share_a_broadcast_nor_send_twice(harness: Harness) -> None:
    import asyncio

    for i in range(40):
        await make_user(harness, 8400 + i)
    await make_user(harness, STAFF_ID, role="staff")
    clock = FakeClock()
    (first, _), (second, _) = services(harness, clock), services(harness, clock)
    one = await _broadcast(harness, STAFF_ID, {})
    two = await _broadcast(harness, STAFF_ID, {}, text="second")
    await asyncio.gather(first.drain(harness.bot), second.drain(harness.bot))
    received = _sent_to(harness)
    assert set(received) == {8400 + i for i in range(40)} and max(received.values()) == 2
    # One sender per broadcast (its lease): a process sent whole broadcasts or nothing.
    assert first.stats.sent + second.stats.sent == 80
    assert {first.stats.sent, second.stats.sent} <= {0, 40, 80}
    async with harness.ctx.sessionmaker() as session:
        assert await counts(session, one) == {"sent": 40}
        assert await counts(session, two) == {"sent": 40}


async def test_only_the_lease_holder_sends_and_edits_progress_until_it_dies(
    harness: Harness,
) -> None:
    for i in range(10):
        await make_user(harness, 8600 + i)
    await make_user(harness, STAFF_ID, role="staff", lang="en")
    clock = FakeClock()
    (first, _), (second, _) = services(harness, clock), services(harness, clock)
    async with harness.ctx.sessionmaker() as session, session.begin():
        sender = await session.get(User, STAFF_ID)
        assert sender is not None
        b = await create_broadcast(session, sender=sender, text="x", audience={})
        b.progress_chat_id, b.progress_message_id = STAFF_ID, 77
        bid = b.id
    assert await first.hold_leases() == {bid}
    assert await second.hold_leases() == set()
    assert await second.deliver(harness.bot) == 0  # not its broadcast: nothing claimed
    await second.report_progress(harness.bot)
    assert not harness.session.of(EditMessageText)  # and no progress edits from it
    claimed = await first._claim()  # the holder sends one, then "dies"
    assert claimed is not None
    await first._deliver_one(harness.bot, *claimed)
    clock.advance(first.sender_lease.total_seconds() + 1)
    await second.drain(harness.bot)  # the lease expired: the other process takes over
    received = {chat: n for chat, n in _sent_to(harness).items() if chat != STAFF_ID}
    assert set(received) == {8600 + i for i in range(10)} and max(received.values()) == 1
    assert first.stats.sent == 1 and second.stats.sent == 9
    async with harness.ctx.sessionmaker() as session:
        assert await counts(session, bid) == {"sent": 10}
    sent_counts = [
        int(text.split("Sent: ")[1].split(" ")[0])
        for text in (m.text for m in harness.session.of(EditMessageText))
    ]
    assert sent_counts == sorted(sent_counts)  # the counts shown never go backwards


async def test_rows_are_claimed_and_marked_in_batches(harness: Harness) -> None:
    """One database round trip claims a batch of rows, one marks a batch sent: a round trip per
    row each way cost the workers as much time as the budget's pace on a busy machine."""
    for i in range(40):
        await make_user(harness, 8700 + i)
    await make_user(harness, STAFF_ID, role="staff", lang="en")
    clock = FakeClock()
    budget_on(harness, clock)
    broadcasts, _ = services(harness, clock, concurrency=4, claim_batch=8)
    claims: list[int] = []
    flushes: list[int] = []
    claim_rows, flush_sent = broadcasts._claim_rows, broadcasts._flush_sent

    async def counted_claim(limit: int) -> Any:
        rows = await claim_rows(limit)
        claims.append(len(rows))
        return rows

    async def counted_flush() -> None:
        if broadcasts._sent:
            flushes.append(len(broadcasts._sent))
        await flush_sent()

    broadcasts._claim_rows = counted_claim  # type: ignore[method-assign]
    broadcasts._flush_sent = counted_flush  # type: ignore[method-assign]
    bid = await _broadcast(harness, STAFF_ID, {})
    await broadcasts.drain(harness.bot)
    assert sorted(_sent_to(harness).items()) == [(8700 + i, 1) for i in range(40)]
    assert sum(claims) == 40 and len([n for n in claims if n]) == 5  # 5 batches of 8
    assert sum(flushes) == 40 and len(flushes) <= 40 // 8 + 1
    async with harness.ctx.sessionmaker() as session:
        assert await counts(session, bid) == {"sent": 40}
        stamps = list(
            await session.scalars(
                select(BroadcastDelivery.sent_at).where(BroadcastDelivery.broadcast_id == bid)
            )
        )
    assert all(at is not None and at.tzinfo is not None for at in stamps)
    assert broadcasts.stats.sent == 40


async def test_rows_claimed_but_not_sent_at_shutdown_go_back_to_the_queue(
    harness: Harness,
) -> None:
    for i in range(20):
        await make_user(harness, 8800 + i)
    await make_user(harness, STAFF_ID, role="staff", lang="en")
    clock = FakeClock()
    broadcasts, _ = services(harness, clock, concurrency=1, claim_batch=10)

    def stop_after_three(method: Any, _result: Any) -> None:
        if isinstance(method, SendMessage) and len(_sent_to(harness)) == 3:
            broadcasts.request_stop()

    harness.session.on_request = stop_after_three
    bid = await _broadcast(harness, STAFF_ID, {})
    await broadcasts.hold_leases()
    assert await broadcasts.deliver(harness.bot) == 3
    async with harness.ctx.sessionmaker() as session:
        # The other seven of the batch were not sent: pending again, their attempt not spent.
        assert await counts(session, bid) == {"sent": 3, "pending": 17}
        attempts = set(
            await session.scalars(
                select(BroadcastDelivery.attempts).where(
                    BroadcastDelivery.broadcast_id == bid, BroadcastDelivery.status == "pending"
                )
            )
        )
    assert attempts == {0}
    broadcasts.stopping.clear()
    await broadcasts.drain(harness.bot)
    assert sorted(_sent_to(harness).items()) == [(8800 + i, 1) for i in range(20)]
