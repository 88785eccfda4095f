"""The secret screen may let the writer skip scrubbing only for text the scrub would not change."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from mfn_tracker.store import scrub

# Pieces of every secret shape the scrub knows, to be glued to each other and to random text.
_PIECES = [
    "AKIA",
    "ABCDEFGHIJKLMNOP",
    "ghp_",
    "gho_",
    "ghs_",
    "github_pat_",
    "glpat-",
    "xoxb-",
    "xoxp-",
    "AIza",
    "mfn_",
    "a" * 36,
    "Z9" * 41,
    "K3y-_" * 9,
    "-----BEGIN RSA PRIVATE KEY-----",
    "-----END RSA PRIVATE KEY-----",
    "-----BEGIN OPENSSH PRIVATE KEY-----",
    "Bearer",
    " ",
    "\t",
    "\n",
    "eyJ",
    ".",
    "https://",
    "git+ssh://",
    "bob:s3cret@",
    "@",
    "/",
    '"',
    "\\",
    # whole secrets, so every shape turns up often, glued to whatever comes next
    *(f"gh{kind}_" + "a" * 36 for kind in "pousr"),
    *(f"xox{kind}-1" for kind in "baprs"),
    "github_pat_" + "b" * 82,
    "mfn_" + "K3y-_" * 9,
    "mfn_" + "x" * 43,
    "AKIAABCDEFGHIJKLMNOP",
    "glpat-" + "c" * 20,
    "AIza" + "d" * 35,
    "Bearer x",
    "eyJa.b.c",
    "https://u:p@h",
]
secretish = st.lists(st.sampled_from(_PIECES) | st.text(max_size=12), max_size=10).map("".join)


@settings(max_examples=3_000, deadline=None)
@given(text=secretish)
def test_the_screen_flags_every_value_the_scrub_would_change(text: str) -> None:
    body = json.dumps({"action_description": text, "host": "h"}, ensure_ascii=False)
    if scrub.scrub_text(text) != text:
        assert scrub.might_hold_secret(body, None), text


def test_the_screen_passes_an_ordinary_commit_event() -> None:
    """The point of the screen: a usual event is not scrubbed field by field."""
    fields = {
        "event_type": "commit",
        "user_id": "alice",
        "action_description": "Commit 1f3a9c0 on main: fix the parser",
        "files_changed": ["src/parser.py"],
        "metadata": {"branch": "main", "commit": "1f3a9c0" + "0" * 33},
        "repo": "/home/alice/project",
    }
    body = json.dumps(fields, ensure_ascii=False)
    assert not scrub.might_hold_secret(body, fields["metadata"])


def test_secret_looking_metadata_keys_are_flagged_at_any_depth() -> None:
    body = json.dumps({"metadata": {"a": {"b": [{"Session-Id": 1}]}}})
    assert scrub.might_hold_secret(body, {"a": {"b": [{"Session-Id": 1}]}})
