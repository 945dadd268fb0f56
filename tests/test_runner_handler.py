"""The runner Lambda handler, fed the sample events that `sam local invoke` uses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from campaigns.domain.statuses import CampaignStatus
from devstack.context import SimulatedContext
from functions.runner import app
from tests.builders import deliveries, reload

EVENTS = Path(__file__).resolve().parent.parent / "events"


def load(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def test_the_sample_event_runs_its_campaign_to_completion(build, invoker):
    event = load("runner.json")
    campaign = build.campaign(3, campaign_id=event["campaignId"])

    result = app.lambda_handler(event, SimulatedContext("runner"))

    assert result == {"campaignId": campaign.id, "hop": 0, "result": "completed"}
    assert reload(campaign).status == "Completed"
    assert len(deliveries(campaign)) == 3


def test_the_continuation_event_with_a_stale_token_sends_nothing(build, invoker):
    event = load("runner-continue.json")
    campaign = build.campaign(3, campaign_id=event["campaignId"], status=CampaignStatus.RUNNING)

    result = app.lambda_handler(event, SimulatedContext("runner"))

    assert result["result"] == "skipped"
    assert deliveries(campaign) == []


def test_the_continuation_event_carries_on_when_its_token_holds_the_run(build, invoker):
    event = load("runner-continue.json")
    campaign = build.campaign(
        4,
        campaign_id=event["campaignId"],
        status=CampaignStatus.RUNNING,
        last_processed=1,
        run_token=event["runToken"],
        pending_hop=event["hop"],  # as the hand-off that sent this event left it
    )

    result = app.lambda_handler(event, SimulatedContext("runner"))

    assert result == {"campaignId": campaign.id, "hop": 3, "result": "completed"}
    assert [d.contact_index for d in deliveries(campaign)] == [2, 3]


def test_a_short_time_budget_makes_the_handler_invoke_itself_by_its_own_name(build, invoker):
    event = load("runner.json")
    build.campaign(3, campaign_id=event["campaignId"])
    # With a budget below the hand-off margin the runner saves and re-invokes at once.
    result = app.lambda_handler(event, SimulatedContext("wcr-runner", timeout_ms=1))
    assert result["result"] == "handed_off"
    assert invoker.events[0]["campaignId"] == event["campaignId"] and invoker.events[0]["hop"] == 1


@pytest.mark.parametrize(
    "event", [{}, {"campaignId": ""}, {"campaignId": 5}, {"campaignId": "x", "hop": -1}, []]
)
def test_an_invalid_event_is_refused_without_raising(tables, event):
    assert app.lambda_handler(event, SimulatedContext("runner"))["result"] == "invalid_event"


def test_the_functions_dry_run_sender_keeps_nothing_across_warm_invocations(build, invoker):
    from campaigns.sending.factory import build_sender

    sender = build_sender()
    event = load("runner.json")
    build.campaign(3, campaign_id=event["campaignId"])
    app._sender = sender
    try:
        assert app.lambda_handler(event, SimulatedContext("runner"))["result"] == "completed"
    finally:
        app._sender = None
    assert sender.sent == []  # a warm Lambda or `make dev` must not grow per message
