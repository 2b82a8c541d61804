"""Prometheus metrics of one bot process, served at ``/metrics`` (text exposition format).

Other areas count their events through the process-wide :data:`metrics` object::

    from bot.metrics import metrics

    metrics.handoffs.inc()                 # a conversation handed to a person
    metrics.broadcast_deliveries.inc()     # one broadcast or reminder message delivered
    metrics.broadcast_failures.inc()       # one delivery given up (blocked user, 400 ...)
    metrics.questions_answered.inc()       # a free-text question answered
    metrics.poison_updates.inc()           # an update that could not be parsed, skipped

Like ``prometheus_client.REGISTRY`` it is per process (each process of a deployment is scraped
on its own); tests build their own :class:`Metrics` or read differences of these counters.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "Metrics", "metrics"]

UPDATE_TYPES = ("message", "callback_query", "edited_message", "my_chat_member", "other")
ERROR_KINDS = ("handler", "database", "telegram_api", "network")
NOTIFY_OUTCOMES = ("sent", "blocked", "not_found", "flood", "failed")  # notify.Outcome
# ``*_created`` timestamps double the output and no dashboard of ours reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """All counters of the assistant on one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.updates = Counter(
            "studentbot_updates", "Updates accepted for handling, by type", ["type"], registry=r
        )
        self.duplicate_updates = Counter(
            "studentbot_duplicate_updates",
            "Updates skipped because their update_id was already handled",
            registry=r,
        )
        self.answers = Counter(
            "studentbot_answers",
            "Messages the bot delivered (successful Bot API send and edit calls), by method",
            ["method"],
            registry=r,
        )
        self.questions_answered = Counter(
            "studentbot_questions_answered", "Free-text questions answered", registry=r
        )
        self.handoffs = Counter(
            "studentbot_handoffs", "Conversations handed over to a person", registry=r
        )
        self.broadcast_deliveries = Counter(
            "studentbot_broadcast_deliveries",
            "Broadcast and reminder messages delivered",
            registry=r,
        )
        self.broadcast_failures = Counter(
            "studentbot_broadcast_failures",
            "Broadcast and reminder deliveries given up",
            registry=r,
        )
        self.errors = Counter(
            "studentbot_errors",
            "Errors: handler exceptions, database failures, Bot API errors, network errors",
            ["kind"],
            registry=r,
        )
        self.poison_updates = Counter(
            "studentbot_poison_updates",
            "Updates that could not be parsed: logged once, kept for inspection, skipped",
            registry=r,
        )
        self.retaken_updates = Counter(
            "studentbot_retaken_updates",
            "Inbox updates handled again (their process died or was stopped mid-update)",
            registry=r,
        )
        self.notifications = Counter(
            "studentbot_notifications",
            "One-off messages to a person (bot.notifications.notify), by outcome",
            ["outcome"],
            registry=r,
        )
        self.throttled = Counter(
            "studentbot_throttled",
            "Messages and button presses dropped by flood control",
            registry=r,
        )
        self.handler_latency = Histogram(
            "studentbot_handler_seconds",
            "Time from accepting an update to the end of its handling",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "studentbot_updates_in_flight", "Updates being handled right now", registry=r
        )
        for kind in UPDATE_TYPES:
            self.updates.labels(type=kind)
        for kind in ERROR_KINDS:
            self.errors.labels(kind=kind)
        self.answers.labels(method="sendMessage")
        for outcome in NOTIFY_OUTCOMES:
            self.notifications.labels(outcome=outcome)

    def count_update(self, update_type: str | None) -> None:
        kind = update_type if update_type in UPDATE_TYPES else "other"
        self.updates.labels(type=kind).inc()

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)

    def value(self, name: str, **labels: str) -> float:
        """A sample's current value (0 when absent): for tests and the benchmark."""
        found = self.registry.get_sample_value(name, labels or None)
        return float(found or 0.0)


metrics = Metrics()
