"""What of a request may be written: secrets out of query strings, headers and referers."""

from __future__ import annotations

from mfn_tracker.http.redact import safe_request_id, scrub_headers, scrub_query, scrub_url

R = "[REDACTED]"


def test_query_secrets_by_name_and_by_shape() -> None:
    found = scrub_query(
        b"page=2&Access-Token=a&X-API-Key=b&key=c&sig=d&q=ghp_" + b"x" * 36 + b"&q=ok&code=e"
    )
    assert found == {
        "page": "2",
        "Access-Token": R,
        "X-API-Key": R,
        "key": R,
        "sig": R,
        "q": [R, "ok"],
        "code": R,
    }


def test_query_percent_encoding_and_garbage() -> None:
    assert scrub_query("pass%77ord=x&n=%FF") == {"password": R, "n": "\ufffd"}
    assert len(scrub_query("&".join(f"p{i}=v" for i in range(100)))) == 33  # capped, and says so


def test_headers_and_referer() -> None:
    headers = [
        (b"user-agent", b"curl/8"),
        (b"x-api-key", b"secret"),
        (b"referer", b"https://u:p@host/x?token=t&page=1"),
        (b"cookie", b"session=s"),
    ]
    wanted = frozenset({"user-agent", "x-api-key", "referer"})
    assert scrub_headers(headers, wanted) == {
        "user-agent": "curl/8",
        "x-api-key": R,
        "referer": f"https://host/x?token={R}&page=1",
    }
    assert "p@host" not in scrub_url("https://u:p@host/")


def test_request_ids() -> None:
    assert safe_request_id("abc-123") == "abc-123"
    assert safe_request_id("a" * 129) is None
    assert safe_request_id("has space") is None
    assert safe_request_id("eyJhbGciOi.eyJzdWIiOi.c2ln") is None
