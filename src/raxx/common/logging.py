"""Structured logs: one JSON object per line, events named ``domain.action.outcome``."""

from __future__ import annotations

import logging
import os
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from raxx.common.dbbudget import Pools

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="microseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_") and key != "color_message":
                payload[key] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        # orjson: a log line is written per order on Raptor's hot path, and the stdlib
        # encoder was a measurable part of that path's CPU. Anything it does not know
        # (a Decimal, an exception) is written as its str, as before.
        return orjson.dumps(payload, default=str).decode()


class ConsoleFormatter(logging.Formatter):
    """For a person at a terminal (``raxx up``): ``12:00:01 WARNING gate.monitor.state.changed
    deployment=raptor-prod after=failing reason="health: 503"``; the same fields as the JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S")
        parts = [when, f"{record.levelname:<7}", record.getMessage()]
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_") and key != "color_message" and value is not None:
                parts.append(f"{key}={_readable(value)}")
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _readable(value: Any) -> str:
    if isinstance(value, str):
        return value if value and not any(c.isspace() or c in '"=' for c in value) else orjson.dumps(value).decode()
    return orjson.dumps(value, default=str).decode()


#: ``RAXX_LOG_FORMAT``: ``json`` (the default: one object per line, for the platform's log drain)
#: or ``console`` (readable; what ``raxx up`` sets for the processes it runs).
LOG_FORMAT_VAR = "RAXX_LOG_FORMAT"


def configure_logging(level: str = "INFO", *, json_output: bool | None = None) -> None:
    """Idempotent root logger set-up for a process; ``json_output`` None: as ``RAXX_LOG_FORMAT`` says."""
    if json_output is None:
        json_output = os.environ.get(LOG_FORMAT_VAR, "json").strip().lower() != "console"
    # Our lines carry no thread or process names (the platform labels each process's
    # stream): not collecting them makes every record cheaper on the hot paths.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # Nor where in the source a line was logged (the logging HOWTO's "Optimization": no
    # stack walk per record); the event name says where.
    logging._srcfile = None
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_output else ConsoleFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs every request at INFO: the monitor's probes alone were most of a day's lines.
    # alembic (1.17+) announces each of its plugins at INFO, seven lines per worker start.
    for noisy in ("uvicorn.access", "alembic.runtime.migration", "alembic.runtime.plugins", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def log_pools(logger: logging.Logger, *pools: Pools) -> None:
    """The start-up line every process writes for each set of pools it opens
    (``db.budget.ok``): the sizes, the database's limit and how the budget gave them."""
    for one in pools:
        log_event(logger, "db.budget.ok", **one.log_fields())


def log_event(logger: logging.Logger, event: str, *, level: int = logging.INFO, **fields: Any) -> None:
    """Log ``event`` (``domain.action.outcome``) with structured fields."""
    logger.log(level, event, extra={k: v for k, v in fields.items() if k not in _RESERVED})
