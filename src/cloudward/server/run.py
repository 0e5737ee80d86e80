"""Start the service: build it, print first-start tokens once, run uvicorn until a signal."""

from __future__ import annotations

import sys

import uvicorn

from cloudward.config import Config
from cloudward.server.app import build_service, create_app
from cloudward.server.settings import ServerSettings


def serve(config: Config, settings: ServerSettings) -> None:
    service = build_service(config, settings)
    if service.fresh_tokens:
        # shown once: the store keeps only their hashes
        print("New API tokens (shown only now; the store keeps their hashes):", flush=True)
        for name, role, token in service.fresh_tokens:
            print(f"  {name} ({role}): {token}", flush=True)
    scheme = "https" if settings.tls_cert else "http"
    print(f"cloudward serve: listening on {scheme}://{settings.host}:{settings.port} (store {settings.db})",
          file=sys.stderr, flush=True)
    options: dict[str, object] = {}
    if settings.tls_cert:
        options.update(ssl_certfile=settings.tls_cert, ssl_keyfile=settings.tls_key)
        if settings.client_ca:
            import ssl
            options.update(ssl_ca_certs=settings.client_ca, ssl_cert_reqs=ssl.CERT_REQUIRED)
    server = uvicorn.Server(uvicorn.Config(
        create_app(service), host=settings.host, port=settings.port, log_level="warning", access_log=False,
        server_header=False, **options))  # type: ignore[arg-type]
    try:
        server.run()
    finally:
        service.store.close()
