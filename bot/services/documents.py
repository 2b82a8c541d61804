"""The free-form statement (5.2.2) as DOCX and PDF, A4, in any of the three languages.

The wording comes from ``knowledge/data/applications.yaml`` (``statement``); this module fills
it in (names declined by :mod:`bot.services.names`) and lays it out with python-docx, and with
fpdf2 as a PDF when a Unicode TrueType font (DejaVu) is installed: the PDF's built-in fonts have
no Kazakh or Russian letters, so without such a font only the DOCX is produced. Both are A4 with
the margins usual in Kazakhstan's office work (:data:`MARGINS_MM`).
"""

from __future__ import annotations

import io
import logging
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from bot.db.models.applications import Application, ApplicationKind
from bot.services.applications import load_texts
from bot.services.names import ablative_kk, dative_ru, genitive_ru, is_cyrillic, is_female
from bot.services.validators import format_date
from knowledge.programmes import Direction

log = logging.getLogger(__name__)

A4_MM = (210, 297)
# Left, top, right, bottom: a wide left margin for binding, as office documents in Kazakhstan
# are laid out (30 / 20 / 10 / 20 mm).
MARGINS_MM = {"left": 30, "top": 20, "right": 10, "bottom": 20}

# Regular and bold faces, first found wins (Debian/Ubuntu, Fedora, Arch, macOS Homebrew).
FONT_CANDIDATES: tuple[tuple[str, str], ...] = (
    (
        "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf",
    ),
    (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    ),
    ("/usr/share/fonts/dejavu-serif-fonts/DejaVuSerif.ttf", ""),
    ("/usr/share/fonts/TTF/DejaVuSerif.ttf", "/usr/share/fonts/TTF/DejaVuSerif-Bold.ttf"),
)


def _pick(item: dict[str, Any], lang: str) -> str:
    return str(item.get(lang) or item["kk"]).strip()


def _t(section: str, lang: str) -> str:
    return _pick(load_texts()["statement"][section], lang)


def identifier_text(kind: str | None, value: str | None, lang: str) -> str:
    """ "IIN 900101300126", "student ID A12345", "no IIN; passport / ID document No. N1234567"."""
    forms = load_texts()["statement"]["identifiers"]
    template = _pick(forms.get(kind or "") or forms["student_id"], lang)
    return template.format(value=value or "—")


def _applicant_line(name: str, lang: str) -> str:
    """The "from" line: Kazakh ablative, Russian genitive; names in Latin letters as written."""
    if lang == "kk":
        return (
            ablative_kk(name)
            if is_cyrillic(name)
            else _t("from_undeclined", lang).format(applicant=name)
        )
    if lang == "ru":
        return _t("from_name", lang).format(applicant=genitive_ru(name))
    return _t("from_name", lang).format(applicant=name)


def statement_text(
    app: Application,
    direction: Direction | None,
    local_date: datetime,
    lang: str | None = None,
) -> list[str]:
    """The statement's paragraphs in ``lang`` (the application's language by default)."""
    lang = lang or app.language
    texts = load_texts()
    programme = app.programme_code or "—"
    if direction is not None:
        programme = f"{direction.code} «{direction.name_in(lang)}»"
    identifier = identifier_text(app.identifier_kind, app.identifier, lang)
    applicant = app.applicant_name or app.full_name or "—"
    full_name = app.full_name or "—"
    female = is_female(full_name)
    forms = texts["statement"]["student_forms"]
    paragraphs = [
        _t("addressee", lang),
        _t("from", lang).format(
            applicant=_applicant_line(applicant, lang), phone=app.phone or "—"
        ),
    ]
    if app.kind_enum is ApplicationKind.ONLINE:
        paragraphs.append(_t("online_title", lang))
        paragraphs.append(
            _t("online_body", lang).format(
                programme=programme, full_name=full_name, identifier=identifier
            )
        )
        clauses = ["6.2", "6.7"]
    else:
        ground = texts["grounds"][app.ground or "health"]
        gender = "female" if female else "male"
        values = {
            "full_name": full_name,
            "full_name_gen": genitive_ru(full_name) if lang == "ru" else full_name,
            "full_name_dat": dative_ru(full_name) if lang == "ru" else full_name,
            "student_dat": _pick(forms["dative"][gender], lang),
            "student_gen": _pick(forms["genitive"][gender], lang),
            "identifier": identifier,
            "programme": programme,
            "course": app.course or "—",
            "start": format_date(app.period_start),
            "end": format_date(app.period_end),
            "ground": _pick(ground["statement"], lang),
        }
        paragraphs.append(_t("title", lang))
        if app.applicant_role in ("parent", "representative"):
            values["role"] = _pick(texts["statement"]["roles"][app.applicant_role], lang)
            paragraphs.append(_t("body_representative", lang).format(**values))
        else:
            paragraphs.append(_t("body_student", lang).format(**values))
        if app.document_kind == "in_person":
            doc = _t("document_in_person", lang)
        else:
            doc = _t("document_attached", lang)
            if app.document_name:
                doc = f"{app.document_name}, {doc}"
        paragraphs.append(_t("document", lang).format(document=doc))
        clauses = [*ground["clauses"], "5.2.2"]
    paragraphs.append(_t("basis", lang).format(clauses=", ".join(dict.fromkeys(clauses))))
    paragraphs.append(
        _t("footer", lang).format(
            reference=app.reference or "—", date=local_date.strftime("%d.%m.%Y")
        )
    )
    return paragraphs


def statement_docx(
    app: Application, direction: Direction | None, local_date: datetime, lang: str | None = None
) -> bytes:
    # Imported here, not at module level: python-docx and lxml add ~7 MB of resident memory to
    # every bot process, and only the rare application that produces a statement needs them.
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Mm, Pt

    paragraphs = statement_text(app, direction, local_date, lang)
    doc = Document()
    for section in doc.sections:  # python-docx's template is US Letter
        section.page_width, section.page_height = Mm(A4_MM[0]), Mm(A4_MM[1])
        section.left_margin = Mm(MARGINS_MM["left"])
        section.right_margin = Mm(MARGINS_MM["right"])
        section.top_margin = Mm(MARGINS_MM["top"])
        section.bottom_margin = Mm(MARGINS_MM["bottom"])
    style = doc.styles["Normal"]
    style.font.name = "Times New Roman"
    style.font.size = Pt(14)
    addressee, sender, title, *body = paragraphs
    for block in (addressee, sender):
        para = doc.add_paragraph()
        para.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        para.add_run(block)
    heading = doc.add_paragraph()
    heading.alignment = WD_ALIGN_PARAGRAPH.CENTER
    heading.add_run(title).bold = True
    for block in body:
        para = doc.add_paragraph()
        para.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
        para.add_run(block)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


@cache
def pdf_font() -> tuple[str, str | None] | None:
    """(regular, bold or None) of a Unicode font, or None when none is installed."""
    for regular, bold in FONT_CANDIDATES:
        if Path(regular).is_file():
            return regular, bold if bold and Path(bold).is_file() else None
    return None


def statement_pdf(
    app: Application, direction: Direction | None, local_date: datetime, lang: str | None = None
) -> bytes | None:
    """The same statement as a PDF, or None when fpdf2 or a Unicode font is missing."""
    font = pdf_font()
    if font is None:
        return None
    try:
        from fpdf import FPDF
        from fpdf.enums import XPos, YPos
    except ImportError:  # pragma: no cover - fpdf2 is a dependency
        return None
    regular, bold = font
    paragraphs = statement_text(app, direction, local_date, lang)
    pdf = FPDF(format="A4", unit="mm")
    pdf.set_margins(MARGINS_MM["left"], MARGINS_MM["top"], MARGINS_MM["right"])
    pdf.set_auto_page_break(True, margin=MARGINS_MM["bottom"])
    pdf.add_page()
    pdf.add_font("Body", "", regular)
    if bold:
        pdf.add_font("Body", "B", bold)
    pdf.set_font("Body", size=12)
    addressee, sender, title, *body = paragraphs
    for block in (addressee, sender):
        pdf.multi_cell(0, 6, block, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(3)
    pdf.ln(6)
    pdf.set_font("Body", "B" if bold else "", size=13)
    pdf.multi_cell(0, 8, title, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Body", size=12)
    pdf.ln(4)
    for block in body:
        pdf.multi_cell(0, 6, block, align="J", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(3)
    return bytes(pdf.output())
