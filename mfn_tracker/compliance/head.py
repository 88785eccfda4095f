"""The writers' cached chain head in ``<storage>/.chain``, read without taking their lock."""

from __future__ import annotations

from dataclasses import dataclass

from mfn_tracker.settings import Settings
from mfn_tracker.store.writer import read_chain_head


@dataclass(frozen=True)
class HeadRecord:
    seq: int
    hash: str
    file: str
    end: int


def read_head_record(settings: Settings) -> HeadRecord | None:
    """Where the writers say the chain ends; None when there is no (readable) record."""
    head = read_chain_head(settings.storage_path)
    if head is None or head.seq == 0:
        return None
    return HeadRecord(head.seq, head.hash, head.file, head.end)
