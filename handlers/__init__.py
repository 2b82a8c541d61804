"""Routers in the order they are tried: commands and wizards first, the catch-all last."""

from __future__ import annotations

from aiogram import Router


def get_routers() -> list[Router]:
    """Fresh routers each call (a router can be attached to one dispatcher only)."""
    from handlers import common, errors, fallback, helpdesk, helpdesk_staff

    routers = [errors.create_router(), common.create_router()]
    # 2a. a staff member writing an application decision's comment (before the helpdesk relay,
    # which takes every staff-chat message)
    from handlers import applications, personal_data

    routers.append(applications.create_staff_router())
    # 2b. issue 12: /unanswered (staff typing an answer, before the relay) and /offices
    from handlers import offices, unanswered

    routers += [unanswered.create_router(), offices.create_router()]
    # 2c. issue 13: /stats (staff; before the relay, which takes every staff-chat message)
    from handlers import stats

    routers.append(stats.create_router())
    # 1. helpdesk relay (an open ticket takes the student's messages before anything else)
    routers += [helpdesk.create_router(), helpdesk_staff.create_router()]
    # 2. applications wizard and staff decisions
    routers += [applications.create_router(), personal_data.create_router()]
    # 3. reminders, calendar, curator groups and broadcasts
    from handlers import broadcast, groups, reminders

    routers += [broadcast.create_router(), groups.create_router(), reminders.create_router()]
    # 4. knowledge: /rules browsing, then free-text questions (the last real handler)
    from handlers import questions, rules

    routers += [rules.create_router(), questions.create_router()]
    routers.append(fallback.create_router())
    return routers
