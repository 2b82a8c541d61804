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
