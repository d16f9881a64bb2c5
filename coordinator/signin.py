"""Sign-In with Ethereum (EIP-4361) messages: build, parse strictly, and recover the signer.

The `siwe` package does not work with the current `abnf`, so the message grammar lives here, following
EIP-4361's ABNF rule by rule:

    [ scheme "://" ] domain %s" wants you to sign in with your Ethereum account:" LF
    address LF
    LF
    [ statement LF ]
    LF
    %s"URI: " uri LF
    %s"Version: " version LF
    %s"Chain ID: " chain-id LF
    %s"Nonce: " nonce LF
    %s"Issued At: " issued-at
    [ LF %s"Expiration Time: " expiration-time ]
    [ LF %s"Not Before: " not-before ]
    [ LF %s"Request ID: " request-id ]
    [ LF %s"Resources:" resources ]

with scheme, domain (= authority), uri and each resource from RFC 3986, the times RFC 3339 date-times,
the address EIP-55 checksummed, statement = *( reserved / unreserved / " " ), chain-id = 1*DIGIT,
nonce = 8*( ALPHA / DIGIT ), request-id = *pchar. One deliberate narrowing: the domain's host may not be
empty (the ABNF's reg-name may be, but a message for no one can sign nobody in).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import is_checksum_address, to_checksum_address

from coordinator import abnf_rules as rfc

HEADER = " wants you to sign in with your Ethereum account:"
NONCE_RE = re.compile(r"[A-Za-z0-9]{8,}", re.ASCII)
ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{40}", re.ASCII)
CHAIN_ID_RE = re.compile(r"[0-9]+", re.ASCII)
STATEMENT_RE = re.compile(f"(?:{rfc.RESERVED}|{rfc.UNRESERVED}| )*", re.ASCII)


class SiweError(ValueError):
    """The text is not a well-formed EIP-4361 message (or its signature does not verify)."""


def format_time(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_time(text: str) -> dt.datetime:
    try:
        return rfc.parse_date_time(text)
    except ValueError as exc:
        raise SiweError(str(exc)) from None


@dataclass(frozen=True)
class SiweMessage:
    domain: str
    address: str  # EIP-55 checksummed
    uri: str
    chain_id: int
    nonce: str
    issued_at: dt.datetime
    statement: str | None = None
    version: str = "1"
    expiration_time: dt.datetime | None = None
    not_before: dt.datetime | None = None
    request_id: str | None = None
    resources: tuple[str, ...] = field(default_factory=tuple)
    scheme: str | None = None  # the optional "https://" before the domain

    def __post_init__(self) -> None:
        if self.scheme is not None and not rfc.is_scheme(self.scheme):
            raise SiweError(f"bad scheme {self.scheme!r} (RFC 3986: a letter, then letters, digits, + - .)")
        host = self.domain.rsplit("@", 1)[-1]
        if not rfc.is_authority(self.domain) or host == "" or host.startswith(":"):
            raise SiweError(f"bad domain {self.domain!r} (an RFC 3986 authority: [userinfo@]host[:port])")
        if not ADDRESS_RE.fullmatch(self.address) or not is_checksum_address(self.address):
            raise SiweError("address must be an EIP-55 checksummed address (0x and 40 hex digits)")
        if self.statement is not None and (self.statement == "" or not STATEMENT_RE.fullmatch(self.statement)):
            raise SiweError("statement must be one non-empty line of RFC 3986 reserved/unreserved characters "
                            "and spaces")
        if not rfc.is_uri(self.uri):
            raise SiweError(f"URI {self.uri!r} is not an RFC 3986 URI")
        if self.version != "1":
            raise SiweError("version must be 1")
        if isinstance(self.chain_id, bool) or not isinstance(self.chain_id, int) or self.chain_id < 1:
            raise SiweError("chain id must be a positive integer")
        if not NONCE_RE.fullmatch(self.nonce):
            raise SiweError("nonce must be at least 8 ASCII letters or digits")
        for name in ("issued_at", "expiration_time", "not_before"):
            t = getattr(self, name)
            if t is not None and t.tzinfo is None:
                raise SiweError(f"{name} must carry a time zone")
        if self.request_id is not None and not rfc.is_pchars(self.request_id):
            raise SiweError("request id must be RFC 3986 pchars")
        for r in self.resources:
            if not rfc.is_uri(r):
                raise SiweError(f"resource {r!r} is not an RFC 3986 URI")

    def text(self) -> str:
        origin = f"{self.scheme}://{self.domain}" if self.scheme is not None else self.domain
        lines = [f"{origin}{HEADER}", self.address, ""]
        if self.statement is not None:
            lines += [self.statement, ""]
        else:
            lines += [""]
        lines += [
            f"URI: {self.uri}",
            f"Version: {self.version}",
            f"Chain ID: {self.chain_id}",
            f"Nonce: {self.nonce}",
            f"Issued At: {format_time(self.issued_at)}",
        ]
        if self.expiration_time is not None:
            lines.append(f"Expiration Time: {format_time(self.expiration_time)}")
        if self.not_before is not None:
            lines.append(f"Not Before: {format_time(self.not_before)}")
        if self.request_id is not None:
            lines.append(f"Request ID: {self.request_id}")
        if self.resources:
            lines.append("Resources:")
            lines += [f"- {r}" for r in self.resources]
        return "\n".join(lines)

    @classmethod
    def parse(cls, text: str) -> SiweMessage:
        lines = text.split("\n")
        if len(lines) < 9 or not lines[0].endswith(HEADER):
            raise SiweError("not an EIP-4361 message (header line)")
        origin = lines[0][: -len(HEADER)]
        scheme: str | None = None
        if "://" in origin:  # an authority holds no "/", so the first "://" ends the scheme
            scheme, domain = origin.split("://", 1)
        else:
            domain = origin
        address = lines[1]
        if lines[2] != "":
            raise SiweError("expected an empty line after the address")
        i = 3
        statement: str | None = None
        if lines[i] == "":
            i += 1
        else:
            statement = lines[i]
            if i + 1 >= len(lines) or lines[i + 1] != "":
                raise SiweError("expected an empty line after the statement")
            i += 2
        required = ["URI", "Version", "Chain ID", "Nonce", "Issued At"]
        values: dict[str, str] = {}
        for name in required:
            if i >= len(lines) or not lines[i].startswith(f"{name}: "):
                raise SiweError(f"missing field {name!r}")
            values[name] = lines[i][len(name) + 2 :]
            i += 1
        optional: dict[str, str] = {}
        for name in ("Expiration Time", "Not Before", "Request ID"):
            if i < len(lines) and lines[i].startswith(f"{name}: "):
                optional[name] = lines[i][len(name) + 2 :]
                i += 1
        resources: list[str] = []
        if i < len(lines) and lines[i] == "Resources:":
            i += 1
            while i < len(lines) and lines[i].startswith("- "):
                resources.append(lines[i][2:])
                i += 1
        if i != len(lines):
            raise SiweError(f"unexpected line {i + 1}: {lines[i][:60]!r}")
        if not CHAIN_ID_RE.fullmatch(values["Chain ID"]):
            raise SiweError(f"chain id {values['Chain ID'][:30]!r} is not decimal digits")
        return cls(
            domain=domain,
            address=address,
            statement=statement,
            uri=values["URI"],
            version=values["Version"],
            chain_id=int(values["Chain ID"]),
            nonce=values["Nonce"],
            issued_at=parse_time(values["Issued At"]),
            expiration_time=parse_time(optional["Expiration Time"])
            if "Expiration Time" in optional
            else None,
            not_before=parse_time(optional["Not Before"]) if "Not Before" in optional else None,
            request_id=optional.get("Request ID"),
            resources=tuple(resources),
            scheme=scheme,
        )


def checksum(address: str) -> str:
    if not ADDRESS_RE.fullmatch(address):
        raise SiweError("not a 20-byte hex address")
    return to_checksum_address(address)


def recover_signer(text: str, signature: str) -> str:
    """The checksummed address that signed `text` with personal_sign (EIP-191), or SiweError."""
    try:
        return str(Account.recover_message(encode_defunct(text=text), signature=signature))
    except Exception as exc:  # eth_account raises several types for malformed signatures
        raise SiweError("signature does not verify") from exc


def sign(text: str, private_key: str) -> str:
    """personal_sign `text` (what a wallet does); used by the CLI, workers and tests."""
    return "0x" + Account.sign_message(
        encode_defunct(text=text), private_key=private_key
    ).signature.hex().removeprefix("0x")
