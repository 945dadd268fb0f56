"""The template's part of DELETE, /docs and large CSV exports: a private exports bucket
whose objects expire, the API's least-privilege access to it, and the routes."""

from __future__ import annotations

from typing import Any

from tests.test_template_security import actions, refs, role_statements, source, transformed  # noqa: F401


def test_the_exports_bucket_is_private_encrypted_and_expires_its_objects(source):  # noqa: F811
    bucket = source["Resources"]["ExportsBucket"]["Properties"]

    assert bucket["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"], True
    )
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    assert (rule["Status"], rule["ExpirationInDays"]) == ("Enabled", 1)
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    (https_only,) = source["Resources"]["ExportsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert https_only["Effect"] == "Deny"
    assert https_only["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_only_the_api_reaches_the_bucket_and_only_its_objects(transformed):  # noqa: F811
    api = source_function(transformed, "ApiFunction")
    assert api["Environment"]["Variables"]["EXPORTS_BUCKET"] == {"Ref": "ExportsBucket"}
    s3: list[dict[str, Any]] = [
        s for s in role_statements(transformed, "ApiFunction") if any(a.startswith("s3:") for a in actions(s))
    ]
    (statement,) = s3
    assert actions(statement) == {"s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"}
    assert statement["Resource"] == {"Fn::Sub": "${ExportsBucket.Arn}/*"}
    for function in ("RunnerFunction", "SchedulerFunction"):
        for statement in role_statements(transformed, function):
            assert "ExportsBucket" not in refs(statement.get("Resource")), function


def test_docs_are_public_and_deletes_need_the_authorizer(transformed):  # noqa: F811
    paths = transformed["Resources"]["HttpApi"]["Properties"]["Body"]["paths"]

    assert paths["/docs"]["get"]["security"] == [{"NONE": []}]
    assert paths["/{proxy+}"]["delete"]["security"] == [{"JwtAuthorizer": []}]
    cors = transformed["Resources"]["HttpApi"]["Properties"]["Body"]["x-amazon-apigateway-cors"]
    assert "DELETE" in cors["allowMethods"]


def source_function(transformed: dict[str, Any], name: str) -> dict[str, Any]:  # noqa: F811
    return transformed["Resources"][name]["Properties"]
