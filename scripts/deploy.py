"""`make build`, `make deploy`, `make delete` and `make user`: the stack's whole life.

    python scripts/deploy.py build            # sam build with a Python 3.12 for the runtime
    python scripts/deploy.py deploy           # build, sam deploy, publish the dashboard
    python scripts/deploy.py delete           # empty the dashboard bucket, sam delete
    python scripts/deploy.py user EMAIL       # invite the first (or next) user to Cognito

The stack's name and region come from samconfig.toml (`sam deploy --guided` writes
the region there on the first deploy). `SAM` names the sam executable (the Makefile
points it at .venv-sam).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import publish_web

ROOT = Path(__file__).resolve().parent.parent
SAMCONFIG = ROOT / "samconfig.toml"
FIND_PYTHON = ROOT / "scripts" / "find_python312.sh"
CONSTRAINTS = ROOT / "layers" / "common" / "constraints.txt"
# Where `sam build --use-container` mounts the layer's folder.
CONTAINER_CONSTRAINTS = "CommonLayer.PIP_CONSTRAINT=/tmp/samcli/source/constraints.txt"
RUNTIME = "python3.12"
NO_PYTHON = f"""\
sam build needs {RUNTIME}, the functions' runtime, and none was found:
  - not python3.12 on PATH, nor a 3.12 under pyenv (pyenv install 3.12), and
  - no container engine answering (Docker or Finch) for `sam build --use-container`.
Install Python 3.12 (e.g. `pyenv install 3.12` or your system's python3.12 package)
and run `make deploy` again."""

Runner = Callable[..., subprocess.CompletedProcess]


class DeployError(Exception):
    pass


@dataclass(frozen=True)
class Settings:
    stack_name: str
    region: str | None
    first_deploy: bool


def read_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Stack name and region from samconfig.toml; the first deploy is the one before
    `sam deploy --guided` has saved a region there."""
    path = SAMCONFIG if path is None else path
    environ = os.environ if environ is None else environ
    config = tomllib.loads(path.read_text()) if path.exists() else {}
    default = config.get("default", {})
    merged: dict[str, Any] = {}
    for section in ("global", "deploy"):
        merged.update(default.get(section, {}).get("parameters", {}))
    saved_region = merged.get("region")
    region = saved_region or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    return Settings(
        stack_name=merged.get("stack_name") or "whatsapp-campaigns",
        region=region or None,
        first_deploy=not saved_region,
    )


def sam_executable(environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    sam = environ.get("SAM") or shutil.which("sam")
    if not sam:
        raise DeployError("the AWS SAM CLI is missing: `make deploy` installs it in .venv-sam (make sam)")
    return sam


# ------------------------------------------------------------------- build


def find_python312(run: Runner = subprocess.run) -> str | None:
    """The directory of a python3.12 (PATH or pyenv), from scripts/find_python312.sh."""
    done = run(["bash", str(FIND_PYTHON)], capture_output=True, text=True, check=False)
    directory = done.stdout.strip()
    return directory if done.returncode == 0 and directory else None


def container_engine(run: Runner = subprocess.run) -> str | None:
    """The first container engine that answers, for `sam build --use-container`."""
    for engine in ("docker", "finch"):
        if shutil.which(engine) is None:
            continue
        try:
            done = run([engine, "info"], capture_output=True, text=True, check=False, timeout=15)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return engine
    return None


def build_command(
    sam: str,
    environ: Mapping[str, str] | None = None,
    run: Runner = subprocess.run,
) -> tuple[list[str], dict[str, str], str]:
    """(command, environment, what it builds with) for `sam build`."""
    env = dict(os.environ if environ is None else environ)
    env.setdefault("SAM_CLI_TELEMETRY", "0")
    python_dir = find_python312(run)
    if python_dir:
        # sam looks for `python3.12` on PATH; pip honours PIP_CONSTRAINT, so the layer
        # gets exactly the versions of constraints.txt.
        env["PATH"] = os.pathsep.join([python_dir, env.get("PATH", "")])
        env["PIP_CONSTRAINT"] = str(CONSTRAINTS)
        return [sam, "build"], env, f"{python_dir}/python3.12"
    engine = container_engine(run)
    if engine:
        return (
            [sam, "build", "--use-container", "--container-env-var", CONTAINER_CONSTRAINTS],
            env,
            f"a {RUNTIME} build image ({engine})",
        )
    raise DeployError(NO_PYTHON)


def build(sam: str, run: Runner = subprocess.run) -> None:
    command, env, using = build_command(sam, run=run)
    print(f"Building with {using}: {' '.join(command[1:])}", flush=True)
    if run(command, cwd=ROOT, env=env, check=False).returncode != 0:
        raise DeployError("sam build failed (its output is above)")


# ------------------------------------------------------------------ deploy


def first_user_help(outputs: Mapping[str, str], region: str | None) -> str:
    pool = outputs.get("UserPoolId")
    if not pool:
        return (
            "Users sign in with your OpenID provider (JwtIssuer); add them there, and allow "
            f"{outputs.get('DashboardUrl', 'the dashboard URL')} as a callback and sign-out URL of its client."
        )
    where = f" --region {region}" if region else ""
    return (
        "Create the first user (Cognito emails a temporary password):\n"
        "  make user EMAIL=you@example.com\n"
        "or with the AWS CLI:\n"
        f"  aws cognito-idp admin-create-user --user-pool-id {pool}{where} \\\n"
        "    --username you@example.com --desired-delivery-mediums EMAIL \\\n"
        "    --user-attributes Name=email,Value=you@example.com Name=email_verified,Value=true"
    )


def deploy(sam: str, settings: Settings, run: Runner = subprocess.run, session_factory: Any = None) -> None:
    build(sam, run)
    command = [sam, "deploy"]
    if settings.first_deploy:
        print("First deploy: sam asks for the stack's settings and saves them in samconfig.toml.", flush=True)
        command.append("--guided")
    env = {**os.environ, "SAM_CLI_TELEMETRY": os.environ.get("SAM_CLI_TELEMETRY", "0")}
    if run(command, cwd=ROOT, env=env, check=False).returncode != 0:
        raise DeployError("sam deploy failed (its output is above)")
    settings = read_settings()  # the guided run may have chosen the name and region
    session = (session_factory or _session)(settings.region)
    outputs = publish_web.stack_outputs(session.client("cloudformation"), settings.stack_name)
    result = publish_web.publish(
        session.client("s3"), session.client("cloudfront", region_name="us-east-1"), outputs
    )
    print(
        f"\nDashboard published ({len(result.uploaded)} files, CloudFront invalidation {result.invalidation_id}).\n"
        f"  Dashboard: {result.dashboard_url}\n"
        f"  API:       {outputs['ApiUrl']}\n\n{first_user_help(outputs, settings.region)}\n"
    )


# ------------------------------------------------------------------ delete


def retained_help(outputs: Mapping[str, str], region: str | None) -> str:
    where = f" --region {region}" if region else ""
    tables = sorted(value for key, value in outputs.items() if key.endswith("TableName") and value)
    lines = [
        "Kept (DeletionPolicy: Retain), so no campaign, contact or delivery is lost by accident:",
        *(f"  DynamoDB table {table}" for table in tables),
    ]
    removal = [f"  aws dynamodb delete-table{where} --table-name {table}" for table in tables]
    if outputs.get("UserPoolId"):
        lines.append(f"  Cognito user pool {outputs['UserPoolId']} (the users)")
        removal.append(f"  aws cognito-idp delete-user-pool{where} --user-pool-id {outputs['UserPoolId']}")
    return "\n".join([*lines, "To remove them too:", *removal])


def delete(sam: str, settings: Settings, run: Runner = subprocess.run, session_factory: Any = None) -> str:
    session = (session_factory or _session)(settings.region)
    try:
        outputs = publish_web.stack_outputs(session.client("cloudformation"), settings.stack_name)
    except publish_web.PublishError as exc:
        raise DeployError(f"nothing to delete: {exc}") from exc
    removed = publish_web.empty_bucket(session.client("s3"), outputs["DashboardBucketName"])
    print(f"Emptied the dashboard bucket ({removed} files).", flush=True)
    command = [sam, "delete", "--stack-name", settings.stack_name, "--no-prompts"]
    if settings.region:
        command += ["--region", settings.region]
    if run(command, cwd=ROOT, check=False).returncode != 0:
        raise DeployError("sam delete failed (its output is above)")
    message = f"Stack {settings.stack_name} deleted.\n{retained_help(outputs, settings.region)}"
    print(message)
    return message


# -------------------------------------------------------------------- user


def invite_user(settings: Settings, email: str, session_factory: Any = None) -> str:
    if "@" not in email or email != email.strip():
        raise DeployError(f"{email!r} is not an email address: make user EMAIL=you@example.com")
    session = (session_factory or _session)(settings.region)
    outputs = publish_web.stack_outputs(session.client("cloudformation"), settings.stack_name)
    pool = outputs.get("UserPoolId")
    if not pool:
        raise DeployError(
            "this stack signs users in with another OpenID provider (JwtIssuer): add them there"
        )
    cognito = session.client("cognito-idp")
    try:
        cognito.admin_create_user(
            UserPoolId=pool,
            Username=email,
            UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
            DesiredDeliveryMediums=["EMAIL"],
        )
    except cognito.exceptions.UsernameExistsException as exc:
        raise DeployError(f"{email} already has an account in {pool}") from exc
    message = (
        f"Cognito emailed {email} a temporary password. Sign in at {outputs['DashboardUrl']} "
        "and choose a new one."
    )
    print(message)
    return message


def _session(region: str | None) -> Any:
    import boto3

    return boto3.session.Session(region_name=region)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("build", help="sam build with a Python 3.12")
    commands.add_parser("deploy", help="build, deploy and publish the dashboard")
    commands.add_parser("delete", help="delete the stack (the tables and users are kept)")
    user = commands.add_parser("user", help="create a Cognito user who gets a temporary password by email")
    user.add_argument("email")
    args = parser.parse_args(argv)
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        settings = read_settings()
        if args.command == "user":
            invite_user(settings, args.email)
            return 0
        sam = sam_executable()
        if args.command == "build":
            build(sam)
        elif args.command == "deploy":
            deploy(sam, settings)
        else:
            delete(sam, settings)
    except (DeployError, publish_web.PublishError) as exc:
        print(f"make {args.command}: {exc}", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError) as exc:
        print(f"make {args.command}: AWS answered: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
