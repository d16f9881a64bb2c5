"""Sign-in handlers: issue single-use expiring nonces, verify signed EIP-4361 messages, issue and check tokens.

Tokens are opaque random strings; only their sha256 is stored, so a leaked database cannot sign anyone in.
Nothing kept for strangers grows without bound: an address has at most `max_live_nonces` outstanding
nonces (the oldest give way), and each issue sweeps expired nonces and tokens and idempotency keys older
than `idempotency_ttl_s` (the route in front also rate-limits per client IP).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from urllib.parse import urlsplit

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from coordinator.errors import Unauthorized, Unprocessable
from coordinator.models import AuthNonce, AuthToken, IdempotencyKey, utcnow
from coordinator.settings import Settings
from coordinator.signin import SiweError, SiweMessage, checksum, recover_signer


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_nonce(
    session: Session, settings: Settings, address: str, now: dt.datetime | None = None
) -> SiweMessage:
    """Store a fresh nonce for `address` and return the message it must sign."""
    now = now or utcnow()
    try:
        addr = checksum(address)
    except SiweError as exc:
        raise Unprocessable(str(exc), details=[{"field": "body.address", "message": str(exc)}]) from exc
    nonce = secrets.token_hex(16)
    expires = now + dt.timedelta(seconds=settings.nonce_ttl_s)
    message = SiweMessage(
        domain=settings.siwe_domain,
        address=addr,
        statement=settings.siwe_statement,
        uri=settings.siwe_uri,
        chain_id=settings.chain_id,
        nonce=nonce,
        issued_at=now,
        expiration_time=expires,
    )
    sweep_expired(session, settings, now)
    # Past the cap, this address's oldest outstanding nonces give way (a real wallet signs the newest).
    keep = max(1, settings.max_live_nonces) - 1
    older = select(AuthNonce.nonce).where(AuthNonce.address == addr.lower()) \
        .order_by(AuthNonce.issued_at.desc(), AuthNonce.nonce).offset(keep)
    stale = list(session.execute(older).scalars())
    if stale:
        session.execute(delete(AuthNonce).where(AuthNonce.nonce.in_(stale)))
    session.add(AuthNonce(nonce=nonce, address=addr.lower(), issued_at=now, expires_at=expires))
    return message


def sweep_expired(session: Session, settings: Settings, now: dt.datetime | None = None) -> None:
    """Deletes what can no longer be used: expired nonces and tokens, idempotency keys past their TTL."""
    now = now or utcnow()
    session.execute(delete(AuthNonce).where(AuthNonce.expires_at < now))
    session.execute(delete(AuthToken).where(AuthToken.expires_at < now))
    cutoff = now - dt.timedelta(seconds=settings.idempotency_ttl_s)
    session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff))


def login(
    session: Session, settings: Settings, text: str, signature: str, now: dt.datetime | None = None
) -> tuple[str, AuthToken]:
    """Verify a signed sign-in message and return (token, its row). Consumes the nonce only on success."""
    now = now or utcnow()
    try:
        message = SiweMessage.parse(text)
    except SiweError as exc:
        raise Unauthorized(f"malformed sign-in message: {exc}", code="invalid_message") from exc
    if message.domain != settings.siwe_domain:
        raise Unauthorized(f"message is for domain {message.domain!r}", code="wrong_domain")
    if message.scheme is not None and message.scheme.lower() != urlsplit(settings.siwe_uri).scheme.lower():
        raise Unauthorized(f"message is for scheme {message.scheme!r}", code="wrong_domain")
    if message.uri != settings.siwe_uri:
        raise Unauthorized(f"message is for URI {message.uri!r}", code="wrong_uri")
    if message.chain_id != settings.chain_id:
        raise Unauthorized(
            f"message is for chain {message.chain_id}, this is {settings.chain_id}", code="wrong_chain"
        )
    if message.expiration_time is not None and message.expiration_time <= now:
        raise Unauthorized("sign-in message has expired", code="nonce_expired")
    if message.not_before is not None and message.not_before > now:
        raise Unauthorized("sign-in message is not valid yet", code="not_yet_valid")
    try:
        signer = recover_signer(text, signature)
    except SiweError as exc:
        raise Unauthorized(str(exc), code="invalid_signature") from exc
    if signer != message.address:
        raise Unauthorized("signature is not from the message's address", code="invalid_signature")
    row = session.get(AuthNonce, message.nonce)
    if row is None or row.address != signer.lower():
        raise Unauthorized("unknown nonce; ask POST /v1/auth/nonce for a new one", code="unknown_nonce")
    if row.used_at is not None:
        raise Unauthorized("nonce already used; ask for a new one", code="nonce_used")
    if row.expires_at <= now:
        raise Unauthorized("nonce expired; ask for a new one", code="nonce_expired")
    # Guarded transition: of two concurrent logins with one nonce, exactly one flips used_at.
    result = session.execute(
        update(AuthNonce).where(AuthNonce.nonce == row.nonce, AuthNonce.used_at.is_(None)).values(used_at=now)
    )
    consumed = getattr(result, "rowcount", 0)
    if consumed != 1:
        raise Unauthorized("nonce already used; ask for a new one", code="nonce_used")
    token = secrets.token_urlsafe(32)
    tok = AuthToken(
        token_hash=token_digest(token),
        address=signer.lower(),
        expires_at=now + dt.timedelta(seconds=settings.token_ttl_s),
        created_at=now,
    )
    session.add(tok)
    return token, tok


def address_for_token(session: Session, token: str, now: dt.datetime | None = None) -> str:
    """The lowercase address a bearer token signs in, or Unauthorized."""
    now = now or utcnow()
    row = session.execute(
        select(AuthToken).where(AuthToken.token_hash == token_digest(token))
    ).scalar_one_or_none()
    if row is None or row.expires_at <= now:
        raise Unauthorized("invalid or expired token; sign in again", code="invalid_token")
    return row.address
