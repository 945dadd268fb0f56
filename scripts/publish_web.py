"""Publish the dashboard (web/) to the stack's bucket and refresh CloudFront.

Reads the stack's outputs, writes the dashboard's `config.json` from them (API URL,
the identity provider's endpoints, the client id), uploads the page's files with
the content types browsers need for ES modules, removes files no longer in web/,
and invalidates the distribution so the new version is served at once.

    python scripts/publish_web.py --stack-name whatsapp-campaigns [--region eu-west-1]

`make deploy` runs this after `sam deploy`.
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WEB_ROOT = ROOT / "web"
CONFIG_NAME = "config.json"
# What the page is: its HTML, modules, styles and images. Not its tests, notes or Node manifest.
PUBLISHED_SUFFIXES = {".html", ".js", ".mjs", ".css", ".svg", ".png", ".ico", ".webmanifest"}
SKIPPED_DIRS = {"tests", "node_modules"}
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".webmanifest": "application/manifest+json",
}
# The page and its settings are checked on every load; modules and styles may be
# reused for a few minutes (their names carry no version).
NO_CACHE = "no-cache"
SHORT_CACHE = "public, max-age=300"
REQUIRED_OUTPUTS = ("ApiUrl", "DashboardBucketName", "DashboardDistributionId", "DashboardUrl")


class PublishError(Exception):
    pass


@dataclass(frozen=True)
class Published:
    bucket: str
    uploaded: list[str]
    deleted: list[str]
    invalidation_id: str
    dashboard_url: str


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    from botocore.exceptions import ClientError

    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        raise PublishError(f"stack {stack_name!r} not found: {exc}") from exc
    outputs = {item["OutputKey"]: item.get("OutputValue", "") for item in stacks[0].get("Outputs", [])}
    missing = [name for name in REQUIRED_OUTPUTS if not outputs.get(name)]
    if missing:
        raise PublishError(
            f"stack {stack_name!r} has no output {', '.join(missing)}: is it this project's stack?"
        )
    return outputs


def dashboard_config(outputs: Mapping[str, str]) -> dict[str, str]:
    """config.json as web/auth.js reads it."""
    return {
        "apiUrl": outputs["ApiUrl"].rstrip("/"),
        "clientId": outputs.get("AuthClientId", ""),
        "authorizeUrl": outputs.get("AuthAuthorizeUrl", ""),
        "tokenUrl": outputs.get("AuthTokenUrl", ""),
        "logoutUrl": outputs.get("AuthLogoutUrl", ""),
    }


def page_files(web_root: Path = WEB_ROOT) -> dict[str, Path]:
    """{object key: file} of what is published from web/."""
    files: dict[str, Path] = {}
    for path in sorted(web_root.rglob("*")):
        relative = path.relative_to(web_root)
        if not path.is_file() or any(part in SKIPPED_DIRS or part.startswith(".") for part in relative.parts):
            continue
        if path.suffix.lower() in PUBLISHED_SUFFIXES and relative.as_posix() != CONFIG_NAME:
            files[relative.as_posix()] = path
    if "index.html" not in files:
        raise PublishError(f"{web_root} has no index.html")
    return files


def content_type(key: str) -> str:
    suffix = Path(key).suffix.lower()
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(key)[0] or "application/octet-stream"


def cache_control(key: str) -> str:
    return NO_CACHE if key.endswith((".html", ".json")) else SHORT_CACHE


def existing_keys(s3: Any, bucket: str) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return keys


def delete_keys(s3: Any, bucket: str, keys: Iterable[str]) -> list[str]:
    keys = list(keys)
    for start in range(0, len(keys), 1000):
        batch = keys[start : start + 1000]
        answer = s3.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
        )
        if answer.get("Errors"):
            raise PublishError(f"could not delete from s3://{bucket}: {answer['Errors'][:3]}")
    return keys


def empty_bucket(s3: Any, bucket: str) -> int:
    """Delete every object (a bucket must be empty before CloudFormation can delete it)."""
    return len(delete_keys(s3, bucket, existing_keys(s3, bucket)))


def publish(
    s3: Any,
    cloudfront: Any,
    outputs: Mapping[str, str],
    web_root: Path = WEB_ROOT,
) -> Published:
    bucket = outputs["DashboardBucketName"]
    config = dashboard_config(outputs)
    files = page_files(web_root)
    uploaded: list[str] = []
    # index.html last: a visitor during the upload gets the old page or the whole new one.
    for key in sorted(files, key=lambda name: name == "index.html"):
        if key == "index.html":
            s3.put_object(
                Bucket=bucket,
                Key=CONFIG_NAME,
                Body=(json.dumps(config, indent=2) + "\n").encode(),
                ContentType=content_type(CONFIG_NAME),
                CacheControl=cache_control(CONFIG_NAME),
            )
            uploaded.append(CONFIG_NAME)
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=files[key].read_bytes(),
            ContentType=content_type(key),
            CacheControl=cache_control(key),
        )
        uploaded.append(key)
    stale = sorted(set(existing_keys(s3, bucket)) - set(uploaded))
    deleted = delete_keys(s3, bucket, stale)
    invalidation = cloudfront.create_invalidation(
        DistributionId=outputs["DashboardDistributionId"],
        InvalidationBatch={
            "Paths": {"Quantity": 1, "Items": ["/*"]},
            "CallerReference": f"publish-{time.time_ns()}",
        },
    )
    return Published(
        bucket=bucket,
        uploaded=uploaded,
        deleted=deleted,
        invalidation_id=invalidation["Invalidation"]["Id"],
        dashboard_url=outputs["DashboardUrl"],
    )


def publish_stack(stack_name: str, region: str | None = None, web_root: Path = WEB_ROOT) -> Published:
    import boto3

    session = boto3.session.Session(region_name=region)
    outputs = stack_outputs(session.client("cloudformation"), stack_name)
    # CloudFront is global; its API lives in us-east-1.
    return publish(
        session.client("s3"), session.client("cloudfront", region_name="us-east-1"), outputs, web_root
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stack-name", required=True)
    parser.add_argument("--region", default=None, help="default: the AWS CLI's configuration")
    args = parser.parse_args(argv)
    try:
        result = publish_stack(args.stack_name, args.region)
    except PublishError as exc:
        print(f"publish: {exc}", file=sys.stderr)
        return 1
    print(
        f"Published {len(result.uploaded)} files to s3://{result.bucket}"
        f"{f' (removed {len(result.deleted)} old ones)' if result.deleted else ''};"
        f" CloudFront invalidation {result.invalidation_id}.\nDashboard: {result.dashboard_url}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
