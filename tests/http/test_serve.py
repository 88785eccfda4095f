"""``mfn-tracker serve`` as a user runs it: a real process, a real port, SIGTERM to stop."""

from __future__ import annotations

import os
import re
import signal
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import httpx

from tests.helpers.cli import run_cli
from tests.helpers.events import all_events, chain_ok

ADMIN_KEY = "serve-admin-key-abcdef0123456789"


def test_serve_answers_then_stops_cleanly_on_sigterm(storage: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mfn_tracker", "serve", "--port", "0", "--log-level", "warning"],
        env={**os.environ, "MFN_ADMIN_KEYS": ADMIN_KEY},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        match = re.search(r"serving (http://127\.0\.0\.1:\d+)", line)
        assert match, line
        url = match.group(1)
        assert httpx.get(f"{url}/health", timeout=10).status_code == 200
        r = httpx.get(f"{url}/events", headers={"X-API-Key": ADMIN_KEY}, timeout=10)
        assert r.status_code == 200
        assert httpx.get(f"{url}/events", timeout=10).status_code == 403
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it has shut down
    kinds = [e["event_type"] for e in all_events(storage)]
    assert kinds[0] == "system_start"
    assert kinds[-1] == "system_stop"
    assert kinds.count("api_request") == 1  # the admin's read
    assert kinds.count("auth_failure") == 1  # the anonymous call
    assert chain_ok(storage)


def test_serve_refuses_a_busy_port_in_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("serve", "--port", str(port), timeout=30)
    assert result.code == 1
    assert result.err.strip().splitlines() == [
        f"mfn-tracker: error: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]


def test_serve_usage_errors() -> None:
    assert run_cli("serve", "--port", "70000").code == 2
    no_host = run_cli("serve", "--host", "no-such-host.invalid", timeout=30)
    assert no_host.code == 2
    assert "cannot resolve host" in no_host.err
    assert "Traceback" not in no_host.err


def test_serve_refuses_an_unsafe_storage_before_listening(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    result = run_cli("serve", "--port", "0", env={"MFN_EVENT_STORAGE_PATH": str(link)})
    assert result.code == 1
    assert "refusing storage" in result.err
    assert "symlink" in result.err
    assert "serving" not in result.err


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_serve_https(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    argv = [sys.executable, "-m", "mfn_tracker", "serve", "--port", "0"]
    argv += ["--ssl-certfile", str(cert), "--ssl-keyfile", str(key), "--log-level", "warning"]
    proc = subprocess.Popen(
        argv, env={**os.environ, "MFN_ADMIN_KEYS": ADMIN_KEY}, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stderr is not None
        match = re.search(r"serving (https://127\.0\.0\.1:\d+)", proc.stderr.readline())
        assert match
        url = match.group(1)
        trust = ssl.create_default_context(cafile=str(cert))
        r = httpx.get(f"{url}/events", headers={"X-API-Key": ADMIN_KEY}, verify=trust)
        assert r.status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)


def test_serve_never_prints_query_strings(storage: Path) -> None:
    """uvicorn's access log would print ``?sid=<key>`` raw; requests are recorded by the
    middleware instead (scrubbed)."""
    secret = "mfn_" + "S3cr3t" * 7
    proc = subprocess.Popen(
        [sys.executable, "-m", "mfn_tracker", "serve", "--port", "0", "--log-level", "debug"],
        env={**os.environ, "MFN_ADMIN_KEYS": ADMIN_KEY},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        match = re.search(r"serving (http://127\.0\.0\.1:\d+)", proc.stderr.readline())
        assert match
        url = match.group(1)
        for path in (f"/health?sid={secret}", f"/events?token={secret}", f"/nope?k={secret}"):
            httpx.get(f"{url}{path}", headers={"X-API-Key": ADMIN_KEY}, timeout=10)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert secret not in out + err
    assert "GET /health" not in out + err  # no access log lines at all
    assert secret.encode() not in b"".join(p.read_bytes() for p in storage.glob("events_*"))
