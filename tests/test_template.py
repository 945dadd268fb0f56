"""template.yaml: it lints clean, transforms with the SAM translator, declares what
the runner needs to run safely, and describes exactly the tables the pynamodb models
use (and the local stack creates from it)."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from cfnlint.api import lint_file
from pynamodb.indexes import GlobalSecondaryIndex, Index
from pynamodb.models import Model
from samtranslator.internal.managed_policies import get_bundled_managed_policy_map
from samtranslator.translator.transform import transform

from campaigns import config
from campaigns.data import models
from campaigns.invoker import runner_event
from devstack.dynamodb import AtomicMotoServer
from devstack.tables import TEMPLATE_PATH, ensure_tables, load_template, table_definitions, table_name_for

ROOT = Path(__file__).resolve().parent.parent
EVENTS_DIR = ROOT / "events"
FRONTEND_ORIGIN = "https://campaigns.example.com"
RUNNER_NAME_SUB = "${AWS::StackName}-runner"
RUNNER_ARN_SUB = "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:" + RUNNER_NAME_SUB
TABLE_ENV_VARS = {
    "CAMPAIGNS_TABLE",
    "CONTACT_LISTS_TABLE",
    "CONTACTS_TABLE",
    "TEMPLATES_TABLE",
    "MEDIA_TABLE",
    "DELIVERIES_TABLE",
    "SESSIONS_TABLE",
    "WEBHOOK_EVENTS_TABLE",
    "OPTOUTS_TABLE",
}
# Which environment variable names each model's table (as configure_models does).
MODEL_ENV_VARS: dict[type[Model], str] = {
    models.Campaign: "CAMPAIGNS_TABLE",
    models.ContactList: "CONTACT_LISTS_TABLE",
    models.Contact: "CONTACTS_TABLE",
    models.MessageTemplate: "TEMPLATES_TABLE",
    models.MediaLibraryItem: "MEDIA_TABLE",
    models.Delivery: "DELIVERIES_TABLE",
    models.WhatsAppSession: "SESSIONS_TABLE",
    models.WebhookEvent: "WEBHOOK_EVENTS_TABLE",
    models.OptOut: "OPTOUTS_TABLE",
}


# ---------------------------------------------------------------- helpers


class BundledManagedPolicies:
    """The managed-policy map shipped with the translator: no IAM call needed."""

    def load(self) -> dict[str, str]:
        return get_bundled_managed_policy_map("aws") or {}


def referenced_names(value: Any) -> set[str]:
    """Logical ids and parameters a piece of template refers to (Ref, GetAtt, Sub)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                target = inner[0] if isinstance(inner, list) else str(inner).split(".")[0]
                found.add(target)
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                found.update(name.split(".")[0] for name in re.findall(r"\$\{([^}!]+)\}", text))
                if isinstance(inner, list):
                    found.update(referenced_names(inner[1]))
            else:
                found.update(referenced_names(inner))
    elif isinstance(value, list):
        for inner in value:
            found.update(referenced_names(inner))
    return found


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        statement
        for policy in role["Properties"].get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
    ]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def resources_of_type(template: dict[str, Any], type_name: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in template["Resources"].items() if res["Type"] == type_name}


@pytest.fixture(scope="module")
def source() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def transformed() -> dict[str, Any]:
    """The template as CloudFormation sees it after `sam package` and the SAM transform."""
    template = load_template()
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        for uri in ("CodeUri", "ContentUri"):
            if uri in properties:  # what `sam package` does with local paths
                properties[uri] = "s3://artifacts-bucket/code.zip"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        parameters = {
            "JwtIssuer": "https://issuer.example.com",
            "JwtAudience": "web-client",
            "FrontendOrigin": FRONTEND_ORIGIN,
        }
        return transform(template, parameters, BundledManagedPolicies())


# ---------------------------------------------------------- lint and transform


def test_cfn_lint_reports_nothing() -> None:
    config_args = {"include_checks": ["I"], "regions": ["us-east-1", "eu-west-1"]}
    matches = lint_file(TEMPLATE_PATH, config=config_args)

    assert [str(match) for match in matches] == []


def test_sam_transform_produces_the_stack(transformed: dict[str, Any]) -> None:
    assert "Transform" not in transformed
    functions = resources_of_type(transformed, "AWS::Lambda::Function")
    assert set(functions) == {"ApiFunction", "RunnerFunction", "SchedulerFunction"}
    assert resources_of_type(transformed, "AWS::Lambda::LayerVersion")
    assert len(resources_of_type(transformed, "AWS::DynamoDB::Table")) == len(models.ALL_MODELS)
    assert resources_of_type(transformed, "AWS::ApiGatewayV2::Api").keys() == {"HttpApi"}


# ------------------------------------------------------------------- functions


def test_every_function_runs_python_312_or_newer_on_arm64_with_the_layer(
    transformed: dict[str, Any],
) -> None:
    layer_id = next(iter(resources_of_type(transformed, "AWS::Lambda::LayerVersion")))
    for name, function in resources_of_type(transformed, "AWS::Lambda::Function").items():
        properties = function["Properties"]
        runtime = properties["Runtime"]
        assert re.fullmatch(r"python3\.(\d+)", runtime) and int(runtime.split(".")[1]) >= 12, name
        assert properties["Architectures"] == ["arm64"], name
        assert properties["TracingConfig"] == {"Mode": "Active"}, name
        assert properties["Layers"] == [{"Ref": layer_id}], name


def test_layer_is_built_from_the_common_folder(source: dict[str, Any]) -> None:
    layer = source["Resources"]["CommonLayer"]

    assert layer["Properties"]["ContentUri"].rstrip("/") == "layers/common"
    assert layer["Metadata"]["BuildMethod"].startswith("python3.")
    assert (ROOT / "layers/common/requirements.txt").is_file()
    assert not (ROOT / "layers/common/python").exists()


def test_every_function_gets_the_environment_config_reads(transformed: dict[str, Any]) -> None:
    for name, function in resources_of_type(transformed, "AWS::Lambda::Function").items():
        variables = function["Properties"]["Environment"]["Variables"]
        for variable in (
            "POWERTOOLS_SERVICE_NAME",
            "POWERTOOLS_LOG_LEVEL",
            "POWERTOOLS_METRICS_NAMESPACE",
            "RUNNER_FUNCTION_NAME",
            "WAHA_BASE_URL",
            "WAHA_API_KEY_PARAMETER",
            "CHUNK_SIZE",
            "HANDOFF_MARGIN_MS",
            "RUN_LEASE_SECONDS",
            "MAX_NO_PROGRESS_INVOCATIONS",
            *TABLE_ENV_VARS,
        ):
            assert variable in variables, f"{name} lacks {variable}"
        assert variables["RUNNER_FUNCTION_NAME"] == {"Fn::Sub": RUNNER_NAME_SUB}


def test_table_environment_variables_are_the_ones_config_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in TABLE_ENV_VARS:
        monkeypatch.setenv(variable, f"deployed-{variable}")

    tables = config.Settings.from_env().tables

    assert set(table_definitions()) == TABLE_ENV_VARS
    for variable in TABLE_ENV_VARS:
        assert table_name_for(variable, tables) == f"deployed-{variable}"
    assert {f.name for f in dataclasses.fields(tables)} == {
        variable.removesuffix("_TABLE").lower() for variable in TABLE_ENV_VARS
    }


def test_runner_parameter_defaults_match_the_settings_defaults(
    source: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("CHUNK_SIZE", "HANDOFF_MARGIN_MS", "RUN_LEASE_SECONDS", "MAX_NO_PROGRESS_INVOCATIONS"):
        monkeypatch.delenv(variable, raising=False)
    defaults = config.Settings.from_env()
    parameters = source["Parameters"]

    assert int(parameters["ChunkSize"]["Default"]) == defaults.chunk_size == 25
    assert int(parameters["HandoffMarginMs"]["Default"]) == defaults.handoff_margin_ms == 20_000
    assert int(parameters["RunLeaseSeconds"]["Default"]) == defaults.lease_seconds == 120
    assert int(parameters["MaxNoProgressInvocations"]["Default"]) == defaults.max_no_progress_invocations == 5


# ---------------------------------------------------------------------- runner


def test_runner_may_invoke_itself_behind_guards(transformed: dict[str, Any]) -> None:
    runner = transformed["Resources"]["RunnerFunction"]["Properties"]

    assert runner["FunctionName"] == {"Fn::Sub": RUNNER_NAME_SUB}
    assert runner["RecursiveLoop"] == "Allow"
    assert runner["ReservedConcurrentExecutions"] == {"Ref": "RunnerReservedConcurrency"}
    assert runner["Timeout"] == 900


def test_runner_continuations_wait_in_an_encrypted_queue_with_a_dead_letter_queue(
    transformed: dict[str, Any],
) -> None:
    resources = transformed["Resources"]
    runner = resources["RunnerFunction"]["Properties"]
    queue = resources["ContinuationQueue"]["Properties"]
    dead = resources["ContinuationDeadLetterQueue"]["Properties"]

    assert runner["Environment"]["Variables"]["CONTINUATIONS_QUEUE_URL"] == {"Ref": "ContinuationQueue"}
    assert int(runner["Environment"]["Variables"]["RUNNER_TIMEOUT_MS"]) == runner["Timeout"] * 1000
    assert queue["SqsManagedSseEnabled"] is True and dead["SqsManagedSseEnabled"] is True
    assert queue["VisibilityTimeout"] > runner["Timeout"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["ContinuationDeadLetterQueue", "Arn"]
    }
    (mapping,) = [
        m["Properties"]
        for m in resources_of_type(transformed, "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["EventSourceArn"] == {"Fn::GetAtt": ["ContinuationQueue", "Arn"]}
    ]
    assert mapping["FunctionName"] == {"Ref": "RunnerFunction"} and mapping["BatchSize"] == 1
    alarm = resources["ContinuationDeadLetterAlarm"]["Properties"]
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["ContinuationDeadLetterQueue", "QueueName"]}


def test_runner_async_failures_go_to_an_encrypted_queue_after_at_most_one_retry(
    transformed: dict[str, Any],
) -> None:
    resources = transformed["Resources"]
    configs = [
        res["Properties"]
        for res in resources_of_type(transformed, "AWS::Lambda::EventInvokeConfig").values()
        if res["Properties"]["FunctionName"] == {"Ref": "RunnerFunction"}
    ]
    assert len(configs) == 1
    invoke_config = configs[0]

    assert invoke_config["MaximumRetryAttempts"] in (0, 1)
    assert 60 <= invoke_config["MaximumEventAgeInSeconds"] <= 21600
    destination = invoke_config["DestinationConfig"]["OnFailure"]["Destination"]
    assert destination == {"Fn::GetAtt": ["RunnerFailureQueue", "Arn"]}
    queue = resources["RunnerFailureQueue"]
    assert queue["Type"] == "AWS::SQS::Queue"
    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    sends = [
        s
        for s in statements(resources["RunnerFunctionRole"])
        if "sqs:SendMessage" in as_list(s["Action"]) and s["Resource"] == destination
    ]
    assert sends


def test_runner_does_not_refer_to_itself(transformed: dict[str, Any]) -> None:
    resources = transformed["Resources"]

    assert "RunnerFunction" not in referenced_names(resources["RunnerFunction"]["Properties"])
    assert "RunnerFunction" not in referenced_names(resources["RunnerFunctionRole"]["Properties"])


@pytest.mark.parametrize("role", ["RunnerFunctionRole", "ApiFunctionRole", "SchedulerFunctionRole"])
def test_function_may_invoke_the_runner_by_its_fixed_name(transformed: dict[str, Any], role: str) -> None:
    invokes = [
        s
        for s in statements(transformed["Resources"][role])
        if "lambda:InvokeFunction" in as_list(s["Action"])
    ]

    resources = [r for s in invokes for r in as_list(s["Resource"])]
    assert {"Fn::Sub": RUNNER_ARN_SUB} in resources


def test_waha_api_key_is_readable_by_api_and_runner_when_configured(
    source: dict[str, Any], transformed: dict[str, Any]
) -> None:
    policy = source["Resources"]["WahaApiKeyReadPolicy"]
    assert policy["Condition"] == "HasWahaApiKeyParameter"
    document = json.dumps(policy["Properties"]["PolicyDocument"])
    for action in ("secretsmanager:GetSecretValue", "ssm:GetParameter", "kms:Decrypt"):
        assert action in document

    for role in ("ApiFunctionRole", "RunnerFunctionRole"):
        arns = transformed["Resources"][role]["Properties"]["ManagedPolicyArns"]
        assert {
            "Fn::If": ["HasWahaApiKeyParameter", {"Ref": "WahaApiKeyReadPolicy"}, {"Ref": "AWS::NoValue"}]
        } in arns


# ------------------------------------------------------------------------- API


def test_http_api_uses_a_jwt_authorizer_from_cognito_or_the_parameters(transformed: dict[str, Any]) -> None:
    body = transformed["Resources"]["HttpApi"]["Properties"]["Body"]
    schemes = body["components"]["securitySchemes"]

    authorizer = schemes["JwtAuthorizer"]["x-amazon-apigateway-authorizer"]
    assert authorizer["type"] == "jwt"
    assert authorizer["identitySource"] == "$request.header.Authorization"
    assert authorizer["jwtConfiguration"] == {
        "issuer": {
            "Fn::If": [
                "UseCognito",
                {"Fn::Sub": "https://cognito-idp.${AWS::Region}.${AWS::URLSuffix}/${UserPool}"},
                {"Ref": "JwtIssuer"},
            ]
        },
        "audience": [{"Fn::If": ["UseCognito", {"Ref": "UserPoolClient"}, {"Ref": "JwtAudience"}]}],
    }


def test_http_api_routes_are_open_only_for_health_and_openapi(transformed: dict[str, Any]) -> None:
    paths = transformed["Resources"]["HttpApi"]["Properties"]["Body"]["paths"]

    def security(path: str, method: str) -> list[dict[str, Any]]:
        return paths[path][method]["security"]

    assert security("/health", "get") == [{"NONE": []}]
    assert security("/openapi.json", "get") == [{"NONE": []}]
    assert security("/{proxy+}", "get") == [{"JwtAuthorizer": []}]
    assert security("/{proxy+}", "post") == [{"JwtAuthorizer": []}]
    # No route may catch the CORS preflight: API Gateway answers it without a token.
    assert all("options" not in methods for methods in paths.values())
    assert all("x-amazon-apigateway-any-method" not in methods for methods in paths.values())
    for methods in paths.values():
        for operation in methods.values():
            assert operation["x-amazon-apigateway-integration"]["payloadFormatVersion"] == "2.0"


def test_http_api_allows_the_frontend_origin_parameter(
    source: dict[str, Any], transformed: dict[str, Any]
) -> None:
    declared = source["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"]
    cors = transformed["Resources"]["HttpApi"]["Properties"]["Body"]["x-amazon-apigateway-cors"]

    # FrontendOrigin when given, else the dashboard's distribution; and a developer's
    # dashboard on 127.0.0.1 unless LocalDashboardOrigin is empty.
    distribution = {"Fn::Sub": "https://${DashboardDistribution.DomainName}"}
    assert declared["AllowOrigins"] == [
        {"Fn::If": ["HasFrontendOrigin", {"Ref": "FrontendOrigin"}, distribution]},
        {"Fn::If": ["HasLocalDashboard", {"Ref": "LocalDashboardOrigin"}, {"Ref": "AWS::NoValue"}]},
    ]
    # The transform resolves the parameters into the API definition.
    assert cors["allowOrigins"] == [
        {"Fn::If": ["HasFrontendOrigin", FRONTEND_ORIGIN, distribution]},
        {"Fn::If": ["HasLocalDashboard", "http://127.0.0.1:3000", {"Ref": "AWS::NoValue"}]},
    ]
    assert {"GET", "POST", "OPTIONS"} <= set(cors["allowMethods"])
    assert {"authorization", "content-type"} <= {h.lower() for h in cors["allowHeaders"]}


# ------------------------------------------------------------------- scheduler


def test_scheduler_ticks_on_a_parameterised_schedule(
    source: dict[str, Any], transformed: dict[str, Any]
) -> None:
    rules = [
        rule["Properties"]
        for rule in resources_of_type(transformed, "AWS::Events::Rule").values()
        if rule["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": ["SchedulerFunction", "Arn"]}
    ]

    assert len(rules) == 1
    assert rules[0]["ScheduleExpression"] == {"Ref": "ScheduleExpression"}
    assert rules[0]["State"] == "ENABLED"
    assert source["Parameters"]["ScheduleExpression"]["Default"] == "rate(1 minute)"


# ---------------------------------------------------------------------- alarms


def test_alarms_watch_the_failure_queue_and_the_runner(transformed: dict[str, Any]) -> None:
    alarms = resources_of_type(transformed, "AWS::CloudWatch::Alarm").values()
    watched: dict[str, Any] = {}
    for alarm in alarms:
        properties = alarm["Properties"]
        metrics = [properties] + [
            m["MetricStat"]["Metric"] for m in properties.get("Metrics", []) if "MetricStat" in m
        ]
        for metric in metrics:
            if "MetricName" in metric:
                watched[metric["MetricName"]] = metric["Dimensions"][0]["Value"]
        assert properties["AlarmActions"]["Fn::If"][0] == "HasAlarmTopic"

    runner = {"Ref": "RunnerFunction"}
    assert watched["ApproximateNumberOfMessagesVisible"] == {
        "Fn::GetAtt": ["RunnerFailureQueue", "QueueName"]
    }
    assert watched["RecursiveInvocationsDropped"] == runner
    assert watched["Errors"] == runner
    assert watched["ConcurrentExecutions"] == runner


# ---------------------------------------------------------- tables and outputs


def test_tables_are_on_demand_recoverable_and_encrypted(source: dict[str, Any]) -> None:
    tables = resources_of_type(source, "AWS::DynamoDB::Table")

    assert len(tables) == len(models.ALL_MODELS)
    for name, table in tables.items():
        properties = table["Properties"]
        assert properties["BillingMode"] == "PAY_PER_REQUEST", name
        assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}, name
        assert properties["SSESpecification"] == {"SSEEnabled": True}, name


def test_outputs_name_the_api_the_tables_the_runner_and_its_queue(source: dict[str, Any]) -> None:
    outputs = source["Outputs"]
    output_refs = {name: output["Value"] for name, output in outputs.items()}

    assert "HttpApi" in referenced_names(output_refs["ApiUrl"])
    assert output_refs["RunnerFunctionName"] == {"Ref": "RunnerFunction"}
    assert output_refs["RunnerFailureQueueUrl"] == {"Ref": "RunnerFailureQueue"}
    for table in resources_of_type(source, "AWS::DynamoDB::Table"):
        assert {"Ref": table} in output_refs.values(), f"no output names {table}"


def _key_schema(attributes: dict[str, Any]) -> list[dict[str, str]]:
    schema = [{"AttributeName": a.attr_name, "KeyType": "HASH"} for a in attributes.values() if a.is_hash_key]
    schema += [
        {"AttributeName": a.attr_name, "KeyType": "RANGE"} for a in attributes.values() if a.is_range_key
    ]
    return schema


def _model_definition(model: type[Model]) -> dict[str, Any]:
    """The create_table arguments the model implies: keys, key attribute types, indexes."""
    attributes = model.get_attributes()
    key_types = {a.attr_name: a.attr_type for a in attributes.values() if a.is_hash_key or a.is_range_key}
    indexes: dict[str, list[dict[str, Any]]] = {}
    seen: set[str] = set()
    for name in dir(model):
        index = getattr(model, name, None)
        if not isinstance(index, Index) or index.Meta.index_name in seen:
            continue
        seen.add(index.Meta.index_name)
        index_attributes = index.Meta.attributes
        kind = (
            "GlobalSecondaryIndexes" if isinstance(index, GlobalSecondaryIndex) else "LocalSecondaryIndexes"
        )
        indexes.setdefault(kind, []).append(
            {
                "IndexName": index.Meta.index_name,
                "KeySchema": _key_schema(index_attributes),
                "Projection": {"ProjectionType": index.Meta.projection.projection_type},
            }
        )
        key_types.update(
            {a.attr_name: a.attr_type for a in index_attributes.values() if a.is_hash_key or a.is_range_key}
        )
    return {
        "KeySchema": _key_schema(attributes),
        "AttributeDefinitions": sorted(key_types.items()),
        **{kind: sorted(found, key=lambda i: i["IndexName"]) for kind, found in indexes.items()},
    }


def _comparable(definition: dict[str, Any]) -> dict[str, Any]:
    comparable: dict[str, Any] = {
        "KeySchema": definition["KeySchema"],
        "AttributeDefinitions": sorted(
            (a["AttributeName"], a["AttributeType"]) for a in definition["AttributeDefinitions"]
        ),
    }
    for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if definition.get(kind):
            comparable[kind] = sorted(
                (
                    {key: index[key] for key in ("IndexName", "KeySchema", "Projection")}
                    for index in definition[kind]
                ),
                key=lambda i: i["IndexName"],
            )
    return comparable


@pytest.mark.parametrize("model", models.ALL_MODELS, ids=lambda m: m.__name__)
def test_model_keys_and_indexes_match_the_template(model: type[Model]) -> None:
    definitions = table_definitions()

    assert _model_definition(model) == _comparable(definitions[MODEL_ENV_VARS[model]])


def test_every_model_has_exactly_one_template_table() -> None:
    assert set(MODEL_ENV_VARS) == set(models.ALL_MODELS)
    assert set(MODEL_ENV_VARS.values()) == set(table_definitions())


# ------------------------------------------------------ ensure_tables over HTTP


@pytest.fixture
def dynamodb_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A DynamoDB-compatible endpoint over real HTTP on 127.0.0.1, and a client for it."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    server = AtomicMotoServer()
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield boto3.client("dynamodb", endpoint_url=f"http://{host}:{port}", region_name="us-east-1")
    finally:
        server.stop()


@pytest.fixture
def local_settings() -> config.Settings:
    names = {f"{f.name}_table": f"template-test-{f.name}" for f in dataclasses.fields(config.TableNames)}
    return config.settings().model_copy(update=names)


def test_ensure_tables_creates_the_template_tables_and_keeps_existing_data(
    dynamodb_server: Any, local_settings: config.Settings
) -> None:
    client = dynamodb_server
    names = dataclasses.asdict(local_settings.tables)
    try:
        # Given no tables, ensure_tables creates all of them as the template declares
        created = ensure_tables(client, local_settings)

        assert sorted(created) == sorted(names.values())
        for variable, definition in table_definitions().items():
            table = client.describe_table(TableName=table_name_for(variable, local_settings.tables))["Table"]
            assert table["TableStatus"] == "ACTIVE"
            assert table["KeySchema"] == definition["KeySchema"]
            assert sorted(i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])) == sorted(
                i["IndexName"] for i in definition.get("GlobalSecondaryIndexes", [])
            )

        # When it runs again over a table holding data
        campaigns_table = local_settings.tables.campaigns
        client.put_item(TableName=campaigns_table, Item={"id": {"S": "c-1"}, "name": {"S": "Spring sale"}})
        created_again = ensure_tables(client, local_settings)

        # Then nothing is created and the data survives
        assert created_again == []
        item = client.get_item(TableName=campaigns_table, Key={"id": {"S": "c-1"}})["Item"]
        assert item["name"] == {"S": "Spring sale"}
    finally:
        existing = set(client.list_tables()["TableNames"])
        for name in names.values():
            if name in existing:
                client.delete_table(TableName=name)


def test_ensure_tables_creates_only_the_missing_ones(
    dynamodb_server: Any, local_settings: config.Settings
) -> None:
    client = dynamodb_server
    contacts = local_settings.tables.contacts
    client.create_table(TableName=contacts, **table_definitions()["CONTACTS_TABLE"])
    try:
        created = ensure_tables(client, local_settings)

        assert contacts not in created
        assert len(created) == len(models.ALL_MODELS) - 1
    finally:
        for name in dataclasses.asdict(local_settings.tables).values():
            client.delete_table(TableName=name)


# ---------------------------------------------------------------------- events


def _event_files() -> list[Path]:
    return sorted(EVENTS_DIR.glob("*.json"))


def test_sample_events_exist_for_the_runner_and_scheduler() -> None:
    names = {path.name for path in _event_files()}

    assert {"runner.json", "runner-continue.json", "scheduler.json"} <= names


@pytest.mark.parametrize("path", _event_files(), ids=lambda p: p.name)
def test_sample_event_is_a_real_event_shape(path: Path) -> None:
    event = json.loads(path.read_text(encoding="utf-8"))

    assert isinstance(event, dict)
    if path.name.startswith("runner"):
        assert set(event) <= {"campaignId", "runToken", "hop"}
        assert isinstance(event["campaignId"], str) and event["campaignId"]
        assert isinstance(event["hop"], int) and not isinstance(event["hop"], bool) and event["hop"] >= 0
        assert event == runner_event(event["campaignId"], event.get("runToken"), event["hop"])
    elif path.name.startswith("scheduler"):
        assert event["detail-type"] == "Scheduled Event"
        assert event["source"] == "aws.events"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", event["time"])
        assert all(arn.startswith("arn:aws:events:") for arn in event["resources"])
    elif "requestContext" in event:  # an HTTP API request, payload format 2.0
        assert event["version"] == "2.0"
        assert "http" in event["requestContext"]


def test_runner_continue_event_carries_a_run_token() -> None:
    event = json.loads((EVENTS_DIR / "runner-continue.json").read_text(encoding="utf-8"))

    assert event["runToken"] and event["hop"] > 0
