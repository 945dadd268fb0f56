"""Media files uploaded to the stack's own bucket: POST /media-items/upload-url answers a
presigned form for one key under the caller's prefix, one type and at most the
declared size; S3 (moto's, over HTTP, with S3's policy check in front of it) refuses
anything else; a campaign cannot use an item whose file never arrived; and at send
time WAHA gets a short-lived presigned link that downloads the file."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests

from campaigns import config
from campaigns.data.models import MediaLibraryItem
from campaigns.domain.statuses import CampaignStatus
from campaigns.runner.service import RunResult
from devstack.s3_forms import form_refusal
from tests import stack_fixtures
from tests.fakewaha import FakeWaha
from tests.runner_harness import Harness
from tests.stack_fixtures import ApiClient, contacts

start_stack = stack_fixtures.start_stack
BUCKET = "media-test"
WAHA_ENV = {"WAHA_CONNECT_TIMEOUT_S": "1", "WAHA_READ_TIMEOUT_S": "6", "WAHA_MAX_ATTEMPTS": "2"}


def tiny_png() -> bytes:
    """A real 1x1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x80\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


PNG = tiny_png()


def upload_body(size: int = len(PNG), mime_type: str = "image/png", name: str = "Spring flyer") -> dict:
    return {"name": name, "mimeType": mime_type, "sizeBytes": size}


def post_file(
    form: dict, content: bytes, content_type: str = "image/png", **changed: str
) -> requests.Response:
    """What a browser does with the form: its fields as given (or `changed`), then the file."""
    fields = {**form["fields"], **changed}
    return requests.post(
        form["uploadUrl"], data=fields, files={"file": ("flyer.png", content, content_type)}, timeout=10
    )


@pytest.fixture
def media_bucket(dynamodb_endpoint, tables, monkeypatch):
    """The media bucket on the tests' moto server (it serves S3 too), over HTTP."""
    s3 = boto3.client("s3", endpoint_url=dynamodb_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    monkeypatch.setenv("MEDIA_BUCKET", BUCKET)
    monkeypatch.setenv("S3_ENDPOINT", dynamodb_endpoint)
    config.reload_settings()
    yield s3
    monkeypatch.undo()
    config.reload_settings()


def stored_keys(s3) -> list[str]:
    return [found["Key"] for found in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


# ------------------------------------------------------------------- the form


def test_the_form_is_for_one_key_under_the_callers_prefix_one_type_and_the_declared_size(alice, media_bucket):
    answer = alice.post("/media-items/upload-url", upload_body())

    assert answer.status == 201
    form = answer.json
    item = form["mediaItem"]
    key = f"media/user-a/{item['id']}/Spring-flyer.png"
    assert form["fields"]["key"] == key
    assert form["fields"]["Content-Type"] == "image/png"
    assert item["storagePath"] == f"s3://{BUCKET}/{key}"
    assert (item["mimeType"], item["sizeBytes"], form["maxSizeBytes"]) == ("image/png", len(PNG), len(PNG))
    policy = json.loads(base64.b64decode(form["fields"]["policy"]))
    assert {"key": key} in policy["conditions"]
    assert {"Content-Type": "image/png"} in policy["conditions"]
    assert ["content-length-range", 1, len(PNG)] in policy["conditions"]
    expires = datetime.fromisoformat(form["expiresAt"].replace("Z", "+00:00"))
    assert timedelta(minutes=14) < expires - datetime.now(UTC) <= timedelta(minutes=15)
    assert [i["id"] for i in alice.get("/media-items").json["items"]] == [item["id"]]


def test_the_declared_file_is_stored_as_declared(alice, media_bucket):
    form = alice.post("/media-items/upload-url", upload_body()).json

    assert post_file(form, PNG).status_code == 204

    stored = media_bucket.head_object(Bucket=BUCKET, Key=form["fields"]["key"])
    assert (stored["ContentLength"], stored["ContentType"]) == (len(PNG), "image/png")


@pytest.mark.parametrize(
    ("content", "content_type", "changed", "status", "code"),
    [
        # a file larger than declared
        (PNG + b"\x00", "image/png", {}, 400, "EntityTooLarge"),
        # another type than declared
        (PNG, "text/html", {"Content-Type": "text/html"}, 403, "Policy Condition failed"),
        # another key, under another user's prefix
        (PNG, "image/png", {"key": "media/user-b/media_x/flyer.png"}, 403, "Policy Condition failed"),
        # a field the policy does not name
        (PNG, "image/png", {"x-amz-meta-owner": "user-b"}, 403, "Extra input fields"),
        # an empty file
        (b"", "image/png", {}, 400, "EntityTooSmall"),
    ],
)
def test_s3_refuses_an_upload_the_form_does_not_admit(
    alice, media_bucket, content, content_type, changed, status, code
):
    form = alice.post("/media-items/upload-url", upload_body()).json

    refused = post_file(form, content, content_type, **changed)

    assert refused.status_code == status
    assert code in refused.text
    assert stored_keys(media_bucket) == []


def test_a_form_widened_by_its_holder_no_longer_matches_its_signature(alice, media_bucket):
    form = alice.post("/media-items/upload-url", upload_body()).json
    policy = json.loads(base64.b64decode(form["fields"]["policy"]))
    policy["conditions"] = [c for c in policy["conditions"] if "content-length-range" not in c]
    widened = base64.b64encode(json.dumps(policy).encode()).decode()

    refused = post_file(form, PNG * 1000, policy=widened)

    assert refused.status_code == 403 and "SignatureDoesNotMatch" in refused.text
    assert stored_keys(media_bucket) == []


def test_a_form_past_its_expiry_is_refused(alice, media_bucket):
    form = alice.post("/media-items/upload-url", upload_body()).json
    expires = datetime.fromisoformat(form["expiresAt"].replace("Z", "+00:00"))
    fields = form["fields"]

    in_time = form_refusal(BUCKET, fields, len(PNG), expires - timedelta(seconds=5), "testing")
    late = form_refusal(BUCKET, fields, len(PNG), expires + timedelta(seconds=5), "testing")

    assert in_time is None
    assert late is not None and (late.status, late.message) == (
        403,
        "Invalid according to Policy: Policy expired.",
    )


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        (upload_body(mime_type="image/gif"), "mimeType", "must be one of"),
        (upload_body(mime_type="text/html"), "mimeType", "must be one of"),
        (upload_body(size=5_000_001), "sizeBytes", "image files of up to 5 MB (5,000,000 bytes)"),
        (upload_body(size=16_000_001, mime_type="video/mp4"), "sizeBytes", "video files of up to 16 MB"),
        (upload_body(size=100_000_001, mime_type="application/pdf"), "sizeBytes", "100000000"),
        (upload_body(size=0), "sizeBytes", "greater than or equal to 1"),
        (upload_body(size="12"), "sizeBytes", "integer"),
        ({**upload_body(), "storagePath": "https://cdn.example.com/a.png"}, "storagePath", "unknown field"),
    ],
)
def test_an_upload_whatsapp_would_not_deliver_is_422_and_nothing_is_created(
    alice, media_bucket, body, field, reason
):
    answer = alice.post("/media-items/upload-url", body)

    assert answer.status == 422
    assert any(d["field"] == field and reason in d["message"] for d in answer.json["details"]), answer.json
    assert list(MediaLibraryItem.query("user-a")) == []


def test_the_largest_files_whatsapp_delivers_get_a_form(alice, media_bucket):
    for body in (
        upload_body(size=5_000_000),
        upload_body(size=16_000_000, mime_type="video/mp4", name="Clip"),
        upload_body(size=100_000_000, mime_type="application/pdf", name="Price list.pdf"),
    ):
        assert alice.post("/media-items/upload-url", body).status == 201
    names = sorted(i["storagePath"].rsplit("/", 1)[-1] for i in alice.get("/media-items").json["items"])
    assert names == ["Clip.mp4", "Price-list.pdf", "Spring-flyer.png"]


def test_without_a_media_bucket_uploads_are_409_and_url_items_still_work(alice, tables):
    assert config.settings().media_bucket is None

    refused = alice.post("/media-items/upload-url", upload_body())
    url_item = alice.post(
        "/media-items",
        {"name": "Flyer", "storagePath": "https://cdn.example.com/a.png", "mimeType": "image/png"},
    )

    assert refused.status == 409 and "POST /media-items" in refused.message
    assert url_item.status == 201
    assert [i["storagePath"] for i in alice.get("/media-items").json["items"]] == [
        "https://cdn.example.com/a.png"
    ]


def test_a_media_item_cannot_be_given_an_s3_path_by_hand(alice, media_bucket):
    forged = {"name": "Theirs", "storagePath": f"s3://{BUCKET}/media/user-b/x/a.png", "mimeType": "image/png"}

    answer = alice.post("/media-items", forged)

    assert answer.status == 422 and "https" in answer.message


# ----------------------------------------------------------- using the item


def campaign_body(build, media_id: str) -> dict:
    build.session()
    return {
        "name": "Flyer",
        "contactListId": build.contact_list(2).id,
        "messageTemplateId": build.template().id,
        "mediaLibraryItemId": media_id,
        "defaultNameValue": "friend",
    }


def test_a_campaign_waits_for_the_file_and_another_user_never_sees_the_item(build, alice, bob, media_bucket):
    form = alice.post("/media-items/upload-url", upload_body()).json
    item_id = form["mediaItem"]["id"]
    body = campaign_body(build, item_id)

    early = alice.post("/campaigns", body)
    post_file(form, PNG)
    created = alice.post("/campaigns", body)

    assert early.status == 422
    assert early.json["details"][0]["field"] == "mediaLibraryItemId"
    assert "never uploaded" in early.message
    assert created.status == 201 and created.json["mediaLibraryItemId"] == item_id
    # Another user: not listed, not deletable (404), not usable in a campaign of theirs
    assert bob.get("/media-items").json["items"] == []
    assert bob.call("DELETE", f"/media-items/{item_id}").status == 404
    assert (
        bob.post("/campaigns", {**body, "contactListId": build.contact_list(1, user_id="user-b").id}).status
        == 422
    )


def test_the_runner_pauses_naming_the_item_when_its_file_is_gone(build, media_bucket):
    # Given a campaign whose uploaded file was removed after it was created
    item = build.media(url=f"s3://{BUCKET}/media/user-a/media_gone/flyer.png", mime_type="image/png")
    campaign = build.campaign(3, media=item)
    harness = Harness()

    result = harness.run(campaign.id)

    assert result is RunResult.PAUSED
    paused = type(campaign).get(campaign.id)
    assert paused.status == CampaignStatus.PAUSED.value
    assert item.id in paused.pause_reason and "never uploaded" in paused.pause_reason
    assert harness.sender.sent == []
    assert paused.last_processed_contact_index is None


def test_the_runner_refuses_a_file_stored_as_another_type_than_declared(build, media_bucket):
    key = "media/user-a/media_html/flyer.png"
    media_bucket.put_object(Bucket=BUCKET, Key=key, Body=b"<script>", ContentType="text/html")
    campaign = build.campaign(2, media=build.media(url=f"s3://{BUCKET}/{key}", mime_type="image/png"))
    harness = Harness()

    assert harness.run(campaign.id) is RunResult.PAUSED
    assert "stored as text/html" in type(campaign).get(campaign.id).pause_reason
    assert harness.sender.sent == []


# ------------------------------------------------ end to end, over HTTP


def test_an_uploaded_png_reaches_waha_as_a_short_lived_link_that_downloads_it(
    start_stack, fake_waha: FakeWaha
) -> None:
    stack = start_stack(waha_base_url=fake_waha.base_url, waha_api_key=fake_waha.api_key, env=WAHA_ENV)
    alice = ApiClient(stack, "alice")
    session = alice.register_session(fake_waha=fake_waha)

    # Given a PNG uploaded with the form the API answered (the stack made the bucket)
    form = alice.ok("POST", "/media-items/upload-url", upload_body(), 201)
    item = form["mediaItem"]
    key = f"media/alice/{item['id']}/Spring-flyer.png"
    assert item["storagePath"] == f"s3://{stack.media_bucket}/{key}"
    assert post_file(form, PNG).status_code == 204

    # When a campaign with it runs
    listed = alice.contact_list(contacts(2))
    template = alice.template("Hi {Name}, our spring flyer")
    campaign = alice.campaign(
        listed["id"], template["id"], mediaLibraryItemId=item["id"], whatsappSessionId=session["id"]
    )
    assert alice.request("POST", f"/campaigns/{campaign['id']}/run").status_code == 202
    assert alice.wait_status(campaign["id"], {"Completed", "Paused", "Failed"})["status"] == "Completed"

    # Then WAHA got, for each contact, a presigned GET of that key, valid 15 minutes, that downloads the PNG
    sends = fake_waha.sent()
    assert [(s["endpoint"], s["caption"]) for s in sends] == [
        ("sendImage", "Hi Name0, our spring flyer"),
        ("sendImage", "Hi Name1, our spring flyer"),
    ]
    for send in sends:
        link = urlsplit(send["file"]["url"])
        signed = parse_qs(link.query)
        assert link.path == f"/{stack.media_bucket}/{key}"
        assert (signed["X-Amz-Expires"], signed["X-Amz-Algorithm"]) == (["900"], ["AWS4-HMAC-SHA256"])
        assert (send["file"]["mimetype"], send["file"]["filename"]) == ("image/png", "Spring-flyer.png")
        download = requests.get(send["file"]["url"], timeout=10)
        assert download.status_code == 200 and download.content == PNG
