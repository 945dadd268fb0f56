"""The embedded DynamoDB-compatible endpoint: moto's server on a loopback port.

DynamoDB applies each write's condition and the write itself atomically, and a
transaction atomically. moto's server answers requests on parallel threads with no
lock around that check-then-write, so two concurrent conditional writes can both
"succeed" there, which DynamoDB never allows. This server serialises requests so
that the local stack and the tests keep DynamoDB's guarantee the product relies on
(one claim per contact, one take per campaign).

It also runs moto without the costs that grow with a table's size
(devstack/moto_fast.py: item-level transaction rollback, indexed key queries), so
that `make dev`, `make demo` and the tests stay linear in the length of a list.
Those patches rely on the serialisation too.

The same server is the local stack's S3 (the media bucket), with S3's check of a
browser upload against its signed policy in front of it (devstack/s3_forms.py).
"""

from __future__ import annotations

import threading
from typing import Any

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.server import MotoRequestHandler
from werkzeug.serving import BaseWSGIServer, make_server

from devstack import moto_fast
from devstack.s3_forms import FormUploadPolicy


class _Serialised:
    """A WSGI app that runs one request at a time, body included."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        with self._lock:
            # Read the whole answer inside the lock: moto may build it lazily.
            return list(self._app(environ, start_response))


class AtomicMotoServer(ThreadedMotoServer):
    """ThreadedMotoServer whose requests are applied one at a time.

    `fast` (the default) applies devstack.moto_fast to moto in this whole process;
    `fast=False` serves moto as it is, in a process where it was never patched (the
    benchmarks compare the two in separate processes: once applied, the patches stay).
    """

    def __init__(self, ip_address: str = "127.0.0.1", port: int = 0, fast: bool = True) -> None:
        if not fast and moto_fast.applied():
            raise RuntimeError("moto is already patched in this process (devstack.moto_fast)")
        super().__init__(ip_address=ip_address, port=port, verbose=False)
        if fast:
            moto_fast.apply()

    def _server_entry(self) -> None:
        app = _Serialised(FormUploadPolicy(DomainDispatcherApplication(create_backend_app)))
        self._server: BaseWSGIServer = make_server(
            self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()

    @property
    def endpoint(self) -> str:
        host, port = self.get_host_and_port()
        return f"http://{host}:{port}"
