"""`make deploy`, `make delete`, `make user` and the dashboard's publication
(scripts/deploy.py, scripts/publish_web.py) against moto's S3, CloudFront,
CloudFormation and Cognito, with `sam` itself replaced by a recorder."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from devstack.tables import load_template

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import deploy  # noqa: E402
import publish_web  # noqa: E402

REGION = "eu-west-1"
STACK = "campaigns-test"
TABLE_OUTPUTS = {
    "CampaignsTableName": "campaigns-test-CampaignsTable-1",
    "DeliveriesTableName": "campaigns-test-D-2",
}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.session.Session]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield boto3.session.Session(region_name=REGION)


def create_distribution(session: boto3.session.Session) -> str:
    cloudfront = session.client("cloudfront", region_name="us-east-1")
    answer = cloudfront.create_distribution(
        DistributionConfig={
            "CallerReference": "test",
            "Comment": "dashboard",
            "Enabled": True,
            "Origins": {
                "Quantity": 1,
                "Items": [
                    {
                        "Id": "bucket",
                        "DomainName": "b.s3.amazonaws.com",
                        "S3OriginConfig": {"OriginAccessIdentity": ""},
                    }
                ],
            },
            "DefaultCacheBehavior": {"TargetOriginId": "bucket", "ViewerProtocolPolicy": "redirect-to-https"},
        }
    )
    return answer["Distribution"]["Id"]


def create_stack(
    session: boto3.session.Session, *, cognito: bool = True, extra: dict[str, str] | None = None
) -> str:
    """A CloudFormation stack (in moto) with the dashboard bucket and the outputs the real template declares.
    Returns the bucket's name."""
    distribution = create_distribution(session)
    outputs: dict[str, Any] = {
        "ApiUrl": "https://abc123.execute-api.eu-west-1.amazonaws.com/",
        "DashboardUrl": "https://d111111abcdef8.cloudfront.net/",
        "DashboardBucketName": {"Ref": "DashboardBucket"},
        "DashboardDistributionId": distribution,
        "AuthClientId": "client-123",
        "AuthAuthorizeUrl": "https://campaigns-x.auth.eu-west-1.amazoncognito.com/oauth2/authorize",
        "AuthTokenUrl": "https://campaigns-x.auth.eu-west-1.amazoncognito.com/oauth2/token",
        "AuthLogoutUrl": "https://campaigns-x.auth.eu-west-1.amazoncognito.com/logout",
        **TABLE_OUTPUTS,
        **(extra or {}),
    }
    if cognito:
        pool = session.client("cognito-idp").create_user_pool(PoolName="users", UsernameAttributes=["email"])
        outputs["UserPoolId"] = pool["UserPool"]["Id"]
    template = {
        "Resources": {"DashboardBucket": {"Type": "AWS::S3::Bucket"}},
        "Outputs": {name: {"Value": value} for name, value in outputs.items()},
    }
    cloudformation = session.client("cloudformation")
    cloudformation.create_stack(StackName=STACK, TemplateBody=json.dumps(template))
    found = publish_web.stack_outputs(cloudformation, STACK)
    return found["DashboardBucketName"]


def objects(session: boto3.session.Session, bucket: str) -> dict[str, dict[str, Any]]:
    s3 = session.client("s3")
    result = {}
    for key in publish_web.existing_keys(s3, bucket):
        head = s3.head_object(Bucket=bucket, Key=key)
        result[key] = {
            "type": head["ContentType"],
            "cache": head.get("CacheControl"),
            "size": head["ContentLength"],
        }
    return result


def invalidations(session: boto3.session.Session, outputs: dict[str, str]) -> list[dict[str, Any]]:
    cloudfront = session.client("cloudfront", region_name="us-east-1")
    listed = cloudfront.list_invalidations(DistributionId=outputs["DashboardDistributionId"])[
        "InvalidationList"
    ]
    return [
        cloudfront.get_invalidation(DistributionId=outputs["DashboardDistributionId"], Id=item["Id"])[
            "Invalidation"
        ]
        for item in listed.get("Items", [])
    ]


class Recorder:
    """Stands in for subprocess.run: records commands, answers like the real tools."""

    def __init__(self, *, python_dir: str | None = "/opt/python3.12/bin", engine_ok: bool = False) -> None:
        self.python_dir = python_dir
        self.engine_ok = engine_ok
        self.commands: list[list[str]] = []
        self.envs: list[dict[str, str] | None] = []

    def __call__(self, command: list[str], **kwargs: Any) -> subprocess.CompletedProcess:
        self.commands.append(list(command))
        self.envs.append(kwargs.get("env"))
        if command[:2] == ["bash", str(deploy.FIND_PYTHON)]:
            found = self.python_dir is not None
            return subprocess.CompletedProcess(
                command, 0 if found else 1, stdout=(self.python_dir or "") + "\n"
            )
        if command[1:] == ["info"]:
            return subprocess.CompletedProcess(command, 0 if self.engine_ok else 1, stdout="")
        return subprocess.CompletedProcess(command, 0, stdout="")

    def sam_calls(self) -> list[list[str]]:
        return [command[1:] for command in self.commands if command[0] == "sam"]


# ------------------------------------------------------------------ publish


def test_publish_uploads_the_page_with_its_config_and_invalidates(aws: boto3.session.Session) -> None:
    bucket = create_stack(aws)
    outputs = publish_web.stack_outputs(aws.client("cloudformation"), STACK)
    aws.client("s3").put_object(Bucket=bucket, Key="old-module.js", Body=b"stale")

    result = publish_web.publish(aws.client("s3"), aws.client("cloudfront", region_name="us-east-1"), outputs)

    stored = objects(aws, bucket)
    web = ROOT / "web"
    shipped = [p for p in web.rglob("*") if p.is_file() and "tests" not in p.relative_to(web).parts]
    page = {p.relative_to(web).as_posix() for p in shipped if p.suffix == ".js"}
    assets = {p.relative_to(web).as_posix() for p in shipped if p.suffix in (".css", ".svg", ".png", ".ico")}
    assert "views/campaigns.js" in page and "styles/base.css" in assets  # modules in folders too
    assert set(stored) == {"index.html", "config.json", *page, *assets}
    assert "old-module.js" not in stored and result.deleted == ["old-module.js"]
    assert not any(key.startswith("tests/") or key in ("package.json", "README.md") for key in stored)
    # ES modules only run when served as JavaScript
    assert {stored[key]["type"] for key in page} == {"text/javascript; charset=utf-8"}
    assert stored["index.html"]["type"] == "text/html; charset=utf-8"
    assert {stored[key]["type"] for key in assets if key.endswith(".css")} == {"text/css; charset=utf-8"}
    assert stored["index.html"]["cache"] == stored["config.json"]["cache"] == "no-cache"
    assert stored["index.html"]["size"] == (ROOT / "web" / "index.html").stat().st_size
    config = json.loads(aws.client("s3").get_object(Bucket=bucket, Key="config.json")["Body"].read())
    assert config == {
        "apiUrl": "https://abc123.execute-api.eu-west-1.amazonaws.com",
        "clientId": "client-123",
        "authorizeUrl": "https://campaigns-x.auth.eu-west-1.amazoncognito.com/oauth2/authorize",
        "tokenUrl": "https://campaigns-x.auth.eu-west-1.amazoncognito.com/oauth2/token",
        "logoutUrl": "https://campaigns-x.auth.eu-west-1.amazoncognito.com/logout",
    }
    assert "tokenPaste" not in config  # no token pasting on the deployed dashboard
    (invalidation,) = invalidations(aws, outputs)
    assert invalidation["Id"] == result.invalidation_id
    assert invalidation["InvalidationBatch"]["Paths"]["Items"] == ["/*"]
    assert result.uploaded[-1] == "index.html"  # the page last, after what it loads


def test_publishing_twice_replaces_the_files_and_invalidates_again(aws: boto3.session.Session) -> None:
    create_stack(aws)
    first = publish_web.publish_stack(STACK, REGION)
    second = publish_web.publish_stack(STACK, REGION)

    assert sorted(first.uploaded) == sorted(second.uploaded)
    assert second.deleted == []
    outputs = publish_web.stack_outputs(aws.client("cloudformation"), STACK)
    assert len(invalidations(aws, outputs)) == 2


def test_publish_refuses_a_stack_that_is_not_this_projects(aws: boto3.session.Session) -> None:
    template = {"Resources": {"B": {"Type": "AWS::S3::Bucket"}}, "Outputs": {"Other": {"Value": "x"}}}
    aws.client("cloudformation").create_stack(StackName="other", TemplateBody=json.dumps(template))

    with pytest.raises(publish_web.PublishError, match="DashboardBucketName"):
        publish_web.publish_stack("other", REGION)
    with pytest.raises(publish_web.PublishError, match="not found"):
        publish_web.publish_stack("missing", REGION)


def test_page_files_skip_tests_notes_and_a_stale_local_config(tmp_path: Path) -> None:
    for name in ("index.html", "app.js", "config.json", "package.json", "README.md", "tests/app.test.mjs"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")

    assert set(publish_web.page_files(tmp_path)) == {"index.html", "app.js"}
    (tmp_path / "index.html").unlink()
    with pytest.raises(publish_web.PublishError, match=r"no index\.html"):
        publish_web.page_files(tmp_path)


def test_the_template_declares_every_output_the_scripts_read() -> None:
    outputs = load_template()["Outputs"]
    read = {
        *publish_web.REQUIRED_OUTPUTS,
        "AuthClientId",
        "AuthAuthorizeUrl",
        "AuthTokenUrl",
        "AuthLogoutUrl",
    }

    assert read <= set(outputs)
    assert outputs["UserPoolId"]["Condition"] == "UseCognito"
    table_outputs = {name for name in outputs if name.endswith("TableName")}
    tables = [r for r in load_template()["Resources"].values() if r["Type"] == "AWS::DynamoDB::Table"]
    assert len(table_outputs) == len(tables)  # `make delete` lists every retained table from them


# ------------------------------------------------------------------- deploy


def write_samconfig(path: Path, region: str | None) -> Path:
    lines = [
        "version = 0.1",
        "[default.global.parameters]",
        f'stack_name = "{STACK}"',
        "[default.deploy.parameters]",
    ]
    if region:
        lines.append(f'region = "{region}"')
    path.write_text("\n".join(lines) + "\n")
    return path


def test_settings_come_from_samconfig_and_the_first_deploy_is_guided(tmp_path: Path) -> None:
    fresh = deploy.read_settings(write_samconfig(tmp_path / "a.toml", None), environ={})
    assert fresh == deploy.Settings(stack_name=STACK, region=None, first_deploy=True)

    saved = deploy.read_settings(
        write_samconfig(tmp_path / "b.toml", "eu-west-3"), environ={"AWS_REGION": "x"}
    )
    assert saved == deploy.Settings(stack_name=STACK, region="eu-west-3", first_deploy=False)

    from_env = deploy.read_settings(
        write_samconfig(tmp_path / "c.toml", None), environ={"AWS_REGION": "us-east-2"}
    )
    assert from_env.region == "us-east-2" and from_env.first_deploy


def test_the_repositorys_samconfig_names_the_stack_and_deploys_with_iam() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "samconfig.toml").read_text())["default"]
    assert config["global"]["parameters"]["stack_name"] == deploy.read_settings(environ={}).stack_name
    assert "CAPABILITY_IAM" in config["deploy"]["parameters"]["capabilities"]
    assert config["validate"]["parameters"]["lint"] is True


def test_build_uses_a_python_312_it_finds_and_the_layer_constraints() -> None:
    recorder = Recorder(python_dir="/opt/python3.12/bin")

    command, env, using = deploy.build_command("sam", environ={"PATH": "/usr/bin"}, run=recorder)

    assert command == ["sam", "build"]
    assert env["PATH"] == "/opt/python3.12/bin:/usr/bin"
    assert env["PIP_CONSTRAINT"] == str(ROOT / "layers" / "common" / "constraints.txt")
    assert using == "/opt/python3.12/bin/python3.12"


def test_build_falls_back_to_a_container_then_explains(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deploy.shutil, "which", lambda name: f"/usr/bin/{name}" if name == "docker" else None)

    command, _, using = deploy.build_command("sam", environ={}, run=Recorder(python_dir=None, engine_ok=True))
    assert command[:3] == ["sam", "build", "--use-container"]
    assert "CommonLayer.PIP_CONSTRAINT=/tmp/samcli/source/constraints.txt" in command
    assert "docker" in using

    with pytest.raises(deploy.DeployError, match=r"pyenv install 3\.12"):
        deploy.build_command("sam", environ={}, run=Recorder(python_dir=None, engine_ok=False))


def test_deploy_builds_deploys_guided_the_first_time_and_publishes(
    aws: boto3.session.Session,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bucket = create_stack(aws)
    monkeypatch.setattr(deploy, "SAMCONFIG", write_samconfig(tmp_path / "samconfig.toml", None))
    recorder = Recorder()

    deploy.deploy("sam", deploy.read_settings(), run=recorder, session_factory=lambda region: aws)

    assert recorder.sam_calls() == [["build"], ["deploy", "--guided"]]
    assert "config.json" in objects(aws, bucket)
    printed = capsys.readouterr().out
    assert "Dashboard: https://d111111abcdef8.cloudfront.net/" in printed
    assert "make user EMAIL=you@example.com" in printed
    assert "aws cognito-idp admin-create-user --user-pool-id eu-west-1_" in printed

    # Once samconfig.toml holds the answers, sam deploy runs without questions
    monkeypatch.setattr(deploy, "SAMCONFIG", write_samconfig(tmp_path / "samconfig.toml", REGION))
    again = Recorder()
    deploy.deploy("sam", deploy.read_settings(), run=again, session_factory=lambda region: aws)
    assert again.sam_calls() == [["build"], ["deploy"]]


def test_deploy_stops_when_sam_fails(aws: boto3.session.Session) -> None:
    class Failing(Recorder):
        def __call__(self, command: list[str], **kwargs: Any) -> subprocess.CompletedProcess:
            done = super().__call__(command, **kwargs)
            return subprocess.CompletedProcess(command, 1) if command[:2] == ["sam", "deploy"] else done

    settings = deploy.Settings(stack_name=STACK, region=REGION, first_deploy=False)
    with pytest.raises(deploy.DeployError, match="sam deploy failed"):
        deploy.deploy("sam", settings, run=Failing(), session_factory=lambda region: aws)


# ------------------------------------------------------------------- delete


def test_delete_empties_the_bucket_deletes_the_stack_and_names_what_is_kept(
    aws: boto3.session.Session,
) -> None:
    bucket = create_stack(aws)
    publish_web.publish_stack(STACK, REGION)
    recorder = Recorder()
    settings = deploy.Settings(stack_name=STACK, region=REGION, first_deploy=False)

    message = deploy.delete("sam", settings, run=recorder, session_factory=lambda region: aws)

    assert objects(aws, bucket) == {}
    assert recorder.sam_calls() == [["delete", "--stack-name", STACK, "--no-prompts", "--region", REGION]]
    pool = publish_web.stack_outputs(aws.client("cloudformation"), STACK)["UserPoolId"]
    for table in TABLE_OUTPUTS.values():
        assert f"DynamoDB table {table}" in message
        assert f"aws dynamodb delete-table --region {REGION} --table-name {table}" in message
    assert f"aws cognito-idp delete-user-pool --region {REGION} --user-pool-id {pool}" in message


def test_delete_without_a_stack_says_so(aws: boto3.session.Session) -> None:
    settings = deploy.Settings(stack_name="never-deployed", region=REGION, first_deploy=True)

    with pytest.raises(deploy.DeployError, match="nothing to delete"):
        deploy.delete("sam", settings, run=Recorder(), session_factory=lambda region: aws)


# --------------------------------------------------------------------- user


def test_user_is_invited_to_the_stacks_user_pool(aws: boto3.session.Session) -> None:
    create_stack(aws)
    settings = deploy.Settings(stack_name=STACK, region=REGION, first_deploy=False)

    message = deploy.invite_user(settings, "ana@example.com", session_factory=lambda region: aws)

    pool = publish_web.stack_outputs(aws.client("cloudformation"), STACK)["UserPoolId"]
    user = aws.client("cognito-idp").admin_get_user(UserPoolId=pool, Username="ana@example.com")
    attributes = {item["Name"]: item["Value"] for item in user["UserAttributes"]}
    assert attributes["email"] == "ana@example.com"
    assert attributes["email_verified"] == "true"
    assert user["UserStatus"] == "FORCE_CHANGE_PASSWORD"
    assert "https://d111111abcdef8.cloudfront.net/" in message
    with pytest.raises(deploy.DeployError, match="already has an account"):
        deploy.invite_user(settings, "ana@example.com", session_factory=lambda region: aws)
    with pytest.raises(deploy.DeployError, match="not an email address"):
        deploy.invite_user(settings, "ana", session_factory=lambda region: aws)


def test_user_with_another_identity_provider_is_refused(aws: boto3.session.Session) -> None:
    create_stack(aws, cognito=False)
    settings = deploy.Settings(stack_name=STACK, region=REGION, first_deploy=False)

    with pytest.raises(deploy.DeployError, match="another OpenID provider"):
        deploy.invite_user(settings, "ana@example.com", session_factory=lambda region: aws)
    assert "OpenID provider" in deploy.first_user_help({"DashboardUrl": "https://d/"}, REGION)
