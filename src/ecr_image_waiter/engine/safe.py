"""Making text from a server safe to print, once, where it enters the engine's objects.

Anyone who can push to a repository writes the documents the engine reads, and AWS answers
carry text the waiter did not write: every such string goes through :func:`safe_text` before
it reaches an observation, an error, a progress or log line or a CloudFormation reason, and
every digest through :func:`valid_digest`. What is escaped is in docs/rules.md ("Text from
the registry").
"""

from __future__ import annotations

import re
from typing import Any

#: Longest server string kept, in characters, unless the caller asks for another cap.
DEFAULT_MAX_CHARS = 200

#: The digests ECR uses: ``sha256:`` and 64 lowercase hex digits (ECR API Reference,
#: ImageIdentifier ``imageDigest``: "The sha256 digest of the image manifest"; OCI image spec
#: v1.1, descriptor.md, "Registered algorithms": sha256 is "[a-f0-9]{64}").
DIGEST_RE = re.compile(r"sha256:[a-f0-9]{64}")

_BIDI_AND_SEPARATORS = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029"
_UNSAFE_RE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI_AND_SEPARATORS}]")


def _escaped(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(value: Any, limit: int = DEFAULT_MAX_CHARS) -> str:
    """``value`` as text that is safe on a terminal and in a log: controls and bidirectional
    characters escaped, at most ``limit`` characters in all (a cut ends with ``...`` and says
    how many characters were left off). A non-string is described, never rendered whole.

    Idempotent: safe text within the limit comes back unchanged, so text made safe where it
    entered can pass again through any later check.
    """
    if isinstance(value, str):
        text = value
    elif value is None or isinstance(value, bool | float):
        text = repr(value)
    elif isinstance(value, int):
        text = repr(value) if -(10**30) < value < 10**30 else "a very long number"
    else:
        text = _shape(value)
    head = text[: limit + 1]  # bounds the work on a huge string
    if len(head) <= limit and not _UNSAFE_RE.search(head):
        return head
    escaped = [_escaped(c) if _UNSAFE_RE.match(c) else c for c in head]
    if sum(len(part) for part in escaped) <= limit and len(text) <= limit:
        return "".join(escaped)
    kept: list[str] = []
    used = 0
    for count, part in enumerate(escaped):
        marker = f"... ({len(text) - count} more characters)"
        if used + len(part) + len(marker) > limit:
            # Fits, since the marker never grows by more than the parts it replaces.
            return "".join(kept) + marker
        kept.append(part)
        used += len(part)
    return "".join(kept)  # not reached: the head has one character more than the limit


def _shape(value: Any) -> str:
    """A short description of a JSON value that is not a string (never the whole value)."""
    if isinstance(value, dict):
        return f"an object with {len(value)} keys"
    if isinstance(value, list):
        return f"an array of {len(value)} items"
    return type(value).__name__


def valid_digest(value: Any) -> str | None:
    """``value`` if it is a sha256 digest (:data:`DIGEST_RE`), else None."""
    if isinstance(value, str) and DIGEST_RE.fullmatch(value):
        return value
    return None


def field(document: Any, key: str, limit: int = DEFAULT_MAX_CHARS) -> str:
    """``document[key]`` as safe text when ``document`` is an object and the value a non-empty
    string; "" otherwise (a wrong type is treated as absent, and callers say so)."""
    if not isinstance(document, dict):
        return ""
    value = document.get(key)
    return safe_text(value, limit) if isinstance(value, str) else ""


def listing(items: list[str], limit: int = 5) -> str:
    """``a, b, c`` for at most ``limit`` items, then ``and N more``."""
    shown = ", ".join(items[:limit])
    more = len(items) - limit
    return f"{shown} and {more} more" if more > 0 else shown
