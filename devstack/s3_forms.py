"""S3's check of a browser upload (POST Object) against its signed policy, in front of
moto's S3, which stores whatever is posted.

In AWS a presigned upload form (`campaigns.data.media_objects.upload_form`) is only as
strict as S3's check of it: the policy's signature, its expiry, every condition (the
key, the `Content-Type`, `content-length-range`) and no form field the policy does not
cover. moto checks none of it, so without this the local stack and the tests would
accept a file of any type and any size, and a test could not show that the product's
forms refuse them. This middleware makes that check, with S3's answers:

- 403 `AccessDenied` "Invalid according to Policy: ..." for an expired policy, a
  condition that fails or a field the policy does not name, 403 `SignatureDoesNotMatch`
  for a policy changed after it was signed, 403 `AccessDenied` with no policy at all
  (the bucket is private);
- 400 `EntityTooLarge` / `EntityTooSmall` outside `content-length-range`, 400
  `InvalidPolicyDocument`, 400 `InvalidArgument` without exactly one file.

The signature is checked when the secret key is known (`AWS_SECRET_ACCESS_KEY`, the
dummy credentials the local stack and the tests sign with); anything that is not a
multipart POST to a bucket passes through untouched.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

from werkzeug.formparser import parse_form_data

# Fields S3 never asks a policy to cover.
_UNCHECKED_FIELDS = {"policy", "x-amz-signature", "file"}


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str
    message: str


def form_refusal(
    bucket: str,
    fields: Mapping[str, str],
    file_size: int | None,
    now: datetime,
    secret_key: str | None,
) -> Refusal | None:
    """Why S3 would refuse this upload to `bucket` (form `fields`, a file of `file_size`
    bytes, None without one), or None when it would store it."""
    fields = {name.lower(): value for name, value in fields.items()}
    if file_size is None:
        return Refusal(400, "InvalidArgument", "POST requires exactly one file upload per request.")
    encoded = fields.get("policy")
    if not encoded:
        return Refusal(403, "AccessDenied", "Access Denied")
    if secret_key is not None and not _signed_with(secret_key, fields, encoded):
        return Refusal(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        )
    policy = _policy(encoded)
    if policy is None:
        return Refusal(400, "InvalidPolicyDocument", "Invalid Policy: Invalid JSON.")
    expiration = _time(policy.get("expiration"))
    if expiration is None or now >= expiration:
        return _policy_refusal("Policy expired.")
    covered: set[str] = set()
    size_range: tuple[int, int] | None = None
    for condition in policy.get("conditions") or []:
        if isinstance(condition, list) and condition and str(condition[0]).lower() == "content-length-range":
            size_range = (int(condition[1]), int(condition[2]))
            continue
        failed = _failed_condition(condition, bucket, fields, covered)
        if failed is not None:
            return _policy_refusal(f"Policy Condition failed: {failed}")
    extra = [
        name
        for name in fields
        if name not in _UNCHECKED_FIELDS | covered and not name.startswith("x-ignore-")
    ]
    if extra:
        return _policy_refusal(f"Extra input fields: {', '.join(extra)}")
    if size_range is not None and file_size > size_range[1]:
        return Refusal(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
    if size_range is not None and file_size < size_range[0]:
        return Refusal(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size")
    return None


def _failed_condition(
    condition: Any, bucket: str, fields: Mapping[str, str], covered: set[str]
) -> str | None:
    """The condition as S3 quotes it when it fails, or None when it holds (its field is
    then covered)."""
    if isinstance(condition, dict):
        for name, expected in condition.items():
            if _value(name.lower(), bucket, fields) != str(expected):
                return json.dumps(["eq", f"${name}", expected])
            covered.add(name.lower())
        return None
    if not isinstance(condition, list) or len(condition) != 3:
        return json.dumps(condition)
    operator, target, expected = str(condition[0]).lower(), str(condition[1]), str(condition[2])
    name = target.removeprefix("$").lower()
    actual = _value(name, bucket, fields)
    holds = (
        actual == expected if operator == "eq" else operator == "starts-with" and actual.startswith(expected)
    )
    if not holds:
        return json.dumps(condition)
    covered.add(name)
    return None


def _value(name: str, bucket: str, fields: Mapping[str, str]) -> str:
    return bucket if name == "bucket" else fields.get(name, "")


def _policy_refusal(why: str) -> Refusal:
    return Refusal(403, "AccessDenied", f"Invalid according to Policy: {why}")


def _signed_with(secret_key: str, fields: Mapping[str, str], encoded_policy: str) -> bool:
    """SigV4 of a POST policy: the policy (as sent, base64) signed with the key derived
    for the credential's date, region and service."""
    if fields.get("x-amz-algorithm") != "AWS4-HMAC-SHA256":
        return False
    scope = fields.get("x-amz-credential", "").split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        return False
    _, date, region, service, terminal = scope
    key = f"AWS4{secret_key}".encode()
    for part in (date, region, service, terminal):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, encoded_policy.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields.get("x-amz-signature", ""))


def _policy(encoded: str) -> dict[str, Any] | None:
    try:
        policy = json.loads(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError):
        return None
    return policy if isinstance(policy, dict) else None


def _time(value: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class FormUploadPolicy:
    """WSGI middleware: S3's policy check before moto sees a form upload to a bucket."""

    def __init__(
        self,
        app: Callable[..., Iterable[bytes]],
        secret_key: Callable[[], str | None] = lambda: os.environ.get("AWS_SECRET_ACCESS_KEY"),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._app = app
        self._secret_key = secret_key
        self._clock = clock

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        bucket = _form_upload_bucket(environ)
        if bucket is None:
            return self._app(environ, start_response)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        fields, file_size = _read_form(environ, body)
        refusal = form_refusal(bucket, fields, file_size, self._clock(), self._secret_key())
        if refusal is not None:
            return _answer(refusal, start_response)
        environ["wsgi.input"] = io.BytesIO(body)
        return self._app(environ, start_response)


def _form_upload_bucket(environ: Mapping[str, Any]) -> str | None:
    """The bucket of a path-style form upload (`POST /<bucket>`), or None."""
    if environ.get("REQUEST_METHOD") != "POST":
        return None
    if not str(environ.get("CONTENT_TYPE", "")).lower().startswith("multipart/form-data"):
        return None
    path = str(environ.get("PATH_INFO", "")).strip("/")
    return path if path and "/" not in path else None


def _read_form(environ: Mapping[str, Any], body: bytes) -> tuple[dict[str, str], int | None]:
    copy = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": environ.get("CONTENT_TYPE", ""),
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    _, form, files = parse_form_data(copy)
    fields = {name: value for name, value in form.items(multi=False)}
    uploads = files.getlist("file")
    if len(uploads) != 1 or len(files) != 1:
        return fields, None
    return fields, len(uploads[0].read())


def _answer(refusal: Refusal, start_response: Any) -> Iterable[bytes]:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{refusal.code}</Code><Message>{escape(refusal.message)}</Message>"
        "<RequestId>local</RequestId></Error>"
    ).encode()
    start_response(
        f"{refusal.status} {'Forbidden' if refusal.status == 403 else 'Bad Request'}",
        [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))],
    )
    return [body]


__all__ = ["FormUploadPolicy", "Refusal", "form_refusal"]
