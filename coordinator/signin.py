"""Sign-In with Ethereum (EIP-4361) messages: build, parse strictly, and recover the signer.

The `siwe` package does not work with the current `abnf`, so the message grammar lives here. Only the
fields Agora uses are required; optional ones round-trip.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import is_checksum_address, to_checksum_address

HEADER = " wants you to sign in with your Ethereum account:"
NONCE_RE = re.compile(r"^[A-Za-z0-9]{8,}$")
ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
DOMAIN_RE = re.compile(r"^[A-Za-z0-9.\-\[\]:@]+$")


class SiweError(ValueError):
    """The text is not a well-formed EIP-4361 message (or its signature does not verify)."""


def format_time(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_time(text: str) -> dt.datetime:
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise SiweError(f"not an RFC 3339 time: {text!r}") from exc
    if t.tzinfo is None:
        raise SiweError(f"time without offset: {text!r}")
    return t.astimezone(dt.UTC)


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

    def __post_init__(self) -> None:
        if not DOMAIN_RE.match(self.domain):
            raise SiweError(f"bad domain {self.domain!r}")
        if not ADDRESS_RE.match(self.address) or not is_checksum_address(self.address):
            raise SiweError("address must be an EIP-55 checksummed address")
        if not NONCE_RE.match(self.nonce):
            raise SiweError("nonce must be at least 8 alphanumeric characters")
        if self.statement is not None and "\n" in self.statement:
            raise SiweError("statement must be one line")
        if self.version != "1":
            raise SiweError("version must be 1")
        if self.chain_id < 1:
            raise SiweError("chain id must be positive")

    def text(self) -> str:
        lines = [f"{self.domain}{HEADER}", self.address, ""]
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
        domain = lines[0][: -len(HEADER)]
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
        try:
            chain_id = int(values["Chain ID"])
        except ValueError as exc:
            raise SiweError("chain id is not an integer") from exc
        return cls(
            domain=domain,
            address=address,
            statement=statement,
            uri=values["URI"],
            version=values["Version"],
            chain_id=chain_id,
            nonce=values["Nonce"],
            issued_at=parse_time(values["Issued At"]),
            expiration_time=parse_time(optional["Expiration Time"])
            if "Expiration Time" in optional
            else None,
            not_before=parse_time(optional["Not Before"]) if "Not Before" in optional else None,
            request_id=optional.get("Request ID"),
            resources=tuple(resources),
        )


def checksum(address: str) -> str:
    if not ADDRESS_RE.match(address):
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
