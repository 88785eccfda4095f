"""``mfn-tracker doctor`` checks for compliance: signing key, checkpoints, pseudonymization."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from mfn_tracker.compliance.checkpoints import key_path, latest
from mfn_tracker.compliance.head import read_head_record
from mfn_tracker.doctor import Check
from mfn_tracker.errors import TrackerError
from mfn_tracker.settings import Settings
from mfn_tracker.store.timestamps import parse_timestamp

_STALE_SECONDS = 86_400


def checks(settings: Settings) -> list[Check]:
    return [_signing_key(settings), _checkpoint(settings), _pseudonyms(settings), _head(settings)]


def _private_file(name: str, path: Path, missing: Check) -> Check:
    try:
        st = path.lstat()
    except FileNotFoundError:
        return missing
    mode = stat.S_IMODE(st.st_mode)
    if not stat.S_ISREG(st.st_mode) or mode & 0o077 or st.st_uid != os.geteuid():
        return Check(name, "fail", f"{path} must be a file of yours with mode 600 (is {mode:o})")
    return Check(name, "ok", f"{path} (mode {mode:o})")


def _signing_key(settings: Settings) -> Check:
    path = key_path(settings)
    missing = Check(
        "signing-key", "warn", f"no checkpoint key yet ({path}): `mfn-tracker checkpoint keygen`"
    )
    return _private_file("signing-key", path, missing)


def _checkpoint(settings: Settings) -> Check:
    try:
        entry = latest(settings)
    except (OSError, TrackerError) as exc:
        return Check("checkpoint", "fail", str(exc))
    head = read_head_record(settings)
    if entry is None:
        if head is None:
            return Check("checkpoint", "ok", "no events yet")
        return Check(
            "checkpoint", "warn", "no signed checkpoint yet: `mfn-tracker checkpoint create`"
        )
    cp = entry["checkpoint"]
    behind = (head.seq - int(cp.get("head_seq", 0)) - 1) if head else 0
    try:
        age = time.time() - parse_timestamp(str(cp.get("time"))) / 1000
    except ValueError:
        return Check("checkpoint", "fail", "the latest checkpoint record is damaged")
    since = max(behind, 0)
    detail = f"latest at seq {cp.get('head_seq')} ({age / 3600:.1f} h ago, {since} events since)"
    if behind > 0 and age > _STALE_SECONDS:
        return Check("checkpoint", "warn", detail + ": run `checkpoint create` from a timer")
    return Check("checkpoint", "ok", detail)


def _pseudonyms(settings: Settings) -> Check:
    from mfn_tracker.privacy import key_path as pseudonym_key

    if not settings.pseudonymize:
        return Check(
            "pseudonymization", "ok", "off: user ids are stored as given (MFN_PSEUDONYMIZE=1)"
        )
    missing = Check("pseudonymization", "ok", "on (the key is created with the first event)")
    return _private_file("pseudonymization", pseudonym_key(settings), missing)


def _head(settings: Settings) -> Check:
    head = read_head_record(settings)
    if head is None:
        return Check("chain-head", "ok", "no head record yet")
    try:
        size = (settings.storage_path / head.file).stat().st_size
    except OSError:
        return Check("chain-head", "warn", f"{head.file} is missing: run `mfn-tracker verify`")
    if size < head.end:
        return Check(
            "chain-head", "fail", f"{head.file} is shorter than the writers left it: run verify"
        )
    return Check("chain-head", "ok", f"seq {head.seq} in {head.file}")
