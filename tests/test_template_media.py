"""The template's part of media uploads: a private, encrypted media bucket that takes
uploads from the dashboard's origins only and keeps no abandoned upload parts; the API
may only sign upload forms (form uploads only) and list a file's own key (never read
one), the runner may
only read files, the scheduler nothing; and the opt-out footer's Parameter."""

from __future__ import annotations

from typing import Any

from campaigns import config
from tests.test_template_security import actions, refs, role_statements, source, transformed  # noqa: F401

MEDIA_OBJECTS = {"Fn::Sub": "${MediaBucket.Arn}/media/*"}


def managed_policy_statements(template: dict[str, Any], function: str) -> list[dict[str, Any]]:
    """The statements of the managed policies this stack defines and the function's role uses."""
    role = template["Resources"][f"{function}Role"]["Properties"]
    statements = []
    for arn in role.get("ManagedPolicyArns", []):
        for name in refs(arn):
            policy = template["Resources"].get(name, {})
            if policy.get("Type") == "AWS::IAM::ManagedPolicy":
                statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def media_grants(template: dict[str, Any], function: str) -> list[dict[str, Any]]:
    statements = role_statements(template, function) + managed_policy_statements(template, function)
    return [s for s in statements if "MediaBucket" in refs(s.get("Resource"))]


def test_the_media_bucket_is_private_encrypted_and_kept(source):  # noqa: F811
    resource = source["Resources"]["MediaBucket"]
    bucket = resource["Properties"]

    assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert bucket["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"], True
    )
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    (encryption,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled" and rule["AbortIncompleteMultipartUpload"] == {
        "DaysAfterInitiation": 1
    }
    assert "ExpirationInDays" not in rule  # a campaign's file stays as long as its item
    (https_only,) = source["Resources"]["MediaBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert (https_only["Effect"], https_only["Action"]) == ("Deny", "s3:*")
    assert https_only["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert refs(source["Outputs"]["MediaBucketName"]["Value"]) == {"MediaBucket"}


def test_only_the_dashboards_origins_may_post_files_from_a_browser(source):  # noqa: F811
    (rule,) = source["Resources"]["MediaBucket"]["Properties"]["CorsConfiguration"]["CorsRules"]

    assert rule["AllowedMethods"] == ["POST"]
    dashboard, local = rule["AllowedOrigins"]
    assert dashboard == {
        "Fn::If": [
            "HasFrontendOrigin",
            {"Ref": "FrontendOrigin"},
            {"Fn::Sub": "https://${DashboardDistribution.DomainName}"},
        ]
    }
    assert local == {
        "Fn::If": ["HasLocalDashboard", {"Ref": "LocalDashboardOrigin"}, {"Ref": "AWS::NoValue"}]
    }


def test_the_api_signs_upload_forms_lists_a_key_reads_for_test_sends_and_removes_deleted_files(
    transformed,  # noqa: F811
):
    grants = media_grants(transformed, "ApiFunction")

    assert {frozenset(actions(s)) for s in grants} == {
        frozenset({"s3:PutObject"}),
        frozenset({"s3:ListBucket"}),
        frozenset({"s3:GetObject"}),
        frozenset({"s3:DeleteObject"}),
    }
    for statement in grants:
        assert statement["Effect"] == "Allow"
        if actions(statement) == {"s3:PutObject"}:
            # Only as a browser's form upload signed by the API: never a write of its own
            assert statement["Resource"] == MEDIA_OBJECTS
            assert statement["Condition"] == {"StringEquals": {"s3:authType": "POST"}}
        elif actions(statement) & {"s3:GetObject", "s3:DeleteObject"}:
            assert statement["Resource"] == MEDIA_OBJECTS and "Condition" not in statement
        else:
            assert statement["Resource"] == {"Fn::GetAtt": ["MediaBucket", "Arn"]}
            assert statement["Condition"] == {"StringLike": {"s3:prefix": "media/*"}}
    variables = transformed["Resources"]["ApiFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["MEDIA_BUCKET"] == {"Ref": "MediaBucket"}


def test_the_runner_only_reads_files_and_the_scheduler_not_at_all(transformed):  # noqa: F811
    (read,) = media_grants(transformed, "RunnerFunction")

    assert (read["Effect"], actions(read), read["Resource"]) == ("Allow", {"s3:GetObject"}, MEDIA_OBJECTS)
    assert media_grants(transformed, "SchedulerFunction") == []
    variables = transformed["Resources"]["RunnerFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["MEDIA_BUCKET"] == {"Ref": "MediaBucket"}
    scheduler = transformed["Resources"]["SchedulerFunction"]["Properties"]["Environment"]["Variables"]
    assert "MEDIA_BUCKET" not in scheduler


def test_the_opt_out_footer_parameter_defaults_to_the_settings_default(source, monkeypatch):  # noqa: F811
    monkeypatch.delenv("OPT_OUT_FOOTER", raising=False)
    parameter = source["Parameters"]["OptOutFooter"]

    assert parameter["Default"] == config.Settings.from_env().opt_out_footer
    assert source["Globals"]["Function"]["Environment"]["Variables"]["OPT_OUT_FOOTER"] == {
        "Ref": "OptOutFooter"
    }
