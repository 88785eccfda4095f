"""What of a request may be written down: query strings and headers with secrets taken out.

Built on ``mfn_tracker.store.scrub`` (the one list of secret names and patterns); URLs add a few
parameter names of their own (``?key=``, ``?sig=``, OAuth's ``?code=``) that are secrets there.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from mfn_tracker.store.scrub import REDACTED, is_secret_key, scrub_text, strip_url_credentials

URL_SECRET_PARAMS = frozenset({"key", "sig", "signature", "code", "auth", "pass", "pwd", "jwt"})
MAX_PARAMS = 32
MAX_VALUE = 256
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

QueryValues = dict[str, str | list[str]]


def is_secret_name(name: str) -> bool:
    """``X-API-Key`` and ``access-token`` count: dashes are read as underscores."""
    lowered = name.lower().replace("-", "_")
    return is_secret_key(lowered) or lowered in URL_SECRET_PARAMS


def _clip(text: str) -> str:
    return text if len(text) <= MAX_VALUE else text[:MAX_VALUE] + "…"


def scrub_query(query: str | bytes) -> QueryValues:
    """A query string as ``{name: value or [values]}``, secrets replaced, sizes capped."""
    if isinstance(query, bytes):
        query = query.decode("latin-1")  # ASGI gives raw bytes; percent-decoding follows
    result: QueryValues = {}
    pairs = parse_qsl(query, keep_blank_values=True, encoding="utf-8", errors="replace")
    for raw_name, value in pairs[:MAX_PARAMS]:
        name = _clip(scrub_text(raw_name))
        clean = REDACTED if is_secret_name(name) else _clip(scrub_text(value))
        previous = result.get(name)
        if previous is None:
            result[name] = clean
        elif isinstance(previous, list):
            previous.append(clean)
        else:
            result[name] = [previous, clean]
    if len(pairs) > MAX_PARAMS:
        result["…"] = f"{len(pairs) - MAX_PARAMS} more parameters"
    return result


def scrub_url(url: str) -> str:
    """A URL (a Referer, say) without credentials and with secret query values replaced."""
    try:
        parts = urlsplit(strip_url_credentials(url))
    except ValueError:
        return REDACTED
    query = "&".join(
        f"{name}={value}"
        for name, values in scrub_query(parts.query).items()
        for value in (values if isinstance(values, list) else [values])
    )
    return _clip(scrub_text(urlunsplit(parts._replace(query=query, fragment=""))))


def scrub_headers(headers: Iterable[tuple[bytes, bytes]], wanted: frozenset[str]) -> dict[str, str]:
    """The ``wanted`` headers (lower-case names) of an ASGI header list, secrets replaced."""
    found: dict[str, str] = {}
    for raw_name, raw_value in headers:
        name = raw_name.decode("latin-1").lower()
        if name not in wanted:
            continue
        value = raw_value.decode("latin-1")
        if is_secret_name(name):
            found[name] = REDACTED
        elif name == "referer":
            found[name] = scrub_url(value)
        else:
            found[name] = _clip(scrub_text(value))
    return found


def safe_request_id(value: str | None) -> str | None:
    """A client-sent request id, if it is short and plain (else the caller makes one up)."""
    if value is None or not _REQUEST_ID.match(value):
        return None
    return None if scrub_text(value) != value else value
