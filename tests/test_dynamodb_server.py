"""The embedded DynamoDB endpoint keeps DynamoDB's semantics: atomic conditional writes
under concurrency, and (with devstack/moto_fast.py's patches) all-or-nothing
transactions and key queries that page as DynamoDB pages."""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from devstack import moto_fast
from devstack.dynamodb import AtomicMotoServer


def test_concurrent_conditional_writes_to_one_item_let_exactly_one_win():
    server = AtomicMotoServer()
    server.start()
    try:
        client = boto3.client("dynamodb", endpoint_url=server.endpoint, region_name="us-east-1")
        client.create_table(
            TableName="claims",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.put_item(TableName="claims", Item={"id": {"S": "c1"}, "n": {"N": "0"}})
        winners: list[int] = []
        barrier = threading.Barrier(12)

        def claim(worker: int) -> None:
            own = boto3.client("dynamodb", endpoint_url=server.endpoint, region_name="us-east-1")
            barrier.wait()
            for _ in range(20):
                current = own.get_item(TableName="claims", Key={"id": {"S": "c1"}}, ConsistentRead=True)
                n = int(current["Item"]["n"]["N"])
                try:
                    own.update_item(
                        TableName="claims",
                        Key={"id": {"S": "c1"}},
                        UpdateExpression="SET n = :next",
                        ConditionExpression="n = :seen",
                        ExpressionAttributeValues={":next": {"N": str(n + 1)}, ":seen": {"N": str(n)}},
                    )
                    winners.append(n)
                except ClientError as exc:
                    assert exc.response["Error"]["Code"] == "ConditionalCheckFailedException"

        threads = [threading.Thread(target=claim, args=(w,)) for w in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        final = int(client.get_item(TableName="claims", Key={"id": {"S": "c1"}})["Item"]["n"]["N"])
        # Every successful compare-and-set moved the counter by exactly one: no two
        # writers ever won the same value.
        assert sorted(winners) == list(range(final))
    finally:
        server.stop()


# ------------------------------------------------------------------------------
# DynamoDB's semantics on the patched server (devstack/moto_fast.py): transactions
# are all-or-nothing, conditions hold, key queries page as DynamoDB pages.


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    server = AtomicMotoServer()
    server.start()
    try:
        yield boto3.client("dynamodb", endpoint_url=server.endpoint, region_name="us-east-1")
    finally:
        server.stop()


_tables = itertools.count(1)


def _table(client: Any, range_type: str | None = "N", gsi: bool = False) -> str:
    """A new table `h` (S) + `r` (range_type), optionally with a GSI `byG` on g (S) + s (N)."""
    name = f"semantics-{next(_tables)}-{uuid.uuid4().hex[:6]}"
    keys = [{"AttributeName": "h", "KeyType": "HASH"}]
    attributes = [{"AttributeName": "h", "AttributeType": "S"}]
    if range_type:
        keys.append({"AttributeName": "r", "KeyType": "RANGE"})
        attributes.append({"AttributeName": "r", "AttributeType": range_type})
    extra: dict[str, Any] = {}
    if gsi:
        attributes += [
            {"AttributeName": "g", "AttributeType": "S"},
            {"AttributeName": "s", "AttributeType": "N"},
        ]
        extra["GlobalSecondaryIndexes"] = [
            {
                "IndexName": "byG",
                "KeySchema": [
                    {"AttributeName": "g", "KeyType": "HASH"},
                    {"AttributeName": "s", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ]
    client.create_table(
        TableName=name,
        KeySchema=keys,
        AttributeDefinitions=attributes,
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )
    return name


def _everything(client: Any, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = client.scan(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _cancel_reasons(client: Any, items: list[dict[str, Any]]) -> list[str | None]:
    with pytest.raises(ClientError) as caught:
        client.transact_write_items(TransactItems=items)
    assert caught.value.response["Error"]["Code"] == "TransactionCanceledException"
    return [reason.get("Code") for reason in caught.value.response["CancellationReasons"]]


def _put(table: str, h: str, r: int, **attrs: Any) -> dict[str, Any]:
    return {"Put": {"TableName": table, "Item": {"h": {"S": h}, "r": {"N": str(r)}, **attrs}}}


def test_a_cancelled_transaction_of_several_items_writes_none_of_them(client):
    contacts, campaigns = _table(client), _table(client, range_type=None)
    for r in range(5):
        client.put_item(
            TableName=contacts, Item={"h": {"S": "list"}, "r": {"N": str(r)}, "v": {"S": f"old{r}"}}
        )
    client.put_item(TableName=campaigns, Item={"h": {"S": "c1"}, "n": {"N": "1"}, "status": {"S": "Running"}})
    client.put_item(TableName=campaigns, Item={"h": {"S": "c2"}, "n": {"N": "7"}})
    before = (_everything(client, contacts), _everything(client, campaigns))

    reasons = _cancel_reasons(
        client,
        [
            _put(contacts, "list", 10, v={"S": "new"}),  # a new item
            _put(contacts, "list", 0, v={"S": "replaced"}),  # an item replaced
            {"Delete": {"TableName": contacts, "Key": {"h": {"S": "list"}, "r": {"N": "1"}}}},
            {
                "Update": {
                    "TableName": campaigns,
                    "Key": {"h": {"S": "c1"}},
                    "UpdateExpression": "SET n = n + :one, #s = :done REMOVE gone",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": {":one": {"N": "1"}, ":done": {"S": "Completed"}},
                }
            },
            {  # an update that creates its item
                "Update": {
                    "TableName": campaigns,
                    "Key": {"h": {"S": "c3"}},
                    "UpdateExpression": "SET n = :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            },
            {  # the last operation's condition fails: everything above is undone
                "ConditionCheck": {
                    "TableName": campaigns,
                    "Key": {"h": {"S": "c2"}},
                    "ConditionExpression": "n = :eight",
                    "ExpressionAttributeValues": {":eight": {"N": "8"}},
                }
            },
        ],
    )

    assert reasons == ["None", "None", "None", "None", "None", "ConditionalCheckFailed"]
    assert (_everything(client, contacts), _everything(client, campaigns)) == before
    # The key queries see the items as they were too (no new key, the deleted one back).
    page = client.query(
        TableName=contacts,
        KeyConditionExpression="h = :h AND r >= :zero",
        ExpressionAttributeValues={":h": {"S": "list"}, ":zero": {"N": "0"}},
    )
    assert [(item["r"]["N"], item["v"]["S"]) for item in page["Items"]] == [
        (str(r), f"old{r}") for r in range(5)
    ]


def test_a_transaction_cancelled_in_its_middle_undoes_the_writes_before_and_skips_those_after(client):
    table = _table(client)
    client.put_item(TableName=table, Item={"h": {"S": "a"}, "r": {"N": "2"}, "v": {"S": "taken"}})
    before = _everything(client, table)

    reasons = _cancel_reasons(
        client,
        [
            _put(table, "a", 1),
            {
                "Put": {
                    "TableName": table,
                    "Item": {"h": {"S": "a"}, "r": {"N": "2"}, "v": {"S": "mine"}},
                    "ConditionExpression": "attribute_not_exists(r)",
                }
            },
            _put(table, "a", 3),
        ],
    )

    assert reasons == ["None", "ConditionalCheckFailed", "None"]
    assert _everything(client, table) == before


def test_a_transaction_refused_for_a_bad_operation_writes_nothing(client):
    table = _table(client)
    client.put_item(TableName=table, Item={"h": {"S": "a"}, "r": {"N": "1"}, "v": {"S": "text"}})
    before = _everything(client, table)

    # Two operations on one item: DynamoDB refuses the whole request.
    with pytest.raises(ClientError) as caught:
        client.transact_write_items(
            TransactItems=[_put(table, "a", 5), _put(table, "a", 6), _put(table, "a", 5)]
        )
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert _everything(client, table) == before

    # An update that cannot apply (adding a number to a string), after a put that could:
    # refused (moto says ValidationException, DynamoDB cancels for a ValidationError).
    with pytest.raises(ClientError) as caught:
        client.transact_write_items(
            TransactItems=[
                _put(table, "a", 7),
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"h": {"S": "a"}, "r": {"N": "1"}},
                        "UpdateExpression": "ADD v :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
            ]
        )
    assert caught.value.response["Error"]["Code"] in ("ValidationException", "TransactionCanceledException")
    assert _everything(client, table) == before


def test_a_cancelled_transaction_naming_its_table_by_arn_writes_nothing(client):
    table = _table(client)
    arn = client.describe_table(TableName=table)["Table"]["TableArn"]
    client.put_item(TableName=table, Item={"h": {"S": "a"}, "r": {"N": "1"}})
    before = _everything(client, table)

    reasons = _cancel_reasons(
        client,
        [
            _put(arn, "a", 2),
            {
                "ConditionCheck": {
                    "TableName": arn,
                    "Key": {"h": {"S": "a"}, "r": {"N": "1"}},
                    "ConditionExpression": "attribute_not_exists(r)",
                }
            },
        ],
    )

    assert reasons == ["None", "ConditionalCheckFailed"]
    assert _everything(client, table) == before


def test_a_transaction_whose_conditions_hold_writes_every_item(client):
    table, counters = _table(client), _table(client, range_type=None)
    client.put_item(TableName=counters, Item={"h": {"S": "k"}, "n": {"N": "1"}})
    client.put_item(TableName=table, Item={"h": {"S": "a"}, "r": {"N": "9"}})

    client.transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": table,
                    "Item": {"h": {"S": "a"}, "r": {"N": "1"}},
                    "ConditionExpression": "attribute_not_exists(r)",
                }
            },
            {
                "Update": {
                    "TableName": counters,
                    "Key": {"h": {"S": "k"}},
                    "UpdateExpression": "SET n = n + :one",
                    "ConditionExpression": "n = :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            },
            {"Delete": {"TableName": table, "Key": {"h": {"S": "a"}, "r": {"N": "9"}}}},
        ]
    )

    assert _everything(client, table) == [{"h": {"S": "a"}, "r": {"N": "1"}}]
    assert _everything(client, counters) == [{"h": {"S": "k"}, "n": {"N": "2"}}]
    # The same transaction again: its put's condition now fails, and nothing changes.
    assert _cancel_reasons(
        client,
        [
            {
                "Put": {
                    "TableName": table,
                    "Item": {"h": {"S": "a"}, "r": {"N": "1"}, "x": {"S": "again"}},
                    "ConditionExpression": "attribute_not_exists(r)",
                }
            },
            {
                "Update": {
                    "TableName": counters,
                    "Key": {"h": {"S": "k"}},
                    "UpdateExpression": "SET n = n + :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            },
        ],
    ) == ["ConditionalCheckFailed", "None"]
    assert _everything(client, counters) == [{"h": {"S": "k"}, "n": {"N": "2"}}]


def test_conditional_writes_outside_transactions(client):
    table = _table(client)
    item = {"h": {"S": "a"}, "r": {"N": "1"}, "n": {"N": "0"}}
    client.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(r)")
    with pytest.raises(ClientError) as caught:
        client.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(r)")
    assert caught.value.response["Error"]["Code"] == "ConditionalCheckFailedException"

    key = {"h": {"S": "a"}, "r": {"N": "1"}}
    update = {
        "TableName": table,
        "Key": key,
        "UpdateExpression": "SET n = :next",
        "ConditionExpression": "n = :seen",
    }
    client.update_item(**update, ExpressionAttributeValues={":next": {"N": "1"}, ":seen": {"N": "0"}})
    with pytest.raises(ClientError):
        client.update_item(**update, ExpressionAttributeValues={":next": {"N": "5"}, ":seen": {"N": "0"}})
    # An update of a missing item creates it unless its condition says otherwise.
    with pytest.raises(ClientError):
        client.update_item(
            TableName=table,
            Key={"h": {"S": "a"}, "r": {"N": "2"}},
            UpdateExpression="SET n = :one",
            ConditionExpression="attribute_exists(r)",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )
    client.update_item(
        TableName=table,
        Key={"h": {"S": "a"}, "r": {"N": "3"}},
        UpdateExpression="SET n = if_not_exists(n, :zero) + :one, tags = list_append(:empty, :tags)",
        ExpressionAttributeValues={
            ":zero": {"N": "0"},
            ":one": {"N": "1"},
            ":empty": {"L": []},
            ":tags": {"L": [{"S": "x"}]},
        },
    )
    client.delete_item(
        TableName=table,
        Key=key,
        ConditionExpression="n = :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    assert _everything(client, table) == [
        {"h": {"S": "a"}, "r": {"N": "3"}, "n": {"N": "1"}, "tags": {"L": [{"S": "x"}]}}
    ]


# ------------------------------------------------------------------ queries

_NUMBERS = [-40, -7.5, -1, 0, 0.25, 1, 2, 3, 9, 10, 10.5, 11, 99, 100, 101, 250, 1000, 1e6]
_TEXTS = ["", "a", "ab", "abc", "abd", "ac", "b", "ba", "bé", "z", "é", "éa"]
_NUMBER_CONDITIONS: list[tuple[str | None, list[float], Any]] = [
    (None, [], lambda r: True),
    ("r = :v", [10], lambda r: r == 10),
    ("r = :v", [4], lambda r: r == 4),
    ("r < :v", [10], lambda r: r < 10),
    ("r <= :v", [10], lambda r: r <= 10),
    ("r > :v", [10], lambda r: r > 10),
    ("r >= :v", [10], lambda r: r >= 10),
    ("r >= :v", [-1000], lambda r: True),
    ("r > :v", [1e7], lambda r: False),
    ("r BETWEEN :v AND :w", [-1, 11], lambda r: -1 <= r <= 11),
    ("r BETWEEN :v AND :w", [10.75, 10.9], lambda r: False),
]


def _number(value: float) -> str:
    return format(Decimal(str(value)), "f")


def _pages(client: Any, **kwargs: Any) -> list[dict[str, Any]]:
    pages = []
    while len(pages) < 100:
        page = client.query(**kwargs)
        pages.append(page)
        if "LastEvaluatedKey" not in page:
            return pages
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    raise AssertionError("a query that never ends")


@pytest.fixture(scope="module")
def numbers(client) -> str:
    """Partition `a` holds _NUMBERS (odd ones with a flag), `b` and `c` neighbour it."""
    table = _table(client)
    for h in ("b", "a", "c"):
        for position, value in enumerate(_NUMBERS):
            item = {"h": {"S": h}, "r": {"N": _number(value)}, "p": {"N": str(position)}}
            if position % 2:
                item["odd"] = {"BOOL": True}
            client.put_item(TableName=table, Item=item)
    return table


@pytest.mark.parametrize("condition, values, matches", _NUMBER_CONDITIONS)
@pytest.mark.parametrize("limit", [None, 1, 3, 5, 100])
@pytest.mark.parametrize("forward", [True, False])
def test_a_key_query_pages_through_exactly_the_matching_items_in_order(
    client, numbers, condition, values, matches, limit, forward
):
    kwargs: dict[str, Any] = {
        "TableName": numbers,
        "KeyConditionExpression": "h = :h" + (f" AND {condition}" if condition else ""),
        "ExpressionAttributeValues": {
            ":h": {"S": "a"},
            **{name: {"N": _number(v)} for name, v in zip((":v", ":w"), values, strict=False)},
        },
        "ScanIndexForward": forward,
    }
    if limit:
        kwargs["Limit"] = limit
    pages = _pages(client, **kwargs)

    expected = sorted((Decimal(_number(v)) for v in _NUMBERS if matches(v)), reverse=not forward)
    got = [Decimal(item["r"]["N"]) for page in pages for item in page["Items"]]
    assert got == expected
    assert all(item["h"] == {"S": "a"} for page in pages for item in page["Items"])
    for page in pages:
        assert page["Count"] == len(page["Items"])
        if limit:
            assert page["Count"] <= limit
    if limit:  # every page but the last is full: DynamoDB stops a page at its limit
        assert all(page["Count"] == limit for page in pages[:-1])
        if len(expected) > limit:
            assert pages[0]["LastEvaluatedKey"] == {
                "h": {"S": "a"},
                "r": {"N": pages[0]["Items"][-1]["r"]["N"]},
            }


def test_a_filter_applies_after_the_limit_and_after_the_key_condition(client, numbers):
    """DynamoDB evaluates `Limit` items of the key range, then filters them: pages may
    be short or empty, and paging on still returns every match."""
    kwargs: dict[str, Any] = {
        "TableName": numbers,
        "KeyConditionExpression": "h = :h AND r >= :v",
        "FilterExpression": "attribute_exists(odd)",
        "ExpressionAttributeValues": {":h": {"S": "a"}, ":v": {"N": "0"}},
        "Limit": 4,
    }
    pages = _pages(client, **kwargs)
    in_range = [(Decimal(_number(v)), p) for p, v in enumerate(_NUMBERS) if v >= 0]
    expected_pages = [in_range[i : i + 4] for i in range(0, len(in_range), 4)]
    assert [page["ScannedCount"] for page in pages[: len(expected_pages)]] == [len(p) for p in expected_pages]
    assert [[Decimal(item["r"]["N"]) for item in page["Items"]] for page in pages[: len(expected_pages)]] == [
        [r for r, p in chunk if p % 2] for chunk in expected_pages
    ]
    assert [Decimal(i["r"]["N"]) for page in pages for i in page["Items"]] == [
        r for r, p in in_range if p % 2
    ]


def test_a_page_key_from_elsewhere_in_the_range_starts_the_page_after_it(client, numbers):
    # A page key need not be an item (the item may have been deleted since).
    page = client.query(
        TableName=numbers,
        KeyConditionExpression="h = :h AND r > :v",
        ExpressionAttributeValues={":h": {"S": "a"}, ":v": {"N": "0"}},
        ExclusiveStartKey={"h": {"S": "a"}, "r": {"N": "9.5"}},
        Limit=2,
    )
    assert [item["r"]["N"] for item in page["Items"]] == ["10", "10.5"]
    # A page key below the condition's bound does not widen it.
    page = client.query(
        TableName=numbers,
        KeyConditionExpression="h = :h AND r >= :v",
        ExpressionAttributeValues={":h": {"S": "a"}, ":v": {"N": "99"}},
        ExclusiveStartKey={"h": {"S": "a"}, "r": {"N": "-7.5"}},
        Limit=2,
    )
    assert [item["r"]["N"] for item in page["Items"]] == ["99", "100"]


def test_a_key_query_sees_every_write_before_it(client):
    table = _table(client)

    def keys() -> list[int]:
        pages = _pages(
            client,
            TableName=table,
            KeyConditionExpression="h = :h AND r >= :zero",
            ExpressionAttributeValues={":h": {"S": "a"}, ":zero": {"N": "0"}},
            Limit=2,
        )
        return [int(item["r"]["N"]) for page in pages for item in page["Items"]]

    for r in (0, 4, 8):
        client.put_item(TableName=table, Item={"h": {"S": "a"}, "r": {"N": str(r)}})
    assert keys() == [0, 4, 8]
    client.put_item(TableName=table, Item={"h": {"S": "a"}, "r": {"N": "2"}})
    client.batch_write_item(
        RequestItems={
            table: [{"PutRequest": {"Item": {"h": {"S": "a"}, "r": {"N": str(r)}}}} for r in (5, 9)]
        }
    )
    client.update_item(  # an update that creates its item
        TableName=table,
        Key={"h": {"S": "a"}, "r": {"N": "6"}},
        UpdateExpression="SET x = :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    assert keys() == [0, 2, 4, 5, 6, 8, 9]
    client.delete_item(TableName=table, Key={"h": {"S": "a"}, "r": {"N": "4"}})
    assert keys() == [0, 2, 5, 6, 8, 9]
    client.transact_write_items(
        TransactItems=[
            {"Delete": {"TableName": table, "Key": {"h": {"S": "a"}, "r": {"N": "8"}}}},
            _put(table, "a", 7),
        ]
    )
    assert keys() == [0, 2, 5, 6, 7, 9]


def test_string_range_keys_sort_and_match_by_code_point(client):
    table = _table(client, range_type="S")
    texts = [t for t in _TEXTS if t]  # a key cannot be empty
    for text in reversed(texts):
        client.put_item(TableName=table, Item={"h": {"S": "a"}, "r": {"S": text}})

    def query(condition: str, value: str, limit: int | None = None, forward: bool = True) -> list[str]:
        kwargs: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": f"h = :h AND {condition}",
            "ExpressionAttributeValues": {":h": {"S": "a"}, ":v": {"S": value}},
            "ScanIndexForward": forward,
        }
        if limit:
            kwargs["Limit"] = limit
        return [item["r"]["S"] for page in _pages(client, **kwargs) for item in page["Items"]]

    for limit in (None, 1, 2):
        assert query("begins_with(r, :v)", "ab", limit) == ["ab", "abc", "abd"]
        assert query("begins_with(r, :v)", "b", limit) == ["b", "ba", "bé"]
        assert query("begins_with(r, :v)", "é", limit, forward=False) == ["éa", "é"]
        assert query("r > :v", "b", limit) == ["ba", "bé", "z", "é", "éa"]
        assert query("r >= :v", "abd", limit) == sorted(t for t in texts if t >= "abd")
        assert query("r < :v", "b", limit) == ["a", "ab", "abc", "abd", "ac"]


def test_a_query_on_a_global_secondary_index(client):
    table = _table(client, gsi=True)
    for r in range(30):
        item = {"h": {"S": f"p{r % 3}"}, "r": {"N": str(r)}, "s": {"N": str(100 - r)}}
        if r % 5:  # items without the index's key are not in the index
            item["g"] = {"S": "even" if r % 2 == 0 else "odd"}
        client.put_item(TableName=table, Item=item)

    for forward in (True, False):
        for limit in (None, 1, 4):
            kwargs: dict[str, Any] = {
                "TableName": table,
                "IndexName": "byG",
                "KeyConditionExpression": "g = :g AND s >= :s",
                "ExpressionAttributeValues": {":g": {"S": "even"}, ":s": {"N": "80"}},
                "ScanIndexForward": forward,
            }
            if limit:
                kwargs["Limit"] = limit
            pages = _pages(client, **kwargs)
            got = [int(item["s"]["N"]) for page in pages for item in page["Items"]]
            expected = sorted(
                (100 - r for r in range(30) if r % 5 and r % 2 == 0 and 100 - r >= 80), reverse=not forward
            )
            assert got == expected
            if limit:
                assert all(page["Count"] <= limit for page in pages)


def test_the_patches_are_in_place_and_take_the_costs_out(client, numbers, monkeypatch):
    """A transaction copies no table, and a forward key query does not list the table
    (moto's stock `all_items`); an index query still does, as moto answers it."""
    from moto.dynamodb.models.table import Table

    assert moto_fast.applied()

    def no_table_copies(self: Any, memo: Any) -> Any:
        raise AssertionError("a whole table was copied")

    monkeypatch.setattr(Table, "__deepcopy__", no_table_copies, raising=False)
    table = _table(client, gsi=True)
    client.transact_write_items(TransactItems=[_put(table, "a", 1, g={"S": "x"}, s={"N": "1"})])
    assert _cancel_reasons(
        client,
        [
            _put(table, "a", 2),
            {"Put": {**_put(table, "a", 1)["Put"], "ConditionExpression": "attribute_not_exists(r)"}},
        ],
    ) == ["None", "ConditionalCheckFailed"]

    listed: list[str] = []
    stock = moto_fast._stock["all_items"]

    def all_items(self: Any) -> Any:
        listed.append(self.name)
        return stock(self)

    monkeypatch.setitem(moto_fast._stock, "all_items", all_items)
    page = client.query(
        TableName=numbers,
        KeyConditionExpression="h = :h AND r >= :v",
        ExpressionAttributeValues={":h": {"S": "a"}, ":v": {"N": "3"}},
        Limit=2,
    )
    assert [item["r"]["N"] for item in page["Items"]] == ["3", "9"]
    assert listed == []
    client.query(
        TableName=table,
        IndexName="byG",
        KeyConditionExpression="g = :g",
        ExpressionAttributeValues={":g": {"S": "x"}},
    )
    assert listed == [table]


def test_a_cancelled_transaction_leaves_no_record_in_the_table_stream(client):
    table = f"streamed-{uuid.uuid4().hex[:6]}"
    client.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "h", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "h", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    client.put_item(TableName=table, Item={"h": {"S": "k"}, "n": {"N": "1"}})
    streams = boto3.client("dynamodbstreams", endpoint_url=client.meta.endpoint_url, region_name="us-east-1")
    arn = client.describe_table(TableName=table)["Table"]["LatestStreamArn"]

    def records() -> list[tuple[str, Any]]:
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
        answer = streams.get_records(ShardIterator=iterator["ShardIterator"])
        return [(record["eventName"], record["dynamodb"].get("NewImage")) for record in answer["Records"]]

    before = records()
    assert [name for name, _ in before] == ["INSERT"]
    reasons = _cancel_reasons(
        client,
        [
            {"Put": {"TableName": table, "Item": {"h": {"S": "new"}}}},
            {
                "Update": {
                    "TableName": table,
                    "Key": {"h": {"S": "k"}},
                    "UpdateExpression": "SET n = :two",
                    "ConditionExpression": "n = :two",
                    "ExpressionAttributeValues": {":two": {"N": "2"}},
                }
            },
        ],
    )
    assert reasons == ["None", "ConditionalCheckFailed"]
    assert records() == before
