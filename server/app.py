"""The composition root: :func:`create_app` lists every controller, dependency, handler, plugin."""

from __future__ import annotations

from litestar import Litestar
from litestar.config.compression import CompressionConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware.base import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController

from server.auth import TokenAuthMiddleware, TokenBucket
from server.config import ServerConfig
from server.controllers import VERSION, HealthController, SyncController
from server.errors import error_to_response
from server.service import SyncService
from server.sqlite_store import SqliteServerStore
from server.store import ServerStore

PUBLIC = ["^/api/v1/advanced/health", "^/schema", "^/metrics"]


def create_app(config: ServerConfig | None = None, store: ServerStore | None = None) -> Litestar:
    """The sync server: opens the store (and its signing key) on startup, closes on shutdown."""
    config = config or ServerConfig()
    store = store or SqliteServerStore(config.db_path)
    service = SyncService(store, config)
    state = State(
        {
            "config": config,
            "store": store,
            "service": service,
            "rate_limiter": TokenBucket(config.rate_per_s, config.rate_burst),
        }
    )

    async def startup(app: Litestar) -> None:
        await store.open()
        app.state.signing_key = await store.signing_key()
        await service.start()

    async def shutdown(app: Litestar) -> None:
        await store.close()

    prometheus = PrometheusConfig(app_name="realty_edge", prefix="realty_edge", group_path=True)
    return Litestar(
        route_handlers=[HealthController, SyncController, PrometheusController],
        dependencies={"sync": Provide(lambda: service, use_cache=True, sync_to_thread=False)},
        middleware=[
            prometheus.middleware,
            DefineMiddleware(TokenAuthMiddleware, exclude=PUBLIC),
        ],
        exception_handlers={Exception: error_to_response},
        compression_config=CompressionConfig(backend="gzip", minimum_size=1024),
        openapi_config=OpenAPIConfig(
            title="realty-edge sync server", version=VERSION, path="/schema"
        ),
        on_startup=[startup],
        on_shutdown=[shutdown],
        state=state,
        request_max_body_size=config.max_body_bytes,
        debug=False,
    )
