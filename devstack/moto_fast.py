"""moto's DynamoDB without the costs that grow with the size of a table.

Two costs of moto that DynamoDB does not have make a campaign's run slower with
every contact, so a run's time grows with the square of its length:

- `TransactWriteItems` deep-copies every table it touches before writing, to be
  able to roll back: O(table) per transaction, and the runner records each contact
  in one. Here a transaction backs up the items it may write instead (and the
  length of a table's stream); a cancelled one puts exactly those back (also for
  a table named by its ARN, which stock moto does not roll back).
- `Query` on a table's key lists and sorts the whole table for every page: O(table)
  per page. Here a forward key query on a table with a range key starts from a
  sorted index of the partition's range keys and hands moto's own query only the
  items from the first one that can match (the condition's lower bound, or past
  `ExclusiveStartKey`) up to one past `Limit`. moto still applies every key
  condition, filter, limit, page key and projection itself, in the same order as
  without the patch; other queries (an index, backwards, legacy `QueryFilter`)
  are moto's own. The sorted index of a partition is dropped whenever an item of
  that partition is written or deleted.

And one constant cost: an update deep-copies its freshly parsed expression before
resolving it (a third of an update's time). The copy matters only when one tree
is validated twice, which moto does for an item that does not exist yet (against
an empty item first); it is skipped when the item already has attributes.

What a client sees does not change (tests/test_dynamodb_server.py checks the
semantics over HTTP, and `python -m bench.dbcheck` compares answers with stock
moto). One difference from stock moto, where stock moto differs from DynamoDB: for
a key condition with an upper bound and a `Limit`, stock moto also reads items past
the condition's range and can stop a page early on their size (1 MB); DynamoDB,
and this module, never read past the range.

The patches change moto's classes for the whole process and rely on one request
being applied at a time (devstack.dynamodb.AtomicMotoServer serialises them).

    from devstack import moto_fast
    moto_fast.apply()
"""

from __future__ import annotations

import bisect
import copy
import threading
from typing import Any

_applied = False
_lock = threading.Lock()
# moto's own functions the patches fall back to (tests/test_dynamodb_server.py watches one).
_stock: dict[str, Any] = {}


def apply() -> None:
    """Patch moto's DynamoDB in this process; a second call does nothing."""
    global _applied
    with _lock:
        if _applied:
            return
        _item_level_transaction_backups()
        _indexed_key_queries()
        _no_copy_of_a_fresh_update_expression()
        _applied = True


def applied() -> bool:
    return _applied


# ------------------------------------------------------------------ transactions

_in_transaction = threading.local()


def _item_level_transaction_backups() -> None:
    from moto.dynamodb import models as backend_module
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    class _CopyWithoutTableBackups:
        """moto's backend module sees this as `copy`: inside a transaction, its
        whole-table backup is the table itself; every other copy is a real one."""

        def __getattr__(self, name: str) -> Any:
            return getattr(copy, name)

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            if isinstance(value, Table) and getattr(_in_transaction, "active", False):
                return value
            return copy.deepcopy(value, memo)

    backend_module.copy = _CopyWithoutTableBackups()  # type: ignore[assignment]
    transact = DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        backups = _backups(self, transact_items)
        _in_transaction.active = True
        try:
            transact(self, transact_items)
        except BaseException:
            for backup in reversed(backups):
                backup.restore()
            raise
        finally:
            _in_transaction.active = False

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


class _ItemBackup:
    """One item as it was before a transaction (None: it did not exist)."""

    def __init__(self, table: Any, hash_key: Any, range_key: Any) -> None:
        self.table, self.hash_key, self.range_key = table, hash_key, range_key
        self.item = copy.deepcopy(table.get_item(hash_key, range_key))

    def restore(self) -> None:
        table = self.table
        if self.item is None:
            if self.range_key is not None:
                table.items.get(self.hash_key, {}).pop(self.range_key, None)
            else:
                table.items.pop(self.hash_key, None)
        elif self.range_key is not None:
            table.items[self.hash_key][self.range_key] = self.item
        else:
            table.items[self.hash_key] = self.item
        _forget_sorted_keys(table, self.hash_key)


class _StreamBackup:
    """A table's stream records as they were before a transaction."""

    def __init__(self, shard: Any) -> None:
        self.shard, self.records, self.length = shard, shard.items, len(shard.items)

    def restore(self) -> None:
        # The shard may have replaced its list after handing it to a Lambda; the old
        # list still holds every record from before the transaction.
        self.shard.items = self.records
        del self.records[self.length :]


def _backups(backend: Any, transact_items: list[dict[str, Any]]) -> list[Any]:
    """What each operation of a transaction may write, as it is now. An operation
    whose table or key moto cannot read writes nothing: moto refuses it."""
    backups: list[Any] = []
    streams: set[int] = set()
    for entry in transact_items[:100]:
        try:
            _, op = next(iter(entry.items()))
            table = backend.get_table(op["TableName"])  # a name or an ARN
            if "Key" in op:
                key = op["Key"]
            else:
                attrs = op["Item"]
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            hash_key, range_key = backend.get_keys_value(table, key)
            backup = _ItemBackup(table, hash_key, range_key)
        except Exception:
            continue
        backups.append(backup)
        shard = table.stream_shard
        if shard is not None and id(shard) not in streams:
            streams.add(id(shard))
            backups.insert(0, _StreamBackup(shard))  # restored last
    return backups


# ------------------------------------------------------------------ key queries

_narrowed = threading.local()
_SORTED = "_devstack_sorted_range_keys"
# Where the items that can match a condition start in the sorted range keys.
_BISECT_LEFT = {">=", "GE", "=", "EQ", "BETWEEN", "BEGINS_WITH"}
_BISECT_RIGHT = {">", "GT"}
_FROM_FIRST = {"", "<", "LT", "<=", "LE"}


def _forget_sorted_keys(table: Any, hash_key: Any) -> None:
    cache = table.__dict__.get(_SORTED)
    if cache:
        cache.pop(hash_key, None)


def _sorted_range_keys(table: Any, hash_key: Any, partition: dict[Any, Any]) -> tuple[list[Any], list[Any]]:
    """(the range keys' values as moto compares them, the keys), in moto's order."""
    cache = table.__dict__.setdefault(_SORTED, {})
    cached = cache.get(hash_key)
    if cached is None or len(cached[1]) != len(partition):
        keys = sorted(partition, key=lambda key: key.cast_value)
        cached = cache[hash_key] = ([key.cast_value for key in keys], keys)
    return cached


def _indexed_key_queries() -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    put_item, delete_item, query = Table.put_item, Table.delete_item, Table.query
    _stock["all_items"] = Table.all_items

    def put_item_forgetting(self: Any, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return put_item(self, item_attrs, *args, **kwargs)
        finally:
            if self.__dict__.get(_SORTED) and self.hash_key_attr in item_attrs:
                try:
                    _forget_sorted_keys(self, DynamoType(item_attrs[self.hash_key_attr]))
                except Exception:
                    self.__dict__[_SORTED] = {}

    def delete_item_forgetting(self: Any, hash_key: Any, range_key: Any) -> Any:
        try:
            return delete_item(self, hash_key, range_key)
        finally:
            _forget_sorted_keys(self, hash_key)

    def narrowed_all_items(self: Any) -> Any:
        narrowed = getattr(_narrowed, "candidates", None)
        if narrowed is not None and narrowed[0] is self:
            return narrowed[1]
        return _stock["all_items"](self)

    def candidates(
        table: Any,
        hash_key: Any,
        range_comparison: str | None,
        range_objs: list[Any],
        limit: Any,
        exclusive_start_key: dict[str, Any] | None,
        range_key_conditions: list[Any] | None,
    ) -> list[Any] | None:
        """The items a forward key query can read, in order; None: let moto read all."""
        if hash_key is None or not table.range_key_attr or len(range_key_conditions or []) > 1:
            return None
        if range_key_conditions and range_key_conditions[0][0] != table.range_key_attr:
            return None
        if limit is not None and int(limit) < 1:
            return None
        comparison = (range_comparison or "").upper()
        if comparison not in _BISECT_LEFT | _BISECT_RIGHT | _FROM_FIRST:
            return None
        if comparison not in _FROM_FIRST and not range_objs:
            return None
        if any(value.type != table.range_key_type for value in range_objs):
            return None
        after = None
        if exclusive_start_key:
            start_hash = exclusive_start_key.get(table.hash_key_attr)
            start_range = exclusive_start_key.get(table.range_key_attr)
            if not isinstance(start_hash, dict) or not isinstance(start_range, dict):
                return None
            after = DynamoType(start_range)
            if DynamoType(start_hash) != hash_key or after.type != table.range_key_type:
                return None
        partition = table.items.get(hash_key)
        if not partition:
            return []
        values, keys = _sorted_range_keys(table, hash_key, partition)
        start = 0
        if comparison in _BISECT_LEFT:
            start = bisect.bisect_left(values, range_objs[0].cast_value)
        elif comparison in _BISECT_RIGHT:
            start = bisect.bisect_right(values, range_objs[0].cast_value)
        if after is not None:
            start = max(start, bisect.bisect_right(values, after.cast_value))
        end = len(keys) if limit is None else min(len(keys), start + int(limit) + 1)
        return [partition[key] for key in keys[start:end]]

    def indexed_query(
        self: Any,
        hash_key: Any,
        range_comparison: str | None,
        range_objs: list[Any],
        limit: Any,
        exclusive_start_key: dict[str, Any],
        scan_index_forward: bool,
        projection_expressions: Any,
        index_name: str | None = None,
        consistent_read: bool = False,
        filter_expression: Any = None,
        hash_key_conditions: Any = None,
        range_key_conditions: Any = None,
        **filter_kwargs: Any,
    ) -> Any:
        narrowed = None
        if not index_name and scan_index_forward and not filter_kwargs:
            narrowed = candidates(
                self, hash_key, range_comparison, range_objs, limit, exclusive_start_key, range_key_conditions
            )
        _narrowed.candidates = None if narrowed is None else (self, narrowed)
        try:
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
                consistent_read,
                filter_expression,
                hash_key_conditions=hash_key_conditions,
                range_key_conditions=range_key_conditions,
                **filter_kwargs,
            )
        finally:
            _narrowed.candidates = None

    Table.put_item = put_item_forgetting  # type: ignore[method-assign]
    Table.delete_item = delete_item_forgetting  # type: ignore[method-assign]
    Table.all_items = narrowed_all_items  # type: ignore[method-assign]
    Table.query = indexed_query  # type: ignore[method-assign]


# ------------------------------------------------------------- update expressions

_shared_tree = threading.local()


def _no_copy_of_a_fresh_update_expression() -> None:
    from moto.dynamodb.parsing import validators

    def deepcopy(value: Any, memo: Any = None) -> Any:
        if value is getattr(_shared_tree, "expression", None):
            return value
        return copy.deepcopy(value, memo)

    init = validators.Validator.__init__

    def validator_init(self: Any, expression: Any, *args: Any, **kwargs: Any) -> None:
        item = kwargs["item"] if "item" in kwargs else (args[2] if len(args) > 2 else None)
        if not getattr(item, "attrs", None):
            init(self, expression, *args, **kwargs)
            return
        _shared_tree.expression = expression
        try:
            init(self, expression, *args, **kwargs)
        finally:
            _shared_tree.expression = None

    validators.deepcopy = deepcopy  # type: ignore[assignment]
    validators.Validator.__init__ = validator_init  # type: ignore[method-assign]
