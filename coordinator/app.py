"""The coordinator's bootstrap: `create_app(settings)` wires the database, artifact store, chain gateway,
metrics and routers into one FastAPI app (tests pass their own Settings)."""

from __future__ import annotations

from fastapi import FastAPI

from coordinator.artifact_store import ArtifactStore
from coordinator.chain_gateway import ChainGateway
from coordinator.database import make_engine, make_session_factory
from coordinator.errors import install_error_handlers
from coordinator.etags import ETagMiddleware
from coordinator.limits import BodyLimit, RateLimiter
from coordinator.metrics import Metrics, MetricsMiddleware
from coordinator.read_model import JobReader
from coordinator.routes import (
    auth,
    console,
    dev_signin,
    disputes,
    estimate,
    health,
    jobs,
    market,
    providers,
    uploads,
)
from coordinator.settings import Settings


def create_app(settings: Settings | None = None, *, chain: ChainGateway | None = None) -> FastAPI:
    settings = settings or Settings()
    app = FastAPI(
        title="Agora coordinator",
        version="1",
        description="Jobs, providers, disputes and artifacts of the Agora ML-compute market. "
        "Every error body is {error: {code, message, details}}.",
    )
    engine = make_engine(settings.database_url)
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    sqlite = engine.url.get_backend_name() == "sqlite"
    read_engine = engine if sqlite else make_engine(settings.database_url, autocommit=True)
    app.state.read_session_factory = make_session_factory(read_engine)

    app.state.job_reader = None if sqlite else JobReader(settings.database_url)

    def dispose() -> None:
        engine.dispose()
        read_engine.dispose()
        if app.state.job_reader is not None:
            app.state.job_reader.close()

    app.state.dispose = dispose
    app.state.store = ArtifactStore(settings.artifact_dir)
    app.state.chain = chain or ChainGateway.from_settings(
        settings.rpc_url, settings.chain_id, settings.deployment_file
    )
    app.state.metrics = Metrics()
    app.state.signin_limiter = RateLimiter(settings.signin_burst, settings.signin_per_s)
    install_error_handlers(app)
    for module in (auth, uploads, estimate, jobs, providers, disputes, health, dev_signin, market):
        app.include_router(module.router)
    console.mount(app)  # after the API: the console owns only / and /assets
    overhead = uploads.MULTIPART_OVERHEAD
    app.add_middleware(BodyLimit, default_bytes=settings.max_json_bytes, by_path={
        "/v1/datasets": settings.max_dataset_bytes + overhead,
        "/v1/artifacts": settings.max_artifact_bytes + overhead,
    })
    app.add_middleware(ETagMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    return app


def app_from_env() -> FastAPI:
    """Entry point for `uvicorn --factory coordinator.app:app_from_env`."""
    return create_app(Settings())
