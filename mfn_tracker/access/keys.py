"""The API key registry: ``<config_dir>/keys.json``, holding only a SHA-256 of each key.

Keys are 256 random bits, so a plain SHA-256 cannot be reversed by guessing (unlike user names);
the key itself is shown once, when created, and never written anywhere. The file is 0600 in a
0700 directory (0640/0750 in shared mode) and is refused when others could change or read more.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from mfn_tracker.errors import EXIT_USAGE, AccessDenied, TrackerError
from mfn_tracker.settings import Settings
from mfn_tracker.store.timestamps import format_ms, now_ms

KEYS_FILE = "keys.json"
LOCK_FILE = ".keys.lock"
KEY_PREFIX = "mfn_"
ROLES = ("admin", "user")
HASH_PREFIX_LEN = 12  # what auth_failure events show of an unknown key's hash


@dataclass(frozen=True)
class KeyRecord:
    """One issued key, as stored: never the key, only its hash."""

    key_id: str
    user_id: str
    role: str
    created: str
    key_hash: str
    revoked: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked is None


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8", "surrogatepass")).hexdigest()


def key_hash_prefix(api_key: str) -> str:
    """Enough of a key's hash to correlate failures, never enough to reveal the key."""
    return hash_key(api_key)[:HASH_PREFIX_LEN]


def keys_path(settings: Settings) -> Path:
    return settings.config_dir / KEYS_FILE


def load_keys(settings: Settings) -> list[KeyRecord]:
    """Every record (revoked ones included); an absent registry is empty."""
    path = keys_path(settings)
    _check_dir(settings, create=False)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise TrackerError(f"cannot read key registry {path}: {exc.strerror}") from None
    try:
        _check_mode(path, os.fstat(fd), settings.file_mode, "key registry")
        with os.fdopen(os.dup(fd), "rb") as stream:
            data = stream.read()
    finally:
        os.close(fd)
    return _decode(path, data)


def find_key(settings: Settings, api_key: str) -> KeyRecord | None:
    """The record whose hash matches ``api_key`` (revoked or not); compared in constant time."""
    wanted = hash_key(api_key)
    found = None
    for record in load_keys(settings):
        if hmac.compare_digest(record.key_hash, wanted):
            found = record
    return found


def match_admin_key(settings: Settings, api_key: str) -> int | None:
    """Position (1-based) of ``api_key`` in ``MFN_ADMIN_KEYS``: an exact, constant-time match.

    Hashing both sides first makes every comparison the same length, so timing reveals nothing.
    """
    wanted = hashlib.sha256(api_key.encode("utf-8", "surrogatepass")).digest()
    found = None
    for position, candidate in enumerate(settings.admin_keys, 1):
        digest = hashlib.sha256(candidate.encode("utf-8", "surrogatepass")).digest()
        if hmac.compare_digest(digest, wanted):
            found = position
    return found


def create_key(settings: Settings, *, user_id: str, role: str) -> tuple[KeyRecord, str]:
    """Issue a key; returns its record and the key, which the caller shows once."""
    if role not in ROLES:
        raise TrackerError(f"role {role!r} is not one of: {', '.join(ROLES)}", exit_code=EXIT_USAGE)
    if not user_id.strip() or len(user_id) > 256 or any(c in user_id for c in "\n\r\t\0"):
        raise TrackerError(f"invalid user id {user_id!r}", exit_code=EXIT_USAGE)
    import secrets  # here: every read authenticates through this module, few create keys

    api_key = KEY_PREFIX + secrets.token_urlsafe(32)
    record = KeyRecord(
        key_id=secrets.token_hex(4),
        user_id=user_id,
        role=role,
        created=format_ms(now_ms()),
        key_hash=hash_key(api_key),
    )
    with _locked(settings):
        records = load_keys(settings)
        _store(settings, [*records, record])
    return record, api_key


def revoke_key(settings: Settings, key_id: str) -> KeyRecord:
    """Mark a key revoked (kept, so failures with it can be told apart from unknown keys)."""
    with _locked(settings):
        records = load_keys(settings)
        for index, record in enumerate(records):
            if record.key_id == key_id:
                if record.revoked is not None:
                    raise TrackerError(f"key {key_id} is already revoked ({record.revoked})")
                records[index] = replace(record, revoked=format_ms(now_ms()))
                _store(settings, records)
                return records[index]
    raise TrackerError(f"no key with id {key_id!r} (see `mfn-tracker keys list`)")


def _decode(path: Path, data: bytes) -> list[KeyRecord]:
    try:
        raw = json.loads(data)
        return [KeyRecord(**item) for item in raw["keys"]]
    except (ValueError, KeyError, TypeError):
        raise TrackerError(f"key registry {path} is damaged (not the expected JSON)") from None


def _store(settings: Settings, records: list[KeyRecord]) -> None:
    """Write the whole registry under a temporary name, then rename it over the old one."""
    path = keys_path(settings)
    data = json.dumps({"version": 1, "keys": [asdict(r) for r in records]}, indent=1).encode()
    tmp = path.with_name(f".{KEYS_FILE}.{os.getpid()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(tmp, flags, settings.file_mode)
        try:
            os.fchmod(fd, settings.file_mode)
            os.write(fd, data + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise TrackerError(f"cannot write key registry {path}: {exc.strerror}") from None


@contextlib.contextmanager
def _locked(settings: Settings) -> Iterator[None]:
    """Serialize registry changes; managing keys needs write access to the config directory."""
    directory = _check_dir(settings, create=True)
    if not os.access(directory, os.W_OK | os.X_OK):
        raise AccessDenied(f"managing keys needs write access to {directory}")
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(directory / LOCK_FILE, flags, settings.file_mode)
    except OSError as exc:
        raise TrackerError(f"cannot lock key registry in {directory}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _check_dir(settings: Settings, *, create: bool) -> Path:
    directory = settings.config_dir
    if create and not os.path.lexists(directory):
        try:
            os.makedirs(directory.parent, mode=0o700, exist_ok=True)
            os.mkdir(directory, settings.dir_mode)
        except FileExistsError:
            pass
        except OSError as exc:
            raise TrackerError(f"cannot create {directory}: {exc.strerror}") from None
    try:
        st = os.lstat(directory)
    except FileNotFoundError:
        return directory
    if not stat.S_ISDIR(st.st_mode):
        raise TrackerError(f"refusing config directory {directory}: not a plain directory")
    _check_mode(directory, st, settings.dir_mode, "config directory")
    return directory


def _check_mode(path: Path, st: os.stat_result, allowed: int, what: str) -> None:
    """Refuse what another local user could have planted, changed or read."""
    if st.st_uid not in (os.geteuid(), 0):
        raise TrackerError(f"refusing {what} {path}: owned by uid {st.st_uid}, not by you")
    extra = stat.S_IMODE(st.st_mode) & ~allowed & 0o777
    if extra:
        raise TrackerError(
            f"refusing {what} {path}: mode {stat.S_IMODE(st.st_mode):o} gives others access "
            f"(chmod {allowed:o} {path})"
        )
