"""Keep secrets and full IP addresses off the disk: scrub before anything is written."""

from __future__ import annotations

import re
from typing import Any

REDACTED = "[REDACTED]"

# Key names (case-insensitive substrings) whose values are never stored (FACTS.md, "Privacy").
SECRET_KEY_PARTS: tuple[str, ...] = (
    "password",
    "passwd",
    "secret",
    "api_key",
    "apikey",
    "token",
    "authorization",
    "cookie",
    "session",
    "private_key",
    "credentials",
)

_SECRET_VALUE = re.compile(
    "|".join(
        (
            r"AKIA[A-Z0-9]{16}",
            r"gh[pousr]_[0-9A-Za-z]{36}",
            r"github_pat_\w{82}",
            r"glpat-[\w-]{20}",
            r"xox[baprs]-[\w-]*",
            r"AIza[\w-]{35}",
            r"\bmfn_[\w-]{40,}",  # our own API keys (mfn_ + token_urlsafe(32))
            # PEM, OpenSSH and PGP private keys; without an END line, to the end of the text.
            r"-----BEGIN [A-Z ]*PRIVATE KEY[A-Z ]*-----"
            r"(?:.*?-----END [A-Z ]*PRIVATE KEY[A-Z ]*-----|.*)",
            r"Bearer\s+\S+",
            r"eyJ[\w-]+\.[\w-]+\.[\w-]*",
        )
    ),
    re.DOTALL,
)
# scheme://user:pass@host keeps scheme and host, loses the credentials.
_URL_CREDENTIALS = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]+@")


_SECRET_KEY = re.compile("|".join(SECRET_KEY_PARTS), re.IGNORECASE)
_key_verdicts: dict[str, bool] = {}  # keys repeat across events; remember each verdict


# A screen over the serialized line: every secret value the precise rules above find contains
# one of these substrings, so a line without any (and without secret-looking keys) needs no
# scrubbing. Substring tests run in C; a rare single character gates the longer tests, so a
# usual line costs a few memchr calls, and a regex runs only where a substring alone says little.
_GITHUB_TOKEN = re.compile(r"gh[pousr]_")
_OUR_KEY = re.compile(r"mfn_[\w-]{40}")  # no \b: in JSON a tab before it is "\\t"
_URL_WITH_USER = re.compile(r"://[^/\s]*@")


def might_hold_secret(text: str, metadata: object) -> bool:
    """True when ``text`` holds a secret-looking value or ``metadata`` a secret-looking key."""
    if (
        ("I" in text and ("AKIA" in text or "AIza" in text))
        or ("-" in text and ("-----BEGIN" in text or "glpat-" in text or "xox" in text))
        or ("B" in text and "Bearer" in text)
        or ("J" in text and "eyJ" in text)
        or ("@" in text and "://" in text and _URL_WITH_USER.search(text) is not None)
        or ("gh" in text and _GITHUB_TOKEN.search(text) is not None)
        or "github_pat_" in text
        or ("mfn_" in text and _OUR_KEY.search(text) is not None)
    ):
        return True
    return metadata is not None and _has_secret_key(metadata)


def _has_secret_key(value: object) -> bool:
    if isinstance(value, dict):
        # The common case, flat metadata with keys seen before, is two set operations.
        if value.keys() <= _clean_keys and _CONTAINERS.isdisjoint(map(type, value.values())):
            return False
        for key, item in value.items():
            if is_secret_key(key) or (type(item) in _CONTAINERS and _has_secret_key(item)):
                return True
        return False
    if isinstance(value, (list, tuple)):
        return any(_has_secret_key(v) for v in value)
    return False


_CONTAINERS = frozenset((dict, list, tuple))
_clean_keys: set[object] = set()  # keys found not secret-looking (bounded, see is_secret_key)


def is_secret_key(key: str) -> bool:
    verdict = _key_verdicts.get(key)
    if verdict is None:
        verdict = _SECRET_KEY.search(key) is not None
        if len(_key_verdicts) < 4096:
            _key_verdicts[key] = verdict
            if not verdict:
                _clean_keys.add(key)
    return verdict


def scrub_text(text: str) -> str:
    """Replace secret-looking values and URL credentials inside one string."""
    if "://" in text:
        text = _URL_CREDENTIALS.sub(r"\1" + REDACTED + "@", text)
    return _SECRET_VALUE.sub(REDACTED, text)


def scrub_value(value: Any) -> Any:
    """Scrub strings at any depth; values under secret-looking keys are replaced whole."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {
            scrub_value(k): (
                REDACTED if isinstance(k, str) and is_secret_key(k) else scrub_value(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [scrub_value(v) for v in value]
    return value


def strip_url_credentials(url: str) -> str:
    """A remote URL without any user or password (for ``remote_url``)."""
    return re.sub(r"(\b[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]+@", r"\1", url)


def redact_ip(address: str, mode: str) -> str:
    """Truncate an IP address: ``truncate`` /24 and /48, ``strict`` /16 and /32, ``full`` as is.

    Raises ValueError for something that is not an IP address.
    """
    import ipaddress  # only events that carry an address pay for this import

    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        raise ValueError(f"source_ip is not an IP address: {address!r}") from None
    if mode == "full":
        return str(ip)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = {("truncate", 4): 24, ("truncate", 6): 48, ("strict", 4): 16, ("strict", 6): 32}
    net = ipaddress.ip_network(f"{ip}/{prefix[(mode, ip.version)]}", strict=False)
    return str(net.network_address)
