"""Where alerts go: a generic JSON webhook, a Slack incoming webhook, PagerDuty Events API v2.

Each sink turns one (alert, action) into one HTTP request. The shapes are the services'
own: Slack's incoming webhook takes ``{"text": ..., "blocks": [...]}`` and answers 200
``ok``; PagerDuty's ``POST /v2/enqueue`` takes ``routing_key``, ``event_action``
(``trigger``/``resolve``), ``dedup_key`` and, to trigger, ``payload`` with ``summary``,
``source`` and ``severity`` (critical, error, warning, info), and answers 202.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"


class AlertSettings(BaseSettings):
    """``RAXX_ALERT_*``: shared by every process that raises or delivers alerts."""

    model_config = SettingsConfigDict(env_prefix="RAXX_ALERT_", extra="ignore")

    webhook_url: str | None = Field(default=None, description="POST each alert as JSON here")
    webhook_token: str | None = Field(default=None, description="sent as 'Authorization: Bearer ...' to the webhook")
    slack_webhook_url: str | None = Field(default=None, description="a Slack incoming-webhook URL")
    pagerduty_routing_key: str | None = Field(default=None, description="an Events API v2 integration key")
    pagerduty_url: str = Field(
        default=PAGERDUTY_EVENTS_URL, description="the Events API v2 endpoint (EU accounts: events.eu.pagerduty.com)"
    )
    console_url: str | None = Field(default=None, description="the console's public URL, linked from messages")
    timeout_s: float = Field(default=5.0, gt=0, le=30, description="seconds per HTTP attempt")
    retry_base_s: float = Field(default=1.0, ge=0, le=60, description="first backoff between attempts")
    attempts_per_pass: int = Field(
        default=3, ge=1, le=10, description="attempts in one pass before waiting for a later one"
    )
    max_attempts: int = Field(default=12, ge=1, le=100, description="a delivery is given up after this many")

    def sinks(self) -> dict[str, Sink]:
        found: dict[str, Sink] = {}
        if self.webhook_url:
            found["webhook"] = WebhookSink(self.webhook_url, self.webhook_token, self.console_url)
        if self.slack_webhook_url:
            found["slack"] = SlackSink(self.slack_webhook_url, self.console_url)
        if self.pagerduty_routing_key:
            found["pagerduty"] = PagerDutySink(self.pagerduty_url, self.pagerduty_routing_key, self.console_url)
        return found


def alert_settings() -> AlertSettings:
    """``RAXX_ALERT_*`` from the environment; a bad value is one line naming the variable."""
    from raxx.common.settings import load_settings

    return load_settings(AlertSettings)


@dataclass(frozen=True)
class AlertMessage:
    """What a sink needs of an alert row."""

    id: str
    kind: str
    environment: str | None
    environment_words: str
    severity: str
    summary: str
    details: dict[str, Any]
    dedup_key: str
    source: str
    first_seen: datetime
    occurrences: int

    @property
    def title(self) -> str:
        return f"[{self.environment_words}] {self.summary}"


@dataclass(frozen=True)
class Request:
    url: str
    json: dict[str, Any]
    headers: dict[str, str]


class Sink(Protocol):
    @property
    def name(self) -> str: ...

    def request(self, message: AlertMessage, action: str) -> Request: ...


@dataclass(frozen=True)
class WebhookSink:
    url: str
    token: str | None
    console_url: str | None
    name: str = "webhook"

    def request(self, message: AlertMessage, action: str) -> Request:
        body = {
            "event": "alert.resolved" if action == "resolve" else "alert.triggered",
            "id": message.id,
            "kind": message.kind,
            "environment": message.environment,
            "environment_words": message.environment_words,
            "severity": message.severity,
            "summary": message.title,
            "details": message.details,
            "dedup_key": message.dedup_key,
            "source": message.source,
            "first_seen": message.first_seen.isoformat(),
            "occurrences": message.occurrences,
            "console_url": self.console_url,
        }
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return Request(self.url, body, headers)


@dataclass(frozen=True)
class SlackSink:
    url: str
    console_url: str | None
    name: str = "slack"

    def request(self, message: AlertMessage, action: str) -> Request:
        icon = ":white_check_mark: RESOLVED" if action == "resolve" else f":rotating_light: {message.severity.upper()}"
        text = f"{icon} {message.title}"
        fields = [
            {"type": "mrkdwn", "text": f"*Environment*\n{message.environment_words}"},
            {"type": "mrkdwn", "text": f"*Kind*\n`{message.kind}`"},
        ]
        blocks: list[dict[str, Any]] = [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "section", "fields": fields},
        ]
        if message.details:
            lines = "\n".join(f"• {key}: {value}" for key, value in sorted(message.details.items()))
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": lines[:2900]}})
        if self.console_url:
            link = f"<{self.console_url.rstrip('/')}/alerts|Alerts in the console>"
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": link}]})
        return Request(self.url, {"text": text, "blocks": blocks}, {})


@dataclass(frozen=True)
class PagerDutySink:
    url: str
    routing_key: str
    console_url: str | None
    name: str = "pagerduty"

    def request(self, message: AlertMessage, action: str) -> Request:
        body: dict[str, Any] = {
            "routing_key": self.routing_key,
            "event_action": action,
            "dedup_key": message.dedup_key,
        }
        if action == "trigger":
            body["payload"] = {
                "summary": message.title[:1024],
                "source": message.source,
                "severity": message.severity,
                "timestamp": message.first_seen.isoformat(),
                "component": message.environment or "raxx",
                "group": message.environment_words,
                "class": message.kind,
                "custom_details": {"environment": message.environment_words, **message.details},
            }
            body["client"] = "Raxx"
            if self.console_url:
                body["client_url"] = f"{self.console_url.rstrip('/')}/alerts"
        return Request(self.url, body, {})
