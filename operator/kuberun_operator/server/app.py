"""Assemble and run the record server: an aiohttp app on a configurable address, TLS optional.

It runs inside the operator's process (``app.run`` starts it when ``--record-server-port`` is set)
or on its own loop in the sandbox; either way it talks to the API server with the operator's own
client and needs only ``get`` on experiments plus ``create`` on tokenreviews and
subjectaccessreviews (the chart binds ``system:auth-delegator`` for the latter two); pods' uploads
(``uploads``) also read pods (``list``) and Jobs (``get``), which the operator has anyway.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from kuberun_operator.server import auth, code, podauth, podcode, routes, uploads
from kuberun_operator.server.logs import LogReader
from kuberun_operator.server.records import Records

log = logging.getLogger("kuberun.operator.server")


@dataclass(frozen=True)
class ServerConfig:
    """Where the record server listens and what it reads. ``port`` 0 picks a free port."""

    host: str = "127.0.0.1"
    port: int = 0
    tls_cert: Path | None = None
    tls_key: Path | None = None
    archive_url: str | None = None       # e.g. sqlite:///var/lib/kuberun/archive.db; None: no archive
    logstore_url: str | None = None      # e.g. s3://bucket/kuberun or a directory; None: no archived logs
    logstore_secret_dir: Path | None = None
    config_file: Path | None = None      # the backend config: bridges' live logs
    local_workdir: Path | None = None    # the local executor's work directory (sandbox)
    review_ttl: float = auth.DEFAULT_TTL
    review_cache_size: int = auth.DEFAULT_CACHE_SIZE
    upload_limits: uploads.UploadLimits = field(default_factory=uploads.UploadLimits)  # pods' uploads (uploads.py)


def config_from_settings(settings: Any) -> ServerConfig:
    """The server's config from the operator's settings: the archive and log store the recorder writes."""
    archive_url = getattr(settings, "archive_url", None)
    url_file = getattr(settings, "archive_url_file", None)
    if url_file is not None:
        archive_url = Path(url_file).read_text().strip()  # the chart's mounted Secret wins, as for the recorder
    tls_dir = settings.record_server_tls_dir
    return ServerConfig(host=settings.record_server_host, port=settings.record_server_port,
                        tls_cert=tls_dir / "tls.crt" if tls_dir else None, tls_key=tls_dir / "tls.key" if tls_dir else None,
                        archive_url=archive_url, logstore_url=getattr(settings, "log_store_url", None),
                        logstore_secret_dir=getattr(settings, "log_store_secret_dir", None),
                        config_file=settings.config_file,
                        local_workdir=settings.local_workdir if settings.enable_local_executor else None)


def build_app(reviewer: auth.Reviewer, records: Records, reader: LogReader,
              pods: podauth.PodAuthenticator | None = None,
              limits: uploads.UploadLimits | None = None) -> web.Application:
    app = web.Application(middlewares=[routes.errors], client_max_size=64 << 10)
    app[routes.REVIEWER], app[routes.RECORDS], app[routes.LOGS] = reviewer, records, reader
    routes.add_routes(app)
    if pods is not None:
        uploads.add_routes(app, pods, limits or uploads.UploadLimits())
        podcode.add_routes(app)  # pods download their packages over the ConfigMap limit
    code.add_routes(app, code.CodeRoutes(reviewer, reader.store))  # packages over the ConfigMap limit
    return app


class RecordServer:
    """The running server: ``await RecordServer.start(config, api_client)``, then ``await server.stop()``."""

    def __init__(self, runner: web.AppRunner, url: str, archive: Any | None) -> None:
        self._runner, self.url, self._archive = runner, url, archive

    @classmethod
    async def start(cls, config: ServerConfig, api_client: Any, *, archive: Any | None = None,
                    store: Any | None = None) -> RecordServer:
        """Open the archive and log store named in ``config`` (unless given), bind, and serve."""
        from kuberun_operator.archive import AsyncArchive
        from kuberun_operator.logstore import LogStore, StoreOptions

        owned = None
        if archive is None and config.archive_url:
            archive = owned = await AsyncArchive.open(config.archive_url)
        try:
            if store is None and config.logstore_url:
                store = LogStore.from_url(config.logstore_url, StoreOptions(secret_dir=config.logstore_secret_dir))
            reviewer = auth.Reviewer.over(auth.KubeReviews(api_client), ttl=config.review_ttl,
                                          size=config.review_cache_size)
            reader = LogReader(store, archive, config.config_file, config.local_workdir)
            pods = podauth.PodAuthenticator(auth.KubeReviews(api_client).token_review, podauth.KubeLookups(api_client),
                                            ttl=config.review_ttl, size=config.review_cache_size)
            app = build_app(reviewer, Records(api_client, archive), reader, pods, config.upload_limits)
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
            await runner.setup()
            tls = _tls(config)
            site = web.TCPSite(runner, config.host, config.port, ssl_context=tls)
            try:
                await site.start()
            except BaseException:
                await runner.cleanup()
                raise
        except BaseException:
            if owned is not None:
                await owned.close()
            raise
        port = runner.addresses[0][1]
        host = f"[{config.host}]" if ":" in config.host else config.host
        url = f"{'https' if tls else 'http'}://{host}:{port}"
        log.info("record server listening on %s", url)
        return cls(runner, url, owned)

    async def stop(self) -> None:
        await self._runner.cleanup()
        if self._archive is not None:
            await self._archive.close()


def _tls(config: ServerConfig) -> ssl.SSLContext | None:
    if (config.tls_cert is None) != (config.tls_key is None):
        raise ValueError("record server TLS needs both a certificate and a key file")
    if config.tls_cert is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(config.tls_cert, config.tls_key)
    return ctx
