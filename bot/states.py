"""FSM states that more than one router reads or sets.

A state's stored name is its group's class name and its own (``"ApplyForm:phone"``), so they
stay the same wherever the group is defined."""

from __future__ import annotations

from aiogram.fsm.state import State, StatesGroup


class HelpdeskForm(StatesGroup):
    """Opening a helpdesk request: its topic, then the question (the application wizard's
    «Ask a person» starts at the question)."""

    topic = State()
    question = State()


class ApplyForm(StatesGroup):
    """The application wizard: the state is the step being asked (``bot/services/
    application_steps.py`` orders them), then the summary and the choice of a field to edit."""

    kind = State()
    ground = State()
    role = State()
    applicant_name = State()
    full_name = State()
    identifier = State()
    programme = State()
    course = State()
    start = State()
    end = State()
    phone = State()
    document = State()
    consent_technical = State()
    consent_personal_data = State()
    consent_user_agreement = State()
    summary = State()
    edit = State()
