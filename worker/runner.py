"""What a provider does with one dispatched job: accept, train with verde, checkpoint, submit, register.

`JobRunner.run(job_id)` is idempotent: it reads where the job stands on-chain (the truth) and in the local
workspace, and does only what is left — a re-delivered job that is already Running for this provider
resumes from its last checkpoint; one already Submitted only re-registers its artifacts; one assigned to
someone else, or no longer open to this provider, is a no-op. Everything it learns it logs in one line.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from chain.errors import ContractRevert
from chain.job_market import JobStatus
from client.api import ApiError
from client.job_inputs import fetch_job_inputs, fetch_model_artifacts
from verde.checkpoint import dump_state
from verde.datasets import DatasetError
from verde.evaluation import eval_steps, evaluate
from verde.interpreter import Interpreter, RunStats, State
from verde.merkle import keccak256
from verde.runner import model_hash, model_state
from verde.spec import JobSpec, parse_spec
from verde.tensorhash import state_hash
from verde.trace import Trace, checkpoint_steps
from worker.bootstrap import WorkerContext
from worker.faults import WorkerFault, parse_worker_fault, random_seed
from worker.heartbeat import devices
from worker.lease import JobLease
from worker.liveness import ChainHeartbeat, liveness_window
from worker.preflight import abandon_unrunnable, decline_if_unrunnable
from worker.progress import ProgressReporter
from worker.terms_check import decline_if_mismatched
from worker.workspace import CheckpointEntry, JobWorkspace, Manifest

log = logging.getLogger("agora.worker")


class JobNotReady(Exception):
    """The coordinator does not know the job's chain id yet (indexer behind); try again shortly."""


class SpecMismatch(Exception):
    """The spec the coordinator serves does not hash to the job's on-chain specHash: never run it."""


@dataclass(frozen=True)
class RunOutcome:
    """What one call of `run` did: `action` is accepted+submitted, resumed+submitted, already-submitted, skipped,
    abandoned."""

    action: str
    chain_job_id: int | None = None
    trace_root: str | None = None
    final_model_hash: str | None = None
    detail: str = ""


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


class JobRunner:
    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx
        self.settings = ctx.settings

    # ------------------------------------------------------------------ the task body

    def run(self, job_id: int) -> RunOutcome:
        job = self.ctx.api.job(job_id)
        cid = job.get("chain_job_id")
        if cid is None:
            raise JobNotReady(f"job {job_id} has no chain id yet")
        market, me = self.ctx.market, self.ctx.address
        view = market.job(cid)
        if view.provider is None or view.provider.lower() != me.lower():
            log.info("job %s (chain %s): assigned to %s, not to me; skipping", job_id, cid, view.provider)
            return RunOutcome("skipped", cid, detail="not assigned to this provider")
        ws = self.ctx.workspace(cid)
        if view.status == JobStatus.ASSIGNED:
            spec, raw = self._spec(job_id, ws, view.terms.spec_hash)  # a spec that does not check out: never
            refused = decline_if_mismatched(self.ctx.api, job_id, cid, raw, spec, view.terms)
            if refused is not None:  # its own submit or descent would revert and forfeit the collateral
                return RunOutcome("skipped", cid, detail=f"terms mismatch: {refused}")
            cannot = decline_if_unrunnable(self.ctx.api, job_id, cid, spec, self._dataset,
                                           max_params=self.settings.max_params, devices=devices(self.settings.device),
                                           wanted_device=job.get("device"))
            if cannot is not None:  # accepting would lock collateral for a run that can only fail
                return RunOutcome("skipped", cid, detail=f"cannot run: {cannot}")
            with JobLease(self.ctx.redis, self.ctx.lease_key(cid), self.settings.lease_ttl_s) as lease:
                try:
                    market.accept(cid)
                    log.info("job %s (chain %s): accepted", job_id, cid)
                except ContractRevert as exc:
                    status = market.status(cid)
                    if status != JobStatus.RUNNING:
                        log.warning("job %s (chain %s): accept refused (%s), now %s; giving up",
                                    job_id, cid, exc.error_name, status.name)
                        return RunOutcome("skipped", cid, detail=f"accept refused: {exc.error_name}")
                return self._train_and_submit(job_id, cid, ws, "accepted", lease)
        if view.status == JobStatus.RUNNING:
            with JobLease(self.ctx.redis, self.ctx.lease_key(cid), self.settings.lease_ttl_s) as lease:
                if market.status(cid) != JobStatus.RUNNING:  # another process finished it meanwhile
                    return RunOutcome("already-submitted", cid)
                return self._train_and_submit(job_id, cid, ws, "resumed", lease)
        if view.status in (JobStatus.SUBMITTED, JobStatus.DISPUTED, JobStatus.FINALIZED):
            self.register_artifacts(job_id, ws)
            return RunOutcome("already-submitted", cid)
        log.info("job %s (chain %s): %s on-chain; nothing to do", job_id, cid, view.status.name)
        return RunOutcome("skipped", cid, detail=f"status {view.status.name}")

    # ------------------------------------------------------------------ training

    def _spec(self, job_id: int, ws: JobWorkspace, expected_hash: bytes) -> tuple[JobSpec, bytes]:
        raw = ws.spec_bytes() if (ws.dir / "spec.json").exists() else self.ctx.api.spec_bytes(job_id)
        if keccak256(raw) != expected_hash:
            raise SpecMismatch(f"job {job_id}: the coordinator's spec does not hash to the on-chain specHash")
        ws.write_spec(raw)
        spec = parse_spec(raw)
        fetch_model_artifacts(self.ctx.api, spec)  # a graph job's program needs its graph and weights
        return spec, raw

    def _dataset(self, spec: JobSpec) -> bytes | None:
        return fetch_job_inputs(self.ctx.api, spec)  # the dataset; a graph job's graph and weights too

    def _train_and_submit(self, job_id: int, cid: int, ws: JobWorkspace, how: str,
                          lease: JobLease | None = None) -> RunOutcome:
        terms = self.ctx.market.terms(cid)
        spec, _ = self._spec(job_id, ws, terms.spec_hash)
        fault = self.settings.fault
        m = ws.manifest()
        if m.checkpoints and m.fault != (str(fault) if fault else None):
            m = Manifest(chain_job_id=cid)  # a run under another fault setting: start over
        m.coordinator_job_id, m.spec_hash, m.fault = job_id, _hex(terms.spec_hash), str(fault) if fault else None
        if fault is not None and fault.mode == "wrong-final" and m.fake_seed is None:
            m.fake_seed = _hex(random_seed())
        ws.save(m)

        try:
            interp = Interpreter(spec, data=self._dataset(spec), device=self.settings.device,
                                 fault=fault.verde_fault(spec) if fault else None)
        except DatasetError as exc:  # only shows now (the preflight passed): give the job back, don't sit on it
            abandon_unrunnable(self.ctx.market, self.ctx.api, job_id, cid, f"the dataset cannot serve the spec: {exc}")
            return RunOutcome("abandoned", cid, detail=str(exc))
        start, state = self._resume_point(ws, m, interp)
        if start > 0:
            log.info("job %s (chain %s): resuming from checkpoint %d", job_id, cid, start)
        t0 = time.perf_counter()
        final, stats = self._train(job_id, ws, m, interp, start, state, lease)
        log.info("job %s (chain %s): trained steps %d..%d in %.2fs wall, %.3fs compute, %.3fs hashing", job_id, cid,
                 start, spec.steps, time.perf_counter() - t0, stats.compute_s, stats.hash_s)

        trace = self.trace(ws, interp, m)
        root = trace.trace_root
        final_hash = model_hash(interp, final)
        if fault is not None and fault.mode == "wrong-final":
            final_hash = fault.fake_final_hash(bytes.fromhex(m.fake_seed.removeprefix("0x")))  # type: ignore[union-attr]
        model_bytes = dump_state({k: v.detach().cpu() for k, v in model_state(interp, final).items()}, spec.steps)
        m.model_artifact = self.ctx.api.upload_artifact(model_bytes, kind="model")
        m.trace_root, m.final_model_hash = _hex(root), _hex(final_hash)
        ws.save(m)

        if lease is not None:
            lease.check()  # a holder that lost its lease must not submit beside the new one
        if self.ctx.market.status(cid) == JobStatus.RUNNING:
            self.ctx.market.submit_result(cid, root, final_hash, spec.steps)
            log.info("job %s (chain %s): submitted traceRoot %s finalModelHash %s%s", job_id, cid, m.trace_root,
                     m.final_model_hash, f" [FAULT {fault}]" if fault else "")
        m.submitted = True
        ws.save(m)
        self.register_artifacts(job_id, ws)
        return RunOutcome(f"{how}+submitted", cid, m.trace_root, m.final_model_hash)

    def _resume_point(self, ws: JobWorkspace, m: Manifest, interp: Interpreter) -> tuple[int, State]:
        """The latest checkpoint whose file is here and hashes to its recorded leaf; else step 0."""
        for step in sorted(m.checkpoints, reverse=True):
            entry = m.checkpoints[step]
            try:
                state = self._load_checkpoint(ws, m, step)
            except (OSError, ValueError, ApiError):
                continue
            if _hex(state_hash(state)) == entry.leaf:
                return step, {k: v.to(interp.device) for k, v in state.items()}
        return 0, interp.initial_state()

    def _load_checkpoint(self, ws: JobWorkspace, m: Manifest, step: int) -> State:
        if ws.has_checkpoint(step):
            return ws.load_checkpoint(step)
        entry = m.checkpoints.get(step)
        if entry is None or entry.artifact is None:
            raise FileNotFoundError(f"no checkpoint for step {step}")
        from verde.checkpoint import load_state

        data = self.ctx.api.artifact(entry.artifact)
        state = load_state(data).state
        ws.write_checkpoint(step, state)
        return state

    def _train(self, job_id: int, ws: JobWorkspace, m: Manifest, interp: Interpreter, start: int,
               state: State, lease: JobLease | None = None) -> tuple[State, RunStats]:
        every = max(1, self.settings.progress_every)

        def on_checkpoint(step: int, st: State, leaf: bytes) -> None:
            known = m.checkpoints.get(step)
            if known is not None and known.leaf == _hex(leaf) and known.artifact and ws.has_checkpoint(step):
                return  # the checkpoint we resumed from
            data = ws.write_checkpoint(step, st)
            artifact = None
            try:
                artifact = self.ctx.api.upload_artifact(data, kind="checkpoint")
            except ApiError as exc:  # the local copy still serves resumes and disputes
                log.warning("job %s: checkpoint %d upload failed: %s", job_id, step, exc)
            m.checkpoints[step] = CheckpointEntry(step=step, leaf=_hex(leaf), artifact=artifact)
            ws.save(m)

        reporter = ProgressReporter(self.ctx.api, job_id)

        def on_step(step: int, loss: float) -> None:
            if lease is not None:
                lease.check()  # raises LeaseLost: stop training, the new holder carries on
            if step % every and step != interp.spec.steps:  # the reporter itself skips NaN losses
                return
            reporter.report(step, loss)

        window = liveness_window(self.ctx.market)
        alive = ChainHeartbeat(self.ctx.market, m.chain_job_id, window) if window else None

        def on_checkpoint_and_beat(step: int, st: State, leaf: bytes) -> None:
            on_checkpoint(step, st, leaf)
            if alive is not None:
                alive.checkpoint(step, leaf)

        with reporter, alive or contextlib.nullcontext():
            # Train up to each evaluation point of the spec's eval section, then evaluate there: the held-out
            # figures come from the job's own program, so a verifier's replay reproduces them.
            cur, stats = dict(state), RunStats()
            for stop in eval_steps(interp.spec, start):
                cur, part = interp.run(cur, start, stop, on_checkpoint=on_checkpoint_and_beat, on_step=on_step)
                stats.steps, stats.compute_s, stats.hash_s = (stats.steps + part.steps, stats.compute_s + part.compute_s,
                                                              stats.hash_s + part.hash_s)
                ev = evaluate(interp, cur, stop)
                if ev.loss is not None or ev.accuracy is not None:
                    reporter.report_eval(ev.step, ev.loss, ev.accuracy)
                start = stop
            return cur, stats

    # ------------------------------------------------------------------ the trace (also for disputes)

    def trace(self, ws: JobWorkspace, interp: Interpreter, m: Manifest | None = None) -> Trace:
        """This provider's trace of the job from its workspace, lying exactly as the run did (wrong-final lies
        only about the reported hash, so its trace is the honest one)."""
        m = m or ws.manifest()
        steps = checkpoint_steps(interp.spec)
        leaves = [bytes.fromhex(m.checkpoints[t].leaf.removeprefix("0x")) for t in steps]
        device = interp.device

        def load(t: int) -> State:  # checkpoints are stored on the CPU; replays run where training ran
            return {k: v.to(device) for k, v in self._load_checkpoint(ws, m, t).items()}

        return Trace(interp, leaves, load)

    def trace_for(self, chain_job_id: int) -> Trace:
        """The trace of a job this provider submitted, rebuilt from its workspace (for the defender)."""
        ws = self.ctx.workspace(chain_job_id)
        m = ws.manifest()
        spec = parse_spec(ws.spec_bytes())
        fault: WorkerFault | None = parse_worker_fault(m.fault)
        interp = Interpreter(spec, data=self._dataset(spec), device=self.settings.device,
                             fault=fault.verde_fault(spec) if fault else None)
        return self.trace(ws, interp, m)

    # ------------------------------------------------------------------ result artifacts

    def register_artifacts(self, job_id: int, ws: JobWorkspace) -> None:
        m = ws.manifest()
        if m.artifacts_registered or m.model_artifact is None:
            return
        last = max(m.checkpoints) if m.checkpoints else None
        ckpt = m.checkpoints[last].artifact if last is not None else None
        try:
            self.ctx.api.register_result_artifacts(job_id, m.model_artifact, ckpt)
        except ApiError as exc:
            log.warning("job %s: result artifacts not registered: %s", job_id, exc)
            return
        m.artifacts_registered = True
        ws.save(m)
        log.info("job %s: registered model artifact %s", job_id, m.model_artifact)


def describe(outcome: RunOutcome) -> dict[str, Any]:
    return {"action": outcome.action, "chain_job_id": outcome.chain_job_id, "trace_root": outcome.trace_root,
            "final_model_hash": outcome.final_model_hash, "detail": outcome.detail}
