"""What an applicant types, checked: names, IIN, student ID, course, dates, phone, uploads."""

from __future__ import annotations

from datetime import date

import pytest

from bot.services import validators as v

TODAY = date(2026, 11, 28)


def make_iin(first11: str) -> str:
    check = v.iin_check_digit(first11)
    assert check is not None
    return first11 + str(check)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Сәрсенбаев Нұрлан Қайратұлы", "Сәрсенбаев Нұрлан Қайратұлы"),
        ("  иванов   иван ", "Иванов Иван"),
        ("Smith John", "Smith John"),
        ("O'Neil Mary-Jane", "O'Neil Mary-Jane"),
        ("Abaı Qunanbaıuly", "Abaı Qunanbaıuly"),
    ],
)
def test_names_in_kazakh_russian_and_latin_letters(raw: str, expected: str) -> None:
    assert v.full_name(raw) == expected


@pytest.mark.parametrize(
    "raw, code",
    [
        ("", "name_empty"),
        ("Иван", "name_words"),
        ("Ivan P", "name_words"),
        ("Ivan Petrov2", "name_letters"),
        ("Иван <b>Петров</b>", "name_letters"),
        ("Αλέξανδρος Παπαδόπουλος", "name_letters"),
        ("А" * 121 + " Б", "name_too_long"),
    ],
)
def test_bad_names_are_refused_with_a_reason(raw: str, code: str) -> None:
    with pytest.raises(v.Invalid) as err:
        v.full_name(raw)
    assert err.value.code == code


def test_iin_check_digit_including_the_second_weight_pass() -> None:
    assert v.is_valid_iin("900101300126")
    assert not v.is_valid_iin("900101300127")
    # Find an 11-digit prefix whose first pass gives 10, so the second weights decide.
    for n in range(1000):
        prefix = f"0001013{n:04d}"
        digits = [int(c) for c in prefix]
        if sum(d * w for d, w in zip(digits, range(1, 12), strict=True)) % 11 == 10:
            check = v.iin_check_digit(prefix)
            if check is not None:
                assert v.is_valid_iin(prefix + str(check))
                break
    else:  # pragma: no cover
        pytest.fail("no prefix needing the second pass")


def test_iin_with_impossible_birth_date_is_refused() -> None:
    assert not v.is_valid_iin(make_iin("90130130012"))  # month 13
    assert not v.is_valid_iin(make_iin("90010190012"))  # century digit 9


def test_identifier_iin_or_student_id() -> None:
    assert v.student_identifier("900101 300126") == v.Identifier("iin", "900101300126")
    assert v.student_identifier("s2024-0153") == v.Identifier("student_id", "S20240153")
    assert v.student_identifier("20240153") == v.Identifier("student_id", "20240153")
    for raw, code in [
        ("900101300127", "iin_checksum"),
        ("90010130012345", "iin_length"),
        ("abc", "id_format"),
        ("", "id_empty"),
        ("ABCDEF", "id_format"),
    ]:
        with pytest.raises(v.Invalid) as err:
            v.student_identifier(raw)
        assert err.value.code == code, raw


def test_course_year_depends_on_level() -> None:
    assert v.course_year("4", "bachelor") == 4
    assert v.course_year("2", "master") == 2
    with pytest.raises(v.Invalid) as err:
        v.course_year("3", "master")
    assert err.value.code == "course_range"
    with pytest.raises(v.Invalid) as err:
        v.course_year("second", "bachelor")
    assert err.value.code == "course_number"


def test_period_dates() -> None:
    start = v.start_date("01.02.2027", TODAY)
    assert start == date(2027, 2, 1)
    assert v.start_date("28.11.2026", TODAY) == TODAY
    assert v.end_date("30.06.2027", start) == date(2027, 6, 30)
    cases = [
        (lambda: v.start_date("2027-02-01", TODAY), "date_format"),
        (lambda: v.start_date("31.02.2027", TODAY), "date_invalid"),
        (lambda: v.start_date("27.11.2026", TODAY), "date_past"),
        (lambda: v.start_date("01.01.2029", TODAY), "date_far"),
        (lambda: v.end_date("01.02.2027", start), "date_before_start"),
        (lambda: v.end_date("15.01.2027", start), "date_before_start"),
        (lambda: v.end_date("03.02.2028", start), "period_too_long"),
    ]
    for call, code in cases:
        with pytest.raises(v.Invalid) as err:
            call()
        assert err.value.code == code


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("+7 701 234 56 78", "+77012345678"),
        ("87012345678", "+77012345678"),
        ("8 (7122) 27-63-10", "+77122276310"),
        ("7012345678", "+77012345678"),
        ("+49 30 1234567", "+49301234567"),
    ],
)
def test_phone_numbers_are_normalised(raw: str, expected: str) -> None:
    assert v.phone(raw) == expected


@pytest.mark.parametrize("raw", ["", "12345", "+7 701 234", "call me", "+1 2", "81234567890"])
def test_bad_phone_numbers(raw: str) -> None:
    with pytest.raises(v.Invalid):
        v.phone(raw)


def test_uploads_photo_or_pdf_up_to_20_mb() -> None:
    pdf = v.Upload("document", "f", "u", "cert.pdf", "application/pdf", 1024)
    assert v.check_upload(pdf) is pdf
    assert v.check_upload(v.Upload("photo", "p", "u", None, "image/jpeg", 5_000_000))
    with pytest.raises(v.Invalid) as err:
        v.check_upload(v.Upload("document", "f", "u", "cert.docx", "application/msword", 1024))
    assert err.value.code == "file_type"
    with pytest.raises(v.Invalid) as err:
        v.check_upload(
            v.Upload("document", "f", "u", "scan.pdf", "application/pdf", 21 * 1024 * 1024)
        )
    assert err.value.code == "file_too_big" and err.value.params["max"] == 20


def test_identifier_mask_keeps_the_last_four() -> None:
    assert v.mask_identifier("900101300126") == "••••••••0126"
