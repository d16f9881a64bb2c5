"""EIP-4361's ABNF, one rule at a time: each field with text it must accept and text it must refuse.

Each case starts from a valid message and replaces one line (or part of one), so a failure names the rule.
"""

from __future__ import annotations

import datetime as dt

import pytest
from eth_account import Account

from coordinator.abnf_rules import is_authority, is_uri, parse_date_time
from coordinator.signin import SiweError, SiweMessage

ADDR = Account.from_key("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d").address
T0 = dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)
BASE = SiweMessage(domain="localhost", address=ADDR, uri="http://localhost", chain_id=31337,
                   nonce="abcdef123456", issued_at=T0, statement="Sign in.").text()


def with_line(prefix: str, value: str, text: str = BASE) -> str:
    """BASE with the line starting `prefix` replaced by prefix + value."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.startswith(prefix):
            lines[i] = prefix + value
            return "\n".join(lines)
    raise AssertionError(f"no line {prefix!r}")


def ok(text: str) -> SiweMessage:
    return SiweMessage.parse(text)


def bad(text: str) -> None:
    with pytest.raises(SiweError):
        SiweMessage.parse(text)


# --- [ scheme "://" ] domain -------------------------------------------------------------------------

@pytest.mark.parametrize("origin,scheme,domain", [
    ("https://example.com", "https", "example.com"),  # the optional scheme the old parser refused
    ("coap+tcp://example.com:5683", "coap+tcp", "example.com:5683"),
    ("example.com", None, "example.com"),
    ("localhost:8000", None, "localhost:8000"),
    ("user@example.com:1", None, "user@example.com:1"),
    ("[::1]:8000", None, "[::1]:8000"),
    ("127.0.0.1", None, "127.0.0.1"),
    ("xn--bcher-kva.example", None, "xn--bcher-kva.example"),
])
def test_scheme_and_domain_accepted(origin, scheme, domain):
    m = ok(BASE.replace("localhost wants", f"{origin} wants", 1))
    assert (m.scheme, m.domain) == (scheme, domain)
    assert SiweMessage.parse(m.text()) == m


@pytest.mark.parametrize("origin", [
    "1https://example.com",  # a scheme starts with a letter
    "ht_tp://example.com",
    "://example.com",
    "https://",  # no host
    "exa mple.com",
    "example.com/path",  # an authority has no path
    "[::zz]:80",  # not an IPv6 address
    "[fe80::1%eth0]",  # RFC 3986 has no zone ids
    "example.com:port",
    "",
    ":8000",
])
def test_scheme_and_domain_refused(origin):
    bad(BASE.replace("localhost wants", f"{origin} wants", 1))


# --- address = "0x" 40HEXDIG, EIP-55 -----------------------------------------------------------------

def test_address_checksummed_accepted():
    assert ok(BASE).address == ADDR


@pytest.mark.parametrize("addr", [ADDR.lower(), ADDR.upper().replace("0X", "0x"), ADDR[:-1], ADDR + "0",
                                  "0X" + ADDR[2:], ADDR[2:] + "00", ADDR.replace("0x", "0x ")])
def test_address_refused(addr):
    bad(BASE.replace(ADDR, addr))


# --- statement = *( reserved / unreserved / " " ) ----------------------------------------------------

@pytest.mark.parametrize("statement", ["Sign in.", "I accept the ToS: https://example.com/tos?v=1#x",
                                       "a-b_c.d~e !$&'()*+,;= :/?#[]@"])
def test_statement_accepted(statement):
    assert ok(BASE.replace("Sign in.", statement)).statement == statement


@pytest.mark.parametrize("statement", ['say "hi"', "100%", "tab\there", "caf\u00e9", "a<b>", "{x}", "back\\slash"])
def test_statement_refused(statement):
    bad(BASE.replace("Sign in.", statement))


def test_no_statement_is_two_empty_lines():
    m = ok(BASE.replace("Sign in.\n", ""))
    assert m.statement is None
    bad(BASE.replace("Sign in.\n\n", ""))  # one empty line only: the ABNF needs two


# --- uri = URI (RFC 3986) ----------------------------------------------------------------------------

@pytest.mark.parametrize("uri", ["http://localhost", "https://example.com:8443/a/b?c=d#e", "urn:isbn:0451450523",
                                 "did:key:z6Mk", "http://[2001:db8::1]/", "mailto:a@b.example", "http:",
                                 "https://example.com/%7Euser"])
def test_uri_accepted(uri):
    assert ok(with_line("URI: ", uri)).uri == uri


@pytest.mark.parametrize("uri", ["localhost", "/relative/path", "http://exa mple.com", "http://h/%zz",
                                 "http://h/<x>", "http://[::1", "1http://x", "", "http://h:80x/"])
def test_uri_refused(uri):
    bad(with_line("URI: ", uri))


# --- version = "1" -----------------------------------------------------------------------------------

def test_version():
    assert ok(BASE).version == "1"
    for v in ("2", "1.0", " 1", "01"):
        bad(with_line("Version: ", v))


# --- chain-id = 1*DIGIT ------------------------------------------------------------------------------

@pytest.mark.parametrize("cid,value", [("1", 1), ("31337", 31337), ("0031337", 31337)])
def test_chain_id_accepted(cid, value):
    assert ok(with_line("Chain ID: ", cid)).chain_id == value


@pytest.mark.parametrize("cid", ["3_1337", "+1", "-1", " 1", "1 ", "0x1", "\u0661\u0662", "", "1e3", "0"])
def test_chain_id_refused(cid):
    # int() takes "3_1337", "+1", " 1" and Arabic-Indic digits; the ABNF takes ASCII digits only.
    bad(with_line("Chain ID: ", cid))


# --- nonce = 8*( ALPHA / DIGIT ) ---------------------------------------------------------------------

def test_nonce():
    assert ok(with_line("Nonce: ", "abcdEF12")).nonce == "abcdEF12"
    for n in ("abc1234", "abcd-1234", "abcdefgh\u00e9", "abcdefgh ", "\uff41" * 8):
        bad(with_line("Nonce: ", n))


# --- issued-at / expiration-time / not-before = date-time (RFC 3339) --------------------------------

@pytest.mark.parametrize("text,expected", [
    ("2026-01-02T03:04:05Z", dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)),
    ("2026-01-02T03:04:05.678Z", T0),
    ("2026-01-02t03:04:05.678z", T0),  # ABNF literals are case-insensitive
    ("2026-01-02T04:04:05.678+01:00", T0),
    ("2026-01-01T22:34:05.678-04:30", T0),
    ("2026-01-02T03:04:05.6780001Z", T0),  # more digits than microseconds: truncated
    ("2016-12-31T23:59:60Z", dt.datetime(2016, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC)),  # leap second
])
def test_times_accepted(text, expected):
    assert ok(with_line("Issued At: ", text)).issued_at == expected
    assert parse_date_time(text) == expected


@pytest.mark.parametrize("text", [
    "2026-01-02 03:04:05Z",  # fromisoformat takes a space
    "2026-01-02T03:04:05",  # no offset
    "20260102T030405Z",  # basic format
    "2026-01-02T03:04Z",  # no seconds
    "2026-W01-5T03:04:05Z",
    "2026-13-02T03:04:05Z", "2026-02-30T03:04:05Z", "2026-01-02T24:00:00Z", "2026-01-02T03:60:05Z",
    "2026-01-02T03:04:05.Z", "2026-01-02T03:04:05+0100", "2026-01-02T03:04:05+24:00",
    "yesterday", "",
])
def test_times_refused(text):
    bad(with_line("Issued At: ", text))
    with pytest.raises(ValueError):
        parse_date_time(text)


def test_optional_times_in_order():
    text = BASE + "\nExpiration Time: 2026-01-02T04:00:00Z\nNot Before: 2026-01-02T03:00:00+00:00"
    m = ok(text)
    assert m.expiration_time == dt.datetime(2026, 1, 2, 4, tzinfo=dt.UTC)
    assert m.not_before == dt.datetime(2026, 1, 2, 3, tzinfo=dt.UTC)
    bad(BASE + "\nNot Before: 2026-01-02T03:00:00Z\nExpiration Time: 2026-01-02T04:00:00Z")  # out of order
    bad(BASE + "\nExpiration Time: 2026-01-02 04:00:00Z")
    bad(BASE + "\nNot Before: tomorrow")


# --- request-id = *pchar -----------------------------------------------------------------------------

@pytest.mark.parametrize("rid", ["r-1", "", "a:b@c!$&'()*+,;=", "%41"])
def test_request_id_accepted(rid):
    assert ok(BASE + f"\nRequest ID: {rid}").request_id == rid


@pytest.mark.parametrize("rid", ["a/b", "a?b", "a b", "%zz", "a#b"])
def test_request_id_refused(rid):
    bad(BASE + f"\nRequest ID: {rid}")


# --- resources = *( LF "- " URI ) --------------------------------------------------------------------

def test_resources_accepted():
    m = ok(BASE + "\nResources:\n- ipfs://bafy\n- https://example.com/a?b#c")
    assert m.resources == ("ipfs://bafy", "https://example.com/a?b#c")
    assert ok(BASE + "\nResources:").resources == ()  # zero resources is allowed


@pytest.mark.parametrize("tail", ["\nResources:\n- not a uri", "\nResources:\n-https://x", "\nResources:\n- ",
                                  "\nResources:\n* https://x", "\nResources: https://x", "\n- https://x"])
def test_resources_refused(tail):
    bad(BASE + tail)


# --- the message as a whole --------------------------------------------------------------------------

@pytest.mark.parametrize("text", [BASE + "\n", BASE.replace("\n", "\r\n"), "\n" + BASE,
                                  BASE.replace("URI: ", "Uri: "), BASE.replace("Chain ID: ", "Chain ID:")])
def test_layout_refused(text):
    bad(text)


def test_rules_exported_for_reuse():
    assert is_uri("https://example.com") and not is_uri("example.com")
    assert is_authority("example.com:80") and not is_authority("example.com/")
