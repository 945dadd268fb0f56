"""DynamoDB for the benchmarks: the local stack's moto server (devstack/dynamodb.py) on
127.0.0.1 (a free port), in a child process.

A child process rather than a thread of the benchmark: the database's own CPU
does not share the benchmark's interpreter lock (DynamoDB is remote in AWS), and
the memory figure measures the runner, not the items the database holds.

It is the server `make dev`, `make demo` and the tests run: devstack's
AtomicMotoServer, which applies one request at a time and takes out moto's costs
that grow with the size of the tables (devstack/moto_fast.py; BENCHMARKS.md
measures them). `DynamoServer(stock=True)` (`--stock`) serves moto without those
patches, for comparison.

    with DynamoServer() as db:
        db.endpoint  # http://127.0.0.1:<port>
        db.reset()   # empty tables, as template.yaml declares them

Run as `python -m bench.dbserver`, it prints its endpoint and serves until its
standard input closes (the parent stopped or died).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from types import TracebackType

import bench


class DynamoServer:
    def __init__(self, stock: bool = False) -> None:
        self.stock = stock  # moto as it is, without devstack/moto_fast.py
        self.endpoint = ""
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> DynamoServer:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.dbserver", *(["--stock"] if self.stock else [])],
            cwd=bench.REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline().strip()
        if not line.startswith("http://127.0.0.1:"):
            self.stop()
            raise RuntimeError(f"the DynamoDB server did not start (it said {line!r})")
        self.endpoint = line
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def cpu_seconds(self) -> float:
        """CPU time the server process has used so far (user + system; Linux /proc)."""
        assert self._process is not None
        with open(f"/proc/{self._process.pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def reset(self) -> None:
        """Every table emptied (moto's reset), then the template's tables created again."""
        import boto3
        import requests

        from campaigns import config
        from devstack.tables import ensure_tables

        requests.post(f"{self.endpoint}/moto-api/reset", timeout=30).raise_for_status()
        client = boto3.client("dynamodb", endpoint_url=self.endpoint, region_name="us-east-1")
        ensure_tables(client, config.settings())

    def __enter__(self) -> DynamoServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def main() -> None:
    # The local stack's server: moto applying one request at a time, as DynamoDB
    # applies a conditional write atomically.
    from devstack.dynamodb import AtomicMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = AtomicMotoServer(ip_address="127.0.0.1", port=0, fast="--stock" not in sys.argv)
    server.start()
    host, port = server.get_host_and_port()
    print(f"http://{host}:{port}", flush=True)
    try:
        sys.stdin.read()  # until the parent closes the pipe
    finally:
        server.stop()


if __name__ == "__main__":
    main()
