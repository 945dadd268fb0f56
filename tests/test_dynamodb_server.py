"""The embedded DynamoDB endpoint keeps DynamoDB's atomic conditional writes."""

from __future__ import annotations

import threading

import boto3
from botocore.exceptions import ClientError

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
