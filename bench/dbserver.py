"""DynamoDB for the benchmarks: the local stack's moto server (devstack/dynamodb.py) on
127.0.0.1 (a free port), in a child process.

A child process rather than a thread of the benchmark: the database's own CPU
does not share the benchmark's interpreter lock (DynamoDB is remote in AWS), and
the memory figure measures the runner, not the items the database holds.

Two costs of moto that DynamoDB does not have are taken out here (`fast_moto`),
because they grow with the size of the tables and would swamp every figure past
a few thousand contacts (BENCHMARKS.md measures them), and one constant one:

- `TransactWriteItems` deep-copies every table it touches before writing, to be
  able to roll back: O(table) per transaction, so each recorded contact costs more
  than the last. Here a transaction backs up the items it writes instead, and a
  refused one puts exactly those back.
- `Query` on a table's key lists and sorts the whole table for every page: O(table)
  per page of 25 contacts. Here a key query starts from a sorted index of the
  partition's range keys and hands moto's own query only the items from the first
  one that can match (plus one past the limit), so moto still applies every
  condition, limit and page key itself.
- An update deep-copies its freshly parsed expression before resolving it; the
  copy is skipped when nothing else will use that tree.

The server applies one request at a time (devstack's AtomicMotoServer), which
these patches rely on.

    with DynamoServer() as db:
        db.endpoint  # http://127.0.0.1:<port>
        db.reset()   # empty tables, as template.yaml declares them

Run as `python -m bench.dbserver`, it prints its endpoint and serves until its
standard input closes (the parent stopped or died).
"""

from __future__ import annotations

import bisect
import logging
import subprocess
import sys
import threading
from decimal import Decimal
from types import TracebackType
from typing import Any

import bench


class DynamoServer:
    def __init__(self, stock: bool = False) -> None:
        self.stock = stock  # moto as it is, without `fast_moto`
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


# ------------------------------------------------------------------ moto, faster


def fast_moto() -> None:
    """Patch moto's DynamoDB backend in this process (see the module's docstring)."""
    _item_level_transaction_backups()
    _indexed_key_queries()
    _no_copy_of_a_fresh_update_expression()


def _item_level_transaction_backups() -> None:
    import copy

    from moto.dynamodb import models as backend_module
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    class _CopyWithoutTableBackups:
        """moto's backend module sees this as `copy`: its whole-table backup becomes a
        no-op; every other copy is a real one."""

        def __getattr__(self, name: str) -> Any:
            return getattr(copy, name)

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            if isinstance(value, Table):
                return value
            return copy.deepcopy(value, memo)

    backend_module.copy = _CopyWithoutTableBackups()  # type: ignore[assignment]
    transact = DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        backups = []
        for entry in transact_items[:100]:
            _, op = next(iter(entry.items()))
            table = self.tables.get(op.get("TableName"))
            if table is None:
                continue
            try:
                if "Key" in op:
                    key = op["Key"]
                else:
                    attrs = op["Item"]
                    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                    if table.range_key_attr is not None:
                        key[table.range_key_attr] = attrs[table.range_key_attr]
                hash_key, range_key = self.get_keys_value(table, key)
            except Exception:
                continue  # moto's own validation answers this transaction
            current = table.get_item(hash_key, range_key)
            backups.append((table, hash_key, range_key, copy.deepcopy(current)))
        try:
            transact(self, transact_items)
        except Exception:
            for table, hash_key, range_key, item in reversed(backups):
                if item is None:
                    table.delete_item(hash_key, range_key)
                elif range_key is not None:
                    table.items[hash_key][range_key] = item
                else:
                    table.items[hash_key] = item
                _touch(table)
            raise

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _no_copy_of_a_fresh_update_expression() -> None:
    """moto parses each UpdateExpression afresh, then its validator deep-copies the parsed
    tree before resolving it (a third of an update's time). The copy matters only when
    one tree is validated twice: for an item that does not exist yet, moto validates it
    against an empty item first. Skip the copy when the item has attributes."""
    from copy import deepcopy

    from moto.dynamodb.parsing import validators

    init = validators.Validator.__init__

    def validator_init(self: Any, *args: Any, **kwargs: Any) -> None:
        item = kwargs["item"] if "item" in kwargs else (args[3] if len(args) > 3 else None)
        if not getattr(item, "attrs", None):
            init(self, *args, **kwargs)
            return
        validators.deepcopy = lambda node, memo=None: node  # type: ignore[assignment]
        try:
            init(self, *args, **kwargs)
        finally:
            validators.deepcopy = deepcopy  # type: ignore[assignment]

    validators.Validator.__init__ = validator_init  # type: ignore[method-assign]


def _touch(table: Any) -> None:
    table.__dict__["_bench_version"] = table.__dict__.get("_bench_version", 0) + 1


_local = threading.local()
_LOWER_BOUND = {
    ">=": "left",
    "GE": "left",
    "=": "left",
    "EQ": "left",
    "BETWEEN": "left",
    "BEGINS_WITH": "left",
}
_LOWER_BOUND |= {">": "right", "GT": "right"}
_NO_LOWER_BOUND = {"", "<", "LT", "<=", "LE"}  # matches, if any, start at the partition's first item


def _native(value: Any) -> Any:
    """A DynamoDB key value (DynamoType) as a Python value that sorts as DynamoDB sorts it."""
    if value.type == "N":
        return Decimal(value.value)
    return value.value


def _indexed_key_queries() -> None:
    from moto.dynamodb.models.table import Table

    put_item, delete_item, all_items, query = Table.put_item, Table.delete_item, Table.all_items, Table.query

    def counted_put(self: Any, *args: Any, **kwargs: Any) -> Any:
        _touch(self)
        return put_item(self, *args, **kwargs)

    def counted_delete(self: Any, *args: Any, **kwargs: Any) -> Any:
        _touch(self)
        return delete_item(self, *args, **kwargs)

    def narrowed_all_items(self: Any) -> Any:
        narrowed = getattr(_local, "candidates", None)
        if narrowed is not None and narrowed[0] is self:
            return narrowed[1]
        return all_items(self)

    def sorted_range_keys(self: Any, hash_key: Any) -> tuple[list[Any], list[Any]]:
        cache = self.__dict__.setdefault("_bench_sorted", {})
        version = self.__dict__.get("_bench_version", 0)
        cached = cache.get(hash_key)
        if cached is None or cached[0] != version:
            keys = sorted(self.items.get(hash_key, {}), key=_native)
            cached = cache[hash_key] = (version, [_native(k) for k in keys], keys)
        return cached[1], cached[2]

    def indexed_query(
        self: Any,
        hash_key: Any,
        range_comparison: str | None,
        range_objs: list[Any],
        limit: int,
        exclusive_start_key: dict[str, Any],
        scan_index_forward: bool,
        projection_expressions: Any,
        index_name: str | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        def moto_query() -> Any:
            return query(
                self,
                hash_key,
                range_comparison,
                range_objs,
                limit,
                exclusive_start_key,
                scan_index_forward,
                projection_expressions,
                index_name,
                *args,
                **kwargs,
            )

        plain = set(kwargs) <= {
            "consistent_read",
            "filter_expression",
            "hash_key_conditions",
            "range_key_conditions",
        }
        if index_name or not self.range_key_attr or hash_key is None or not scan_index_forward or not plain:
            return moto_query()
        comparison = (range_comparison or "").upper()
        side = _LOWER_BOUND.get(comparison)
        if (side is None or not range_objs) and comparison not in _NO_LOWER_BOUND:
            return moto_query()
        natives, keys = sorted_range_keys(self, hash_key)
        start = 0
        if side is not None:
            bound = _native(range_objs[0])
            start = (
                bisect.bisect_left(natives, bound) if side == "left" else bisect.bisect_right(natives, bound)
            )
        if exclusive_start_key and self.range_key_attr in exclusive_start_key:
            from moto.dynamodb.models.dynamo_type import DynamoType

            after = _native(DynamoType(exclusive_start_key[self.range_key_attr]))
            start = max(start, bisect.bisect_right(natives, after))
        end = len(keys) if not limit else min(len(keys), start + int(limit) + 1)
        partition = self.items.get(hash_key, {})
        _local.candidates = (self, [partition[key] for key in keys[start:end] if key in partition])
        try:
            return moto_query()
        finally:
            _local.candidates = None

    Table.put_item = counted_put  # type: ignore[method-assign]
    Table.delete_item = counted_delete  # type: ignore[method-assign]
    Table.all_items = narrowed_all_items  # type: ignore[method-assign]
    Table.query = indexed_query  # type: ignore[method-assign]


def main() -> None:
    # The local stack's server: moto applying one request at a time, as DynamoDB
    # applies a conditional write atomically.
    from devstack.dynamodb import AtomicMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    if "--stock" not in sys.argv:
        fast_moto()
    server = AtomicMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    print(f"http://{host}:{port}", flush=True)
    try:
        sys.stdin.read()  # until the parent closes the pipe
    finally:
        server.stop()


if __name__ == "__main__":
    main()
