"""Secrets never reach a log: a logging filter that blanks them in every record it passes.

Installed on handlers (so records of every logger that reach the handler are covered, not only
those logged on one logger), it rewrites the message, each string argument (uvicorn's access log
formats its arguments itself), the formatted traceback and the stack: a token inside an exception
message, a URL or a library's debug line comes out as ``[REDACTED]``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

REDACTED = "[REDACTED]"
# A secret passed the wrong way (``?token=...`` in a URL) is redacted even when it is not the real one.
_TOKEN_IN_URL = re.compile(r"(?i)([?&](?:token|access_token|api_key)=)[^&\s\"']+")


class SecretRedactor(logging.Filter):
    """Replace each of ``secrets`` (and any ``token=`` URL parameter) in every record it filters."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def redact(self, text: str, urls: bool = True) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return _TOKEN_IN_URL.sub(rf"\1{REDACTED}", text) if urls else text

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and all(isinstance(a, str | int | float) for a in record.args):
            # Argument by argument, so formatters that read them (uvicorn's access log) still can; the
            # template keeps its placeholders (``?token=%s``): URL parameters are redacted in values.
            record.msg = self.redact(str(record.msg), urls=not record.args)
            record.args = tuple(self.redact(a) if isinstance(a, str) else a for a in record.args)
        else:  # arguments of any other type are formatted here, so their text can be checked
            record.msg, record.args = self.redact(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def redact_handlers(secrets: Iterable[str], *loggers: logging.Logger) -> SecretRedactor:
    """Add one redactor to every handler of ``loggers`` (default: the root logger)."""
    redactor = SecretRedactor(secrets)
    for logger in loggers or (logging.getLogger(),):
        for handler in logger.handlers:
            handler.addFilter(redactor)
    return redactor
