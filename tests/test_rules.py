"""A student browses Regulation No. 066 with /rules: sections → clauses → text, and back."""

from __future__ import annotations

from aiogram.methods import EditMessageText, SendMessage

from tests.harness import STUDENT, STUDENT_EN, STUDENT_RU, Harness


def edited(calls: list[object]) -> EditMessageText:
    [edit] = [c for c in calls if isinstance(c, EditMessageText)]
    return edit


async def test_rules_lists_sections_and_browses_down_to_a_clause_and_back(
    harness: Harness,
) -> None:
    await harness.send("/rules", user=STUDENT_EN)
    assert "Regulation No. 066" in harness.last_text(STUDENT_EN.id)
    labels = harness.buttons(STUDENT_EN.id)
    assert labels[0] == "1. General provisions"
    assert len(labels) == 8 and labels[-1].startswith("Appendix 1")

    section = edited(await harness.click_button("5. Procedure", user=STUDENT_EN))
    assert "Choose a clause" in section.text
    assert [b.split(" ·")[0] for b in harness.buttons(STUDENT_EN.id)] == [
        "clause 5.1",
        "clause 5.2",
        "clause 5.3",
        "clause 5.4",
        "⬅️ Sections",
    ]

    parent = edited(await harness.click_button("clause 5.4 ·", user=STUDENT_EN))
    assert "Regulation No. 066, clause 5.4" in parent.text
    assert len([b for b in harness.buttons(STUDENT_EN.id) if b.startswith("clause 5.4.")]) == 16

    clause = edited(await harness.click_button("clause 5.4.5 ·", user=STUDENT_EN))
    assert "twenty per cent" in clause.text or "20" in clause.text
    assert "Regulation No. 066, clause 5.4.5" in clause.text
    assert "Unofficial translation" in clause.text

    back = edited(await harness.click_button("⬅️ Back to clause 5.4", user=STUDENT_EN))
    assert "Regulation No. 066, clause 5.4" in back.text
    up = edited(await harness.click_button("⬅️ Back to the section", user=STUDENT_EN))
    assert "Choose a clause" in up.text
    root = edited(await harness.click_button("⬅️ Sections", user=STUDENT_EN))
    assert "Choose a section" in root.text


async def test_long_section_is_paged(harness: Harness) -> None:
    await harness.send("/rules", user=STUDENT_RU)
    page1 = edited(await harness.click_button("6. Порядок", user=STUDENT_RU))
    assert "Страница 1 из 2" in page1.text
    assert "п. 6.10 · " in " ".join(harness.buttons(STUDENT_RU.id))
    page2 = edited(await harness.click_button("▶️", user=STUDENT_RU))
    assert "Страница 2 из 2" in page2.text
    labels = harness.buttons(STUDENT_RU.id)
    assert any(b.startswith("п. 6.19 · ") for b in labels)
    clause = edited(await harness.click_button("п. 6.19 ·", user=STUDENT_RU))
    assert "Положение № 066, п. 6.19" in clause.text
    back = edited(await harness.click_button("⬅️ Назад к разделу", user=STUDENT_RU))
    assert "Страница 2 из 2" in back.text  # back to the page the clause is on


async def test_rules_in_kazakh_and_from_the_menu_button(harness: Harness) -> None:
    await harness.send("📚 Ереже", user=STUDENT)
    text = harness.last_text(STUDENT.id)
    assert "№ 066 Ереже" in text
    assert harness.buttons(STUDENT.id)[0] == "1. Жалпы ережелер"
    clause = edited(await harness.click_button("7. ", user=STUDENT))
    assert "Тармақты таңдаңыз" in clause.text


async def test_rules_with_a_clause_number_jumps_to_it(harness: Harness) -> None:
    await harness.send("/rules 5.4.5", user=STUDENT_RU)
    text = harness.last_text(STUDENT_RU.id)
    assert "Положение № 066, п. 5.4.5" in text
    assert "двадцати процентов" in text
    assert "⬅️ Назад к п. 5.4" in harness.buttons(STUDENT_RU.id)
    await harness.send("/rules 1-қосымша", user=STUDENT)
    assert "1-қосымша" in harness.last_text(STUDENT.id)


async def test_rules_with_a_section_number_lists_its_clauses(harness: Harness) -> None:
    await harness.send("/rules 3", user=STUDENT_EN)
    assert "3. Terms and definitions" in harness.last_text(STUDENT_EN.id)
    assert len([b for b in harness.buttons(STUDENT_EN.id) if b.startswith("clause 3.")]) == 10


async def test_rules_with_a_wrong_number_names_the_nearest_clauses(harness: Harness) -> None:
    calls = await harness.send("/rules 9.9", user=STUDENT_EN)
    [reply] = [c for c in calls if isinstance(c, SendMessage)]
    assert "There is no clause «9.9» in Regulation No. 066." in reply.text
    assert "The nearest ones: clause " in reply.text
    labels = harness.buttons(STUDENT_EN.id)
    assert len(labels) == 4 and labels[-1] == "📚 Sections"
    opened = edited(await harness.click_button(labels[0].split(" ·")[0], user=STUDENT_EN))
    assert "Regulation No. 066, clause" in opened.text

    await harness.send("/rules 5.4.20", user=STUDENT_RU)
    text = harness.last_text(STUDENT_RU.id)
    assert "нет пункта «5.4.20»" in text and "Ближайшие: п. 5.4.16, п. 5.4.15, п. 5.4." in text


async def test_rules_with_garbage_is_answered_not_crashed(harness: Harness) -> None:
    await harness.send("/rules <b>%%%</b>", user=STUDENT)
    text = harness.last_text(STUDENT.id)
    assert "№ 066 Ережеде «&lt;b&gt;%%%&lt;/b&gt;» тармағы жоқ." in text
    assert "Төменнен бөлімді таңдаңыз." in text
    assert harness.buttons(STUDENT.id) == ["📚 Бөлімдер"]


async def test_stale_rules_button_is_answered(harness: Harness) -> None:
    await harness.click("rules:c:9.9:0", user=STUDENT_EN)
    assert harness.alerts()[-1] == "This button is no longer active."
