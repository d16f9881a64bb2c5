"""POST /v1/jobs/estimate: what a job would need, without creating it — its model's figures and the collateral a
provider must stake (the coordinator's policy), from the same checks `POST /v1/jobs` makes."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from coordinator.dependencies import ChainDep, SettingsDep, StoreDep
from coordinator.errors import Unprocessable, error_responses
from coordinator.graph_jobs import model_facts
from coordinator.routes.jobs import _collateral
from coordinator.schemas import UINT96_MAX, JobCreate
from verde.spec import JobSpec, spec_hash

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


class EstimateCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    spec: JobSpec
    price_wei: int = Field(gt=0, le=UINT96_MAX)
    collateral_wei: int | None = Field(default=None, ge=0, le=UINT96_MAX)


class EstimatePublic(BaseModel):
    spec_hash: str
    parameters: int
    ops_per_step: int  # the on-chain opsPerStep: graph nodes + optimizer ops + the state op
    step_bytes: int  # an upper bound on the memory one training step needs
    collateral_wei: str  # what the provider locks from its stake when it accepts
    min_stake_wei: str | None  # the market's minimum provider stake, when the deployment says


@router.post("/estimate", response_model=EstimatePublic, responses=error_responses(422))
def estimate(body: EstimateCreate, settings: SettingsDep, store: StoreDep, chain: ChainDep) -> EstimatePublic:
    """Check a spec as job creation would (artifacts uploaded, graph allowed, weights and data fit) and return
    what it needs; nothing is stored."""
    spec = body.spec
    ds, data = spec.dataset.id, None
    if ds.startswith("sha256:"):
        if not store.exists(ds.removeprefix("sha256:")):
            raise Unprocessable(f"unknown dataset {ds}: upload it with POST /v1/datasets first",
                                code="unknown_dataset",
                                details=[{"field": "body.spec.dataset.id", "message": "no such dataset"}])
        data = store.path(ds.removeprefix("sha256:")).read_bytes()
    facts = model_facts(spec, store, data)
    collateral = _collateral(JobCreate(spec=spec, price_wei=body.price_wei, deadline_s=3600,
                                       collateral_wei=body.collateral_wei), settings)
    params = chain.deployment.params if chain.deployment is not None else {}
    min_stake = params.get("min_stake_wei")
    return EstimatePublic(spec_hash=spec_hash(spec), parameters=facts.parameters, ops_per_step=facts.ops_per_step,
                          step_bytes=facts.step_bytes, collateral_wei=str(collateral),
                          min_stake_wei=str(min_stake) if min_stake is not None else None)
