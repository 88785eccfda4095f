"""The one writer: line format, chain, storage safety, concurrency, crashes, limits, scrubbing."""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from mfn_tracker.errors import TrackerError
from mfn_tracker.settings import Settings, load_settings
from mfn_tracker.store.layout import CHAIN_FILE
from mfn_tracker.store.writer import MAX_LINE_BYTES, EventWriter, InvalidEvent, WriteError
from tests.helpers.events import all_events, chain_ok, day_files, raw_lines

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def event(**fields: object) -> dict[str, object]:
    return {"event_type": "commit", "user_id": "alice", "action_description": "c", **fields}


def test_line_holds_the_contract_fields_in_order(settings: Settings, storage: Path) -> None:
    record = EventWriter(settings).write(
        event(files_changed=["a.py"], metadata={"branch": "main"}, repo="/r", duration_ms=3)
    )
    (line,) = raw_lines(storage)
    parsed = json.loads(line)
    assert parsed == record
    assert list(parsed)[:4] == ["system_event", "event_id", "seq", "timestamp"]
    assert list(parsed)[-1] == "prev"
    assert parsed["prev"] == "0" * 64 and parsed["seq"] == 1
    assert TIMESTAMP.match(parsed["timestamp"])
    assert parsed["status"] == "success"
    assert re.match(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-", parsed["event_id"])
    assert "comments" not in parsed  # empty optional fields are left out


def test_chain_links_every_line_to_the_previous_bytes(settings: Settings, storage: Path) -> None:
    writer = EventWriter(settings)
    for i in range(50):
        writer.write(event(action_description=f"c{i}"))
    assert [e["seq"] for e in all_events(storage)] == list(range(1, 51))
    assert chain_ok(storage)


def test_day_file_comes_from_the_events_own_timestamp(settings: Settings, storage: Path) -> None:
    writer = EventWriter(settings)
    writer.write(event(timestamp="2026-11-26T23:59:59.999Z"))
    writer.write(event(timestamp="2026-11-27T00:00:00.000+00:00"))
    writer.write(event(timestamp="2026-11-27T01:30:00-02:00"))  # 03:30 UTC
    names = [p.name for p in day_files(storage)]
    assert names == ["events_2026-11-26.jsonl", "events_2026-11-27.jsonl"]
    events = all_events(storage)
    assert [e["timestamp"] for e in events] == [
        "2026-11-26T23:59:59.999Z",
        "2026-11-27T00:00:00.000Z",
        "2026-11-27T03:30:00.000Z",
    ]
    assert chain_ok(storage)  # seq and prev continue across day files


def test_storage_and_files_are_private(settings: Settings, storage: Path) -> None:
    EventWriter(settings).write(event())
    assert stat.S_IMODE(storage.stat().st_mode) == 0o700
    for path in [*day_files(storage), storage / CHAIN_FILE]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_shared_mode_lets_a_group_read(tmp_path: Path) -> None:
    settings = load_settings(
        {"MFN_EVENT_STORAGE_PATH": str(tmp_path / "s"), "MFN_EVENT_SHARED": "1"}
    )
    EventWriter(settings).write(event())
    assert stat.S_IMODE((tmp_path / "s").stat().st_mode) == 0o750
    assert stat.S_IMODE(day_files(tmp_path / "s")[0].stat().st_mode) == 0o640


def test_refuses_a_symlinked_storage_directory(tmp_path: Path, settings: Settings) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    settings.storage_path.symlink_to(target)
    with pytest.raises(WriteError, match="symlink"):
        EventWriter(settings).write(event())
    assert list(target.iterdir()) == []


def test_refuses_storage_writable_by_others(settings: Settings) -> None:
    settings.storage_path.mkdir(mode=0o700)
    settings.storage_path.chmod(0o777)
    with pytest.raises(WriteError, match="writable by other users"):
        EventWriter(settings).write(event())


def test_refuses_storage_owned_by_another_user(settings: Settings) -> None:
    settings.storage_path.mkdir(mode=0o700)
    os.chown(settings.storage_path, 65534, 65534)
    if os.geteuid() != 0:
        pytest.fail("this test needs root to hand the directory to another user")
    with pytest.raises(WriteError, match="owned by uid 65534"):
        EventWriter(settings).write(event())


def test_refuses_a_planted_symlink_day_file(tmp_path: Path, settings: Settings) -> None:
    writer = EventWriter(settings)
    writer.write(event(timestamp="2026-01-01T00:00:00Z"))
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (settings.storage_path / "events_2026-01-02.jsonl").symlink_to(victim)
    with pytest.raises(WriteError):
        writer.write(event(timestamp="2026-01-02T00:00:00Z"))
    assert victim.read_text() == "precious\n"


def test_refuses_a_planted_hard_link(tmp_path: Path, settings: Settings) -> None:
    writer = EventWriter(settings)
    writer.write(event(timestamp="2026-01-01T00:00:00Z"))
    victim = tmp_path / "victim"
    victim.write_text("")
    os.link(victim, settings.storage_path / "events_2026-01-02.jsonl")
    with pytest.raises(WriteError, match="not a plain file"):
        writer.write(event(timestamp="2026-01-02T00:00:00Z"))
    assert victim.read_text() == ""


def test_unwritable_storage_raises_a_clear_error(settings: Settings, storage: Path) -> None:
    EventWriter(settings).write(event())
    day = day_files(storage)[0]
    before = day.read_bytes()
    day.chmod(0o400)
    os.chmod(storage, 0o500)
    try:
        if os.geteuid() == 0:  # root ignores modes: make the file immutable-by-type instead
            day.chmod(0o600)
            os.chmod(storage, 0o700)
            day.unlink()
            day.mkdir()  # a directory where the day file should be
        with pytest.raises(WriteError, match="cannot"):
            EventWriter(settings).write(event())
    finally:
        os.chmod(storage, 0o700)
    if day.is_file():
        assert day.read_bytes() == before


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"event_type": "deploy"}, "event_type 'deploy' is unknown"),
        ({"status": "done"}, "status 'done' is not one of"),
        ({"user_id": ""}, "user_id must be a non-empty string"),
        ({"user_id": "   "}, "user_id must be a non-empty string"),
        ({"action_description": ""}, "action_description must be a non-empty string"),
        ({"files_changed": "a.py"}, "files_changed must be a list"),
        ({"duration_ms": -1}, "duration_ms must be a finite number >= 0"),
        ({"duration_ms": float("nan")}, "finite"),
        ({"metadata": {"x": object()}}, "not JSON"),
        ({"metadata": {1: "x"}}, "non-string key"),
        ({"metadata": {"x": float("inf")}}, "non-finite"),
        ({"source_ip": "999.1.1.1"}, "not an IP address"),
        ({"timestamp": "2026-02-30T00:00:00Z"}, "timestamp"),
        ({"colour": "blue"}, "unknown event field"),
    ],
)
def test_invalid_events_are_refused_and_nothing_is_written(
    settings: Settings, storage: Path, fields: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidEvent, match=re.escape(message)):
        EventWriter(settings).write(event(**fields))
    assert raw_lines(storage) == []


def test_secrets_are_scrubbed_before_disk(settings: Settings, storage: Path) -> None:
    token = "ghp_" + "A" * 36
    EventWriter(settings).write(
        event(
            action_description=f"push with {token}",
            comments="Authorization: Bearer abc.def.ghi",
            metadata={
                "Password": "hunter2",
                "nested": {"api_key": "k", "url": "https://bob:s3cret@example.com/repo.git"},
                "aws": "AKIAABCDEFGHIJKLMNOP",
                "pem": "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
                "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig",
            },
        )
    )
    text = storage.joinpath(day_files(storage)[0].name).read_text()
    for secret in (token, "hunter2", "abc.def.ghi", "s3cret", "AKIAABCDEFGHIJKLMNOP", "MIIE"):
        assert secret not in text
    assert "eyJzdWIiOiIxIn0" not in text
    saved = all_events(storage)[0]
    assert saved["metadata"]["nested"]["url"] == "https://[REDACTED]@example.com/repo.git"
    assert saved["metadata"]["Password"] == "[REDACTED]"


@pytest.mark.parametrize(
    "secret",
    [
        "AKIAABCDEFGHIJKLMNOP",
        "ghp_" + "a" * 36,
        "github_pat_" + "b" * 82,
        "glpat-" + "c" * 20,
        "xoxb-123-456-abcdef",
        "AIza" + "d" * 35,
        "mfn_" + "K3y-_" * 9,  # mfn-tracker's own API keys
        "Bearer abc123tokenvalue",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----",
        "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF0\n",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA (no END line)",
    ],
)
@pytest.mark.parametrize("where", ["action_description", "comments", "metadata", "key"])
def test_each_secret_pattern_is_caught_on_its_own(
    settings: Settings, storage: Path, secret: str, where: str
) -> None:
    """One secret per event and no secret-looking key, so the fast screen must catch it."""
    fields: dict[str, object] = {
        "action_description": f"see {secret} here" if where == "action_description" else "x",
        "comments": f"note: {secret}" if where == "comments" else None,
        "metadata": {"note": [("deep", secret)]} if where == "metadata" else None,
    }
    if where == "key":
        fields["metadata"] = {secret: 1}
    EventWriter(settings).write(event(**fields))
    text = day_files(storage)[0].read_text()
    body = secret.rsplit("-----", maxsplit=1)[-1].strip() or secret
    for piece in {secret, secret.rsplit(maxsplit=1)[-1], body}:
        assert piece not in text, piece
    assert "[REDACTED]" in text


def test_url_credentials_are_removed_even_with_quotes(settings: Settings, storage: Path) -> None:
    EventWriter(settings).write(event(metadata={"url": 'https://bob:pa"ss@example.com/r.git'}))
    assert all_events(storage)[0]["metadata"]["url"] == "https://[REDACTED]@example.com/r.git"


@pytest.mark.parametrize(
    ("mode", "address", "stored"),
    [
        ("truncate", "192.168.1.100", "192.168.1.0"),
        ("truncate", "2001:db8:1234:5678::1", "2001:db8:1234::"),
        ("truncate", "::ffff:10.1.2.3", "10.1.2.0"),
        ("strict", "192.168.1.100", "192.168.0.0"),
        ("strict", "2001:db8:1234:5678::1", "2001:db8::"),
        ("full", "192.168.1.100", "192.168.1.100"),
    ],
)
def test_source_ip_is_truncated_unless_configured(
    tmp_path: Path, mode: str, address: str, stored: str
) -> None:
    settings = load_settings({"MFN_EVENT_STORAGE_PATH": str(tmp_path / "s"), "MFN_IP_MODE": mode})
    assert EventWriter(settings).write(event(source_ip=address))["source_ip"] == stored
    assert all_events(tmp_path / "s")[0]["source_ip"] == stored


def test_lines_are_capped_and_say_so(settings: Settings, storage: Path) -> None:
    writer = EventWriter(settings)
    writer.write(
        event(
            action_description="x" * 100_000,
            files_changed=[f"f{i}.py" for i in range(5000)],
            metadata={"blob": "y" * 50_000, "list": list(range(10_000))},
        )
    )
    writer.write(event())
    lines = raw_lines(storage)
    assert all(len(line) <= MAX_LINE_BYTES for line in lines)
    first = json.loads(lines[0])
    assert first["metadata"]["truncated"] is True
    assert first["action_description"].startswith("xxxx")
    assert chain_ok(storage)


def test_undecodable_file_names_stay_valid_utf8(settings: Settings, storage: Path) -> None:
    name = os.fsdecode(b"caf\xe9-\xff.txt")  # bytes that are not UTF-8, as os.listdir gives them
    EventWriter(settings).write(event(files_changed=[name], action_description=f"File {name}"))
    (line,) = raw_lines(storage)
    parsed = json.loads(line.decode("utf-8"))  # strict UTF-8
    assert parsed["files_changed"] == ["caf\\xe9-\\xff.txt"]


WRITER_SCRIPT = textwrap.dedent(
    """
    import sys
    from mfn_tracker.settings import load_settings
    from mfn_tracker.store.writer import EventWriter
    writer = EventWriter(load_settings())
    tag, count = sys.argv[1], int(sys.argv[2])
    for i in range(count):
        writer.write({"event_type": "file_change", "user_id": tag,
                      "action_description": f"{tag} event {i}"})
    """
)


def test_many_processes_and_threads_share_one_chain(settings: Settings, storage: Path) -> None:
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER_SCRIPT, f"proc{i}", "5000"])
        for i in range(8)
    ]
    writer = EventWriter(settings)
    threads = [
        threading.Thread(
            target=lambda t=t: [
                writer.write(event(user_id=f"thread{t}", action_description=str(i)))
                for i in range(250)
            ]
        )
        for t in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [p.wait(timeout=300) for p in procs] == [0] * 8
    events = all_events(storage)  # every line parses
    assert len(events) == 41_000
    assert [e["seq"] for e in events] == list(range(1, 41_001))
    assert len({e["event_id"] for e in events}) == 41_000
    assert chain_ok(storage)
    per_proc = [sum(1 for e in events if e["user_id"] == f"proc{i}") for i in range(8)]
    assert per_proc == [5000] * 8


def test_a_killed_writer_loses_nothing_already_written(settings: Settings, storage: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", WRITER_SCRIPT, "victim", "1000000"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(raw_lines(storage)) < 2000:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    lines = (day_files(storage)[0]).read_bytes().split(b"\n")
    complete = [line for line in lines[:-1] if line]
    assert all(_is_json(line) for line in complete)  # every finished line is whole
    assert lines[-1] == b"" or not _is_json(lines[-1])  # at most one torn tail
    EventWriter(settings).write(event(action_description="after the crash"))
    after = day_files(storage)[0].read_bytes().split(b"\n")
    good = [json.loads(line) for line in after if _is_json(line)]
    assert len(good) == len(complete) + 1
    assert good[-1]["action_description"] == "after the crash"
    assert [e["seq"] for e in good] == list(range(1, len(good) + 1))
    valid = [line for line in after if _is_json(line)]
    for previous, line in itertools.pairwise(valid):
        assert json.loads(line)["prev"] == hashlib.sha256(previous).hexdigest()


def test_a_torn_line_is_stepped_over_and_hides_nothing(settings: Settings, storage: Path) -> None:
    writer = EventWriter(settings)
    for i in range(3):
        writer.write(event(action_description=f"before {i}"))
    day = day_files(storage)[0]
    with day.open("ab") as stream:
        stream.write(b'{"system_event":true,"event_id":"torn-by-a-kill')  # no newline
    EventWriter(settings).write(event(action_description="after"))
    lines = day.read_bytes().split(b"\n")
    assert lines[3].startswith(b'{"system_event":true,"event_id":"torn') and not _is_json(lines[3])
    after = json.loads(lines[4])
    assert after["action_description"] == "after" and after["seq"] == 4
    good = [line for line in lines if _is_json(line)]
    assert after["prev"] == hashlib.sha256(good[2]).hexdigest()


def test_a_lost_or_garbled_head_cache_is_rebuilt_from_the_files(
    settings: Settings, storage: Path
) -> None:
    EventWriter(settings).write(event())
    EventWriter(settings).write(event())
    (storage / CHAIN_FILE).write_bytes(b"garbage")
    EventWriter(settings).write(event())
    (storage / CHAIN_FILE).unlink()
    EventWriter(settings).write(event())
    assert [e["seq"] for e in all_events(storage)] == [1, 2, 3, 4]
    assert chain_ok(storage)


def test_a_writer_follows_a_replaced_chain_file(settings: Settings, storage: Path) -> None:
    first, second = EventWriter(settings), EventWriter(settings)
    first.write(event())
    (storage / CHAIN_FILE).unlink()  # e.g. an administrator cleaning up
    second.write(event())
    first.write(event())
    assert [e["seq"] for e in all_events(storage)] == [1, 2, 3]
    assert chain_ok(storage)


@pytest.mark.parametrize("policy", ["always", "batch", "never"])
def test_every_fsync_policy_writes_everything(tmp_path: Path, policy: str) -> None:
    settings = load_settings(
        {"MFN_EVENT_STORAGE_PATH": str(tmp_path / "s"), "MFN_EVENT_FSYNC": policy}
    )
    writer = EventWriter(settings)
    for _ in range(20):
        writer.write(event())
    writer.close()
    assert len(all_events(tmp_path / "s")) == 20


def test_a_bad_fsync_policy_is_a_usage_error() -> None:
    with pytest.raises(TrackerError, match="MFN_EVENT_FSYNC='sometimes'") as info:
        load_settings({"MFN_EVENT_FSYNC": "sometimes"})
    assert info.value.exit_code == 2


def _is_json(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def test_refuses_storage_writable_by_the_group(settings: Settings) -> None:
    settings.storage_path.mkdir(mode=0o700)
    settings.storage_path.chmod(0o770)
    with pytest.raises(WriteError, match="writable by other users"):
        EventWriter(settings).write(event())


def test_refuses_a_planted_chain_file(tmp_path: Path, settings: Settings) -> None:
    settings.storage_path.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_bytes(b"")
    os.link(victim, settings.storage_path / CHAIN_FILE)
    with pytest.raises(WriteError, match="not a plain file"):
        EventWriter(settings).write(event())
    assert victim.read_bytes() == b""


def test_a_forged_head_cache_cannot_inject_into_lines(settings: Settings, storage: Path) -> None:
    EventWriter(settings).write(event())
    forged = f'v1 1 {"a" * 64} 10 9999-12-31T23:59:59Z","user_id":"mallory events_2026-11-27.jsonl'
    (storage / CHAIN_FILE).write_bytes(forged.encode().ljust(511) + b"\n")
    EventWriter(settings).write(event())
    events = all_events(storage)
    assert [e["user_id"] for e in events] == ["alice", "alice"]
    assert all(TIMESTAMP.match(e["timestamp"]) for e in events)
    assert chain_ok(storage)


def test_future_timestamps_are_refused_and_cannot_drag_the_clock(
    settings: Settings, storage: Path
) -> None:
    writer = EventWriter(settings)
    with pytest.raises(InvalidEvent, match="in the future"):
        writer.write(event(timestamp="2099-06-01T00:00:00Z"))
    writer.write(event(timestamp="2020-01-01T00:00:00Z"))  # a backdated import is fine
    record = writer.write(event())
    assert record["timestamp"] > "2026-01-01"  # stamped now, not pinned to the import's time
    assert chain_ok(storage)


def test_a_writer_killed_after_the_first_line_of_a_day_forks_no_chain(
    settings: Settings, storage: Path
) -> None:
    """The crash window at midnight: the line is on disk, the head cache still says yesterday."""
    writer = EventWriter(settings)
    writer.write(event(timestamp="2020-01-01T23:59:59Z"))
    script = textwrap.dedent(
        """
        import os
        from mfn_tracker.settings import load_settings
        from mfn_tracker.store import writer as W
        W.EventWriter._write_head = lambda self, head: os._exit(9)  # die between the two steps
        W.EventWriter(load_settings()).write({"event_type": "commit", "user_id": "a",
            "action_description": "x", "timestamp": "2020-01-02T00:00:00.001Z"})
        """
    )
    assert subprocess.run([sys.executable, "-c", script], check=False).returncode == 9
    EventWriter(settings).write(event(timestamp="2020-01-02T00:00:00.002Z"))
    assert [e["seq"] for e in all_events(storage)] == [1, 2, 3]
    assert chain_ok(storage)


def test_a_writer_shared_across_fork_keeps_one_chain(settings: Settings, storage: Path) -> None:
    writer = EventWriter(settings)
    writer.write(event())
    children = []
    for n in range(4):
        pid = os.fork()
        if pid == 0:  # the child uses the parent's writer object, as a forking server would
            try:
                for i in range(300):
                    writer.write(event(user_id=f"child{n}", action_description=str(i)))
            finally:
                os._exit(0)
        children.append(pid)
    for i in range(300):
        writer.write(event(action_description=f"parent {i}"))
    for pid in children:
        assert os.waitpid(pid, 0)[1] == 0
    events = all_events(storage)
    assert [e["seq"] for e in events] == list(range(1, 1502))
    assert chain_ok(storage)


def test_an_event_with_thousands_of_keys_is_cut_not_lost(settings: Settings, storage: Path) -> None:
    EventWriter(settings).write(
        event(
            comments="c", metadata={f"k{i}": {f"n{j}": j for j in range(50)} for i in range(3000)}
        )
    )
    (line,) = raw_lines(storage)
    assert len(line) + 1 <= MAX_LINE_BYTES
    parsed = json.loads(line)
    assert parsed["metadata"]["truncated"] is True
    keys = list(parsed)
    assert keys.index("comments") < keys.index("metadata") < keys.index("host")


def test_the_cap_holds_for_long_sequence_numbers(settings: Settings, storage: Path) -> None:
    writer = EventWriter(settings)
    writer.write(event())
    last = all_events(storage)[-1]
    with day_files(storage)[0].open("ab") as out:  # as if the log had grown for ages
        out.write(json.dumps({**last, "seq": 10**18}, separators=(",", ":")).encode() + b"\n")
    (storage / CHAIN_FILE).write_bytes(b"garbage")  # so the head is rebuilt from that line
    record = writer.write(event(action_description="x" * 20_000))
    assert record["seq"] == 10**18 + 1
    assert all(len(line) + 1 <= MAX_LINE_BYTES for line in raw_lines(storage))


def test_an_archived_day_gets_no_second_plain_file(settings: Settings, storage: Path) -> None:
    writer = EventWriter(settings)
    writer.write(event(timestamp="2026-01-01T10:00:00Z"))
    writer.write(event(timestamp="2026-01-02T10:00:00Z"))
    day = storage / "events_2026-01-01.jsonl"

    with writer.exclusive():  # as retention does: compress, then remove the plain file
        (storage / "events_2026-01-01.jsonl.gz").write_bytes(gzip.compress(day.read_bytes()))
        day.unlink()
    with pytest.raises(WriteError, match="2026-01-01 is archived"):
        writer.write(event(timestamp="2026-01-01T11:00:00Z"))
    assert not day.exists()
    writer.write(event())  # today is unaffected


BATCH_WRITER_SCRIPT = textwrap.dedent(
    """
    import sys
    from mfn_tracker.settings import load_settings
    from mfn_tracker.store.writer import EventWriter
    writer = EventWriter(load_settings())
    tag = sys.argv[1]
    for b in range(20):
        writer.write_many([{"event_type": "file_create", "user_id": tag,
                            "action_description": f"{tag} {b}.{i}"} for i in range(100)])
    """
)


def test_a_batch_keeps_its_order_and_one_chain_beside_other_writers(
    settings: Settings, storage: Path
) -> None:
    procs = [
        subprocess.Popen([sys.executable, "-c", BATCH_WRITER_SCRIPT, f"batch{i}"]) for i in range(3)
    ]
    writer = EventWriter(settings)
    for i in range(300):
        writer.write(event(action_description=f"single {i}"))
    assert [p.wait(timeout=120) for p in procs] == [0] * 3
    events = all_events(storage)
    assert len(events) == 6_300
    assert chain_ok(storage)
    for i in range(3):
        mine = [e["action_description"] for e in events if e["user_id"] == f"batch{i}"]
        assert mine == [f"batch{i} {b}.{n}" for b in range(20) for n in range(100)]
    # one batch is one run of lines: no other writer's line lands inside it
    owners = [e["user_id"] for e in events]
    runs = sum(1 for a, b in itertools.pairwise(owners) if a != b and a.startswith("batch"))
    assert runs <= 3 * 20


def test_a_batch_returns_its_event_ids_in_order(settings: Settings, storage: Path) -> None:
    ids = EventWriter(settings).write_many(
        [event(action_description=f"c{i}", metadata={"i": i}) for i in range(600)]
    )
    stored = all_events(storage)
    assert ids == [e["event_id"] for e in stored]
    assert len(set(ids)) == 600
    assert [e["seq"] for e in stored] == list(range(1, 601))
    assert [e["metadata"]["i"] for e in stored] == list(range(600))


def test_one_bad_event_refuses_the_whole_batch(settings: Settings, storage: Path) -> None:
    writer = EventWriter(settings)
    writer.write(event())
    before = raw_lines(storage)
    with pytest.raises(InvalidEvent, match=r"event 3 of the batch: .*user_id"):
        writer.write_many([event(), event(), event(user_id="")])
    assert raw_lines(storage) == before


def test_a_batch_spanning_days_goes_to_each_events_own_day(
    settings: Settings, storage: Path
) -> None:
    writer = EventWriter(settings)
    writer.write_many(
        [
            event(timestamp="2026-01-01T10:00:00Z"),
            event(timestamp="2026-01-01T11:00:00Z"),
            event(timestamp="2026-01-02T09:00:00Z"),
            event(),
        ]
    )
    names = [p.name for p in day_files(storage)]
    assert names[:2] == ["events_2026-01-01.jsonl", "events_2026-01-02.jsonl"]
    assert [len(p.read_bytes().splitlines()) for p in day_files(storage)][:2] == [2, 1]
    assert chain_ok(storage)
    assert writer.write(event())["seq"] == 5
