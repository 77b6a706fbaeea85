"""The FastAPI application and its lifespan.

Startup: logging, the LLM config (a bad one stops the service here, not in a
plan), the schema (upgraded on SQLite, checked on PostgreSQL), then the
runner, which sweeps for orphaned plans before claiming any. ``planexe serve``
runs the same checks (``startup.py``) before uvicorn starts, with its socket
already bound, so that what fails there fails in one line and claims nothing. Shutdown: the
runner stops its children and puts their plans back in the queue.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI

from planexe import __version__
from planexe.log import configure_logging, get_logger, register_secret
from planexe.settings import Settings, get_settings
from planexe_api import apidocs, openapi, security, startup, web
from planexe_api.auth import BearerToken
from planexe_api.body_limit import BodyLimit
from planexe_api.db.models import WorkerRole
from planexe_api.errors import install_error_handlers
from planexe_api.mcp import endpoint as mcp_endpoint
from planexe_api.metrics import Metrics
from planexe_api.request_ids import RequestId
from planexe_api.routes import health, plan_exports, plan_tasks, plans
from planexe_api.services.pipeline_execution_service import PipelineExecutionService
from planexe_api.services.plan_signals import PlanSignals
from planexe_api.services.process_registry import ProcessRegistry
from planexe_api.services.runner import Runner
from planexe_api.services.store import Store
from planexe_api.state import AppState

log = get_logger(__name__)
OPEN_PATHS = frozenset({"/healthz", "/readyz"})


def build_state(
    settings: Settings, role: WorkerRole = WorkerRole.API, run_plans: bool | None = None
) -> AppState:
    llm_config, revision = startup.check(settings)
    with startup.database_errors(settings):
        store = Store.open(settings.effective_database_url())
    registry = ProcessRegistry()
    metrics = Metrics()
    signals = PlanSignals()
    runner = None
    if settings.runner if run_plans is None else run_plans:
        runner = Runner(
            settings,
            store,
            PipelineExecutionService(settings),
            registry,
            role=role,
            metrics=metrics,
            signals=signals,
        )
    return AppState(settings, store, llm_config, registry, metrics, runner, revision, signals)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_format, settings.log_level)
        if settings.api_token:
            register_secret(settings.api_token.get_secret_value())
        state = await anyio.to_thread.run_sync(build_state, settings)
        app.state.planexe = state
        log.info(
            "service_started",
            database=state.store.engine.dialect.name,
            runner=state.runner.worker_id if state.runner else None,
            offline=state.llm_config.is_offline,
        )
        # /mcp's session manager hosts the MCP requests in its own task group (docs/mcp.md).
        app.state.mcp, mcp_running = mcp_endpoint.start(state)
        async with mcp_running, anyio.create_task_group() as tg:
            if state.runner is not None:
                await state.runner.start(tg)
            try:
                yield
            finally:
                with anyio.CancelScope(shield=True):
                    if state.runner is not None:
                        await state.runner.stop()
                tg.cancel_scope.cancel()
        state.store.close()

    app = FastAPI(
        title="PlanExe",
        version=__version__,
        description="Turn a one-paragraph project idea into a complete project plan.",
        lifespan=lifespan,
        # /docs is ours (apidocs: Swagger UI from this package, offline); no CDN-loaded pages.
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    token = settings.api_token.get_secret_value() if settings.api_token else None

    if token:
        # Installed only when a token is set: a middleware costs every request.
        app.add_middleware(
            BearerToken,
            token=token,
            open_paths=OPEN_PATHS | web.OPEN_PATHS,
            open_prefixes=web.OPEN_PREFIXES,
            login_path=web.LOGIN_PATH,
        )

    security.install(app, settings, open_paths=OPEN_PATHS)

    # Added last, so outermost: an oversized body is refused before anything else reads it.
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    # Outermost of all: every answer, a refusal by the middlewares above included, has an id.
    app.add_middleware(RequestId)

    app.include_router(plans.router)
    app.include_router(plan_tasks.router)
    app.include_router(plan_exports.router)
    app.include_router(health.router)
    app.router.routes.append(mcp_endpoint.route())
    web.install(app)
    apidocs.install(app)
    openapi.install(app)
    return app
