"""template.yaml's identity, dashboard hosting and hardening: Cognito (or another
OpenID provider), the dashboard on a private bucket behind CloudFront with a real
Content-Security-Policy, a throttled and logged HTTP API, X-Ray that keeps no
payloads, least-privilege DynamoDB access, and log groups that exist before their
functions. Read from the template and from what the SAM transform makes of it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from samtranslator.internal.managed_policies import get_bundled_managed_policy_map
from samtranslator.translator.transform import transform

from devstack.tables import load_template

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ("ApiFunction", "RunnerFunction", "SchedulerFunction")
TABLES = (
    "CampaignsTable",
    "ContactListsTable",
    "ContactsTable",
    "MessageTemplatesTable",
    "MediaItemsTable",
    "DeliveriesTable",
    "WhatsAppSessionsTable",
    "WebhookEventsTable",
    "OptOutsTable",
)
WRITE_ACTIONS = {
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:PartiQLInsert",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
}
# Which tables each function writes, from what its code does (runner and scheduler
# record deliveries in the same transaction that moves the campaign).
WRITES = {
    "ApiFunction": {
        "CampaignsTable",
        "ContactListsTable",
        "ContactsTable",
        "MessageTemplatesTable",
        "MediaItemsTable",
        "WhatsAppSessionsTable",
        # WAHA's webhooks: each event once.
        "WebhookEventsTable",
        # A deleted campaign's deliveries, in batches; a delivery's ack (message.ack).
        "DeliveriesTable",
        # Opt-out lists: POST and DELETE /opt-outs, and keyword opt-outs from inbound messages.
        "OptOutsTable",
    },
    # The run's writes, its deliveries, and the WhatsApp number's send slot on its
    # session (per-number pacing and the daily limit).
    "RunnerFunction": {"CampaignsTable", "DeliveriesTable", "WhatsAppSessionsTable"},
    "SchedulerFunction": {"CampaignsTable", "DeliveriesTable"},
}


class BundledManagedPolicies:
    def load(self) -> dict[str, str]:
        return get_bundled_managed_policy_map("aws") or {}


@pytest.fixture(scope="module")
def source() -> dict[str, Any]:
    return load_template()


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


def resources(template: dict[str, Any], type_name: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in template["Resources"].items() if res["Type"] == type_name}


def refs(value: Any) -> set[str]:
    """Logical ids a piece of template refers to (Ref, GetAtt, and ${...} in Sub)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                found.add(inner[0] if isinstance(inner, list) else inner.split(".")[0])
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                found.update(name.split(".")[0] for name in re.findall(r"\$\{([^}!]+)\}", text))
            else:
                found |= refs(inner)
    elif isinstance(value, list):
        for item in value:
            found |= refs(item)
    return found


def role_statements(transformed: dict[str, Any], function: str) -> list[dict[str, Any]]:
    role = transformed["Resources"][f"{function}Role"]["Properties"]
    statements = []
    for policy in role.get("Policies", []):
        statements.extend(policy["PolicyDocument"]["Statement"])
    return statements


def actions(statement: dict[str, Any]) -> set[str]:
    action = statement.get("Action", [])
    return set(action if isinstance(action, list) else [action])


# ----------------------------------------------------------------- identity


def test_cognito_user_pool_signs_in_by_email_with_a_strong_password(source: dict[str, Any]) -> None:
    pool = source["Resources"]["UserPool"]
    properties = pool["Properties"]

    assert pool["Condition"] == "UseCognito"
    assert properties["UsernameAttributes"] == ["email"]
    assert properties["AutoVerifiedAttributes"] == ["email"]
    password = properties["Policies"]["PasswordPolicy"]
    assert password["MinimumLength"] >= 12
    assert all(
        password[rule]
        for rule in ("RequireLowercase", "RequireUppercase", "RequireNumbers", "RequireSymbols")
    )
    assert properties["MfaConfiguration"] == {"Ref": "Mfa"}
    assert set(source["Parameters"]["Mfa"]["AllowedValues"]) == {"OFF", "OPTIONAL", "ON"}
    # Self sign-up is off unless the parameter opens it
    assert source["Parameters"]["SelfSignUp"]["Default"] == "false"
    assert properties["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] == {
        "Fn::If": ["CognitoSelfSignUp", False, True]
    }


def test_dashboard_client_is_public_code_flow_back_to_the_dashboard_and_localhost(
    source: dict[str, Any],
) -> None:
    client = source["Resources"]["UserPoolClient"]["Properties"]

    assert client["GenerateSecret"] is False
    assert client["AllowedOAuthFlows"] == ["code"]
    assert client["AllowedOAuthFlowsUserPoolClient"] is True
    assert "openid" in client["AllowedOAuthScopes"]
    dashboard = {"Fn::Sub": "https://${DashboardDistribution.DomainName}/"}
    local = {
        "Fn::If": ["HasLocalDashboard", {"Fn::Sub": "${LocalDashboardOrigin}/"}, {"Ref": "AWS::NoValue"}]
    }
    assert client["CallbackURLs"] == client["LogoutURLs"] == [dashboard, local]
    assert source["Parameters"]["LocalDashboardOrigin"]["Default"] == "http://127.0.0.1:3000"
    assert "ALLOW_USER_PASSWORD_AUTH" not in client["ExplicitAuthFlows"]
    assert source["Resources"]["UserPoolDomain"]["Condition"] == "UseCognito"


def test_another_openid_provider_replaces_cognito_only_with_issuer_and_audience(
    source: dict[str, Any],
) -> None:
    conditions = source["Conditions"]

    assert conditions["UseExternalIdp"] == {
        "Fn::And": [
            {"Fn::Not": [{"Fn::Equals": [{"Ref": "JwtIssuer"}, ""]}]},
            {"Fn::Not": [{"Fn::Equals": [{"Ref": "JwtAudience"}, ""]}]},
        ]
    }
    assert conditions["UseCognito"] == {"Fn::Not": [{"Condition": "UseExternalIdp"}]}
    assert (
        source["Parameters"]["JwtIssuer"]["Default"] == source["Parameters"]["JwtAudience"]["Default"] == ""
    )
    cognito_only = {name for name, res in source["Resources"].items() if res.get("Condition") == "UseCognito"}
    assert cognito_only == {"UserPool", "UserPoolClient", "UserPoolDomain"}
    # ... and then its endpoints must be given too (the dashboard's config.json and the CSP need them)
    rule = source["Rules"]["ExternalProviderNamesItsEndpoints"]
    assert rule["RuleCondition"] == conditions["UseExternalIdp"]
    assert refs(rule["Assertions"]) == {"OidcAuthorizeUrl", "OidcTokenUrl"}
    for name in ("OidcAuthorizeUrl", "OidcTokenUrl", "OidcLogoutUrl"):
        pattern = re.compile(source["Parameters"][name]["AllowedPattern"])
        assert pattern.fullmatch("") and pattern.fullmatch("https://login.example.com/oauth2/token")
        assert not pattern.fullmatch("http://login.example.com/token")


# ---------------------------------------------------------------- dashboard


def test_dashboard_bucket_is_private_and_read_only_by_this_distribution(source: dict[str, Any]) -> None:
    bucket = source["Resources"]["DashboardBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]

    statements = source["Resources"]["DashboardBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (allow,) = [s for s in statements if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert allow["Action"] == "s3:GetObject"
    assert "DashboardDistribution" in refs(allow["Condition"]["StringEquals"]["AWS:SourceArn"])
    (deny,) = [s for s in statements if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_distribution_serves_only_https_through_origin_access_control(source: dict[str, Any]) -> None:
    config = source["Resources"]["DashboardDistribution"]["Properties"]["DistributionConfig"]
    (origin,) = config["Origins"]
    behaviour = config["DefaultCacheBehavior"]

    assert config["DefaultRootObject"] == "index.html"
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["DashboardOriginAccessControl", "Id"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    assert behaviour["ViewerProtocolPolicy"] in ("redirect-to-https", "https-only")
    assert behaviour["AllowedMethods"] == ["GET", "HEAD"]
    assert behaviour["ResponseHeadersPolicyId"] == {"Ref": "DashboardHeadersPolicy"}
    control = source["Resources"]["DashboardOriginAccessControl"]["Properties"]["OriginAccessControlConfig"]
    assert control["SigningBehavior"] == "always"


def csp_directives(source: dict[str, Any]) -> dict[str, str]:
    policy = source["Resources"]["DashboardHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]
    csp = policy["SecurityHeadersConfig"]["ContentSecurityPolicy"]
    assert csp["Override"] is True
    parts = csp["ContentSecurityPolicy"]["Fn::Join"][1]
    rendered = "".join(
        part
        if isinstance(part, str)
        else part["Fn::Sub"]
        if "Fn::Sub" in part
        else "{IDP}"
        if "Fn::If" in part
        else json.dumps(part)
        for part in parts
    )
    directives = {}
    for directive in rendered.split(";"):
        name, _, value = directive.strip().partition(" ")
        directives[name] = value.strip()
    return directives


def test_content_security_policy_allows_only_the_page_the_api_and_the_identity_provider(
    source: dict[str, Any],
) -> None:
    csp = csp_directives(source)

    assert csp["default-src"] == "'self'"
    assert csp["script-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'"
    assert csp["object-src"] == "'none'"
    assert csp["base-uri"] == "'none'"
    assert csp["connect-src"].split() == [
        "'self'",
        "https://*.execute-api.${AWS::Region}.${AWS::URLSuffix}",
        "{IDP}",
    ]
    assert "*" not in csp["default-src"] + csp["script-src"] + csp["style-src"]
    (idp,) = [
        part
        for part in source["Resources"]["DashboardHeadersPolicy"]["Properties"][
            "ResponseHeadersPolicyConfig"
        ]["SecurityHeadersConfig"]["ContentSecurityPolicy"]["ContentSecurityPolicy"]["Fn::Join"][1]
        if isinstance(part, dict) and "Fn::If" in part
    ]
    condition, cognito, other = idp["Fn::If"]
    assert condition == "UseCognito"
    assert cognito == {"Fn::Sub": "https://${UserPoolDomain}.auth.${AWS::Region}.amazoncognito.com"}
    assert "OidcTokenUrl" in refs(other)


def test_response_headers_add_hsts_nosniff_and_no_framing(source: dict[str, Any]) -> None:
    headers = source["Resources"]["DashboardHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"][
        "SecurityHeadersConfig"
    ]

    hsts = headers["StrictTransportSecurity"]
    assert hsts["Override"] is True and hsts["AccessControlMaxAgeSec"] >= 31536000
    assert headers["ContentTypeOptions"]["Override"] is True
    assert headers["FrameOptions"]["FrameOption"] == "DENY"
    assert headers["ReferrerPolicy"]["ReferrerPolicy"] == "no-referrer"


def test_cors_and_the_jwt_authorizer_follow_the_distribution_and_cognito_by_default(
    source: dict[str, Any],
) -> None:
    api = source["Resources"]["HttpApi"]["Properties"]
    origins = api["CorsConfiguration"]["AllowOrigins"]

    assert origins[0]["Fn::If"][0] == "HasFrontendOrigin"
    assert origins[0]["Fn::If"][2] == {"Fn::Sub": "https://${DashboardDistribution.DomainName}"}
    assert source["Parameters"]["FrontendOrigin"]["Default"] == ""
    jwt = api["Auth"]["Authorizers"]["JwtAuthorizer"]["JwtConfiguration"]
    assert refs(jwt["issuer"]) >= {"UserPool", "JwtIssuer"}
    assert refs(jwt["audience"]) == {"UserPoolClient", "JwtAudience"}


# --------------------------------------------------------------------- API


def test_http_api_is_throttled_and_writes_json_access_logs(
    source: dict[str, Any], transformed: dict[str, Any]
) -> None:
    (stage,) = resources(transformed, "AWS::ApiGatewayV2::Stage").values()
    settings = stage["Properties"]

    assert settings["DefaultRouteSettings"] == {
        "ThrottlingRateLimit": {"Ref": "ApiThrottlingRateLimit"},
        "ThrottlingBurstLimit": {"Ref": "ApiThrottlingBurstLimit"},
    }
    for parameter in ("ApiThrottlingRateLimit", "ApiThrottlingBurstLimit"):
        assert source["Parameters"][parameter]["Type"] == "Number"
        assert source["Parameters"][parameter]["MinValue"] >= 1
    logs = settings["AccessLogSettings"]
    assert logs["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    line = json.loads(logs["Format"])
    assert {"requestId", "status", "routeKey", "user"} <= set(line)
    # No path or query in the logs: they can carry phone numbers
    assert "$context.path" not in logs["Format"] and "querystring" not in logs["Format"].lower()
    assert source["Resources"]["ApiAccessLogGroup"]["Properties"]["RetentionInDays"] == {
        "Ref": "LogRetentionDays"
    }


# ------------------------------------------------------------------ tracing


def test_tracer_keeps_no_responses_or_errors_and_patches_only_what_each_function_calls(
    transformed: dict[str, Any],
) -> None:
    patched = {
        "ApiFunction": "botocore,requests",
        "RunnerFunction": "botocore,requests",
        "SchedulerFunction": "botocore",
    }
    for name in FUNCTIONS:
        variables = transformed["Resources"][name]["Properties"]["Environment"]["Variables"]
        assert variables["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false", name
        assert variables["POWERTOOLS_TRACER_CAPTURE_ERROR"] == "false", name
        assert variables["TRACER_PATCH_MODULES"] == patched[name], name


def test_observability_patches_the_modules_it_is_told() -> None:
    # A fresh interpreter: the Powertools singletons are made once, at import.
    probe = "from campaigns import observability; print(','.join(observability.PATCH_MODULES))"
    env = {
        **os.environ,
        "TRACER_PATCH_MODULES": " botocore , requests,",
        "PYTHONPATH": str(ROOT / "layers" / "common"),
    }

    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=False)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "botocore,requests"


# ----------------------------------------------------------------- DynamoDB


def table_of(resource: Any) -> str | None:
    names = refs(resource) & set(TABLES)
    assert len(names) <= 1, resource
    return next(iter(names), None)


def test_no_function_has_crud_on_every_table(source: dict[str, Any]) -> None:
    for name in FUNCTIONS:
        policies = json.dumps(source["Resources"][name]["Properties"]["Policies"])
        assert "DynamoDBCrudPolicy" not in policies, name
        assert "dynamodb:*" not in policies, name
        assert "dynamodb:Scan" not in policies, name


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_writes_only_the_tables_it_writes(transformed: dict[str, Any], function: str) -> None:
    written: set[str] = set()
    read: set[str] = set()
    for statement in role_statements(transformed, function):
        dynamodb = {a for a in actions(statement) if a.startswith("dynamodb:")}
        if not dynamodb:
            continue
        assert statement["Effect"] == "Allow"
        resources_ = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        for resource in resources_:
            table = table_of(resource)
            assert table, f"{function}: DynamoDB actions on something that is not a table: {resource}"
            read.add(table)
            if dynamodb & WRITE_ACTIONS:
                written.add(table)

    assert written == WRITES[function]
    if function == "ApiFunction":
        assert read == set(TABLES)  # the API reads every table


def test_the_api_deletes_only_for_its_delete_routes_and_the_runner_never_edits_the_library(
    transformed: dict[str, Any],
) -> None:
    deletes: dict[str, set[str]] = {}
    for statement in role_statements(transformed, "ApiFunction"):
        found = actions(statement) & {"dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
        resources = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        for action in found:
            deletes.setdefault(action, set()).update(table_of(r) for r in resources)
    # DELETE of a campaign, list, template or media item; contacts and deliveries in batches,
    # never one by one (a delivery goes only with its campaign).
    library = {"CampaignsTable", "ContactListsTable", "MessageTemplatesTable", "MediaItemsTable"}
    assert library <= deletes["dynamodb:DeleteItem"]
    assert not {"DeliveriesTable", "ContactsTable", "WhatsAppSessionsTable"} & deletes["dynamodb:DeleteItem"]
    assert {"ContactsTable", "DeliveriesTable"} <= deletes["dynamodb:BatchWriteItem"]
    for statement in role_statements(transformed, "RunnerFunction"):
        for resource in (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        ):
            if table_of(resource) in {"ContactListsTable", "ContactsTable", "MessageTemplatesTable"}:
                assert actions(statement) <= {"dynamodb:GetItem", "dynamodb:Query"}


# --------------------------------------------------------------------- logs


def test_log_groups_exist_before_their_functions(source: dict[str, Any]) -> None:
    for name in FUNCTIONS:
        properties = source["Resources"][name]["Properties"]
        group = properties["LoggingConfig"]["LogGroup"]
        assert group == {"Ref": f"{name}LogGroup"}, name
        log_group = source["Resources"][f"{name}LogGroup"]["Properties"]
        # Named from the stack, not the function: no reference back, so the group comes first.
        assert name not in refs(log_group["LogGroupName"]), name
        assert log_group["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_outputs_give_the_publisher_and_the_dashboard_what_they_need(source: dict[str, Any]) -> None:
    outputs = source["Outputs"]

    assert refs(outputs["DashboardBucketName"]["Value"]) == {"DashboardBucket"}
    assert refs(outputs["DashboardDistributionId"]["Value"]) == {"DashboardDistribution"}
    assert outputs["AuthTokenUrl"]["Value"]["Fn::If"][1] == {
        "Fn::Sub": "https://${UserPoolDomain}.auth.${AWS::Region}.amazoncognito.com/oauth2/token"
    }
    assert outputs["AuthClientId"]["Value"] == {
        "Fn::If": ["UseCognito", {"Ref": "UserPoolClient"}, {"Ref": "JwtAudience"}]
    }
