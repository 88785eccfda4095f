"""The writers' cached chain head in ``<storage>/.chain``, read without taking their lock."""

from __future__ import annotations

from dataclasses import dataclass

from mfn_tracker.settings import Settings
from mfn_tracker.store.layout import CHAIN_FILE
from mfn_tracker.store.writer import _Head  # the writer's own decoder: one format, one parser


@dataclass(frozen=True)
class HeadRecord:
    seq: int
    hash: str
    file: str
    end: int


def read_head_record(settings: Settings) -> HeadRecord | None:
    """Where the writers say the chain ends; None when there is no (readable) record."""
    try:
        with open(settings.storage_path / CHAIN_FILE, "rb") as stream:
            head = _Head.decode(stream.read(512))
    except OSError:
        return None
    if head is None or head.seq == 0:
        return None
    return HeadRecord(head.seq, head.hash, head.file, head.end)
