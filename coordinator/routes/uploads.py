"""POST/GET /v1/datasets and /v1/artifacts: size-limited, content-addressed uploads and downloads."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from sqlalchemy.orm import Session
from starlette.formparsers import MultiPartException, MultiPartParser

from coordinator.access import Readers
from coordinator.artifact_store import ArtifactStore
from coordinator.datasets import DatasetError, inspect_dataset
from coordinator.dependencies import ChainDep, CurrentUser, SessionDep, SettingsDep, StoreDep
from coordinator.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Unprocessable,
    error_responses,
)
from coordinator.models import Artifact, Dataset
from coordinator.schemas import ArtifactPublic, DatasetPublic

router = APIRouter(prefix="/v1", tags=["datasets and artifacts"])

SHA_PATTERN = r"^(sha256:)?[0-9a-f]{64}$"
_BINARY_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
        },
    }
}
MULTIPART_OVERHEAD = 64 * 1024


async def read_limited(request: Request, limit: int) -> bytes:
    """The request body, or 413 as soon as it grows past `limit` (without reading the rest)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            f"body of {declared} bytes exceeds the limit of {limit} bytes", details={"limit": limit}
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body exceeds the limit of {limit} bytes", details={"limit": limit})
        chunks.append(chunk)
    return b"".join(chunks)


async def upload_bytes(request: Request, limit: int) -> bytes:
    """The uploaded file: a raw body, or the `file` part of a multipart form."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        body = await read_limited(request, limit + MULTIPART_OVERHEAD)

        async def once() -> AsyncGenerator[bytes, None]:
            yield body

        try:
            form = await MultiPartParser(request.headers, once(), max_files=1, max_fields=4).parse()
        except MultiPartException as exc:
            raise BadRequest(f"malformed multipart body: {exc.message}", code="malformed_multipart") from exc
        part = form.get("file")
        if part is None or isinstance(part, str):
            raise Unprocessable(
                "multipart upload needs a file part named 'file'",
                details=[{"field": "body.file", "message": "missing"}],
            )
        data = await part.read()
        await form.close()
        if len(data) > limit:
            raise PayloadTooLarge(f"file exceeds the limit of {limit} bytes", details={"limit": limit})
        return data
    data = await read_limited(request, limit)
    if not data:
        raise Unprocessable(
            "empty body: send the file as the raw body or a multipart 'file' part",
            details=[{"field": "body", "message": "empty"}],
        )
    return data


def _store_artifact(session: Session, store: ArtifactStore, data: bytes, kind: str, user: str) -> Artifact:
    digest = store.put(data)
    row = session.get(Artifact, digest)
    if row is None:
        row = Artifact(sha256=digest, size_bytes=len(data), kind=kind, uploaded_by=user)
        session.add(row)
    return row


@router.post(
    "/datasets",
    response_model=DatasetPublic,
    status_code=201,
    openapi_extra=_BINARY_BODY,
    responses=error_responses(400, 401, 413, 422),
)
async def upload_dataset(
    request: Request, user: CurrentUser, session: SessionDep, settings: SettingsDep, store: StoreDep
) -> DatasetPublic:
    """Upload a dataset file (`.npz` or safetensors; arrays `x`, `y`, optionally `x_test`, `y_test`: docs/SPEC.md);
    returns its id `sha256:<hex>`."""
    data = await upload_bytes(request, settings.max_dataset_bytes)
    try:
        info = inspect_dataset(data, settings.max_dataset_bytes)
    except DatasetError as exc:
        raise Unprocessable(
            str(exc), code="invalid_dataset", details=[{"field": "body", "message": str(exc)}]
        ) from exc
    art = _store_artifact(session, store, data, "dataset", user)
    ds_id = f"sha256:{art.sha256}"
    row = session.get(Dataset, ds_id)
    if row is None:
        row = Dataset(id=ds_id, size_bytes=len(data), uploaded_by=user, **info.__dict__)
        session.add(row)
    session.commit()
    return DatasetPublic.model_validate(row)


@router.get("/datasets/{dataset_id}", response_model=DatasetPublic, responses=error_responses(404, 422))
def get_dataset(dataset_id: str, session: SessionDep) -> DatasetPublic:
    """A dataset's metadata; its bytes are GET /v1/artifacts/{sha256}."""
    row = session.get(Dataset, dataset_id)
    if row is None:
        raise NotFound(f"no dataset {dataset_id}")
    return DatasetPublic.model_validate(row)


@router.post(
    "/artifacts",
    response_model=ArtifactPublic,
    status_code=201,
    openapi_extra=_BINARY_BODY,
    responses=error_responses(400, 401, 413, 422),
)
async def upload_artifact(
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    store: StoreDep,
    kind: str = "blob",
) -> ArtifactPublic:
    """Store bytes (a checkpoint or model) content-addressed; returns their sha256. `kind` is a free label."""
    if kind not in ("blob", "checkpoint", "model", "trace", "graph", "weights"):
        raise Unprocessable(
            "kind must be one of blob, checkpoint, model, trace, graph, weights",
            details=[{"field": "query.kind", "message": "unknown kind"}],
        )
    data = await upload_bytes(request, settings.max_artifact_bytes)
    row = _store_artifact(session, store, data, kind, user)
    session.commit()
    return ArtifactPublic.model_validate(row)


@router.head("/artifacts/{sha256}", responses={200: {"description": "stored"}, **error_responses(404, 422)})
def has_artifact(sha256: str, session: SessionDep, store: StoreDep) -> Response:
    """Whether bytes with this sha256 are stored (no body, no sign-in): a client skips uploading what is here.
    It tells only that a hash is known, never who may read it or what it is."""
    digest = sha256.removeprefix("sha256:")
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise Unprocessable("not a sha256 hex digest", details=[{"field": "path.sha256", "message": "64 hex chars"}])
    if session.get(Artifact, digest) is None or not store.exists(digest):
        raise NotFound(f"no artifact {digest}")
    return Response(status_code=200)


@router.get(
    "/artifacts/{sha256}",
    response_class=FileResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "the bytes"},
        **error_responses(401, 403, 404, 422),
    },
)
def get_artifact(
    sha256: str, user: CurrentUser, session: SessionDep, settings: SettingsDep, chain: ChainDep, store: StoreDep
) -> FileResponse:
    """The stored bytes (datasets included: their id without the `sha256:` prefix), for those who may read them
    (docs/API.md "Who can read what"): a model only its job's client, a dataset the parties of its jobs."""
    digest = sha256.removeprefix("sha256:")
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise Unprocessable(
            "not a sha256 hex digest", details=[{"field": "path.sha256", "message": "64 hex chars"}]
        )
    if session.get(Artifact, digest) is None or not store.exists(digest):
        raise NotFound(f"no artifact {digest}")
    if not Readers(session, settings, chain, user).artifact(digest):
        raise Forbidden(f"{user} may not read artifact {digest} (see docs/API.md, who can read what)")
    return FileResponse(store.path(digest), media_type="application/octet-stream", filename=digest)
