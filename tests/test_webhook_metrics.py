"""Metrics of WAHA's webhooks and the alarm on their rejections.

A rejected webhook counts once in `WebhookRejected` (the series the alarm watches) and
once in the series of its reason (bad signature, missing signature, stale timestamp,
malformed body, unknown session); acks count as applied, parked or ignored, and the
schedule counts the parked acks it applied. The metrics are read as CloudWatch reads
them: the EMF lines Powertools prints when a handler returns. The template's alarm
watches the same name, namespace and dimensions."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from typing import Any

import pytest

from campaigns.api import webhooks
from campaigns.data.models import Campaign, Delivery
from campaigns.domain.statuses import CampaignStatus
from campaigns.timeutil import utcnow
from devstack.context import SimulatedContext
from devstack.tables import load_template
from tests import waha_world
from tests.builders import Builder
from tests.fakewaha import FakeWaha
from tests.waha_world import connect

waha_api = waha_world.waha_api  # the fixture, used by name


def emitted(out: str) -> list[dict[str, Any]]:
    """Every metric in the EMF lines of `out`: {namespace, name, dimensions, value}."""
    found = []
    for line in out.splitlines():
        try:
            blob = json.loads(line)
        except ValueError:
            continue
        if not isinstance(blob, dict) or "_aws" not in blob:
            continue
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                for metric in directive["Metrics"]:
                    value = blob[metric["Name"]]
                    found.append(
                        {
                            "namespace": directive["Namespace"],
                            "name": metric["Name"],
                            "dimensions": {d: blob[d] for d in dimension_set},
                            "value": sum(value) if isinstance(value, list) else value,
                        }
                    )
    return found


def total(metrics: list[dict[str, Any]], name: str, **dimensions: str) -> float:
    wanted = {"service": os.environ["POWERTOOLS_SERVICE_NAME"], **dimensions}
    return sum(
        m["value"]
        for m in metrics
        if m["name"] == name
        and m["dimensions"] == wanted
        and m["namespace"] == os.environ["POWERTOOLS_METRICS_NAMESPACE"]
    )


def signed(key: str, raw: bytes, timestamp_ms: int | None = None) -> dict[str, str]:
    return {
        "X-Webhook-Timestamp": str(timestamp_ms or int(time.time() * 1000)),
        "X-Webhook-Hmac": hmac.new(key.encode(), raw, hashlib.sha512).hexdigest(),
        "Content-Type": "application/json",
    }


@pytest.mark.parametrize(
    "tamper, status, reason",
    [
        ("bad signature", 401, "BadSignature"),
        ("missing signature", 401, "MissingSignature"),
        ("stale timestamp", 401, "StaleTimestamp"),
        ("malformed body", 400, "MalformedBody"),
        ("body not base64", 400, "MalformedBody"),
        ("unknown session", 401, "UnknownSession"),
    ],
)
def test_a_rejected_webhook_is_counted_in_total_and_by_its_reason(
    waha_api: FakeWaha, alice, capsys: pytest.CaptureFixture[str], tamper: str, status: int, reason: str
):
    _, name = connect(alice, waha_api)
    from campaigns.data.session_keys import session_keys

    key = session_keys().get(name) or ""
    url = waha_api.webhooks[-1]["url"]
    raw = json.dumps({"event": "session.status", "session": name, "payload": {"status": "WORKING"}}).encode()
    headers = signed(key, raw)
    if tamper == "bad signature":
        headers["X-Webhook-Hmac"] = "0" * 128
    elif tamper == "missing signature":
        del headers["X-Webhook-Hmac"]
    elif tamper == "stale timestamp":
        headers = signed(key, raw, int(time.time() * 1000) - 301_000)
    elif tamper == "malformed body":
        raw = b"not json"
        headers = signed(key, raw)
    elif tamper == "body not base64":
        raw = b"\xff\xfe"  # handed over in base64 by API Gateway; broken on the way here
        waha_api.deliver = _broken_base64
    elif tamper == "unknown session":
        url = url.split("session=")[0] + "session=wcr-nobody"
    capsys.readouterr()

    answered = waha_api._post(url, headers, raw)

    metrics = emitted(capsys.readouterr().out)
    assert answered == status
    assert total(metrics, webhooks.REJECTED_METRIC) == 1
    assert total(metrics, webhooks.REJECTED_METRIC, reason=reason) == 1
    others = {"BadSignature", "MissingSignature", "StaleTimestamp", "MalformedBody", "UnknownSession"} - {
        reason
    }
    assert all(total(metrics, webhooks.REJECTED_METRIC, reason=other) == 0 for other in others)


def _broken_base64(url: str, headers: dict[str, str], raw: bytes) -> int:
    from urllib.parse import parse_qsl, urlsplit

    from tests.api_events import http_event, invoke

    parts = urlsplit(url)
    event = http_event(
        "POST", parts.path, user=None, raw_body="%%%", query=dict(parse_qsl(parts.query)), headers=headers
    )
    event["isBase64Encoded"] = True
    return invoke(event).status


def test_an_accepted_webhook_counts_no_rejection(waha_api: FakeWaha, alice, capsys):
    _, name = connect(alice, waha_api)
    capsys.readouterr()

    assert waha_api.drop(name, "FAILED") == 200

    assert total(emitted(capsys.readouterr().out), webhooks.REJECTED_METRIC) == 0


def test_acks_count_as_applied_parked_or_ignored_and_the_schedule_counts_what_it_applied(
    waha_api: FakeWaha, alice, build: Builder, capsys
):
    session_id, name = connect(alice, waha_api)
    campaign = build.campaign(2, status=CampaignStatus.COMPLETED, register_session=False)
    Campaign(campaign.id).update(
        actions=[Campaign.whatsapp_session_id.set(session_id), Campaign.waha_session.set(name)]
    )
    sent = "true_15550000000@c.us_3EB0000000000000"
    early = "true_15550000001@c.us_3EB0000000000001"
    Delivery(
        campaign_id=campaign.id,
        contact_index=0,
        phone_number="+15550000000",
        status="Sent",
        message_id=sent,
        at=utcnow(),
    ).save()
    capsys.readouterr()

    waha_api.ack(name, sent, "READ")  # applied
    waha_api.ack(name, sent, "DEVICE")  # ignored: Read is later
    waha_api.ack(name, early, "DEVICE")  # parked: no delivery has it yet
    api = emitted(capsys.readouterr().out)
    Delivery(
        campaign_id=campaign.id,
        contact_index=1,
        phone_number="+15550000001",
        status="Sent",
        message_id=early,
        at=utcnow(),
    ).save()
    from functions.scheduler.app import lambda_handler

    report = lambda_handler({}, SimulatedContext(function_name="scheduler", timeout_ms=60_000))
    schedule = emitted(capsys.readouterr().out)

    assert [total(api, n) for n in ("AckApplied", "AckIgnored", "AckParked")] == [1, 1, 1]
    assert report["acksApplied"] == 1 and total(schedule, "ParkedAckApplied") == 1


def test_an_alarm_watches_the_rejections_the_code_counts() -> None:
    template = load_template()
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    alarms = [
        resource["Properties"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
        and resource["Properties"].get("MetricName") == webhooks.REJECTED_METRIC
    ]

    assert len(alarms) == 1
    [alarm] = alarms
    # The namespace and service the functions' Powertools metrics are emitted under
    assert alarm["Namespace"] == env["POWERTOOLS_METRICS_NAMESPACE"]
    assert alarm["Dimensions"] == [{"Name": "service", "Value": env["POWERTOOLS_SERVICE_NAME"]}]
    # The sum over 5 minutes above a threshold the operator sets, to the alarm topic
    assert (alarm["Statistic"], alarm["Period"], alarm["EvaluationPeriods"]) == ("Sum", 300, 1)
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    threshold = alarm["Threshold"]["Ref"]
    assert template["Parameters"][threshold]["Type"] == "Number"
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmActions"]["Fn::If"][0] == "HasAlarmTopic"
