"""``mfn-tracker keys create|list|revoke``: issue and withdraw API keys (needs write access to
the config directory). A new key is printed once; only its hash is kept."""

from __future__ import annotations

import click

from mfn_tracker.settings import load_settings


@click.group()
def keys() -> None:
    """Manage API keys (stored as hashes in the config directory)."""


@keys.command("create")
@click.option("--user", "user_id", required=True, help="The user_id this key reads as.")
@click.option("--role", type=click.Choice(["admin", "user"]), required=True)
def create_command(user_id: str, role: str) -> None:
    """Issue a key and print it once (stdout: the key alone; stderr: what to do with it)."""
    from mfn_tracker.access.management import issue_key

    record, api_key = issue_key(load_settings(), user_id=user_id, role=role)
    click.echo(api_key)
    click.echo(
        f"mfn-tracker: key {record.key_id} ({role} for {user_id!r}) created; it is shown only "
        "now: store it (e.g. MFN_API_KEY) and revoke it if it leaks",
        err=True,
    )


@keys.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def list_command(fmt: str) -> None:
    """Every key's id, user, role, creation and revocation time (never the key or its hash)."""
    from mfn_tracker.access.keys import load_keys
    from mfn_tracker.query import output

    rows = [
        {
            "key_id": r.key_id,
            "user_id": r.user_id,
            "role": r.role,
            "created": r.created,
            "revoked": r.revoked,
        }
        for r in load_keys(load_settings())
    ]
    if fmt == "json":
        click.echo(output.json_text(rows))
        return
    for line in output.plain_table(rows, ("key_id", "user_id", "role", "created", "revoked")):
        click.echo(line)


@keys.command("revoke")
@click.argument("key_id")
def revoke_command(key_id: str) -> None:
    """Revoke a key by its id (see `keys list`); later uses are denied and recorded."""
    from mfn_tracker.access.management import withdraw_key

    record = withdraw_key(load_settings(), key_id)
    click.echo(f"revoked {record.key_id} ({record.role} for {record.user_id!r})")
