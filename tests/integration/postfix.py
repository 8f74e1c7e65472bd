"""A throwaway Postfix (and OpenDKIM milter) on loopback, entirely under one temp directory.

Debian's ``postfix`` package, installed but never configured (``No configuration``), is enough:
the instance gets its own config_directory, queue_directory and data_directory, listens on one
free port of 127.0.0.1 and never touches /etc/postfix, port 25 or DNS. Usage::

    with throwaway_postfix("smtp:[127.0.0.1]:2525", sender_bcc_maps=inline({...})) as mta:
        swaks(mta.port, ...)
        mta.wait_for_log(r"to=<log@crm\\.example\\.com>.*status=sent")

What it takes, found by experiment (Postfix 3.7):

- ``postfix start`` needs root (the master daemon drops privileges per service), so callers
  skip when not root.
- ``postfix -c DIR check`` (run by ``start`` too) creates the queue subdirectories with the
  right owners (postfix, and group postdrop for maildrop/ and public/). It does not re-own
  data_directory, and the master refuses to start ("open lock file .../master.lock: Permission
  denied") until that directory belongs to the postfix user. ``postfix set-permissions`` would
  fix it, but it also re-owns the system's own Postfix files, so only data_directory is chowned.
- The root directory is a short ``mkdtemp`` path (unix sockets under queue/private/ must stay
  within the 108-byte limit, which a pytest tmp_path can exceed) with mode 0755, so that
  services running as the postfix user can reach data_directory and the log file.
- Without syslog, ``maillog_file`` with the ``postlog`` service (postlogd) writes the log; its
  path must start with one of ``maillog_file_prefixes`` (default ``/var, /dev/stdout``).
- master.cf is generated: one smtpd on 127.0.0.1:<port> instead of ``smtp inet`` on port 25,
  and chroot off everywhere (a chroot would need copies of /etc files in the queue directory).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

GATEWAY_DOMAIN = "crm.example.com"
HOSTNAME = "postfix.test"  # must differ from bccrm's [gateway] hostname (loop detection)
DISCARD_REASON = "no mail leaves the test"

# The services this test instance needs, all without chroot ("n" in the 5th column).
MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n -  0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n -  - trivial-rewrite
bounce    unix  - - n -  0 bounce
defer     unix  - - n -  0 bounce
trace     unix  - - n -  0 bounce
verify    unix  - - n -  1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -  - proxymap
smtp      unix  - - n -  - smtp
lmtp      unix  - - n -  - lmtp
showq     unix  n - n -  - showq
error     unix  - - n -  - error
retry     unix  - - n -  - error
discard   unix  - - n -  - discard
anvil     unix  - - n -  1 anvil
scache    unix  - - n -  1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (the usual small race is acceptable in tests)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on 127.0.0.1:{port}") from None
            time.sleep(0.05)


def inline(table: Mapping[str, str]) -> str:
    """A Postfix ``inline:`` lookup table: no postmap, no files."""
    return "inline:{ " + ", ".join(f"{key}={value}" for key, value in table.items()) + " }"


def main_cf(root: Path, port: int, gateway_nexthop: str, settings: Mapping[str, str]) -> str:
    base = {
        "compatibility_level": "3.6",  # current defaults, no backwards-compatibility warnings
        "queue_directory": str(root / "queue"),
        "data_directory": str(root / "data"),
        "maillog_file": str(root / "maillog"),
        "maillog_file_prefixes": str(root),  # maillog_file must start with one of these
        "myhostname": HOSTNAME,
        "mydomain": HOSTNAME,
        "myorigin": HOSTNAME,
        # Nothing is delivered locally: no aliases, no local(8), no mailbox anywhere.
        "mydestination": "",
        "alias_maps": "",
        "alias_database": "",
        "local_recipient_maps": "",
        # Loopback only; clients on it may relay (permit_mynetworks), as the org's users would.
        "inet_interfaces": "127.0.0.1",
        "inet_protocols": "ipv4",
        "mynetworks": "127.0.0.0/8",
        # No DNS at all: literal next hops, no reverse lookup of connecting clients.
        "smtpd_peername_lookup": "no",
        "smtp_dns_support_level": "disabled",
        "lmtp_dns_support_level": "disabled",
        "smtp_host_lookup": "native",
        "lmtp_host_lookup": "native",
        "smtp_tls_security_level": "none",
        "lmtp_tls_security_level": "none",
        "smtpd_tls_security_level": "none",
        # The gateway domain goes to bccrm; everything else is discarded, never sent anywhere.
        "transport_maps": inline({GATEWAY_DOMAIN: gateway_nexthop}),
        "default_transport": f"discard:{DISCARD_REASON}",
        # Prompt delivery and prompt retries after a 4xx from bccrm.
        "queue_run_delay": "1s",
        "minimal_backoff_time": "1s",
        "maximal_backoff_time": "2s",
        "biff": "no",
    }
    return "".join(f"{key} = {value}\n" for key, value in (base | dict(settings)).items())


# Warnings about the machine, not about the mail: a busy VM's clocks drift by a second.
_ENVIRONMENT = re.compile(r"file system clock is .* of local clock|resetting file time stamps")


@dataclass
class Postfix:
    """A running throwaway instance; ``port`` is its smtpd on 127.0.0.1."""

    root: Path
    port: int
    postfix: str

    @property
    def config_dir(self) -> Path:
        return self.root / "etc"

    @property
    def log_file(self) -> Path:
        return self.root / "maillog"

    def command(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.postfix, "-c", str(self.config_dir), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def log(self) -> str:
        try:
            return self.log_file.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def warnings(self) -> list[str]:
        return [
            line
            for line in self.log().splitlines()
            if re.search(r"(warning|fatal|panic):", line) and not _ENVIRONMENT.search(line)
        ]

    def wait_for_log(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            if match := re.search(pattern, self.log()):
                return match
            if time.monotonic() > deadline:
                raise AssertionError(f"no Postfix log line matching {pattern!r}:\n{self.log()}")
            time.sleep(0.1)

    def master_pid(self) -> int | None:
        try:
            return int((self.root / "queue" / "pid" / "master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def start(self) -> None:
        check = self.command("check")
        if check.returncode != 0:
            raise RuntimeError(f"postfix check failed:\n{check.stderr}\n{self.log()}")
        started = self.command("start")
        if started.returncode != 0:
            raise RuntimeError(f"postfix start failed:\n{started.stderr}\n{self.log()}")
        wait_for_port(self.port)

    def stop(self) -> None:
        """``postfix stop``; ``abort`` and then SIGKILL of our master if it does not go."""
        pid = self.master_pid()
        self.command("stop")
        if pid is None or _gone(pid, 15):
            return
        self.command("abort")
        if not _gone(pid, 5):
            os.kill(pid, signal.SIGKILL)
            _gone(pid, 5)


def _gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


@contextmanager
def throwaway_postfix(gateway_nexthop: str, postfix: str, **settings: str) -> Iterator[Postfix]:
    """Run Postfix relaying the gateway domain to ``gateway_nexthop`` (a transport_maps value
    such as ``smtp:[127.0.0.1]:2525`` or ``lmtp:inet:[127.0.0.1]:2525``); ``settings`` are
    further main.cf parameters (``sender_bcc_maps``, ``always_bcc``, ``smtpd_milters``...)."""
    root = Path(tempfile.mkdtemp(prefix="bccrm-postfix-"))
    try:
        root.chmod(0o755)
        for name in ("etc", "queue", "data"):
            (root / name).mkdir()
        shutil.chown(root / "data", user="postfix")
        instance = Postfix(root, free_port(), postfix)
        (root / "etc" / "main.cf").write_text(
            main_cf(root, instance.port, gateway_nexthop, settings)
        )
        (root / "etc" / "master.cf").write_text(MASTER_CF.format(port=instance.port))
        try:
            instance.start()
            yield instance
        finally:
            instance.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def opendkim_milter(opendkim: str, key_pem: bytes, domain: str, selector: str) -> Iterator[str]:
    """OpenDKIM as a signing milter on a free loopback port; yields the Postfix milter address
    (``inet:127.0.0.1:PORT``) for ``smtpd_milters``.

    ``RequireSafeKeys no`` because the key lives under /tmp: OpenDKIM otherwise refuses a key
    file in a directory others can write to (the message names the config file, confusingly:
    "opendkim.conf: /tmp can be read or written by other users")."""
    root = Path(tempfile.mkdtemp(prefix="bccrm-opendkim-"))
    try:
        key_file = root / f"{selector}.private"
        key_file.write_bytes(key_pem)
        key_file.chmod(0o600)
        port = free_port()
        conf = root / "opendkim.conf"
        conf.write_text(
            f"Socket inet:{port}@127.0.0.1\n"
            f"Domain {domain}\nSelector {selector}\nKeyFile {key_file}\n"
            "Mode s\n"  # sign only (mail from InternalHosts, default 127.0.0.1)
            "SignatureAlgorithm rsa-sha256\n"
            "Canonicalization relaxed/simple\n"
            "OversignHeaders From\n"  # as Debian's shipped opendkim.conf does
            "RequireSafeKeys no\nSyslog no\nBackground no\n"
        )
        with (root / "opendkim.log").open("wb") as log:
            process = subprocess.Popen(
                [opendkim, "-f", "-x", str(conf)], stdout=log, stderr=subprocess.STDOUT
            )
        try:
            try:
                wait_for_port(port)
            except TimeoutError:
                raise RuntimeError(
                    "opendkim did not start: " + (root / "opendkim.log").read_text()
                ) from None
            yield f"inet:127.0.0.1:{port}"
        finally:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def opendkim_testmsg_sign(
    testmsg: str, message: bytes, key_pem: bytes, domain: str, selector: str
) -> bytes:
    """``message`` (CRLF line endings) signed by OpenDKIM's ``opendkim-testmsg``.

    ``-C`` matters: without it the tool converts its header's CRLFs to LFs in place but still
    writes the original length, so the end of ``b=`` is repeated (one character per folded line)
    and the signature is unusable. The tool always signs rsa-sha1, relaxed/simple (hard-coded
    in 2.11; there is no option), which RFC 8301 verifiers, bccrm among them, refuse."""
    root = Path(tempfile.mkdtemp(prefix="bccrm-testmsg-"))
    try:
        key_file = root / "key.pem"
        key_file.write_bytes(key_pem)
        key_file.chmod(0o600)
        result = subprocess.run(
            [testmsg, "-C", "-d", domain, "-s", selector, "-k", str(key_file), "-t", str(root)],
            input=message,
            capture_output=True,
            timeout=30,
            check=False,
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if result.returncode != 0:
        raise RuntimeError(f"opendkim-testmsg failed: {result.stderr.decode(errors='replace')}")
    return result.stdout
