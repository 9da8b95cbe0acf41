"""Process-wide registry of secrets, and their redaction from text and logs.

Backends register every API key they load; :func:`redact` then replaces them
(and anything that looks like an ``Authorization`` header value) in any text.
A :class:`logging.Filter` installed on this package's logger applies the same
redaction to every log record.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import overload

REDACTED = "***"

_lock = threading.Lock()
_secrets: set[str] = set()

_AUTH_HEADER_RE = re.compile(
    r"(?i)((?:authorization|x-api-key)['\"]?\s*[:=]\s*['\"]?(?:token|bearer|basic|apikey)?\s*)([^\s'\",}]+)"
)


def register_secret(value: object) -> None:
    """Registers a secret so that it is redacted everywhere from now on."""
    if value and isinstance(value, str) and len(value) >= 4:
        with _lock:
            _secrets.add(value)


@overload
def redact(text: str) -> str: ...
@overload
def redact(text: None) -> None: ...
@overload
def redact(text: object) -> object: ...
def redact(text: object) -> object:
    """Returns ``text`` with every registered secret replaced by ``***``."""
    if not text:
        return text
    text = str(text)
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return _AUTH_HEADER_RE.sub(lambda m: m.group(1) + REDACTED, text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts registered secrets from records."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # malformed record: leave it to logging
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        if record.exc_info and not record.exc_text:
            # format the traceback now, so that it is redacted too
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


def get_logger(name: str) -> logging.Logger:
    """Returns the logger ``name`` with :class:`RedactingFilter` installed.

    Logger filters only see records logged on that very logger (not those of
    its children), so every module of this package gets its logger here.
    """
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())
    return logger
