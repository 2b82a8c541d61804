"""Bot text becomes safe HTML in the browser, whatever it holds; keyboards become buttons;
files are recognised by their first bytes; web ids never meet Telegram's."""

from __future__ import annotations

import pytest
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from bot.web.ids import WEB_ID_MAX, WEB_ID_MIN, is_web_id, new_web_user_id
from bot.web.render import keyboard, plain_text, safe_html
from bot.web.server import sniff

HOSTILE = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    "<b onmouseover=alert(1)>bold</b>",
    '<a href="javascript:alert(1)">link</a>',
    '<a href="JaVaScRiPt:alert(1)">link</a>',
    '<a href="java&#x09;script:alert(1)">link</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">link</a>',
    '<a href="vbscript:msgbox(1)">link</a>',
    "<svg><script>alert(1)</script></svg>",
    "<svg onload=alert(1)>",
    "<iframe src=//evil.example></iframe>",
    '<style>body{background:url("javascript:alert(1)")}</style>',
    "<b><i>unbalanced</b>",
    "<a href='https://ok.example' onclick='alert(1)' style='x'>ok</a>",
    "<<script>script>alert(1)<</script>/script>",
    "<!--<script>alert(1)</script>-->",
    '<form action="https://evil.example"><input name=x></form>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<span class="tg-spoiler" onclick="alert(1)">s</span>',
]


@pytest.mark.parametrize("payload", HOSTILE)
def test_no_script_survives(payload: str) -> None:
    out = safe_html(payload).lower()
    for needle in (
        "<script",
        "onerror",
        "onload",
        "onclick",
        "onmouseover",
        "javascript:",
        "vbscript:",
        "data:",
        "<iframe",
        "<style",
        "<svg",
        "<img",
        "<form",
        "<input",
        "<meta",
        "style=",
    ):
        assert needle not in out, (payload, out)


def test_telegram_formatting_is_kept() -> None:
    text = (
        "<b>Bold</b> <i>it</i> <u>u</u> <s>s</s> <code>c</code> <pre>p</pre> "
        '<a href="https://atyrau.edu.kz/rules">rules</a> <blockquote>q</blockquote> '
        "<tg-spoiler>secret</tg-spoiler> 5 &lt; 6 &amp; 7"
    )
    out = safe_html(text)
    for kept in (
        "<b>Bold</b>",
        "<i>it</i>",
        "<u>u</u>",
        "<s>s</s>",
        "<code>c</code>",
        "<pre>p</pre>",
        "<blockquote>q</blockquote>",
        "5 &lt; 6 &amp; 7",
        '<span class="tg-spoiler">secret</span>',
    ):
        assert kept in out
    assert 'href="https://atyrau.edu.kz/rules"' in out and 'rel="noopener noreferrer' in out


def test_unbalanced_tags_are_closed() -> None:
    assert safe_html("<b><i>x</b> y") == "<b><i>x</i></b><i> y</i>"  # as a browser parses it
    assert safe_html("<b>open") == "<b>open</b>"


def test_a_tg_user_link_keeps_its_words_not_its_href() -> None:
    out = safe_html('<a href="tg://user?id=5">Aigerim</a>')
    assert "Aigerim" in out and "tg://" not in out


def test_plain_text_unescapes() -> None:
    assert plain_text("<b>5 &lt; 6</b>") == "5 < 6"


def test_inline_keyboard_keeps_callbacks_and_http_links_only() -> None:
    markup = InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text="Yes", callback_data="forget:1"),
                InlineKeyboardButton(text="Site", url="https://atyrau.edu.kz"),
            ],
            [InlineKeyboardButton(text="Evil", url="javascript:alert(1)")],
        ]
    )
    assert keyboard(markup) == {
        "inline": [
            [
                {"text": "Yes", "data": "forget:1"},
                {"text": "Site", "url": "https://atyrau.edu.kz"},
            ]
        ]
    }


def test_reply_keyboard_becomes_quick_replies_and_removal_clears_them() -> None:
    markup = ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text="❓ Ask")]], input_field_placeholder="Type"
    )
    assert keyboard(markup) == {"reply": [[{"text": "❓ Ask"}]], "placeholder": "Type"}
    assert keyboard(ReplyKeyboardRemove()) == {"remove": True}


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"%PDF-1.7\n", ("application/pdf", ".pdf")),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", ("image/jpeg", ".jpg")),
        (b"\x89PNG\r\n\x1a\n\x00\x00", ("image/png", ".png")),
        (b"MZ\x90\x00", None),
        (b"<html><script>", None),
        (b"PK\x03\x04", None),
        (b"", None),
    ],
)
def test_files_are_recognised_by_content(head: bytes, kind: tuple[str, str] | None) -> None:
    assert sniff(head) == kind


def test_web_ids_are_beyond_telegram_and_safe_in_javascript() -> None:
    assert WEB_ID_MIN == 2**52 and WEB_ID_MAX == 2**53 - 1
    for _ in range(100):
        assert is_web_id(new_web_user_id())
    assert not is_web_id(7066000001) and not is_web_id(-1001234567890)
    assert not is_web_id(2**52 - 1) and not is_web_id(2**53)
