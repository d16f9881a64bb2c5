"""The coordinator REST client: Sign-In with Ethereum, jobs, specs, progress, artifacts, heartbeats, disputes.

Talks HTTP only (workers and verifiers may live on other machines); never imports the coordinator. Signs in
lazily with the private key it was given and signs in again once when a token is refused (expired, or the
coordinator restarted with a fresh database). Connection errors and 5xx answers are retried a few times;
every other error is raised as `ApiError` carrying the coordinator's `{error: {code, message, details}}`.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any, Self

import httpx
from eth_account import Account
from eth_account.messages import encode_defunct

DEFAULT_COORDINATOR_URL = "http://127.0.0.1:8000"


class ApiError(Exception):
    """A non-2xx answer from the coordinator."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details


class CoordinatorUnavailable(ApiError):
    """The coordinator did not answer (or answered 5xx) after every retry."""


class CoordinatorClient:
    """One coordinator at `base_url`; authenticated calls sign in as `private_key`'s address. Thread-safe."""

    def __init__(
        self,
        base_url: str = DEFAULT_COORDINATOR_URL,
        private_key: str | None = None,
        *,
        timeout_s: float = 30.0,
        retries: int = 4,
        retry_backoff_s: float = 0.5,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = private_key
        self.address: str | None = Account.from_key(private_key).address if private_key else None
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout_s)
        self._retries = retries
        self._backoff = retry_backoff_s
        self._token: str | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ transport

    def _send(self, method: str, path: str, *, auth: bool = False, **kwargs: Any) -> httpx.Response:
        base_headers = dict(kwargs.pop("headers", None) or {})
        for attempt in range(self._retries + 1):
            headers = dict(base_headers)
            if auth:
                headers["Authorization"] = f"Bearer {self.token()}"
            try:
                resp = self._http.request(method, path, headers=headers, **kwargs)
            except httpx.TransportError as exc:
                if attempt == self._retries:
                    raise CoordinatorUnavailable(0, "unreachable", f"{method} {path}: {exc}") from exc
                time.sleep(self._backoff * (attempt + 1))
                continue
            if resp.status_code == 401 and auth and attempt == 0:
                # The token expired or the coordinator forgot it (restart): sign in again, once.
                self._token = None
                continue
            if resp.status_code >= 500 and attempt < self._retries:
                time.sleep(self._backoff * (attempt + 1))
                continue
            if resp.status_code >= 400:
                raise _error(resp)
            return resp
        raise CoordinatorUnavailable(0, "unreachable", f"{method} {path}: no answer")  # pragma: no cover

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._send(method, path, **kwargs).json()

    # ------------------------------------------------------------------ sign-in

    def token(self) -> str:
        """A bearer token for this client's address (signing in on first use)."""
        with self._lock:
            if self._token is None:
                self._token = self.sign_in()
            return self._token

    def sign_in(self) -> str:
        """EIP-4361: nonce → personal_sign of the message unchanged → login; returns the bearer token."""
        if self._key is None or self.address is None:
            raise ApiError(401, "no_key", "this client has no private key to sign in with")
        nonce = self._json("POST", "/v1/auth/nonce", json={"address": self.address})
        signed = Account.sign_message(encode_defunct(text=nonce["message"]), self._key)
        signature = "0x" + bytes(signed.signature).hex()
        reply = self._json("POST", "/v1/auth/login", json={"message": nonce["message"], "signature": signature})
        return str(reply["token"])

    # ------------------------------------------------------------------ health

    def healthy(self) -> bool:
        try:
            return self._http.get("/healthz").status_code == 200
        except httpx.TransportError:
            return False

    # ------------------------------------------------------------------ jobs

    def job(self, job_id: int) -> dict[str, Any]:
        return dict(self._json("GET", f"/v1/jobs/{job_id}"))

    def jobs(self, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every job matching `filters` (status, client, provider), newest first, following the cursor."""
        params = {k: v for k, v in filters.items() if v is not None}
        while True:
            page = self._json("GET", "/v1/jobs", params=params)
            yield from page["items"]
            if not page.get("next_cursor"):
                return
            params["cursor"] = page["next_cursor"]

    def spec_bytes(self, job_id: int) -> bytes:
        """The canonical spec JSON (keccak256 of it is the job's spec_hash)."""
        return self._send("GET", f"/v1/jobs/{job_id}/spec", auth=True).content

    def create_job(self, spec: dict[str, Any], price_wei: int, deadline_s: int, *,
                   collateral_wei: int | None = None, idempotency_key: str | None = None,
                   device: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"spec": spec, "price_wei": str(price_wei), "deadline_s": deadline_s}
        if collateral_wei is not None:
            body["collateral_wei"] = str(collateral_wei)
        if device is not None:
            body["device"] = device
        # A key of our own when none is given, so that the retries below can never create the job twice.
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        return dict(self._json("POST", "/v1/jobs", auth=True, json=body, headers=headers))

    def funding(self, job_id: int) -> dict[str, Any]:
        """The escrow transaction of a job still awaiting funding (client only): {job, terms, transaction}."""
        return dict(self._json("GET", f"/v1/jobs/{job_id}/funding", auth=True))

    def report_progress(self, job_id: int, step: int, loss: float) -> dict[str, Any]:
        return dict(self._json("POST", f"/v1/jobs/{job_id}/progress", auth=True, json={"step": step, "loss": loss}))

    def estimate_job(self, spec: dict[str, Any], price_wei: int, collateral_wei: int | None = None) -> dict[str, Any]:
        """What a job would need (POST /v1/jobs/estimate): parameters, opsPerStep, step memory, collateral."""
        body: dict[str, Any] = {"spec": spec, "price_wei": str(price_wei)}
        if collateral_wei is not None:
            body["collateral_wei"] = str(collateral_wei)
        return dict(self._json("POST", "/v1/jobs/estimate", json=body))

    def report_progress_batch(self, job_id: int, points: list[tuple[int, float]],
                              evals: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Many steps' losses (and held-out evaluations: {step, loss, accuracy}) in one request."""
        body = {"points": [{"step": s, "loss": v} for s, v in points], "evals": evals or []}
        return dict(self._json("POST", f"/v1/jobs/{job_id}/progress/batch", auth=True, json=body))

    def progress(self, job_id: int, since_step: int | None = None) -> dict[str, Any]:
        params = {"since_step": since_step} if since_step is not None else None
        return dict(self._json("GET", f"/v1/jobs/{job_id}/progress", params=params))

    def loss_plot_png(self, job_id: int) -> bytes:
        """The loss curve as the coordinator renders it (GET /v1/jobs/{id}/plot.png)."""
        return self._send("GET", f"/v1/jobs/{job_id}/plot.png").content

    def report_verification(self, job_id: int, decision: str, reason: str = "",
                            game_id: int | None = None) -> dict[str, Any]:
        """A verifier's decision about the job, onto its timeline (kind "verification")."""
        body = {"decision": decision, "reason": reason[:500], "game_id": game_id}
        return dict(self._json("POST", f"/v1/jobs/{job_id}/verification", auth=True, json=body))

    def decline(self, job_id: int, reason: str) -> dict[str, Any]:
        """The assigned provider will not accept the job: why, onto its timeline (kind "declined")."""
        return dict(self._json("POST", f"/v1/jobs/{job_id}/declined", auth=True, json={"reason": reason[:500]}))

    def result(self, job_id: int) -> dict[str, Any]:
        return dict(self._json("GET", f"/v1/jobs/{job_id}/result"))

    def register_result_artifacts(self, job_id: int, model_artifact: str,
                                  checkpoint_artifact: str | None = None) -> dict[str, Any]:
        body = {"model_artifact": model_artifact, "checkpoint_artifact": checkpoint_artifact}
        return dict(self._json("POST", f"/v1/jobs/{job_id}/result-artifacts", auth=True, json=body))

    def model_bytes(self, job_id: int) -> bytes:
        """The final model (the job's client only)."""
        return self._send("GET", f"/v1/jobs/{job_id}/model", auth=True).content

    def events(self, job_id: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        params: dict[str, Any] = {}
        while True:
            page = self._json("GET", f"/v1/jobs/{job_id}/events", params=params)
            out.extend(page["items"])
            if not page.get("next_cursor"):
                return out
            params["cursor"] = page["next_cursor"]

    def cancel(self, job_id: int) -> dict[str, Any]:
        return dict(self._json("POST", f"/v1/jobs/{job_id}/cancel", auth=True))

    # ------------------------------------------------------------------ artifacts and datasets

    def upload_artifact(self, data: bytes, kind: str = "blob") -> str:
        """Stores bytes content-addressed; returns their sha256 hex (same bytes → same id)."""
        reply = self._json("POST", "/v1/artifacts", auth=True, params={"kind": kind}, content=data,
                           headers={"Content-Type": "application/octet-stream"})
        return str(reply["sha256"])

    def has_artifact(self, sha256: str) -> bool:
        """Whether the coordinator stores these bytes (HEAD /v1/artifacts/{sha256}; no sign-in)."""
        try:
            self._send("HEAD", f"/v1/artifacts/{sha256.removeprefix('sha256:')}")
        except ApiError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def artifact(self, sha256: str) -> bytes:
        """Stored bytes, as this client's address may read them (coordinator/access.py): needs a key."""
        return self._send("GET", f"/v1/artifacts/{sha256.removeprefix('sha256:')}", auth=True).content

    def upload_dataset(self, data: bytes) -> dict[str, Any]:
        return dict(self._json("POST", "/v1/datasets", auth=True, content=data,
                               headers={"Content-Type": "application/octet-stream"}))

    def dataset_bytes(self, dataset_id: str) -> bytes:
        return self.artifact(dataset_id)

    # ------------------------------------------------------------------ providers

    def heartbeat(self, devices: list[str], max_params: int, queue_depth: int, repops_version: str,
                  max_step_bytes: int | None = None) -> dict[str, Any]:
        body = {
            "capabilities": {"devices": devices, "max_params": max_params, "max_step_bytes": max_step_bytes},
            "queue_depth": queue_depth,
            "repops_version": repops_version,
        }
        return dict(self._json("POST", "/v1/providers/heartbeat", auth=True, json=body))

    def provider(self, address: str) -> dict[str, Any]:
        return dict(self._json("GET", f"/v1/providers/{address.lower()}"))

    def providers(self) -> list[dict[str, Any]]:
        return list(self._json("GET", "/v1/providers")["items"])

    # ------------------------------------------------------------------ disputes

    def disputes(self, job_id: int | None = None) -> list[dict[str, Any]]:
        params = {"job_id": job_id} if job_id is not None else None
        return list(self._json("GET", "/v1/disputes", params=params)["items"])

    def dispute(self, dispute_id: int) -> dict[str, Any]:
        return dict(self._json("GET", f"/v1/disputes/{dispute_id}"))


def _error(resp: httpx.Response) -> ApiError:
    try:
        err = resp.json().get("error") or {}
    except ValueError:
        err = {}
    return ApiError(resp.status_code, str(err.get("code", "http_error")), str(err.get("message", resp.text[:200])),
                    err.get("details"))
