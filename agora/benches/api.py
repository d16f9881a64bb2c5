"""`agora bench api`: the coordinator under load on Postgres, and the matching engine at 10k jobs × 1k providers.

Starts uvicorn on a fresh bench database (created, migrated with Alembic, seeded, dropped afterwards), loads
GET /v1/jobs/{id} and POST /v1/jobs from a separate process over keep-alive loopback connections (bounded by
request count and time), and times `coordinator.matching.match` in-process.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
SEED_JOBS = 2000
GET_REQUESTS, POST_REQUESTS = 6000, 600
GET_CONCURRENCY, POST_CONCURRENCY = 4, 8
MAX_SECONDS = 20.0
SPEC = {
    "version": 1,
    "model": {"kind": "mlp", "layers": [64, 32, 10], "activation": "relu"},
    "dataset": {"id": "builtin:digits", "batch_size": 32, "shuffle_seed": 7},
    "loss": "cross_entropy",
    "optimizer": {"kind": "adam", "lr": 0.001},
    "steps": 100,
    "seed": 1234,
    "checkpoint_every": 10,
}
# Offline deployment: POST /v1/jobs only encodes calldata, it never talks to the chain.
FAKE_DEPLOYMENT = {
    "chainId": 31337,
    "deployBlock": 0,
    "deployer": "0x" + "11" * 20,
    "params": {},
    "contracts": {
        "JobMarket": "0x" + "22" * 20,
        "StakeManager": "0x" + "33" * 20,
        "DisputeGame": "0x" + "44" * 20,
    },
}
BENCH_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"  # anvil dev key #2


# ---------------------------------------------------------------- load generator (runs in its own process)


async def _one_connection(
    port: int, requests: list[bytes], latencies: list[float], statuses: dict[int, int], deadline: float
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for raw in requests:
            if time.perf_counter() > deadline:
                break
            t0 = time.perf_counter()
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


async def _load(port: int, requests: list[bytes], concurrency: int, max_seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    per_conn = [requests[i::concurrency] for i in range(concurrency)]
    t0 = time.perf_counter()
    await asyncio.gather(
        *(_one_connection(port, reqs, latencies, statuses, t0 + max_seconds) for reqs in per_conn)
    )
    elapsed = time.perf_counter() - t0
    latencies.sort()
    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "rps": len(latencies) / elapsed,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "statuses": {str(k): v for k, v in statuses.items()},
    }


def _load_process(port: int, requests: list[bytes], concurrency: int, max_seconds: float, out: Any) -> None:
    out.put(asyncio.run(_load(port, requests, concurrency, max_seconds)))


def load_from_other_process(port: int, requests: list[bytes], concurrency: int) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_load_process, args=(port, requests, concurrency, MAX_SECONDS, q))
    p.start()
    result = q.get(timeout=MAX_SECONDS + 60)
    p.join(timeout=10)
    return result


def _get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n\r\n".encode()


def _post(path: str, body: dict[str, Any], headers: dict[str, str]) -> bytes:
    data = json.dumps(body).encode()
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n{extra}\r\n"
    ).encode() + data


# ---------------------------------------------------------------- setup


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _seed(url: str, n: int) -> list[int]:
    from sqlalchemy import insert

    from coordinator.database import make_engine
    from coordinator.models import Job, Spec, utcnow
    from verde.spec import canonical_json, parse_spec, spec_hash

    spec = parse_spec(SPEC)
    digest = spec_hash(spec)
    engine = make_engine(url)
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            insert(Spec).values(
                spec_hash=digest,
                canonical_json=canonical_json(spec).decode(),
                num_params=spec.model.parameter_count,
                created_at=now,
            )
        )
        rows = [
            {
                "client": "0x" + f"{i % 50:040x}",
                "spec_hash": digest,
                "price_wei": str(10**15 + i),
                "collateral_wei": str(10**15),
                "deadline_s": 3600,
                "deadline_at": now,
                "num_steps": 100,
                "checkpoint_every": 10,
                "ops_per_step": 20,
                "num_params": spec.model.parameter_count,
                "repops_version": "1",
                "status": random.choice(["open", "assigned", "running", "finalized"]),
                "created_at": now,
                "updated_at": now,
            }
            for i in range(n)
        ]
        conn.execute(insert(Job), rows)
        ids = [r[0] for r in conn.exec_driver_sql("SELECT id FROM jobs").all()]
    engine.dispose()
    return ids


def _wait_up(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    import urllib.request

    t0 = time.time()
    while time.time() - t0 < timeout_s:
        if proc.poll() is not None:
            raise RuntimeError(f"uvicorn exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("uvicorn did not come up")


def _token(port: int) -> str:
    import httpx
    from eth_account import Account
    from eth_account.messages import encode_defunct

    acct = Account.from_key(BENCH_KEY)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as c:
        msg = c.post("/v1/auth/nonce", json={"address": acct.address}).json()["message"]
        sig = "0x" + acct.sign_message(encode_defunct(text=msg)).signature.hex().removeprefix("0x")
        return str(c.post("/v1/auth/login", json={"message": msg, "signature": sig}).json()["token"])


def bench_matching(repeats: int = 3) -> float:
    """Median ms to match 10,000 open jobs against 1,000 heterogeneous providers."""
    from coordinator.matching import Candidate, OpenJob, match

    times = []
    for r in range(repeats):
        rng = random.Random(r)
        providers = [
            Candidate(
                f"0x{i:040x}",
                rng.randint(1, 40) * 10**17,
                rng.choice([10**5, 10**6, 5 * 10**6]),
                frozenset(rng.choice([("cpu",), ("cpu", "cuda")])),
                "1",
                rng.randint(1, 8),
                rng.random(),
            )
            for i in range(1000)
        ]
        jobs = [
            OpenJob(i, rng.choice([10**4, 10**5, 10**6, 4 * 10**6]), rng.randint(1, 4) * 10**17, "1")
            for i in range(10_000)
        ]
        t0 = time.perf_counter()
        plan = match(jobs, providers, start_seq=2.0)
        times.append(1000 * (time.perf_counter() - t0))
        assert len(plan.assignments) + len(plan.waiting) == len(jobs)
    return statistics.median(times)


def run(workers: int | None = None, get_concurrency: int = GET_CONCURRENCY) -> dict[str, Any]:
    import psycopg

    from coordinator.database import upgrade_to_head

    workers = workers or 2
    name = f"agora_bench_{secrets.token_hex(4)}"
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    tmp = Path(tempfile.mkdtemp(prefix="agora-bench-"))
    proc: subprocess.Popen[bytes] | None = None
    try:
        upgrade_to_head(url)
        ids = _seed(url, SEED_JOBS)
        (tmp / "31337.json").write_text(json.dumps(FAKE_DEPLOYMENT))
        port = _free_port()
        env = {
            **os.environ,
            "AGORA_DATABASE_URL": url,
            "AGORA_DEPLOYMENT_FILE": str(tmp / "31337.json"),
            "AGORA_ARTIFACT_DIR": str(tmp / "artifacts"),
            "AGORA_RPC_URL": "http://127.0.0.1:9",
        }
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "coordinator.app:app_from_env",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--log-level",
                "warning",
                "--no-access-log",
                "--http",
                "httptools",
                "--loop",
                "uvloop",
            ],
            cwd=ROOT,
            env=env,
        )
        _wait_up(port, proc)
        token = _token(port)
        load_before = os.getloadavg()[0]
        rng = random.Random(0)
        warm = [_get(f"/v1/jobs/{rng.choice(ids)}") for _ in range(400)]
        load_from_other_process(port, warm, get_concurrency)
        gets = [_get(f"/v1/jobs/{rng.choice(ids)}") for _ in range(GET_REQUESTS)]
        get = load_from_other_process(port, gets, get_concurrency)
        auth = {"Authorization": f"Bearer {token}"}
        posts = [
            _post(
                "/v1/jobs",
                {"spec": SPEC, "price_wei": str(10**15 + i), "deadline_s": 3600},
                {**auth, "Idempotency-Key": f"bench-{i}"},
            )
            for i in range(POST_REQUESTS)
        ]
        post = load_from_other_process(port, posts, POST_CONCURRENCY)
        load_after = os.getloadavg()[0]
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    match_ms = bench_matching()
    print(
        f"GET  /v1/jobs/{{id}}: {get['rps']:.0f} req/s, p50 {get['p50_ms']:.1f} ms, p99 {get['p99_ms']:.1f} ms "
        f"({get['requests']} requests, {get_concurrency} connections, statuses {get['statuses']})"
    )
    print(
        f"POST /v1/jobs:      {post['rps']:.0f} req/s, p50 {post['p50_ms']:.1f} ms, p99 {post['p99_ms']:.1f} ms "
        f"({post['requests']} requests, {POST_CONCURRENCY} connections, statuses {post['statuses']})"
    )
    print(f"match 10k jobs x 1k providers: {match_ms:.0f} ms (median of 3)")
    print(
        f"uvicorn workers: {workers}; CPUs: {os.cpu_count()}; 1-min load average before/after: "
        f"{load_before:.2f}/{load_after:.2f}"
    )
    ok_get = set(get["statuses"]) == {"200"}
    ok_post = set(post["statuses"]) <= {"201"}
    return {
        "bench": "api",
        "get_rps": round(get["rps"], 1),
        "get_p99_ms": round(get["p99_ms"], 2),
        "post_rps": round(post["rps"], 1),
        "post_p99_ms": round(post["p99_ms"], 2),
        "match_10k_x_1k_ms": round(match_ms, 1),
        "all_ok": ok_get and ok_post,
        "workers": workers,
        "load_avg_1m": round(load_after, 2),
    }


if __name__ == "__main__":
    print(json.dumps(run()))
