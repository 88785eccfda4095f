"""Property tests: whatever text goes in, every line stays one valid JSON object."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mfn_tracker.settings import load_settings
from mfn_tracker.store.writer import MAX_LINE_BYTES, EventWriter
from tests.helpers.events import chain_ok, raw_lines

# Surrogates included: file names that are not UTF-8 reach us as lone surrogates.
anything = st.text(alphabet=st.characters(exclude_categories=()), max_size=300) | st.text(
    max_size=40_000
)
non_empty = anything.filter(lambda s: s.strip() != "")
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | anything,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(anything, inner, max_size=4),
    max_leaves=12,
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    user=non_empty,
    description=non_empty,
    comments=anything,
    files=st.lists(anything, max_size=5),
    metadata=st.dictionaries(anything, json_values, max_size=5),
    request_id=anything,
)
def test_every_line_is_one_json_object(
    tmp_path: Path,
    user: str,
    description: str,
    comments: str,
    files: list[str],
    metadata: dict[str, object],
    request_id: str,
) -> None:
    storage = tmp_path / "prop"
    shutil.rmtree(storage, ignore_errors=True)
    writer = EventWriter(load_settings({"MFN_EVENT_STORAGE_PATH": str(storage)}))
    for _ in range(2):
        writer.write(
            {
                "event_type": "comment",
                "user_id": user[:256],
                "action_description": description,
                "comments": comments,
                "files_changed": files,
                "metadata": metadata,
                "request_id": request_id,
            }
        )
    writer.close()
    data = b"".join(p.read_bytes() for p in storage.glob("events_*.jsonl"))
    data.decode("utf-8")  # strict UTF-8, no BOM
    assert data.endswith(b"\n") and data.count(b"\n") == 2
    for line in raw_lines(storage):
        assert len(line) <= MAX_LINE_BYTES
        parsed = json.loads(line)
        assert isinstance(parsed, dict) and parsed["event_type"] == "comment"
    assert chain_ok(storage)
