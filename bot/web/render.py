"""What a browser is given: Telegram's HTML subset as safe HTML, keyboards as plain data.

The bot's texts are Telegram HTML (``<b>``, ``<i>``, ``<a href>``, ``<code>``, ``<pre>``,
``<blockquote>``, ``<tg-spoiler>`` …) with user values escaped by the handlers. In the browser
they become ``innerHTML``, so they pass a whitelist sanitiser first (``nh3``, the Rust
``ammonia`` library): only those tags, only ``href`` on links and only http(s)/mailto/tel
URLs; scripts, styles and event attributes never get through, whatever a handler, a staff
member or a stored FAQ entry wrote. Text the user typed is never HTML: the page shows it as text.
"""

from __future__ import annotations

import html
import re
from typing import Any

import nh3

TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "a",
        "code",
        "pre",
        "blockquote",
        "span",
        "br",
    }
)
ATTRIBUTES = {"a": {"href"}}  # classes: only those in CLASSES
URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
# Dropped with everything inside (not just the tag): their text is code or styling, not words.
DROP_WITH_CONTENT = frozenset(
    {
        "script",
        "style",
        "iframe",
        "object",
        "embed",
        "template",
        "svg",
        "math",
        "noscript",
        "textarea",
        "title",
    }
)
TAG_RE = re.compile(r"<[^>]+>")
SPOILER_RE = re.compile(r"<(/?)tg-spoiler\b[^>]*>", re.I)
CLASSES = {"span": {"tg-spoiler"}, "blockquote": {"expandable"}}
EMOJI_RE = re.compile(r"<tg-emoji\b[^>]*>|</tg-emoji>", re.I)


_CLEANER = nh3.Cleaner(
    tags=set(TAGS),
    clean_content_tags=set(DROP_WITH_CONTENT),
    attributes={k: set(v) for k, v in ATTRIBUTES.items()},
    url_schemes=set(URL_SCHEMES),
    link_rel="noopener noreferrer nofollow",
    set_tag_attribute_values={"a": {"target": "_blank"}},
    allowed_classes={k: set(v) for k, v in CLASSES.items()},
    strip_comments=True,
)


def safe_html(text: str | None) -> str:
    """Telegram HTML as HTML a browser may insert: whitelisted tags, safe links only."""
    if not text:
        return ""
    text = SPOILER_RE.sub(lambda m: "</span>" if m.group(1) else '<span class="tg-spoiler">', text)
    text = EMOJI_RE.sub("", text)
    return _CLEANER.clean(text)


def plain_text(text: str | None) -> str:
    """The words of a Telegram HTML text, unescaped (a pressed button's message text)."""
    return html.unescape(TAG_RE.sub("", text or ""))


def keyboard(markup: Any) -> dict[str, Any] | None:
    """A reply markup as JSON for the page: inline rows of buttons or reply-keyboard rows.

    Only what the page can act on is kept: a callback button (pressed as a callback query), a
    URL button (an http(s) link) and a reply button (its text sent as a message).
    """
    if markup is None:
        return None
    data = markup if isinstance(markup, dict) else markup.model_dump(exclude_none=True)
    if "inline_keyboard" in data:
        rows = []
        for row in data["inline_keyboard"]:
            buttons = []
            for button in row:
                text = str(button.get("text", ""))
                if button.get("callback_data") is not None:
                    buttons.append({"text": text, "data": str(button["callback_data"])})
                elif isinstance(button.get("url"), str) and re.match(
                    r"^https?://", button["url"], re.I
                ):
                    buttons.append({"text": text, "url": button["url"]})
            if buttons:
                rows.append(buttons)
        return {"inline": rows} if rows else None
    if "keyboard" in data:
        rows = [
            [{"text": str(b["text"] if isinstance(b, dict) else b)} for b in row]
            for row in data["keyboard"]
        ]
        return {"reply": rows, "placeholder": data.get("input_field_placeholder")}
    if data.get("remove_keyboard"):
        return {"remove": True}
    return None
