"""Audit events share one writer per storage: a server recording every request keeps its files."""

from __future__ import annotations

import os

from mfn_tracker.access import Caller, record_read
from mfn_tracker.settings import Settings
from tests.helpers.events import all_events, chain_ok


def test_many_reads_reuse_one_writer(settings: Settings) -> None:
    caller = Caller("admin", "root", "k")
    record_read(settings, caller, command="warm up", filters={})
    before = len(os.listdir("/proc/self/fd"))
    for i in range(50):
        record_read(settings, caller, command=f"read {i}", filters={"n": i})
    assert len(os.listdir("/proc/self/fd")) <= before + 1
    events = all_events(settings.storage_path)
    assert [e["metadata"]["command"] for e in events[-2:]] == ["read 48", "read 49"]
    assert chain_ok(settings.storage_path)
