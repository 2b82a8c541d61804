"""The broadcast sender's progress card: its words and its cancel button."""

from __future__ import annotations

from datetime import datetime

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.db.models.broadcasts import Broadcast


class BroadcastCallback(CallbackData, prefix="bc"):
    action: str  # cancel
    broadcast_id: int


def progress_text(
    b: Broadcast,
    c: dict[str, int],
    *,
    now: datetime,
    final: bool,
    slowdown: str | None = None,
) -> str:
    """The sender's progress message; ``slowdown`` is why it goes slower, if it does
    (:meth:`bot.budget.OutgoingBudget.slowdown`)."""
    sent, failed, blocked = c.get("sent", 0), c.get("failed", 0), c.get("blocked", 0)
    unknown, cancelled = c.get("unknown", 0), c.get("cancelled", 0)
    left = c.get("pending", 0) + c.get("sending", 0)
    started = b.started_at or now
    elapsed = max((now - started).total_seconds(), 1.0)
    rate = sent / elapsed
    if final:
        head = (
            _("Broadcast #{id} cancelled.")
            if b.status == "cancelled"
            else _("Broadcast #{id} finished.")
        ).format(id=b.id)
        lines = [
            head,
            _("Sent: {sent} of {total}").format(sent=sent, total=b.total),
            _("Failed: {failed} · blocked the bot: {blocked}").format(
                failed=failed, blocked=blocked
            ),
        ]
        if unknown:
            lines.append(_("Unconfirmed (interrupted while sending): {n}").format(n=unknown))
        if cancelled:
            lines.append(_("Not sent (cancelled): {n}").format(n=cancelled))
        lines.append(_("Average rate: {rate:.1f} messages a second").format(rate=rate))
        return "\n".join(lines)
    eta = int(left / rate) if rate > 0 else 0
    lines = [
        _("Broadcast #{id}: sending…").format(id=b.id),
        _("Sent: {sent} of {total}").format(sent=sent, total=b.total),
        _("Failed: {failed} · blocked the bot: {blocked}").format(failed=failed, blocked=blocked),
        _("Rate: {rate:.1f}/s · time left: about {minutes} min {seconds} s").format(
            rate=rate, minutes=eta // 60, seconds=eta % 60
        ),
    ]
    if slowdown == "paused_replies":
        lines.append(_("⏸ Paused for student replies: answers to students go first."))
    elif slowdown == "slowed_replies":
        lines.append(_("🐢 Slowed down for student replies: answers to students go first."))
    elif slowdown == "telegram":
        lines.append(_("⏸ Paused: Telegram asked the bot to wait."))
    return "\n".join(lines)


def cancel_keyboard(broadcast_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("⛔ Cancel the broadcast"),
        callback_data=BroadcastCallback(action="cancel", broadcast_id=broadcast_id),
    )
    return builder.as_markup()
