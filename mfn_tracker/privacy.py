"""Pseudonymous user ids: a keyed HMAC-SHA256, so names cannot be recovered by enumeration.

A plain SHA-256 of a user name is reversed in under a second by hashing a list of candidate
names (FACTS.md); a secret key kept in the config directory prevents that. The ``p1:`` prefix
names the scheme's version so a later scheme can coexist with old lines. Standard library only:
the writer calls this on the git hook path when ``MFN_PSEUDONYMIZE=1``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import stat
import threading
from pathlib import Path

from mfn_tracker.errors import TrackerError
from mfn_tracker.settings import Settings

PREFIX = "p1:"
KEY_FILE = "pseudonym.key"
_KEY_BYTES = 32
_DIGEST_HEX = 32  # 128 bits: collisions are out of reach for any realistic number of users
PSEUDONYM_RE = re.compile(r"^p1:[0-9a-f]{32}$")

_keys: dict[Path, bytes] = {}
_keys_lock = threading.Lock()


def is_pseudonym(user_id: str) -> bool:
    return PSEUDONYM_RE.fullmatch(user_id) is not None


def pseudonymize_user(user_id: str, settings: Settings) -> str:
    """``p1:`` + the first 128 bits of HMAC-SHA256(key, user_id), in hex.

    Idempotent: an id that already is a pseudonym is returned unchanged, so a filter or a key
    record may pass either form.
    """
    if is_pseudonym(user_id):
        return user_id
    key = load_key(settings)
    digest = hmac.new(key, user_id.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
    return PREFIX + digest[:_DIGEST_HEX]


def key_path(settings: Settings) -> Path:
    return settings.config_dir / KEY_FILE


def load_key(settings: Settings) -> bytes:
    """The installation's pseudonymization key, created (0600, in a 0700 dir) on first use."""
    path = key_path(settings)
    with _keys_lock:
        key = _keys.get(path)
        if key is None:
            key = _read_key(path, shared=settings.shared) or _create_key(
                path, shared=settings.shared
            )
            _keys[path] = key
        return key


def _read_key(path: Path, *, shared: bool = False) -> bytes | None:
    """The key, refused if others may change it or read it (group may read in shared mode)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise TrackerError(f"cannot read pseudonymization key {path}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if st.st_uid not in (os.geteuid(), 0) or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise TrackerError(f"refusing pseudonymization key {path}: others may change it")
        readers = stat.S_IROTH if shared else stat.S_IROTH | stat.S_IRGRP
        if st.st_mode & readers:
            raise TrackerError(
                f"refusing pseudonymization key {path}: others may read it and undo the "
                f"pseudonyms (run `chmod {'640' if shared else '600'} {path}`)"
            )
        key = os.read(fd, 4096)
    finally:
        os.close(fd)
    if len(key) != _KEY_BYTES:
        raise TrackerError(f"pseudonymization key {path} is damaged ({len(key)} bytes)")
    return key


def _create_key(path: Path, *, shared: bool) -> bytes:
    """Write the key under a temporary name and link it in, so a racing process reads it whole."""
    ensure_private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, os.urandom(_KEY_BYTES))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # fails if another process won the race: use its key
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    key = _read_key(path, shared=shared)
    if key is None:  # pragma: no cover - removed between link and read
        raise TrackerError(f"pseudonymization key {path} vanished while being created")
    return key


def ensure_private_dir(path: Path) -> None:
    """Create the config directory 0700 if missing; refuse a symlink or one others can write."""
    if not os.path.lexists(path):
        try:
            os.makedirs(path, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise TrackerError(f"cannot create {path}: {exc.strerror}") from None
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise TrackerError(f"refusing config directory {path}: not a plain directory")
    if st.st_uid not in (os.geteuid(), 0) or st.st_mode & stat.S_IWOTH:
        raise TrackerError(f"refusing config directory {path}: others may write to it")


def forget_keys() -> None:
    """Drop cached keys (tests, or after rotating a key file)."""
    with _keys_lock:
        _keys.clear()
