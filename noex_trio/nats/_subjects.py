"""Subject and queue-group checks.

A subject is dot-separated tokens; a token is never empty and holds no whitespace (the
protocol separates fields by spaces and tabs, so ``SUB foo bar 1`` would subscribe to ``foo``
in queue group ``bar``) and no control character. Wildcards are whole tokens: ``*`` matches
one token, ``>`` (last token only) one or more. They are for subscriptions; a published
subject (or reply subject) has none.
"""

from __future__ import annotations

import re
from typing import Final

from .. import _checks as checks

PUBLISH = "a subject of non-empty dot-separated tokens without spaces or wildcards"
SUBSCRIBE = (
    "a subject of non-empty dot-separated tokens without spaces ('*' and a final '>' allowed)"
)
QUEUE = "a non-empty queue group name without spaces"


#: Whitespace (``str.isspace``) or a control character: the same set, checked in C.
_NOT_PLAIN: Final = re.compile(r"[\s\x00-\x1f\x7f]")


def _plain(text: str) -> bool:
    """No whitespace and no control character."""
    return _NOT_PLAIN.search(text) is None


def publish_subject(value: object, what: str = "subject") -> str:
    """A subject to publish to (no wildcards)."""
    if not isinstance(value, str):
        raise checks.type_error(what, PUBLISH, value)
    text = str.__str__(value)
    tokens = text.split(".")
    if not _plain(text) or not all(token and token not in ("*", ">") for token in tokens):
        raise checks.value_error(what, PUBLISH, value)
    return text


def subscribe_subject(value: object, what: str = "subject") -> str:
    """A subject to subscribe to (wildcards allowed)."""
    if not isinstance(value, str):
        raise checks.type_error(what, SUBSCRIBE, value)
    text = str.__str__(value)
    tokens = text.split(".")
    if not _plain(text) or not all(tokens) or ">" in tokens[:-1]:
        raise checks.value_error(what, SUBSCRIBE, value)
    return text


def queue_group(value: object) -> str:
    """A queue group name."""
    if not isinstance(value, str):
        raise checks.type_error("queue", QUEUE, value)
    text = str.__str__(value)
    if not text or not _plain(text):
        raise checks.value_error("queue", QUEUE, value)
    return text
