"""Figure 10: webhook ingestion. WAHA's signed `message.ack` webhooks posted to the
local stack's POST /webhooks/waha (devstack's HTTP server, the API function's real
handler, the benchmarks' DynamoDB server), acks per second, and the DynamoDB
requests each ack costs, named.

A user connects a number through the API (POST /whatsapp-sessions: the fake WAHA of
tests/fakewaha.py gets the session with its webhook URL and HMAC key) and the fake
pairs it (its signed `session.status` webhook). A campaign on that number has N
Sent deliveries with WAHA's message ids (written with BatchWriteItem). Another
process posts one `DEVICE` ack per delivery, signed as the fake WAHA signs them:
first from one client, then from CLIENTS concurrent clients over other deliveries.
Every ack moves a delivery forward, so each is a full write (not a repeat turned
away). Afterwards the campaign's `deliveredCount` must equal the acks answered 200.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from typing import Any

import bench
from bench import common, dbcalls
from bench.common import Context, FigureResult, Row, md_table

USER = "bench-user"
CLIENTS = 20


def _message_id(campaign: int, index: int) -> str:
    """WAHA's serialized id of a sent message: unique per delivery, as WhatsApp's are."""
    return f"true_1555{index:07d}@c.us_3EB0{campaign:04X}{index:012X}"


def _campaign_with_deliveries(session_name: str, session_id: str, count: int, ids: list[str]):
    from campaigns.data.models import Campaign, Delivery
    from campaigns.domain.statuses import CampaignStatus
    from campaigns.timeutil import utcnow
    from tests.builders import Builder

    campaign = Builder(user_id=USER, session_name=session_name).campaign(
        1, status=CampaignStatus.COMPLETED, register_session=False
    )
    campaign.update(actions=[Campaign.whatsapp_session_id.set(session_id), Campaign.sent_count.set(count)])
    now = utcnow()
    with Delivery.batch_write() as batch:
        for index in range(count):
            batch.save(
                Delivery(
                    campaign_id=campaign.id,
                    contact_index=index,
                    phone_number=f"+1555{index:07d}",
                    status="Sent",
                    message_id=ids[index],
                    at=now,
                )
            )
    return campaign


def _post_acks(spec: dict[str, Any], ids: list[str], clients: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", encoding="utf-8") as handle:
        json.dump({**spec, "ids": ids}, handle)
        handle.flush()
        done = subprocess.run(
            [sys.executable, "-m", "bench.webhook_load", handle.name, str(clients)],
            cwd=bench.REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"webhook load failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _connect_number(stack, fake) -> tuple[str, str]:
    """(session id, WAHA name) of a number the user connected and the fake paired."""
    import requests

    answer = requests.post(
        f"{stack.base_url}/whatsapp-sessions",
        json={"label": "Shop"},
        headers=stack.auth_headers(USER),
        timeout=30,
    )
    if answer.status_code != 201:
        raise RuntimeError(f"POST /whatsapp-sessions answered {answer.status_code}: {answer.text[:300]}")
    name = fake.request_log("create-session")[-1]["body"]["name"]
    if fake.pair(name) != 200:
        raise RuntimeError("the pairing webhook was not taken")
    return answer.json()["id"], name


def _acked(campaign_id: str) -> tuple[int, int]:
    """(deliveredCount, deliveries whose ack is Delivered)."""
    from campaigns.data.models import Delivery

    campaign = common.reload_campaign(campaign_id)
    acked = sum(1 for d in Delivery.query(campaign_id, consistent_read=True) if d.ack == "Delivered")
    return int(campaign.delivered_count or 0), acked


def run(ctx: Context) -> FigureResult:
    from devstack.stack import LocalStack

    figure = FigureResult("webhooks", "10. Webhook ingestion: signed acks on the local stack")
    alone, many = ctx.size(300, 60), ctx.size(2_000, 200)
    ctx.db.reset()
    measured: dict[str, tuple[dict[str, Any], Counter, int]] = {}
    with (
        common.fake_waha() as fake,
        LocalStack(
            port=0,
            web_root=None,
            schedule_seconds=3600,
            dynamodb_endpoint=ctx.db.endpoint,
            waha_base_url=fake.base_url,
            waha_api_key=fake.api_key,
        ) as stack,
    ):
        common.quiet_function_logs()
        session_id, name = _connect_number(stack, fake)
        spec = {"session": name, "config": fake.configs[name], "me": fake.me_ids[name], "ack": "DEVICE"}
        loads = (("1 client", alone, 1), (f"{CLIENTS} clients", many, CLIENTS))
        for number, (label, count, clients) in enumerate(loads):
            ids = [_message_id(number, index) for index in range(count)]
            campaign = _campaign_with_deliveries(name, session_id, count, ids)
            common.progress(f"figure 10: {count} signed acks from {label}")
            with dbcalls.count_requests() as calls, common.quiet_stdout():
                result = _post_acks(spec, ids, clients)
            delivered, acked = _acked(campaign.id)
            if delivered != acked or result["statuses"].get("200", 0) != count:
                figure.details.append(
                    f"{label}: {dict(result['statuses'])} answers; deliveredCount {delivered}, "
                    f"deliveries acked {acked}, of {count}."
                )
            measured[label] = (result, Counter(calls), count)
            figure.rows.append(
                Row(
                    "10",
                    f"Acks recorded, {label}: deliveredCount / acks sent (each moved a delivery)",
                    f"{delivered}/{count}",
                    "all",
                    common.verdict(delivered == count == acked),
                )
            )

    rates = {}
    table = []
    for label, (result, _, count) in measured.items():
        latencies = [v * 1000 for v in result["latencies"]]
        rates[label] = count / result["seconds"]
        table.append(
            [
                label,
                count,
                ", ".join(f"{status}: {n}" for status, n in sorted(result["statuses"].items())),
                f"{rates[label]:.1f}",
                f"{statistics.median(latencies):.0f}",
                f"{common.percentile(latencies, 99):.0f}",
            ]
        )
    many_label = f"{CLIENTS} clients"
    result, calls, count = measured[many_label]
    per_ack = sum(calls.values()) / count
    latencies = [v * 1000 for v in result["latencies"]]
    figure.rows.append(
        Row(
            "10",
            f"Signed acks per second, local stack, {CLIENTS} clients ({count} acks): acks/s; p50; p99",
            f"{rates[many_label]:.1f}; {statistics.median(latencies):.0f} ms; "
            f"{common.percentile(latencies, 99):.0f} ms",
        )
    )
    figure.rows.append(
        Row(
            "10",
            f"Acks per second, {CLIENTS} clients / 1 client",
            f"{rates[many_label] / rates['1 client']:.2f} ({rates[many_label]:.1f} / {rates['1 client']:.1f})",
        )
    )
    figure.rows.append(Row("10", "DynamoDB requests per ack (named in the details)", f"{per_ack:.2f}"))
    figure.details.append(
        md_table(["acks from", "acks", "answers", "acks per second", "p50 ms", "p99 ms"], table)
    )
    by_label = dbcalls.per_label(calls)
    figure.details.append(
        f"DynamoDB requests per ack ({count} acks from {CLIENTS} clients; every request the "
        "API function made meanwhile):\n\n"
        + md_table(
            ["request (operation, table)", "per ack"],
            [[name, f"{n / count:.2f}"] for name, n in by_label.most_common()]
            + [["**in all**", f"**{per_ack:.2f}**"]],
        )
    )
    figure.details.append(
        "Each ack: the session read by the WAHA name in the URL (its key; the signature is checked "
        "before the body is read), the event id written once (WAHA retries a webhook until it is "
        "taken: a repeat is answered without acting), the delivery found by its message id (a "
        "Query of the `byMessageId` index), its campaign read (an ack counts only from the number "
        "that sent the message), a strongly consistent read of the delivery, and "
        "one transaction that moves its ack and adds to the campaign's counters, conditioned on "
        "the ack read. The local stack runs one API invocation at a time (devstack/server.py), as "
        "one Lambda execution environment serves one request at a time, so concurrent clients "
        "queue: the rate is the inverse of one invocation's time. In AWS, concurrent webhooks get "
        "execution environments of their own; acks of one campaign then meet on its counters' "
        "item, where a transaction DynamoDB cancels for a conflict is read and tried again, up "
        "to 5 times (data/acks.py; not measured here: the local DynamoDB applies one request at "
        "a time)."
    )
    return figure
