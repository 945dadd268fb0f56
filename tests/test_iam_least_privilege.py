"""The template's least-privilege DynamoDB policies allow every call the functions make.

The local stack runs the same handler code as Lambda, each function on its own
threads (the API's request threads, the runner's workers, the schedule). This test
records every DynamoDB request with the function that made it while campaigns go
through their lives over HTTP, translates each into the IAM actions AWS checks
(a transaction item by item, an index query against the index's ARN), and checks
each against that function's role as the SAM transform builds it from
template.yaml. A new call a policy does not cover fails here, not in AWS."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import botocore.client
import pytest
from samtranslator.internal.managed_policies import get_bundled_managed_policy_map
from samtranslator.translator.transform import transform

from devstack.stack import RUNNER_FUNCTION_NAME
from devstack.tables import load_template, table_name_for
from tests import stack_fixtures
from tests.stack_fixtures import ApiClient

start_stack = stack_fixtures.start_stack

FUNCTIONS = ("ApiFunction", "RunnerFunction", "SchedulerFunction")
# A transaction's items are checked as the single-item actions they are.
TRANSACT_ITEM_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}

Call = tuple[str, str, str, bool]  # (function, IAM action, table name, on an index)


class BundledManagedPolicies:
    def load(self) -> dict[str, str]:
        return get_bundled_managed_policy_map("aws") or {}


def function_of(thread_name: str) -> str | None:
    if thread_name == "api":
        return "ApiFunction"
    if thread_name.startswith(f"{RUNNER_FUNCTION_NAME}-"):
        return "RunnerFunction"
    if thread_name == "scheduler":
        return "SchedulerFunction"
    return None  # the test itself, table creation


def iam_requests(operation: str, params: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(action, table, on an index) that AWS authorises for one DynamoDB request."""
    if operation == "TransactWriteItems":
        found = []
        for item in params["TransactItems"]:
            ((kind, body),) = item.items()
            found.append((TRANSACT_ITEM_ACTIONS[kind], body["TableName"], False))
        return found
    if operation == "TransactGetItems":
        return [("dynamodb:GetItem", item["Get"]["TableName"], False) for item in params["TransactItems"]]
    if operation in ("BatchWriteItem", "BatchGetItem"):
        return [(f"dynamodb:{operation}", table, False) for table in params["RequestItems"]]
    return [(f"dynamodb:{operation}", params["TableName"], bool(params.get("IndexName")))]


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[Call]]:
    calls: set[Call] = set()
    original = botocore.client.BaseClient._make_api_call

    def recording(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        function = function_of(threading.current_thread().name)
        if function and self.meta.service_model.service_name == "dynamodb":
            for action, table, on_index in iam_requests(operation_name, api_params):
                calls.add((function, action, table, on_index))
        return original(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recording)
    yield calls


def allowed(transformed: dict[str, Any], function: str) -> set[tuple[str, str, bool]]:
    """(action, table logical id, on an index) that the function's role allows."""
    role = transformed["Resources"][f"{function}Role"]["Properties"]
    grants = set()
    for policy in role.get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            if statement.get("Effect") != "Allow":
                continue
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            for resource in resources:
                if "Fn::GetAtt" in resource and resource["Fn::GetAtt"][1] == "Arn":
                    target = (resource["Fn::GetAtt"][0], False)
                elif "Fn::Sub" in resource and isinstance(resource["Fn::Sub"], str):
                    text = resource["Fn::Sub"]
                    if not (text.startswith("${") and text.endswith(".Arn}/index/*")):
                        continue
                    target = (text[2 : text.index(".Arn}")], True)
                else:
                    continue
                grants.update((action, *target) for action in actions if action.startswith("dynamodb:"))
    return grants


@pytest.fixture(scope="module")
def transformed() -> dict[str, Any]:
    template = load_template()
    for resource in template["Resources"].values():
        for uri in ("CodeUri", "ContentUri"):
            if uri in resource.get("Properties", {}):
                resource["Properties"][uri] = "s3://artifacts-bucket/code.zip"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        return transform(template, {}, BundledManagedPolicies())


def logical_tables() -> dict[str, str]:
    """{table name the stack uses: template logical id}, through the Globals' environment."""
    from campaigns import config

    tables = config.settings().tables
    variables = load_template()["Globals"]["Function"]["Environment"]["Variables"]
    return {
        table_name_for(name, tables): value["Ref"]
        for name, value in variables.items()
        if name.endswith("_TABLE") and isinstance(value, dict)
    }


def drive_campaigns(stack: Any) -> None:
    """Campaigns through their lives over HTTP: created, appended to, run to the end,
    paused and resumed, cancelled, listed with their deliveries."""
    alice = ApiClient(stack, "alice")
    alice.register_session("alice-phone")
    alice.ok("GET", "/whatsapp-sessions")
    listed = alice.contact_list(stack_fixtures.contacts(3, prefix="+1555070"))
    alice.ok(
        "POST", f"/contact-lists/{listed['id']}/contacts", {"contacts": [{"phoneNumber": "+15550709999"}]}
    )
    alice.ok("GET", "/contact-lists")
    alice.ok("GET", f"/contact-lists/{listed['id']}")
    template = alice.template("Hello {Name}")
    alice.ok("GET", "/message-templates")
    media = alice.request(
        "POST",
        "/media-items",
        {"name": "Flyer", "storagePath": "https://example.com/f.jpg", "mimeType": "image/jpeg"},
    )
    alice.ok("GET", "/media-items")
    alice.ok("POST", "/opt-outs", {"phoneNumbers": ["+15550709990", "+15550709991"]})
    alice.ok("GET", "/opt-outs")
    assert alice.request("DELETE", "/opt-outs/%2B15550709991").status_code == 204
    extra = {"mediaLibraryItemId": media.json()["id"]} if media.status_code == 201 else {}

    done = alice.campaign(listed["id"], template["id"], name="Run to the end", **extra)
    assert alice.request("POST", f"/campaigns/{done['id']}/run").status_code == 202
    alice.wait_status(done["id"], {"Completed"})
    alice.deliveries(done["id"])

    paused = alice.campaign(listed["id"], template["id"], name="Paused", scheduledAt="2099-01-01T00:00:00Z")
    alice.ok("POST", f"/campaigns/{paused['id']}/pause")
    assert alice.request("POST", f"/campaigns/{paused['id']}/resume").status_code == 202
    alice.wait_status(paused["id"], {"Completed"})

    cancelled = alice.campaign(
        listed["id"], template["id"], name="Cancelled", scheduledAt="2099-01-01T00:00:00Z"
    )
    alice.ok("POST", f"/campaigns/{cancelled['id']}/cancel")
    alice.ok("GET", "/campaigns")
    alice.ok("GET", f"/campaigns/{cancelled['id']}")
    drive_library_actions(alice, done, [listed["id"], template["id"], extra.get("mediaLibraryItemId")])


def drive_library_actions(alice: ApiClient, done: dict[str, Any], library: list[str | None]) -> None:
    """A finished campaign exported, tested, retried and deleted; then its list, template and media."""
    from campaigns.data.models import Delivery  # the test's own write, not the API's

    assert alice.request("GET", f"/campaigns/{done['id']}/deliveries.csv").status_code == 200
    tested = alice.request("POST", f"/campaigns/{done['id']}/test", {"phoneNumber": "+15550709998"})
    assert tested.status_code == 202, tested.text
    Delivery(done["id"], 0).update(actions=[Delivery.status.set("Failed")])
    retried = alice.ok("POST", f"/campaigns/{done['id']}/retry", {"statuses": ["Failed"]}, 201)
    for campaign_id in (retried["id"], done["id"]):
        assert alice.request("DELETE", f"/campaigns/{campaign_id}").status_code == 204
    assert alice.request("DELETE", f"/contact-lists/{retried['contactListId']}").status_code == 204
    list_id, template_id, media_id = library
    assert alice.request("DELETE", f"/contact-lists/{list_id}").status_code == 204
    assert alice.request("DELETE", f"/message-templates/{template_id}").status_code == 204
    if media_id:
        assert alice.request("DELETE", f"/media-items/{media_id}").status_code == 204


def test_every_dynamodb_call_of_every_function_is_allowed_by_its_role(
    start_stack, recorded: set[Call], transformed: dict[str, Any]
) -> None:
    stack = start_stack(schedule_seconds=0.2)

    names = logical_tables()  # while the stack's environment (its table prefix) is set
    drive_campaigns(stack)
    stack.stop()

    made = {function: {call for call in recorded if call[0] == function} for function in FUNCTIONS}
    assert all(made.values()), {function: len(calls) for function, calls in made.items()}
    refused = sorted(
        (function, action, names.get(table, table), on_index)
        for function, action, table, on_index in recorded
        if (action, names.get(table, table), on_index) not in allowed(transformed, function)
    )
    assert refused == [], f"calls the deployed roles would refuse: {refused}"


def test_the_check_itself_refuses_what_a_role_does_not_grant(transformed: dict[str, Any]) -> None:
    api = allowed(transformed, "ApiFunction")
    runner = allowed(transformed, "RunnerFunction")

    assert ("dynamodb:Query", "CampaignsTable", True) in api
    assert ("dynamodb:PutItem", "DeliveriesTable", False) not in api
    assert ("dynamodb:DeleteItem", "DeliveriesTable", False) not in api
    assert ("dynamodb:PutItem", "DeliveriesTable", False) in runner
    assert ("dynamodb:UpdateItem", "ContactsTable", False) not in runner
    assert iam_requests(
        "TransactWriteItems",
        {"TransactItems": [{"Put": {"TableName": "d"}}, {"Update": {"TableName": "c"}}]},
    ) == [("dynamodb:PutItem", "d", False), ("dynamodb:UpdateItem", "c", False)]
