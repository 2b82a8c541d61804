"""Issue 13: the /apply wizard's runs, for the funnel (started → submitted) and "abandoned at".

:class:`bot.middlewares.WizardRunMiddleware` calls :func:`track` after each update the
applications router handled, with the wizard's state before and after it. One row per run:
entering the wizard starts one, each step moves it, leaving ends it — ``submitted`` when an
application of the user was stored since the run began, ``left`` otherwise. A run that is never
left (the student just went away) counts as abandoned once idle for a day (see the stats
service). No answer is stored here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.base import utcnow
from bot.db.models.applications import Application
from bot.db.models.stats import RunOutcome, WizardRun


def step_name(state: str | None, group: str) -> str | None:
    """``"ApplyForm:phone"`` -> ``"phone"`` for states of ``group``; None for any other."""
    if state is None or not state.startswith(group + ":"):
        return None
    return state.split(":", 1)[1]


async def _open_run(session: AsyncSession, user_id: int, wizard: str) -> WizardRun | None:
    return await session.scalar(
        select(WizardRun)
        .where(
            WizardRun.user_id == user_id,
            WizardRun.wizard == wizard,
            WizardRun.ended_at.is_(None),
        )
        .order_by(WizardRun.id.desc())
        .limit(1)
    )


async def track(
    session: AsyncSession,
    *,
    user_id: int,
    wizard: str,
    before: str | None,
    after: str | None,
    kind: str | None,
    now: datetime | None = None,
) -> WizardRun | None:
    """Record the move from step ``before`` to step ``after`` (None: outside the wizard)."""
    if before is None and after is None:
        return None
    now = now or utcnow()
    run = await _open_run(session, user_id, wizard)
    if after is not None:
        if before is None or run is None:
            if run is not None:  # an old run never left: it was abandoned where it stood
                run.outcome, run.ended_at = RunOutcome.LEFT, run.updated_at
            run = WizardRun(user_id=user_id, wizard=wizard, step=after, started_at=now)
            session.add(run)
        run.step = after
        run.kind = kind or run.kind
        run.updated_at = now
        await session.flush()
        return run
    if run is None:
        return None
    submitted = await session.scalar(
        select(Application.id)
        .where(Application.user_id == user_id, Application.created_at >= run.started_at)
        .limit(1)
    )
    run.outcome = RunOutcome.SUBMITTED if submitted is not None else RunOutcome.LEFT
    run.ended_at = run.updated_at = now
    await session.flush()
    return run
