"""Devnet-only sign-in with the devnet's own keys, so a browser on the devnet can act as its client or a worker
without a wallet. Off unless AGORA_DEV_SIGNIN_DIR names a folder of `<name>.key` files (`agora devnet up` sets it);
a coordinator anywhere else never has it, and then both routes answer 404."""

from __future__ import annotations

import functools
import re
from pathlib import Path

from eth_account import Account
from fastapi import APIRouter
from pydantic import BaseModel, Field

from coordinator import auth
from coordinator.dependencies import SessionDep, SettingsDep
from coordinator.errors import NotFound, error_responses
from coordinator.schemas import TokenPublic
from coordinator.settings import Settings
from coordinator.signin import sign

router = APIRouter(prefix="/v1/auth/dev", tags=["auth"])
NAME = r"^[a-z0-9][a-z0-9-]{0,31}$"


class DevAccountPublic(BaseModel):
    name: str
    address: str


class DevAccountsPublic(BaseModel):
    accounts: list[DevAccountPublic]


class DevLoginRequest(BaseModel):
    name: str = Field(pattern=NAME, description="a devnet account name, e.g. client or worker-1")


def _key_dir(settings: Settings) -> Path:
    if settings.dev_signin_dir is None:
        raise NotFound("dev sign-in is off: only a devnet turns it on (AGORA_DEV_SIGNIN_DIR)", code="dev_signin_off")
    return settings.dev_signin_dir


def _key(path: Path) -> str:
    return path.read_text().strip().splitlines()[0].strip()


@functools.lru_cache(maxsize=256)
def _address(path: Path, mtime_ns: int) -> str:
    """A key file's address, derived once per version of the file: every console page load on a devnet asks for
    the list, and deriving ten addresses took ~10 ms of the coordinator's time each time."""
    return str(Account.from_key(_key(path)).address).lower()


@router.get("/accounts", response_model=DevAccountsPublic, responses=error_responses(404))
def dev_accounts(settings: SettingsDep) -> DevAccountsPublic:
    """The devnet's accounts one can sign in as (devnet only)."""
    folder = _key_dir(settings)
    out = []
    for path in sorted(folder.glob("*.key")):
        if re.match(NAME, path.stem):
            out.append(DevAccountPublic(name=path.stem, address=_address(path, path.stat().st_mtime_ns)))
    return DevAccountsPublic(accounts=out)


@router.post("/login", response_model=TokenPublic, responses=error_responses(404, 422))
def dev_login(body: DevLoginRequest, session: SessionDep, settings: SettingsDep) -> TokenPublic:
    """Sign in as a devnet account: the coordinator signs the same EIP-4361 message with the account's dev key and
    goes through the ordinary login, so the token is exactly what a wallet sign-in gives (devnet only)."""
    path = _key_dir(settings) / f"{body.name}.key"
    if not path.is_file():
        raise NotFound(f"no devnet account {body.name!r}", code="unknown_account")
    key = _key(path)
    message = auth.issue_nonce(session, settings, Account.from_key(key).address)
    token, row = auth.login(session, settings, message.text(), sign(message.text(), key))
    session.commit()
    return TokenPublic(token=token, address=row.address, expires_at=row.expires_at)
