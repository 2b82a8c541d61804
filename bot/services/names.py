"""People's names in the cases a statement needs: Russian genitive, Kazakh ablative.

Applicants type "surname first-name patronymic" (the wizard asks in that order). Russian names
are declined with pytrovich (the petrovich rules: Russian, Kazakh and other names written in
Cyrillic, gender from the patronymic or the first name); Kazakh takes the ablative ending on the
last word by vowel harmony and the last sound (-нан/-нен, -дан/-ден, -тан/-тен). A name in Latin
letters is left as written: foreign names are not declined.
"""

from __future__ import annotations

import logging
import re
from functools import cache
from typing import Any

log = logging.getLogger(__name__)

_CYRILLIC = re.compile(r"[А-Яа-яЁёӘәҒғҚқҢңӨөҰұҮүҺһІі]")
# Kazakh patronymics ("Ерланұлы", "Бақытқызы") are indeclinable in Russian and tell the gender.
_KK_SON = re.compile(r"(?:ұлы|улы|uly)$", re.IGNORECASE)
_KK_DAUGHTER = re.compile(r"(?:қызы|кызы|qyzy)$", re.IGNORECASE)
_FEMALE_SURNAME = re.compile(r"(?:ова|ева|ёва|ина|ына|ская|цкая)$", re.IGNORECASE)
_MALE_SURNAME = re.compile(r"(?:ов|ев|ёв|ин|ын|ский|цкий)$", re.IGNORECASE)


@cache
def _petrovich() -> tuple[Any, Any] | None:
    try:
        from pytrovich.detector import PetrovichGenderDetector
        from pytrovich.maker import PetrovichDeclinationMaker
    except ImportError:  # pragma: no cover - pytrovich is a dependency
        return None
    return PetrovichDeclinationMaker(), PetrovichGenderDetector()


def is_cyrillic(name: str) -> bool:
    return bool(_CYRILLIC.search(name))


def _gender(parts: list[str]) -> Any:
    from pytrovich.enums import Gender

    surname, first = parts[0], parts[1] if len(parts) > 1 else ""
    patronymic = parts[2] if len(parts) > 2 else ""
    if patronymic and _KK_SON.search(patronymic):
        return Gender.MALE
    if patronymic and _KK_DAUGHTER.search(patronymic):
        return Gender.FEMALE
    pair = _petrovich()
    assert pair is not None
    detector = pair[1]
    try:
        if patronymic:
            found = detector.detect(firstname=first, middlename=patronymic)
        else:
            found = detector.detect(firstname=first)
    except Exception:  # pytrovich raises on names it has no rule for
        found = Gender.ANDROGYNOUS
    if found is Gender.ANDROGYNOUS:
        if _FEMALE_SURNAME.search(surname):
            return Gender.FEMALE
        if _MALE_SURNAME.search(surname):
            return Gender.MALE
    return found


def is_female(full_name: str) -> bool | None:
    """Whether a Cyrillic "surname first-name [patronymic]" is a woman's; None when unknown."""
    parts = full_name.split()
    if not parts or not is_cyrillic(full_name) or _petrovich() is None:
        return None
    from pytrovich.enums import Gender

    gender = _gender(parts)
    return None if gender is Gender.ANDROGYNOUS else gender is Gender.FEMALE


def _decline_ru(full_name: str, case_name: str) -> str:
    parts = full_name.split()
    pair = _petrovich()
    if not parts or not is_cyrillic(full_name) or pair is None:
        return full_name
    from pytrovich.enums import Case, NamePart

    maker = pair[0]
    case = getattr(Case, case_name)
    gender = _gender(parts)
    roles = [NamePart.LASTNAME, NamePart.FIRSTNAME, NamePart.MIDDLENAME]
    out = []
    for i, word in enumerate(parts):
        role = roles[i] if i < len(roles) else None
        kazakh_patronymic = bool(_KK_SON.search(word) or _KK_DAUGHTER.search(word))
        if role is None or (role is NamePart.MIDDLENAME and kazakh_patronymic):
            out.append(word)  # "Асхатұлы" stays as it is in Russian
            continue
        try:
            # Hyphenated names decline part by part ("Мамина-Сибиряка").
            out.append("-".join(maker.make(role, gender, case, p) for p in word.split("-")))
        except Exception:
            log.debug("pytrovich could not decline %r", word, exc_info=True)
            out.append(word)
    return " ".join(out)


def genitive_ru(full_name: str) -> str:
    """«от Сейткалиевой Гульнар Бакытовны», «перевод Сейткалиева Армана Ерлановича»."""
    return _decline_ru(full_name, "GENITIVE")


def dative_ru(full_name: str) -> str:
    return _decline_ru(full_name, "DATIVE")


# Kazakh -------------------------------------------------------------------------------------

_BACK = set("аоұыяёу")
_FRONT = set("әеөүіэию")
_VOICELESS = set("кқпстфхцчшщ")
_DEVOICED = set("бвгд")  # take the voiceless ending: Жанат → -тан, Глеб → -тен
_NASAL = set("мнң")


def ablative_kk(full_name: str) -> str:
    """The name with the Kazakh ablative ending on its last word ("… Ерланұлынан")."""
    name = full_name.strip()
    if not name or not is_cyrillic(name):
        return name
    last = name.split()[-1].lower()
    letters = [c for c in last if c.isalpha()]
    if not letters:
        return name
    # "у" is a consonant-like glide in Kazakh: the harmony follows the vowels before it.
    vowels = [c for c in letters if c in _BACK | _FRONT and c != "у"] or [
        c for c in letters if c == "у"
    ]
    front = bool(vowels) and vowels[-1] in _FRONT
    end = letters[-1]
    if _KK_SON.search(last) or _KK_DAUGHTER.search(last):
        stem = "н"  # after the possessive ending of ұлы/қызы: ұлынан, қызынан
    elif end in _NASAL:
        stem = "н"
    elif end in _VOICELESS or end in _DEVOICED:
        stem = "т"
    else:  # vowels, р, л, й, у, ж, з
        stem = "д"
    return name + stem + ("ен" if front else "ан")
