"""The web console in a real headless Chromium (Debian's, driven by Playwright) against one real devnet: the jobs
list shows a submitted job, its loss curve grows while it trains, a disputed job's page draws the narrowing to the
step and operator the chain's game names, and a stranger signed in with a wallet gets no download of another
client's model (the client does). Screenshots of the four pages at 1280×800 go to tmp/artefacts/console/."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

from tests.e2e.conftest import REPO, TERMINAL, Devnet, small_spec

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
ARTEFACTS = REPO / "tmp" / "artefacts" / "console"
VIEWPORT = {"width": 1280, "height": 800}
FAULT_STEP = 20
LONG_STEPS = 2000  # long enough that the page is open before the job ends, even on a quiet machine

# An injected EIP-1193 wallet whose keys stay in the test process: personal_sign goes to a Python function.
WALLET = """
window.ethereum = {
  async request({ method, params }) {
    if (method === "eth_requestAccounts" || method === "eth_accounts") return [await window.__walletAddress()];
    if (method === "personal_sign") return await window.__walletSign(params[0]);
    throw new Error("unsupported " + method);
  },
};
"""


@pytest.fixture(scope="module")
def dn(devnet_factory) -> Devnet:  # type: ignore[no-untyped-def]
    # Two workers, worker-1 cheats at step 20. The challenge window leaves a verifier on a busy 2-core machine
    # time to re-run the short job before it closes.
    return devnet_factory("--workers", "2", "--faulty-worker", f"perturb-step={FAULT_STEP}",
                          "--clock", "challenge-window=90")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    assert CHROMIUM.exists(), "Debian's chromium is missing: `make setup` installs it (apt-get install chromium)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def _spec(steps: int, seed: int, checkpoint_every: int, spot_check: float) -> dict[str, Any]:
    spec = small_spec(steps=steps, seed=seed, checkpoint_every=checkpoint_every)
    spec["verification"] = {"replicas": 1, "spot_check": spot_check}
    return spec


@pytest.fixture(scope="module")
def long_job(dn: Devnet) -> int:
    """Submitted first, so a test can open its page before it starts training; never re-run (spot_check 0), so
    the verifier's time goes to the short jobs."""
    return dn.submit(_spec(LONG_STEPS, 7, 50, spot_check=0.0))


@pytest.fixture(scope="module")
def jobs(dn: Devnet, long_job: int) -> dict[str, int]:
    """The long job and a short, re-run job on the cheating worker (the matcher rotates least recently assigned
    providers: a short job that lands on the honest one is followed by another, which lands on the cheater)."""
    cheater = dn.address("worker-1").lower()
    out = {"long": long_job}
    for seed in range(8, 11):
        job_id = dn.submit(_spec(30, seed, 5, spot_check=1.0))
        out.setdefault("short", job_id)
        job = dn.wait_job(job_id, lambda j: j["provider"] is not None, 180, what="assigned")
        if job["provider"] == cheater:
            out["cheated"] = job_id
            return out
    raise AssertionError("no short job landed on the cheating worker")


class Page:
    """One browser tab on the console, with the errors its scripts threw."""

    def __init__(self, browser: Any, base: str, wallet_key: str | None = None) -> None:
        self.base = base
        self.context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
        self.errors: list[str] = []
        if wallet_key is not None:
            from eth_account import Account
            from eth_account.messages import encode_defunct

            acct = Account.from_key(wallet_key)
            self.context.expose_function("__walletAddress", lambda: acct.address)
            self.context.expose_function(
                "__walletSign", lambda hexmsg: "0x" + acct.sign_message(encode_defunct(hexstr=hexmsg)).signature.hex().removeprefix("0x"))
            self.context.add_init_script(WALLET)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def go(self, route: str, wait_for: str) -> Any:
        self.page.goto(f"{self.base}/#{route}")
        self.page.wait_for_selector(wait_for, timeout=30_000)
        return self.page

    def sign_in(self, choice: str) -> str:
        self.page.click("#signin-button")
        self.page.click(f'[data-signin="{choice}"]')
        return str(self.page.wait_for_selector(".signed-in[data-address]", timeout=30_000).get_attribute("data-address"))

    def shot(self, name: str) -> None:
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        self.page.wait_for_timeout(500)  # let the last poll's redraw land
        self.page.screenshot(path=str(ARTEFACTS / f"{name}.png"))

    def close(self) -> None:
        assert not self.errors, f"the console threw: {self.errors}"
        self.context.close()


def _wait(what: str, fn: Any, timeout_s: float, dn: Devnet) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = fn()
        if got:
            return got
        time.sleep(0.5)
    raise AssertionError(f"{what} within {timeout_s}s\n{dn.logs_tail()}")


def test_job_page_loss_curve_grows_while_it_trains(dn: Devnet, browser: Any, long_job: int) -> None:
    tab = Page(browser, dn.state.coordinator)
    page = tab.go(f"/jobs/{long_job}", "[data-points]")
    # What is asserted is that the open page's curve gets new points without a reload. How many progress
    # reports land while the job is still running depends on the machine's speed (a quiet machine trains this
    # job in a couple of seconds), so the test asks only for the count on screen to rise at least once after
    # the page was drawn, and for the page to end with the whole curve.
    seen: list[tuple[int, str | None]] = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        n = int(page.get_attribute("[data-points]", "data-points") or 0)
        status = page.get_attribute(".page-head .pill", "data-status")
        if not seen or seen[-1] != (n, status):
            seen.append((n, status))
        if status in TERMINAL and n > 0:
            break
        page.wait_for_timeout(250)
    counts = [k for k, _ in seen]
    grew = any(b > a for a, b in itertools.pairwise(counts))
    assert grew and counts[-1] > 0, f"the curve did not grow on the open page (count, status): {seen}\n{dn.logs_tail()}"
    assert counts[-1] >= min(LONG_STEPS, 1000) // 2, f"the curve ends with {counts[-1]} of {LONG_STEPS} points: {seen}"
    running = sorted({k for k, st in seen if st == "running" and k > 0})
    assert page.query_selector(".chart canvas") is not None, "uPlot drew no canvas"
    print(f"loss curve on screen while running: {running} points, without a reload")
    tab.shot("job")
    tab.close()


def test_jobs_list_shows_a_submitted_job(dn: Devnet, browser: Any, jobs: dict[str, int]) -> None:
    tab = Page(browser, dn.state.coordinator)
    tab.go("/jobs", ".page-head h1")
    me = tab.sign_in("client")
    assert me == dn.address("client").lower()
    row = tab.page.wait_for_selector(f'tr[data-job="{jobs["short"]}"]', timeout=30_000)
    text = row.inner_text()
    assert "0.01 ETH" in text and "client" in text, text
    tab.page.click('[data-filter="mine"]')  # the client's own jobs: both of them
    tab.page.wait_for_selector(f'tr[data-job="{jobs["long"]}"]', timeout=30_000)
    tab.shot("jobs")
    tab.close()


def test_a_cold_load_reads_its_first_draw_once(dn: Devnet, browser: Any, jobs: dict[str, int]) -> None:
    """A job page's first draw is one read (its overview, started by index.html before the script runs and taken
    over by the page), the deployment is read once for the badge and the page, and the devnet's names label the
    drawn page in place: they used to re-route it, so every load read and drew the whole page twice."""
    tab = Page(browser, dn.state.coordinator)
    reads: list[str] = []
    tab.page.on("request", lambda r: reads.append(r.url.removeprefix(dn.state.coordinator)) if "/v1/" in r.url else None)
    job = jobs["short"]
    page = tab.go(f"/jobs/{job}", "[data-kind]")
    page.wait_for_selector(".page-body .addr b", timeout=30_000)  # the names arrived and labelled what is drawn
    assert reads.count(f"/v1/jobs/{job}/overview") == 1, reads
    assert reads.count("/v1/market") == 1, reads
    assert reads.count("/v1/auth/dev/accounts") == 1, reads
    # the build's hashed files may be kept for good: a second visit fetches none of them
    script = page.evaluate("document.querySelector('script[type=module]').src")
    assert "immutable" in (page.request.get(script).headers.get("cache-control") or "")
    tab.close()
    # Every read index.html starts early is one its page then asks for (same path): none is started for nothing.
    for route, drawn in [("/jobs", "tr[data-job]"), (f"/jobs/{job}", "[data-kind]"), ("/providers", "tr[data-provider]"),
                         ("/disputes", ".page-head h1")]:
        tab = Page(browser, dn.state.coordinator)
        tab.go(route, drawn)
        try:
            tab.page.wait_for_function("() => Object.keys(window.__agoraEarly.reads).length === 0", timeout=30_000)
        except PlaywrightTimeout as exc:  # say which read was never taken
            left = tab.page.evaluate("Object.keys(window.__agoraEarly.reads)")
            raise AssertionError(f"{route}: early reads no page asked for: {left}") from exc
        tab.close()


def _duration(s: int) -> str:
    """console/src/format.ts duration(), for seconds under an hour."""
    return f"{s}s" if s < 60 else f"{s // 60}m {s % 60}s"


def test_disputed_job_page_draws_the_narrowing_to_the_step_and_op(dn: Devnet, browser: Any, jobs: dict[str, int]) -> None:
    from eth_account import Account

    from chain.dispute_game import DisputeGame

    d = dn.wait_settled(jobs["cheated"], timeout_s=480)
    state = DisputeGame.connect(dn.ledger.deployment, dn.ledger.w3, Account.create().key.hex()).state(int(d["id"]))
    assert state.index == FAULT_STEP  # what the demo narrates: "caught at step K op J"
    tab = Page(browser, dn.state.coordinator)
    page = tab.go(f"/disputes/{d['id']}", "[data-verdict]")
    assert page.get_attribute("[data-verdict]", "data-verdict") == f"step {state.index} op {state.hi}"
    # the drawing follows the moves the page reads after the verdict; wait for it rather than race it
    page.wait_for_selector("svg.narrowing .fig-final", timeout=60_000)
    assert page.query_selector_all("svg.narrowing .fig-final") and len(page.query_selector_all("svg.narrowing .fig-level")) == 3
    assert page.query_selector('[data-slashed]') is not None, "who was slashed how much"
    assert len(page.query_selector_all("tr[data-move]")) == len(d["moves"])
    # the clocks are the contract's: what each party has left of its whole-game budget
    for party, left in (("defender", state.clock_defender), ("challenger", state.clock_challenger)):
        shown = page.text_content(f'[data-clock="{party}"]') or ""
        assert shown.startswith(_duration(left) + " left"), (party, shown, left)
    tab.shot("dispute")
    # the disputed job's own page links to it
    tab.go(f"/jobs/{d['job_id']}", f'[data-dispute="{d["id"]}"]')
    tab.close()


def test_a_stranger_cannot_download_another_clients_model(dn: Devnet, browser: Any, jobs: dict[str, int]) -> None:
    from eth_account import Account

    def with_model() -> int | None:
        for job_id in jobs.values():
            if job_id != jobs["cheated"] and dn.api.job(job_id)["status"] == "finalized" and dn.api.result(job_id).get("model_artifact"):
                return job_id
        return None

    job_id = _wait("a finalized job with its model", with_model, 480, dn)
    stranger = Page(browser, dn.state.coordinator, wallet_key=Account.create().key.hex())
    stranger.go(f"/jobs/{job_id}", "[data-download]")
    assert stranger.sign_in("wallet") != dn.address("client").lower()  # signed in through the injected wallet
    page = stranger.page
    page.wait_for_selector('[data-download="denied"]', timeout=30_000)
    assert page.query_selector('[data-download="button"]') is None
    # Nor can the stranger fetch it by hand with its token: the API refuses, the console only mirrors that.
    status = page.evaluate(f"""async () => {{
        const s = JSON.parse(sessionStorage.getItem("agora.session"));
        return (await fetch("/v1/jobs/{job_id}/model", {{ headers: {{ Authorization: "Bearer " + s.token }} }})).status;
    }}""")
    assert status == 403
    stranger.close()

    client = Page(browser, dn.state.coordinator)
    client.go(f"/jobs/{job_id}", "[data-download]")
    client.sign_in("client")
    page = client.page
    page.wait_for_selector('[data-download="button"]', timeout=30_000)
    with page.expect_download(timeout=30_000) as got:
        page.click('[data-download="button"]')
    path = got.value.path()
    assert path is not None and Path(path).stat().st_size > 0
    client.close()


def test_providers_page_shows_stake_liveness_and_record(dn: Devnet, browser: Any, jobs: dict[str, int]) -> None:
    tab = Page(browser, dn.state.coordinator)
    page = tab.go("/providers", "table.providers")
    for name in ("worker-1", "worker-2"):
        row = page.wait_for_selector(f'tr[data-provider="{dn.address(name).lower()}"]', timeout=30_000)
        assert row.query_selector('[data-alive="true"]') is not None, f"{name} not alive"
        assert row.query_selector('[data-stake="free"]') is not None
    # the cheater's slashed stake shows once its dispute is settled
    dn.wait_settled(jobs["cheated"], timeout_s=480)
    slashed = f'tr[data-provider="{dn.address("worker-1").lower()}"] [data-stake="slashed"] b'
    page.wait_for_function(f"() => document.querySelector('{slashed}')?.textContent !== '0 ETH'", timeout=30_000)
    tab.shot("providers")
    tab.close()
