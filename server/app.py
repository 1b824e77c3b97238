"""The composition root: :func:`create_app` lists every controller, dependency, handler, plugin."""

from __future__ import annotations

import shutil

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
from server.auth import TokenAuthMiddleware, limit_scoring, require_role
from server.config import ServerConfig, config_from_env, process_folder
from server.controllers import VERSION, SyncController
from server.distribution import ModelDistribution
from server.errors import error_to_response
from server.integrations.controller import IntegrationsController
from server.integrations.highlevel import HighLevelService
from server.jobs import RetrainJob
from server.notify import TeamNotifier
from server.openapi import (
    FIELD_MEANINGS,
    add_links,
    describe_fields,
    openapi_config,
    refuse_undeclared_query,
    swagger_assets,
)
from server.outreach.controller import OutreachController
from server.outreach.service import OutreachService
from server.ratelimit import rate_limiter
from server.service import SyncService
from server.storage import ServerStore, open_store
from server.team_replicas import TeamReplicas, pid_alive, recover_stale_replica_folders

PUBLIC = [
    "^/api/v1/advanced/health",
    "^/schema",
    "^/metrics",
    "^/api/v1/outreach/webhook/",
    "^/api/v1/integrations/highlevel/webhook",
]


class MetricsController(PrometheusController):
    """Prometheus text for scrapers: public, and not part of the API's contract."""

    include_in_schema = False


def create_app(config: ServerConfig | None = None, store: ServerStore | None = None) -> Litestar:
    """The sync server: opens the store (and its signing key) on startup, closes on shutdown."""
    config = config or ServerConfig()
    store = store or open_store(config.database_url, pool_size=config.database_pool_size)
    service = SyncService(store, config)
    distribution = ModelDistribution(store, config.registry_dir)
    replicas = TeamReplicas(config.replica_dir, service, distribution=distribution)
    outreach = OutreachService(config.outreach, replicas, config.highlevel)
    advanced = AdvancedService(service, replicas, config.replica_dir / "models", outreach=outreach)
    highlevel = HighLevelService(config.highlevel, service)
    retrain_job = RetrainJob(store, distribution, config)
    limiter = rate_limiter(config.rate_per_s, config.rate_burst, config.redis_url)
    scoring_limiter = rate_limiter(
        config.scoring_rate_per_s, config.scoring_burst, config.redis_url
    )
    notifier = TeamNotifier(config.redis_url)
    service.on_change.append(notifier.changed)
    state = State(
        {
            "config": config,
            "store": store,
            "service": service,
            "advanced": advanced,
            "distribution": distribution,
            "rate_limiter": limiter,
            "scoring_limiter": scoring_limiter,
            "retrain_job": retrain_job,
            "notifier": notifier,
        }
    )

    own_folder = config.replica_dir.name == process_folder()

    async def startup(app: Litestar) -> None:
        await store.open()
        app.state.signing_key = await store.signing_key()
        await distribution.ready()  # an older version's registry folder is imported here
        await service.start()
        if own_folder:  # a dead worker's replicas: their unsent writes pushed, then removed
            host = process_folder().rpartition("-")[0]
            await recover_stale_replica_folders(
                config.replica_dir.parent, host, pid_alive, replicas
            )
        retrain_job.start()

    async def shutdown(app: Litestar) -> None:
        retrain_job.stop()
        advanced.close()
        await retrain_job.cancel_requested()
        await replicas.close()
        await store.close()
        await limiter.close()
        await scoring_limiter.close()
        await notifier.close()
        if own_folder:
            shutil.rmtree(config.replica_dir, ignore_errors=True)

    prometheus = PrometheusConfig(app_name="realty_edge", prefix="realty_edge", group_path=True)
    app = Litestar(
        route_handlers=[
            AdvancedController,
            ModelsController,
            SyncController,
            MetricsController,
            realtime_multi_language,
            realtime_intervention,
            OutreachController,
            IntegrationsController,
        ],
        dependencies={
            "sync": Provide(lambda: service, use_cache=True, sync_to_thread=False),
            "advanced": Provide(lambda: advanced, use_cache=True, sync_to_thread=False),
            "outreach": Provide(lambda: outreach, use_cache=True, sync_to_thread=False),
            "distribution": Provide(lambda: distribution, use_cache=True, sync_to_thread=False),
            "highlevel": Provide(lambda: highlevel, use_cache=True, sync_to_thread=False),
        },
        middleware=[
            prometheus.middleware,
            DefineMiddleware(TokenAuthMiddleware, exclude=PUBLIC),
        ],
        # Every route declares the least role it needs (opt "role"); undeclared: operator.
        guards=[require_role, limit_scoring],
        exception_handlers={Exception: error_to_response},
        compression_config=CompressionConfig(
            backend="gzip", minimum_size=1024, gzip_compress_level=6
        ),
        openapi_config=openapi_config(
            "realty-edge server: sync and advanced API", VERSION, swagger_assets()
        ),
        before_request=refuse_undeclared_query,
        plugins=[notifier.plugin],
        on_startup=[startup],
        on_shutdown=[shutdown],
        state=state,
        request_max_body_size=config.max_body_bytes,
        debug=False,
    )
    describe_fields(app.openapi_schema, FIELD_MEANINGS)
    add_links(app.openapi_schema)
    return app


def app_from_env() -> Litestar:
    """:func:`create_app` with the settings of the ``REALTY_EDGE_*`` environment variables.

    What each worker of ``realty-edge serve --workers N`` runs (uvicorn imports it by name).
    """
    return create_app(config_from_env())
