"""The RFC 3986 (URI, authority) and RFC 3339 (date-time) rules that EIP-4361's grammar refers to, as
anchored regular expressions built rule by rule from the RFCs' ABNF (names kept, so each can be checked
against the RFC text).

Regular expressions match ASCII only here (re.ASCII): ABNF's ALPHA and DIGIT are ASCII, and Python's `\\d`
would otherwise take any Unicode digit.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re

# RFC 5234 core rules
ALPHA = "[A-Za-z]"
DIGIT = "[0-9]"
HEXDIG = "[0-9A-Fa-f]"

# RFC 3986 §2
PCT_ENCODED = f"%{HEXDIG}{HEXDIG}"
UNRESERVED = r"[A-Za-z0-9\-._~]"
SUB_DELIMS = r"[!$&'()*+,;=]"
GEN_DELIMS = r"[:/?#\[\]@]"
RESERVED = f"(?:{GEN_DELIMS}|{SUB_DELIMS})"

# RFC 3986 §3
SCHEME = rf"{ALPHA}[A-Za-z0-9+\-.]*"
USERINFO = f"(?:{UNRESERVED}|{PCT_ENCODED}|{SUB_DELIMS}|:)*"
DEC_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9][0-9]|[0-9])"
IPV4ADDRESS = rf"{DEC_OCTET}\.{DEC_OCTET}\.{DEC_OCTET}\.{DEC_OCTET}"
IPVFUTURE = rf"[vV]{HEXDIG}+\.(?:{UNRESERVED}|{SUB_DELIMS}|:)+"
# IPv6address's ABNF is nine alternatives long; its characters are matched here and the value is checked
# by `ipaddress` (see _ip_literal_ok), which implements the same grammar.
IP_LITERAL = rf"\[(?:(?P<ipv6>[0-9A-Fa-f:.]+)|{IPVFUTURE})\]"
REG_NAME = f"(?:{UNRESERVED}|{PCT_ENCODED}|{SUB_DELIMS})*"
HOST = f"(?:{IP_LITERAL}|{IPV4ADDRESS}|{REG_NAME})"
PORT = f"{DIGIT}*"
AUTHORITY = f"(?:{USERINFO}@)?{HOST}(?::{PORT})?"
PCHAR = f"(?:{UNRESERVED}|{PCT_ENCODED}|{SUB_DELIMS}|[:@])"
SEGMENT = f"{PCHAR}*"
SEGMENT_NZ = f"{PCHAR}+"
PATH_ABEMPTY = f"(?:/{SEGMENT})*"
PATH_ABSOLUTE = f"/(?:{SEGMENT_NZ}(?:/{SEGMENT})*)?"
PATH_ROOTLESS = f"{SEGMENT_NZ}(?:/{SEGMENT})*"
HIER_PART = f"(?://{AUTHORITY}{PATH_ABEMPTY}|{PATH_ABSOLUTE}|{PATH_ROOTLESS}|)"
QUERY = f"(?:{PCHAR}|[/?])*"
FRAGMENT = QUERY
URI = f"{SCHEME}:{HIER_PART}(?:\\?{QUERY})?(?:#{FRAGMENT})?"

_URI_RE = re.compile(URI, re.ASCII)
_AUTHORITY_RE = re.compile(AUTHORITY, re.ASCII)
_SCHEME_RE = re.compile(SCHEME, re.ASCII)
_PCHARS_RE = re.compile(f"{PCHAR}*", re.ASCII)

# RFC 3339 §5.6 (ABNF literals are case-insensitive, so "t" and "z" are allowed, as §5.6's note says)
DATE_TIME = (
    r"(?P<y>[0-9]{4})-(?P<mo>[0-9]{2})-(?P<d>[0-9]{2})[Tt]"
    r"(?P<h>[0-9]{2}):(?P<mi>[0-9]{2}):(?P<s>[0-9]{2})(?P<frac>\.[0-9]+)?"
    r"(?P<off>[Zz]|[+\-][0-9]{2}:[0-9]{2})"
)
_DATE_TIME_RE = re.compile(DATE_TIME, re.ASCII)


def _ip_literal_ok(m: re.Match[str]) -> bool:
    v6 = m.group("ipv6")
    if v6 is None:
        return True
    try:
        ipaddress.IPv6Address(v6)  # no "%zone": RFC 3986 has none, and '%' is not among the allowed chars
    except ValueError:
        return False
    return True


def _with_host_check(pattern: re.Pattern[str], text: str) -> bool:
    m = pattern.fullmatch(text)
    return m is not None and _ip_literal_ok(m)


def is_uri(text: str) -> bool:
    """RFC 3986 `URI` (absolute, with a scheme; fragment allowed)."""
    return _with_host_check(_URI_RE, text)


def is_authority(text: str) -> bool:
    """RFC 3986 `authority`: [ userinfo "@" ] host [ ":" port ]."""
    return _with_host_check(_AUTHORITY_RE, text)


def is_scheme(text: str) -> bool:
    return _SCHEME_RE.fullmatch(text) is not None


def is_pchars(text: str) -> bool:
    """RFC 3986 `*pchar` (EIP-4361's request-id)."""
    return _PCHARS_RE.fullmatch(text) is not None


def parse_date_time(text: str) -> dt.datetime:
    """An RFC 3339 `date-time` as an aware UTC datetime; ValueError names what is wrong.

    Fractions beyond microseconds are truncated; a leap second (:60) is read as the last microsecond of
    its minute, since datetime cannot hold it.
    """
    m = _DATE_TIME_RE.fullmatch(text)
    if m is None:
        raise ValueError(f"not an RFC 3339 date-time (YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)): {text!r}")
    y, mo, d, h, mi, s = (int(m.group(k)) for k in ("y", "mo", "d", "h", "mi", "s"))
    frac = m.group("frac")
    micro = int((frac[1:] + "000000")[:6]) if frac else 0
    off = m.group("off")
    if off in ("Z", "z"):
        tz = dt.UTC
    else:
        oh, om = int(off[1:3]), int(off[4:6])
        if oh > 23 or om > 59:
            raise ValueError(f"RFC 3339 offset out of range in {text!r}")
        sign = 1 if off[0] == "+" else -1
        tz = dt.timezone(sign * dt.timedelta(hours=oh, minutes=om))
    leap = s == 60
    try:
        t = dt.datetime(y, mo, d, h, mi, 59 if leap else s, 999999 if leap else micro, tzinfo=tz)
    except ValueError as exc:  # month 13, February 30, hour 24, …
        raise ValueError(f"RFC 3339 date-time out of range in {text!r}: {exc}") from None
    return t.astimezone(dt.UTC)
