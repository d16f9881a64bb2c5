"""Who may read which stored bytes (docs/API.md "Who can read what"): the rule for every artifact route.

Every read of bytes needs sign-in. Whoever uploaded bytes may read them back. Beyond that:
- a job's final model: its client;
- a checkpoint: the verifiers (challengers) and the referee of a dispute against the provider that made it;
- a job's inputs (dataset, graph, initial weights) and its spec: the job's client, the provider assigned to (or
  claimed for) the job, the coordinator's verifiers (AGORA_VERIFIERS), the referee, and a challenger of the job;
- dispute evidence (op inputs handed to the referee): the referee and the other party of a dispute with the
  uploader, and the coordinator's verifiers.
A model is never readable through the evidence or dataset rules: the model rule is checked first and is final.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from coordinator.chain_gateway import ChainGateway
from coordinator.models import Artifact, Assignment, Dataset, Dispute, Job, Spec
from coordinator.settings import Settings

_REFEREE_SELECTOR = "0x3b1bebd1"  # keccak256("referee()")[:4]
_referee_cache: dict[str, str | None] = {}
_lock = threading.Lock()


def referee_of(settings: Settings, chain: ChainGateway) -> str | None:
    """The referee address: AGORA_REFEREE_ADDRESS, else DisputeGame.referee() on the chain (read once)."""
    if settings.referee_address:
        return settings.referee_address.lower()
    try:
        game = chain.address("DisputeGame")
    except Exception:  # noqa: BLE001 - no deployment yet: nobody is the referee
        return None
    with _lock:
        if game in _referee_cache:
            return _referee_cache[game]
    try:
        raw = chain.w3.eth.call({"to": game, "data": _REFEREE_SELECTOR})  # type: ignore[typeddict-item]
    except Exception:  # noqa: BLE001 - RPC down: deny now, ask again next time
        return None
    referee = "0x" + bytes(raw)[-20:].hex()
    with _lock:
        _referee_cache[game] = referee
    return referee


class Readers:
    """Answers "may `user` read this?" for one request."""

    def __init__(self, session: Session, settings: Settings, chain: ChainGateway, user: str) -> None:
        self.session = session
        self.user = user.lower()
        self.verifiers = {a.strip().lower() for a in settings.verifiers.split(",") if a.strip()}
        self._settings, self._chain = settings, chain

    def _is_referee(self) -> bool:
        return self.user == referee_of(self._settings, self._chain)

    def _challenged(self, defender: str | None = None, chain_job_ids: Iterable[int] = ()) -> bool:
        """Whether the user is a challenger of a dispute against `defender` or about one of `chain_job_ids`."""
        conds = []
        if defender is not None:
            conds.append(Dispute.defender == defender.lower())
        ids = [i for i in chain_job_ids if i is not None]
        if ids:
            conds.append(Dispute.chain_job_id.in_(ids))
        if not conds:
            return False
        q = select(Dispute.id).where(Dispute.challenger == self.user, or_(*conds)).limit(1)
        return self.session.execute(q).first() is not None

    def _disputes_with(self, other: str | None) -> bool:
        if other is None:
            return False
        q = select(Dispute.id).where(
            or_(
                (Dispute.defender == self.user) & (Dispute.challenger == other.lower()),
                (Dispute.challenger == self.user) & (Dispute.defender == other.lower()),
            )
        ).limit(1)
        return self.session.execute(q).first() is not None

    def job_party(self, job: Job) -> bool:
        """Client, assigned or claimed provider, verifier, referee or challenger of the job: may read its inputs."""
        if self.user in (job.client, job.provider) or self.user in self.verifiers:
            return True
        claimed = self.session.execute(
            select(Assignment.id).where(
                Assignment.job_id == job.id, Assignment.active.is_(True), Assignment.provider == self.user
            ).limit(1)
        ).first()
        if claimed is not None:
            return True
        return self._is_referee() or (job.chain_job_id is not None and self._challenged(chain_job_ids=[job.chain_job_id]))

    def artifact(self, digest: str) -> bool:
        row = self.session.get(Artifact, digest)
        if row is None:
            return False
        models = list(self.session.execute(select(Job).where(Job.model_artifact == digest)).scalars())
        if models or row.kind == "model":
            # Final models: the client only (and the provider that uploaded them).
            return self.user == row.uploaded_by or any(self.user == j.client for j in models)
        if self.user == row.uploaded_by:
            return True
        dataset = self.session.get(Dataset, f"sha256:{digest}")
        if dataset is not None or row.kind in ("graph", "weights"):
            # a job's model (graph, initial weights) is read like its data: by the parties of the jobs naming it
            return self._dataset(f"sha256:{digest}")
        if row.kind == "checkpoint":
            return self._is_referee() or self._challenged(defender=row.uploaded_by)
        # Evidence and other blobs.
        return self.user in self.verifiers or self._is_referee() or self._disputes_with(row.uploaded_by)

    def _dataset(self, dataset_id: str) -> bool:
        if self.user in self.verifiers or self._is_referee():
            return True
        # The jobs that train on it: the spec names the dataset id, and the spec is stored as canonical JSON.
        jobs = self.session.execute(
            select(Job).join(Spec, Spec.spec_hash == Job.spec_hash).where(
                Spec.canonical_json.contains(f'"{dataset_id}"')
            )
        ).scalars()
        return any(self.job_party(j) for j in jobs)
