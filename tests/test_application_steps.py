"""The application wizard's step graph (``bot/services/application_steps.py``), without a bot."""

from __future__ import annotations

from bot.services import application_steps as steps


def test_the_student_applying_is_not_asked_for_an_applicants_name() -> None:
    assert "applicant_name" not in steps.steps_for({"kind": "dl", "role": "student"})
    assert "applicant_name" in steps.steps_for({"kind": "dl", "role": "parent"})
    assert steps.steps_for({"kind": "online"})[0] == "programme"


def test_each_answer_leads_to_the_next_step_then_the_summary() -> None:
    draft: dict[str, object] = {"kind": "dl", "done": []}
    seen = []
    step = steps.steps_for(draft)[0]
    while step != steps.SUMMARY:
        seen.append(step)
        draft = steps.record(draft, step, {step: "x"} if step != "role" else {"role": "student"})
        step = steps.next_after(draft, step)
    assert seen == steps.steps_for(draft)
    assert steps.missing(draft) == []


def test_back_walks_the_steps_backwards_to_the_choice_of_kind() -> None:
    draft = {"kind": "online"}
    assert steps.back_from(draft, steps.EDIT) == steps.SUMMARY
    assert steps.back_from(draft, steps.SUMMARY) == "consent_user_agreement"
    assert steps.back_from(draft, "full_name") == "programme"
    assert steps.back_from(draft, "programme") == steps.KIND
    assert steps.back_from(draft, steps.KIND) == steps.KIND


def test_editing_a_field_asks_again_only_what_it_invalidates() -> None:
    order = steps.steps_for({"kind": "dl", "role": "student"})
    draft = {"kind": "dl", "role": "student", "done": list(order)}
    assert steps.reopen(draft, "consent_technical") is None  # not a step of this kind
    draft = steps.reopen(draft, "start")
    assert draft is not None and draft["editing"]
    assert steps.missing(draft) == ["start"]
    draft = steps.record(draft, "start", {"start": "2027-02-01"})
    assert steps.missing(draft) == ["end"]  # the end may now be before the start
    assert steps.next_after(draft, "start") == "end"
    draft = steps.record(draft, "end", {"end": "2027-05-01"})
    assert steps.next_after(draft, "end") == steps.SUMMARY


def test_state_names_map_to_steps() -> None:
    assert steps.step_of("ApplyForm:phone") == "phone"
    assert steps.step_of("ApplyForm:summary") == steps.SUMMARY
    assert steps.step_of("HelpdeskForm:question") is None
    assert steps.step_of(None) is None
