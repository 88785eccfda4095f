"""``mfn-tracker doctor`` checks for the key registry and bootstrap admin keys."""

from __future__ import annotations

from mfn_tracker.access.keys import keys_path, load_keys
from mfn_tracker.doctor import Check
from mfn_tracker.errors import TrackerError
from mfn_tracker.settings import Settings

MIN_BOOTSTRAP_KEY = 20  # characters; a short MFN_ADMIN_KEYS value can be guessed


def checks(settings: Settings) -> list[Check]:
    return [_registry(settings), _bootstrap(settings)]


def _registry(settings: Settings) -> Check:
    path = keys_path(settings)
    try:
        records = load_keys(settings)
    except TrackerError as exc:
        return Check("keys", "fail", str(exc))
    active = [r for r in records if r.active]
    if not records:
        return Check("keys", "warn", f"no keys yet in {path}: `mfn-tracker keys create`")
    admins = sum(r.role == "admin" for r in active)
    return Check(
        "keys", "ok", f"{path}: {len(active)} active ({admins} admin), {len(records)} total"
    )


def _bootstrap(settings: Settings) -> Check:
    weak = [i for i, k in enumerate(settings.admin_keys, 1) if len(k) < MIN_BOOTSTRAP_KEY]
    if weak:
        return Check(
            "admin-keys",
            "warn",
            f"MFN_ADMIN_KEYS entries {weak} are shorter than {MIN_BOOTSTRAP_KEY} characters",
        )
    return Check("admin-keys", "ok", f"{len(settings.admin_keys)} bootstrap admin key(s)")
