"""TXT lookups against a real (tiny, loopback) DNS server: answers, "no key" and "retry later"."""

from __future__ import annotations

import time

import dkim
import pytest

from gateway.verify import TemporaryDNSError, make_txt_lookup, verify_dkim
from tests.gateway.verify.dns_server import dns_server
from tests.gateway.verify.keys import make_message, rsa_key, sign

KEY = rsa_key("example.com")
NAME = KEY.name


def test_txt_strings_of_a_record_are_joined() -> None:
    """A 2048-bit key record spans several TXT strings; the lookup returns them joined."""
    with dns_server({NAME: KEY.record}) as server:
        lookup = make_txt_lookup((server.address,), timeout=1)
        assert len(KEY.record) > 255
        assert lookup(f"{NAME}.".encode(), timeout=5) == KEY.record


def test_str_and_bytes_names_are_both_accepted() -> None:
    """dkimpy passes bytes with a trailing dot; a str name without one works too."""
    with dns_server({NAME: b"v=DKIM1; p="}) as server:
        lookup = make_txt_lookup((server.address,), timeout=1)
        assert lookup(NAME) == lookup(f"{NAME}.".encode()) == b"v=DKIM1; p="


def test_nxdomain_is_no_key() -> None:
    """NXDOMAIN is a permanent "no key": b""."""
    with dns_server({}) as server:
        lookup = make_txt_lookup((server.address,), timeout=1)
        assert lookup(b"missing._domainkey.example.com.") == b""


def test_no_answer_is_no_key() -> None:
    """NOERROR without TXT records is a permanent "no key": b""."""
    with dns_server(empty=[NAME]) as server:
        assert make_txt_lookup((server.address,), timeout=1)(NAME) == b""


def test_servfail_is_temporary() -> None:
    """SERVFAIL raises TemporaryDNSError: the message is retried, not judged."""
    with dns_server(servfail=[NAME]) as server:
        lookup = make_txt_lookup((server.address,), timeout=1)
        with pytest.raises(TemporaryDNSError):
            lookup(NAME)


def test_timeout_is_temporary_and_bounded() -> None:
    """A server that never answers raises TemporaryDNSError once the timeout has passed."""
    with dns_server(silent=[NAME]) as server:
        lookup = make_txt_lookup((server.address,), timeout=0.5)
        started = time.monotonic()
        with pytest.raises(TemporaryDNSError):
            lookup(NAME, timeout=5)  # dkimpy's own timeout is ignored: ours wins
        assert 0.4 < time.monotonic() - started < 3
        assert NAME in server.queries


def test_unbuildable_name_is_no_key_without_a_query() -> None:
    """d=example.com. makes dkimpy ask for an empty label: no key, and nothing is sent."""
    with dns_server({NAME: KEY.record}) as server:
        lookup = make_txt_lookup((server.address,), timeout=1)
        assert lookup(b"sel._domainkey.example.com..") == b""
        assert lookup(b"x" * 64 + b"._domainkey.example.com.") == b""
        assert server.queries == []


def test_temporary_error_is_not_a_dkim_exception() -> None:
    """dkimpy swallows DKIMException into False; ours must get through it."""
    assert not issubclass(TemporaryDNSError, dkim.DKIMException)


def test_verify_dkim_end_to_end_through_the_resolver() -> None:
    """A real signature verified with its key fetched over UDP passes."""
    raw = sign(make_message(), KEY)
    with dns_server({NAME: KEY.record}) as server:
        verdict = verify_dkim(raw, "example.com", make_txt_lookup((server.address,), timeout=1))
    assert verdict.passed


def test_verify_dkim_retries_later_on_a_dns_timeout() -> None:
    """A lookup timeout inside dkimpy surfaces as TemporaryDNSError from verify_dkim."""
    raw = sign(make_message(), KEY)
    with dns_server(silent=[NAME]) as server:
        lookup = make_txt_lookup((server.address,), timeout=0.5)
        with pytest.raises(TemporaryDNSError):
            verify_dkim(raw, "example.com", lookup)


@pytest.mark.parametrize("entry", ["127.0.0.1", "127.0.0.1:5353", "::1", "[::1]:5353", "[::1]"])
def test_nameserver_forms_are_accepted(entry: str) -> None:
    """IP, IP:PORT, bare IPv6 and [IPv6]:PORT configure a resolver."""
    assert callable(make_txt_lookup((entry,)))


@pytest.mark.parametrize("entry", ["localhost", "127.0.0.1:0", "127.0.0.1:x", "[::1]:99999", ""])
def test_bad_nameserver_is_a_configuration_error(entry: str) -> None:
    """Anything but an IP address (and a valid port) is refused when the lookup is made."""
    with pytest.raises(ValueError, match="nameserver"):
        make_txt_lookup((entry,))
