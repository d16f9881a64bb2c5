"""`agora bench console`: how fast the web console's pages load on a devnet whose database holds 1,000 jobs.

Brings up a devnet (one worker) in a temporary folder, seeds 1,000 finished on-chain jobs (each with a loss curve of
200 points and a short timeline; 20 settled disputes over some of them, each with a whole game's moves), then loads
each page in Debian's headless Chromium with a cold cache and times navigation start → the first frame after the
page's data is drawn (its table rows, its loss curve and timeline, its dispute's narrowing to the op with its job's
facts).
Target: every page ≤ 300 ms (median of the runs). JSON on the last line.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
JOBS = 1000
POINTS = 200
RUNS = 7
TARGET_MS = 300.0
CHAIN_JOB_BASE = 10_000_000


def _game(defender: str, challenger: str) -> list[tuple[str, str | None, dict[str, Any]]]:
    """A whole bisection game's moves (kind, mover, args), as the chain's events give them: three segments, a
    step, an op, the referee's ruling (console/test/narrowing.test.js plays the same game)."""
    def h(n: int) -> str:
        return "0x" + f"{n:064x}"

    def reveal(party: str, level: int, lo: int, hi: int, elements: list[int]) -> tuple[str, str, dict[str, Any]]:
        return "ElementsRevealed", party, {"party": party, "level": level, "lo": lo, "hi": hi,
                                           "elements": [h(e) for e in elements]}

    d, c = defender, challenger
    return [
        ("GameOpened", c, {"segments": 3, "defender": d, "challenger": c, "bond": str(10**15)}),
        reveal(d, 0, 0, 3, [0, 1, 2, 3]), reveal(c, 0, 0, 3, [0, 1, 9, 9]),
        ("RootCommitted", d, {"party": d, "level": 1, "root": h(5)}),
        ("RootCommitted", c, {"party": c, "level": 1, "root": h(6)}),
        reveal(c, 1, 0, 10, [1, 2, 3, 4, 5, 6, 7]), reveal(d, 1, 0, 10, [1, 2, 3, 9, 9, 9, 9]),
        reveal(d, 1, 3, 5, [4]), reveal(c, 1, 3, 5, [4]),
        reveal(d, 2, 0, 6, [0, 1, 2, 3, 4]), reveal(c, 2, 0, 6, [0, 1, 7, 7, 7]),
        ("RefereeRuled", None, {"outputHash": h(1)}),
        ("GameSettled", None, {"outcome": 2, "slashed": str(10**16)}),
    ]


def _seed(database: str, client: str, providers: list[str]) -> dict[str, int]:
    """1,000 finished jobs (terminal states: the matcher leaves them alone) with curves, timelines, disputes."""
    from sqlalchemy import create_engine, func, insert, select
    from sqlalchemy.orm import Session

    from coordinator.models import ChainEvent, Dispute, DisputeMove, Job, JobEvent, ProgressPoint, Spec

    rng = random.Random(7)
    engine = create_engine(database)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    digest = "0x" + "ab" * 32
    with Session(engine) as s:
        if s.get(Spec, digest) is None:
            s.add(Spec(spec_hash=digest, canonical_json="{}", num_params=1210))
        first = (s.execute(select(func.max(Job.id))).scalar() or 0) + 1
        statuses = ["finalized"] * 8 + ["failed", "cancelled"]
        for i in range(JOBS):
            status = rng.choice(statuses)
            s.add(Job(id=first + i, client=client, spec_hash=digest, price_wei=str(10**16), collateral_wei=str(10**16),
                      deadline_s=3600, num_steps=POINTS, checkpoint_every=20, ops_per_step=27, num_params=1210,
                      repops_version="1", status=status, provider=rng.choice(providers), deadline_at=now,
                      chain_job_id=CHAIN_JOB_BASE + i,  # on-chain, as every job that ran is: its pages read its disputes
                      trace_root="0x" + "cd" * 32, final_model_hash="0x" + "ef" * 32, created_at=now, updated_at=now))
        s.flush()
        points, events = [], []
        kinds = [("coordinator", "created"), ("chain", "JobPosted"), ("chain", "JobAssigned"), ("chain", "JobAccepted"),
                 ("chain", "ResultSubmitted"), ("chain", "JobFinalized")]
        for i in range(JOBS):
            loss = 2.4
            for step in range(1, POINTS + 1):
                loss *= 0.99 + rng.random() * 0.015
                points.append({"job_id": first + i, "step": step, "loss": loss, "created_at": now})
            for k, (src, kind) in enumerate(kinds):
                events.append({"job_id": first + i, "source": src, "kind": kind, "message": f"{kind} (seeded by the bench)",
                               "data": {"tx_hash": "0x" + f"{i:032x}{k:032x}", "block": 100 + k}, "created_at": now})
        # bulk inserts: 200,000 ORM objects would take minutes on a loaded machine
        s.execute(insert(ProgressPoint), points)
        s.execute(insert(JobEvent), events)
        for d in range(20):  # over seeded jobs, as a real dispute is: its page reads that job and its timeline too
            s.add(Dispute(id=900_000 + d, chain_job_id=CHAIN_JOB_BASE + d * (JOBS // 20), defender=providers[0],
                          challenger=client, phase="settled", level=2, lo=2, hi=3, outcome="challenger_wins"))
        s.flush()
        for d in range(20):  # each with a whole game's moves: its page draws the narrowing to the op
            for k, (kind, mover, args) in enumerate(_game(providers[0], client)):
                tx = "0x" + f"{d:032x}{k + 100:032x}"
                event = ChainEvent(block_number=200 + k, block_hash="0x" + f"{d + 1:032x}{k:032x}", log_index=0,
                                   tx_hash=tx, contract="DisputeGame", name=kind, args=args, dispute_id=900_000 + d)
                s.add(event)
                s.flush()
                s.add(DisputeMove(dispute_id=900_000 + d, chain_event_id=event.id, mover=mover, kind=kind, tx_hash=tx,
                                  block_number=200 + k, args=args))
        s.commit()
    engine.dispose()
    return {"first_job": first, "dispute": 900_000}


# Checked once a frame; the time taken is that of the next frame's start, after the frame that painted it: the
# page counts as loaded when a person could see its content, not when the nodes exist.
_DRAWN = """ready => new Promise((resolve, reject) => {
  const give_up = performance.now() + 30000;
  const check = () => {
    if (ready()) requestAnimationFrame(() => resolve(performance.now()));
    else if (performance.now() > give_up) reject(new Error("not drawn within 30 s"));
    else requestAnimationFrame(check);
  };
  check();
})"""


def _time_page(browser: Any, url: str, ready_js: str) -> float:
    """Milliseconds from navigation start to the first frame after `ready_js` became true (the content painted),
    in a fresh context (cold cache)."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = ctx.new_page()
        page.goto(url, wait_until="commit")
        return float(page.evaluate(f"({_DRAWN})(() => ({ready_js}))"))
    finally:
        ctx.close()


def _request_rates(browser: Any, base: str, paths: dict[str, str], seconds: float = 12.0) -> dict[str, Any]:
    """What an open page costs the coordinator: API requests per second once loaded, and how many were 304s."""
    out = {}
    for name, path in paths.items():
        ctx = browser.new_context(viewport={"width": 1280, "height": 800})
        page = ctx.new_page()
        page.goto(base + path)
        page.wait_for_timeout(3000)  # past the first load
        seen: list[int] = []
        page.on("response", lambda r, seen=seen: seen.append(r.status) if "/v1/" in r.url else None)
        page.wait_for_timeout(seconds * 1000)
        ctx.close()
        out[name] = {"requests": len(seen), "not_modified": seen.count(304), "requests_per_s": round(len(seen) / seconds, 2)}
    return out


def run(**_: object) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    from agora.devnet.network import Devnet, DevnetOptions

    if not Path(CHROMIUM).exists():
        raise SystemExit("no /usr/bin/chromium: `make setup` installs Debian's chromium")
    root = Path(tempfile.mkdtemp(prefix="agora-bench-console-"))
    net = Devnet(root / "devnet")
    t0 = time.monotonic()
    st = net.up(DevnetOptions(workers=1, verifier=False, referee=False))
    try:
        print(f"devnet up in {time.monotonic() - t0:.1f}s at {st.coordinator}")
        providers = [a.address.lower() for n, a in st.accounts.items() if n.startswith("worker")]
        seeded = _seed(st.database, st.accounts["client"].address.lower(), providers)
        print(f"seeded {JOBS} jobs × {POINTS} loss points, 6 timeline entries each, 20 disputes of 13 moves")
        job = seeded["first_job"] + JOBS // 2
        pages = {
            "jobs": ("/#/jobs", "document.querySelectorAll('tr[data-job]').length >= 25"),
            "jobs+progress": ("/#/jobs", "document.querySelector('.table-wrap[data-progress=drawn] tr[data-job]')"),
            "job": (f"/#/jobs/{job}", "document.querySelector('.chart canvas') && document.querySelectorAll('[data-kind]').length >= 6"),
            # drawn once its reads are in: the dispute's, then its job's and that job's timeline ("over job #…"),
            # with the narrowing down to the op
            "dispute": (f"/#/disputes/{seeded['dispute']}", "document.querySelector('[data-verdict]') && document.querySelector('svg.narrowing .fig-final') && document.querySelector('.page-head a.role[href^=\"#/jobs/\"]')"),
            "providers": ("/#/providers", "document.querySelectorAll('tr[data-provider]').length >= 1"),
        }
        figures: dict[str, Any] = {}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                _time_page(browser, st.coordinator + "/#/jobs", "document.querySelector('tr[data-job]')")  # warm the server
                for name, (path, ready) in pages.items():
                    times = sorted(_time_page(browser, st.coordinator + path, ready) for _ in range(RUNS))
                    figures[name] = {"median_ms": round(statistics.median(times), 1), "max_ms": round(times[-1], 1)}
                    print(f"{name:<10} median {figures[name]['median_ms']:7.1f} ms   worst {figures[name]['max_ms']:7.1f} ms"
                          f"   ({RUNS} cold loads)")
                rates = _request_rates(browser, st.coordinator, {k: v[0] for k, v in pages.items() if "+" not in k})
                figures["requests_per_s"] = rates
                print("polling: " + ", ".join(f"{k} {v['requests_per_s']:.2f} req/s ({v['not_modified']} of "
                                              f"{v['requests']} answered 304)" for k, v in rates.items()))
            finally:
                browser.close()
    finally:
        net.down()
    worst = max(f["median_ms"] for k, f in figures.items() if k != "requests_per_s")
    load = os.getloadavg()[0]
    print(f"1-minute load average during the run: {load:.1f} on {os.cpu_count()} cores (page times scale with it)")
    ok = worst <= TARGET_MS
    print(f"slowest page median {worst:.1f} ms (target ≤ {TARGET_MS:.0f} ms): {'OK' if ok else 'OVER'}")
    return {"bench": "console", "jobs_in_db": JOBS, "pages": figures, "slowest_median_ms": worst,
            "target_ms": TARGET_MS, "ok": ok, "load_average": round(load, 1)}
