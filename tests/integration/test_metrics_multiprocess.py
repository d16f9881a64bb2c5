"""Metrics that tell the truth in production: the API under `uvicorn --workers 2` and the indexer and matcher
as processes of their own all write to PROMETHEUS_MULTIPROC_DIR, and one scrape of /metrics shows the sum.

Before: each uvicorn worker kept its own counters (a scrape saw whichever worker answered), and the indexer
and matcher built no Metrics at all, so agora_indexer_block and agora_matcher_assignments_total never moved.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from chain.anvil import free_port
from coordinator.database import upgrade_to_head

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _value(text: str, name: str, labels: str = "") -> float:
    """Sum of the samples of `name` whose label set contains `labels` (e.g. 'route="/healthz"')."""
    total, seen = 0.0, False
    for line in text.splitlines():
        m = re.match(rf"^{re.escape(name)}(\{{[^}}]*\}})? (\S+)$", line)
        if m and labels in (m.group(1) or ""):
            total += float(m.group(2))
            seen = True
    assert seen, f"no {name}{{{labels}}} in the scrape"
    return total


def test_every_process_is_counted_in_one_scrape(tmp_path):
    prom = tmp_path / "prom"
    prom.mkdir()
    db = f"sqlite:///{tmp_path / 'c.db'}"
    upgrade_to_head(db)
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("AGORA_")},
           "PROMETHEUS_MULTIPROC_DIR": str(prom), "AGORA_DATABASE_URL": db,
           "AGORA_RPC_URL": "http://127.0.0.1:1", "AGORA_ARTIFACT_DIR": str(tmp_path / "art"),
           "AGORA_DEPLOYMENT_FILE": str(tmp_path / "none.json")}
    api = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "coordinator.app:app_from_env",
                            "--host", "127.0.0.1", "--port", str(port), "--workers", "2", "--log-level", "warning"],
                           cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert api.poll() is None and time.monotonic() < deadline, "the API did not come up"
            time.sleep(0.2)
        # A fresh connection per request, so both workers answer some of them.
        n = 40
        for _ in range(n):
            assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200

        # The indexer and matcher, as their own processes, through the same factory their main() uses.
        background = (
            "from coordinator.metrics import process_metrics\n"
            "i = process_metrics('indexer'); i.indexed_block.set(1234); i.reorgs.inc(); i.reorgs.inc()\n"
            "m = process_metrics('matcher'); m.assignments.inc(3)\n"
        )
        subprocess.run([sys.executable, "-c", background], cwd=ROOT, env=env, check=True, timeout=120)

        text = httpx.get(f"{base}/metrics", timeout=10).text
        pids = {p.name.split("_")[-1] for p in prom.glob("*.db")}
        assert len(pids) >= 3  # two API workers and the background process wrote their own files
        # Every request counted once, whichever worker took it (the first scrape's own request may be in too).
        assert _value(text, "agora_http_requests_total", 'route="/healthz"') >= n + 1
        assert _value(text, "agora_indexer_block") == 1234
        assert _value(text, "agora_indexer_reorgs_total") == 2
        assert _value(text, "agora_matcher_assignments_total") == 3
        again = httpx.get(f"{base}/metrics", timeout=10).text  # a second scrape agrees, whoever answers it
        assert _value(again, "agora_indexer_reorgs_total") == 2
    finally:
        os.killpg(api.pid, 15)
        try:
            api.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(api.pid, 9)
            api.wait(timeout=10)


def test_background_process_serves_its_own_metrics_without_the_shared_folder():
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir")}
    env["AGORA_METRICS_PORT"] = str(port)
    code = ("import time\nfrom coordinator.metrics import process_metrics\n"
            "m = process_metrics('matcher'); m.assignments.inc(5)\nprint('up', flush=True)\ntime.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "up"
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        assert _value(text, "agora_matcher_assignments_total") == 5
    finally:
        proc.kill()
        proc.wait(timeout=10)
