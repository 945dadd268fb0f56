"""Check that the local stack's DynamoDB server (devstack/moto_fast.py, run by
bench/dbserver.py) answers as stock moto does: the same pages for many Query shapes
(conditions on number and string range keys, limits, both directions, page keys)
and the same outcomes for transactions, refused ones rolled back. Run by the throughput figure; on its own:

    .venv/bin/python -m bench.dbcheck
"""

from __future__ import annotations

import random
from typing import Any

import bench  # noqa: F401  (path and environment first)


def _client(endpoint: str) -> Any:
    import boto3

    return boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")


def _setup(client: Any) -> None:
    for name, kind in (("check-n", "N"), ("check-s", "S")):
        client.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "h", "KeyType": "HASH"}, {"AttributeName": "r", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "h", "AttributeType": "S"},
                {"AttributeName": "r", "AttributeType": kind},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
    client.create_table(
        TableName="check-c",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    rng = random.Random(1)
    for i in range(120):
        for h in ("a", "b"):
            number = str(rng.randint(-50, 500)) + ("" if i % 3 else ".5")
            client.put_item(
                TableName="check-n",
                Item={"h": {"S": h}, "r": {"N": number}, "v": {"S": "x" * rng.randint(0, 50)}},
            )
            text = "".join(rng.choice("abcé") for _ in range(rng.randint(1, 4)))
            client.put_item(TableName="check-s", Item={"h": {"S": h}, "r": {"S": text}})
    client.put_item(TableName="check-c", Item={"id": {"S": "k"}, "n": {"N": "1"}})


_CONDITIONS = [
    ("check-n", "r >= :v", [{"N": "100"}]),
    ("check-n", "r > :v", [{"N": "100.5"}]),
    ("check-n", "r = :v", [{"N": "7"}]),
    ("check-n", "r < :v", [{"N": "20"}]),
    ("check-n", "r <= :v", [{"N": "20"}]),
    ("check-n", "r BETWEEN :v AND :w", [{"N": "10"}, {"N": "60"}]),
    ("check-n", None, []),
    ("check-n", "r >= :v", [{"N": "-1000"}]),
    ("check-n", "r >= :v", [{"N": "1000"}]),
    ("check-s", "begins_with(r, :v)", [{"S": "ab"}]),
    ("check-s", "r >= :v", [{"S": "b"}]),
    ("check-s", "r > :v", [{"S": "b"}]),
    ("check-s", None, []),
]


def _queries(client: Any) -> list[Any]:
    out = []
    for table, condition, values in _CONDITIONS:
        for limit in (None, 2, 25):
            for forward in (True, False):
                names = {":h": {"S": "a"}}
                for name, value in zip((":v", ":w"), values, strict=False):
                    names[name] = value
                kwargs: dict[str, Any] = {
                    "TableName": table,
                    "KeyConditionExpression": "h = :h" + (f" AND {condition}" if condition else ""),
                    "ExpressionAttributeValues": names,
                    "ScanIndexForward": forward,
                }
                if limit:
                    kwargs["Limit"] = limit
                pages = []
                while len(pages) < 400:
                    answer = client.query(**kwargs)
                    pages.append((answer["Items"], answer.get("LastEvaluatedKey"), answer["Count"]))
                    if "LastEvaluatedKey" not in answer:
                        break
                    kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
                out.append(((table, condition, limit, forward), pages))
    return out


def _transactions(client: Any) -> list[Any]:
    def transact(items: list[dict[str, Any]]) -> Any:
        try:
            client.transact_write_items(TransactItems=items)
            return "ok"
        except client.exceptions.TransactionCanceledException as exc:
            return [reason.get("Code") for reason in exc.response["CancellationReasons"]]

    def put(range_value: str, **extra: Any) -> dict[str, Any]:
        item = {"h": {"S": "z"}, "r": {"N": range_value}, **extra}
        return {
            "Put": {"TableName": "check-n", "Item": item, "ConditionExpression": "attribute_not_exists(r)"}
        }

    def update(expression: str, condition: str | None, values: dict[str, Any]) -> dict[str, Any]:
        op: dict[str, Any] = {
            "TableName": "check-c",
            "Key": {"id": {"S": "k"}},
            "UpdateExpression": expression,
            "ExpressionAttributeValues": values,
        }
        if condition:
            op["ConditionExpression"] = condition
        return {"Update": op}

    one, five = {":one": {"N": "1"}}, {":five": {"N": "5"}}
    outcomes = [
        transact([put("1"), update("SET n = n + :one", "n = :one", one)]),  # both apply
        transact([put("2"), update("SET n = n + :one", "n = :one", one)]),  # refused: put rolled back
        transact([update("SET n = :five", None, five), put("1")]),  # refused: update rolled back
        transact(
            [
                {
                    "Put": {
                        "TableName": "check-n",
                        "Item": {"h": {"S": "z"}, "r": {"N": "1"}, "q": {"S": "new"}},
                    }
                },
                update("SET n = :five", "n = :five", five),
            ]
        ),  # refused: a replaced item is put back as it was
    ]
    outcomes.append(client.scan(TableName="check-c")["Items"])
    outcomes.append(
        client.query(
            TableName="check-n", KeyConditionExpression="h = :h", ExpressionAttributeValues={":h": {"S": "z"}}
        )["Items"]
    )
    return outcomes


def check() -> tuple[int, int, list[str]]:
    """(query shapes compared, transaction checks compared, differences)."""
    from bench.dbserver import DynamoServer

    answers = []
    for stock in (True, False):
        with DynamoServer(stock=stock) as db:
            client = _client(db.endpoint)
            _setup(client)
            answers.append((_queries(client), _transactions(client)))
    (stock_queries, stock_tx), (fast_queries, fast_tx) = answers
    differences = [str(a[0]) for a, b in zip(stock_queries, fast_queries, strict=True) if a != b]
    differences += [
        f"transaction check {i}" for i, (a, b) in enumerate(zip(stock_tx, fast_tx, strict=True)) if a != b
    ]
    return len(stock_queries), len(stock_tx), differences


if __name__ == "__main__":
    queries, transactions, differences = check()
    print(f"{queries} query shapes, {transactions} transaction checks: {len(differences)} differences")
    for difference in differences:
        print("  ", difference)
