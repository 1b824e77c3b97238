"""The composition root: :func:`create_app` lists every controller, dependency, handler, plugin."""

from __future__ import annotations

from litestar import Litestar
from litestar.config.compression import CompressionConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware.base import DefineMiddleware
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController

from server.advanced import (
    AdvancedController,
    ModelsController,
    realtime_intervention,
    realtime_multi_language,
)
from server.advanced_service import AdvancedService
from server.auth import TokenAuthMiddleware, TokenBucket
from server.config import ServerConfig
from server.controllers import VERSION, SyncController
from server.errors import error_to_response
from server.jobs import RetrainJob
from server.openapi import (
    FIELD_MEANINGS,
    add_links,
    describe_fields,
    openapi_config,
    refuse_undeclared_query,
    swagger_assets,
)
from server.registry import ModelDistribution, registry_dir
from server.replica import TeamReplicas, replica_dir
from server.service import SyncService
from server.sqlite_store import SqliteServerStore
from server.store import ServerStore

PUBLIC = ["^/api/v1/advanced/health", "^/schema", "^/metrics"]


class MetricsController(PrometheusController):
    """Prometheus text for scrapers: public, and not part of the API's contract."""

    include_in_schema = False


def create_app(config: ServerConfig | None = None, store: ServerStore | None = None) -> Litestar:
    """The sync server: opens the store (and its signing key) on startup, closes on shutdown."""
    config = config or ServerConfig()
    store = store or SqliteServerStore(config.db_path)
    service = SyncService(store, config)
    replicas = TeamReplicas(replica_dir(config.db_path), service)
    advanced = AdvancedService(service, replicas, replica_dir(config.db_path) / "models")
    distribution = ModelDistribution(registry_dir(config.db_path))
    retrain_job = RetrainJob(store, distribution, config)
    state = State(
        {
            "config": config,
            "store": store,
            "service": service,
            "advanced": advanced,
            "distribution": distribution,
            "rate_limiter": TokenBucket(config.rate_per_s, config.rate_burst),
        }
    )

    async def startup(app: Litestar) -> None:
        await store.open()
        app.state.signing_key = await store.signing_key()
        await service.start()
        retrain_job.start()

    async def shutdown(app: Litestar) -> None:
        retrain_job.stop()
        await replicas.close()
        await store.close()

    prometheus = PrometheusConfig(app_name="realty_edge", prefix="realty_edge", group_path=True)
    app = Litestar(
        route_handlers=[
            AdvancedController,
            ModelsController,
            SyncController,
            MetricsController,
            realtime_multi_language,
            realtime_intervention,
        ],
        dependencies={
            "sync": Provide(lambda: service, use_cache=True, sync_to_thread=False),
            "advanced": Provide(lambda: advanced, use_cache=True, sync_to_thread=False),
            "distribution": Provide(lambda: distribution, use_cache=True, sync_to_thread=False),
        },
        middleware=[
            prometheus.middleware,
            DefineMiddleware(TokenAuthMiddleware, exclude=PUBLIC),
        ],
        exception_handlers={Exception: error_to_response},
        compression_config=CompressionConfig(
            backend="gzip", minimum_size=1024, gzip_compress_level=6
        ),
        openapi_config=openapi_config(
            "realty-edge server: sync and advanced API", VERSION, swagger_assets()
        ),
        before_request=refuse_undeclared_query,
        on_startup=[startup],
        on_shutdown=[shutdown],
        state=state,
        request_max_body_size=config.max_body_bytes,
        debug=False,
    )
    describe_fields(app.openapi_schema, FIELD_MEANINGS)
    add_links(app.openapi_schema)
    return app
