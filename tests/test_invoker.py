"""How the runner is started in AWS: Lambda's Event invocation, and delayed
continuations on SQS, against moto's SQS over HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

from campaigns.invoker import LambdaInvoker, continuation_records, runner_event


@pytest.fixture
def sqs() -> Iterator[object]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield boto3.client(
            "sqs",
            endpoint_url=f"http://{host}:{port}",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
    finally:
        server.stop()


def test_a_continuation_is_delivered_once_its_delay_is_over(sqs) -> None:
    queue_url = sqs.create_queue(QueueName="continuations")["QueueUrl"]
    invoker = LambdaInvoker("runner", queue_url=queue_url, sqs=sqs)
    event = runner_event("cmp_1", "token-1", 4)

    invoker.continue_later(event, 2)

    assert sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0).get("Messages") is None
    time.sleep(2.2)
    (message,) = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1)["Messages"]
    assert json.loads(message["Body"]) == event
    # As the event source mapping hands it to the runner:
    batch = {
        "Records": [{"messageId": message["MessageId"], "body": message["Body"], "eventSource": "aws:sqs"}]
    }
    assert continuation_records(batch) == [event]


def test_a_delay_beyond_the_queues_limit_is_capped_not_refused(sqs) -> None:
    # SQS refuses DelaySeconds above 900; the run sends a longer wait on again when it arrives.
    queue_url = sqs.create_queue(QueueName="continuations")["QueueUrl"]
    invoker = LambdaInvoker("runner", queue_url=queue_url, sqs=sqs)

    invoker.continue_later(runner_event("cmp_1", "t", 1), 3_600)

    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"


def test_without_a_queue_a_continuation_cannot_be_sent() -> None:
    with pytest.raises(RuntimeError, match="CONTINUATIONS_QUEUE_URL"):
        LambdaInvoker("runner").continue_later(runner_event("cmp_1", "t", 1), 5)


def test_a_direct_event_is_not_a_batch_and_a_broken_record_is_none() -> None:
    assert continuation_records(runner_event("cmp_1")) is None
    assert continuation_records({"Records": [{"body": "{not json"}, {"body": '{"campaignId": "c"}'}]}) == [
        None,
        {"campaignId": "c"},
    ]
