"""structlog, configured once.

Events are snake_case past-tense verbs with key/value context; console rendering on a
terminal, JSON elsewhere (containers, pipes, files). Logs go to stderr so that stdout
stays for what a command prints.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal, TextIO

import structlog

LogFormat = Literal["auto", "console", "json"]

_configured = False


def configure(
    fmt: LogFormat = "auto", level: str = "warning", stream: TextIO | None = None
) -> None:
    """Configure structlog for the whole process (idempotent: the last call wins)."""
    global _configured  # noqa: PLW0603 - logging is process-wide by nature
    out: TextIO = stream if stream is not None else _Stderr()  # type: ignore[assignment]
    if fmt == "auto":
        fmt = "console" if out.isatty() else "json"
    renderer: structlog.types.Processor
    if fmt == "console":
        renderer = structlog.dev.ConsoleRenderer(colors=out.isatty())
    else:
        renderer = structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    _route_librdkafka()
    _configured = True


class _Stderr:
    """Whatever `sys.stderr` is at the time of writing, not at the time of configuring.

    Test runners and CLI runners swap stderr for a buffer and close it afterwards; a
    logger holding on to the buffer would then fail on its next event.
    """

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


class _LibrdkafkaToStructlog(logging.Handler):
    """librdkafka's own log lines (through confluent-kafka's `logger` setting) as debug events.

    Its warnings are mostly transient (a coordinator loading, a broker reconnecting);
    what matters reaches the caller as an error or a failed delivery anyway.
    """

    def emit(self, record: logging.LogRecord) -> None:
        structlog.get_logger(component="librdkafka").debug(
            "librdkafka_logged", rd_level=record.levelname, message=record.getMessage()
        )


def _route_librdkafka() -> None:
    logger = logging.getLogger("edgesplit.librdkafka")
    logger.handlers = [_LibrdkafkaToStructlog()]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    """A logger bound to a component name; configures defaults on first use."""
    if not _configured:
        configure()
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(component=name)
    return logger
