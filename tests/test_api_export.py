"""GET /campaigns/{id}/deliveries.csv: the whole log as CSV, safe to open in a
spreadsheet; above the inline limit, through the exports bucket (moto's S3 over HTTP)."""

from __future__ import annotations

import csv
import io
import tracemalloc
from datetime import UTC, datetime

import boto3
import pytest
import requests

from campaigns import config
from campaigns.api import exports
from campaigns.data.models import Delivery
from campaigns.domain.csv_cells import safe_cell
from campaigns.domain.statuses import CampaignStatus
from tests.campaign_setup import campaign_over, record

S = CampaignStatus
AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
HEADER = ["contactIndex", "phoneNumber", "status", "messageId", "ack", "error", "at"]


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def a_campaign(build, outcomes: list[str], status=S.COMPLETED):
    campaign = campaign_over(build.contact_list(len(outcomes)), build.template(), status=status)
    record(campaign, outcomes, at=AT)
    return campaign


def test_the_log_is_answered_as_csv_in_contact_order(build, alice):
    campaign = a_campaign(build, ["Sent", "Failed", "Unknown"])

    answer = alice.get(f"/campaigns/{campaign.id}/deliveries.csv")

    assert answer.status == 200
    assert answer.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert answer.headers["Content-Disposition"] == f'attachment; filename="{campaign.id}-deliveries.csv"'
    assert rows(answer.text) == [
        HEADER,
        ["0", "+15550000000", "Sent", "true_0@c.us_ID0", "", "", "2026-03-01T09:30:00.000Z"],
        ["1", "+15550000001", "Failed", "", "", "Failed for a reason", "2026-03-01T09:30:00.000Z"],
        ["2", "+15550000002", "Unknown", "", "", "Unknown for a reason", "2026-03-01T09:30:00.000Z"],
    ]


def test_a_campaign_with_no_deliveries_is_the_header_alone(build, alice):
    campaign = a_campaign(build, [], status=S.SCHEDULED)

    assert rows(alice.get(f"/campaigns/{campaign.id}/deliveries.csv").text) == [HEADER]


def test_another_users_campaign_is_not_found(build, alice, bob):
    campaign = a_campaign(build, ["Sent"])

    assert bob.get(f"/campaigns/{campaign.id}/deliveries.csv").status == 404
    assert alice.get("/campaigns/nope/deliveries.csv").status == 404


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://evil","x")', '\'=HYPERLINK("http://evil","x")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(1+1)*cmd|' /C calc'!A0", "'@SUM(1+1)*cmd|' /C calc'!A0"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("+1", "'+1"),
        ("+15551234567+1", "'+15551234567+1"),
        ("+15551234567", "+15551234567"),
        ("+447911123456", "+447911123456"),
        ("plain text = fine", "plain text = fine"),
        ("", ""),
        (None, ""),
        (7, "7"),
    ],
)
def test_cells_a_spreadsheet_would_run_are_neutralised_and_phone_numbers_stay(value, written):
    assert safe_cell(value) == written


def test_formula_cells_in_stored_deliveries_are_neutralised_in_the_export(build, alice):
    campaign = a_campaign(build, ["Failed", "Sent"])
    Delivery(campaign.id, 0).update(actions=[Delivery.error.set('=HYPERLINK("http://x","click")')])
    Delivery(campaign.id, 1).update(
        actions=[Delivery.message_id.set("@evil"), Delivery.phone_number.set("+15551230001")]
    )

    _, failed, sent = rows(alice.get(f"/campaigns/{campaign.id}/deliveries.csv").text)

    assert failed[5] == '\'=HYPERLINK("http://x","click")'
    assert sent[1] == "+15551230001"
    assert sent[3] == "'@evil"


def test_the_ack_column_carries_a_deliverys_ack_when_it_has_one(build, alice):
    campaign = a_campaign(build, ["Sent"])
    if "ack" not in Delivery.get_attributes():
        pytest.skip("deliveries carry no ack in this tree")
    Delivery(campaign.id, 0).update(actions=[Delivery.get_attributes()["ack"].set("Read")])

    _, sent = rows(alice.get(f"/campaigns/{campaign.id}/deliveries.csv").text)

    assert sent[4] == "Read"


def test_the_export_reads_deliveries_page_by_page_and_spools_to_disk(build, monkeypatch):
    # Given a log larger than the in-memory spool, read in pages of 7
    campaign = a_campaign(build, ["Sent"] * 60)
    monkeypatch.setattr(exports.exports, "PAGE", 7)
    monkeypatch.setattr(exports, "SPOOL_IN_MEMORY_BYTES", 1024)
    pages: list[int] = []
    query = Delivery.query

    def counting(*args, **kwargs):
        pages.append(kwargs.get("page_size"))
        return query(*args, **kwargs)

    monkeypatch.setattr(Delivery, "query", counting)

    export = exports.export_deliveries("user-a", campaign.id, AT)

    assert pages == [7]
    assert len(rows(export.body)) == 61


@pytest.fixture
def exports_bucket(dynamodb_endpoint, tables, monkeypatch):
    """The exports bucket on moto's S3 (the same moto server, over HTTP), and an inline
    limit of 200 bytes."""
    s3 = boto3.client("s3", endpoint_url=dynamodb_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="exports-test")
    monkeypatch.setenv("EXPORTS_BUCKET", "exports-test")
    monkeypatch.setenv("S3_ENDPOINT", dynamodb_endpoint)
    monkeypatch.setenv("EXPORT_INLINE_LIMIT_BYTES", "200")
    config.reload_settings()
    yield s3
    monkeypatch.undo()
    config.reload_settings()


def test_a_large_export_goes_through_the_bucket_and_a_presigned_link(build, alice, exports_bucket):
    campaign = a_campaign(build, ["Sent", "Failed", "Unknown"] * 5)

    answer = alice.get(f"/campaigns/{campaign.id}/deliveries.csv", headers={"Accept": "text/csv"})

    assert answer.status == 303
    assert answer.headers["Location"] == answer.json["url"]
    assert "X-Amz-Signature=" in answer.json["url"]
    assert answer.json["expiresAt"].endswith("Z")
    download = requests.get(answer.json["url"], timeout=10)
    assert download.status_code == 200
    assert download.headers["Content-Disposition"] == f'attachment; filename="{campaign.id}-deliveries.csv"'
    lines = rows(download.content.decode())
    assert lines[0] == HEADER
    assert [line[0] for line in lines[1:]] == [str(i) for i in range(15)]
    (stored,) = exports_bucket.list_objects_v2(Bucket="exports-test")["Contents"]
    assert stored["Key"].startswith(f"user-a/{campaign.id}/")


def test_a_small_export_stays_inline_even_with_a_bucket(build, alice, exports_bucket):
    campaign = a_campaign(build, ["Sent"])

    answer = alice.get(f"/campaigns/{campaign.id}/deliveries.csv")

    assert answer.status == 200
    assert exports_bucket.list_objects_v2(Bucket="exports-test").get("KeyCount") == 0


class CountingSink(io.RawIOBase):
    """An output that keeps nothing, only the count of bytes written to it."""

    def __init__(self) -> None:
        self.count = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.count += len(data)
        return len(data)

    def tell(self) -> int:
        return self.count


def peak_writing(rows: int) -> tuple[int, int]:
    deliveries = (
        Delivery(campaign_id="c", contact_index=i, phone_number=f"+1555{i:07d}", status="Sent", at=AT)
        for i in range(rows)
    )
    sink = CountingSink()
    tracemalloc.start()
    try:
        size = exports.write_csv(deliveries, sink)
        return size, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_writing_the_csv_holds_no_more_than_a_row_in_memory():
    peak_writing(100)  # whatever is allocated once, on first use

    small_size, small_peak = peak_writing(2_000)
    large_size, large_peak = peak_writing(40_000)

    assert large_size > 19 * small_size
    # Twenty times the rows, and the peak does not grow with them.
    assert large_peak < small_peak + 256 * 1024


def test_a_page_asking_for_json_gets_the_link_of_a_large_export_instead_of_a_redirect(
    build, alice, exports_bucket
):
    campaign = a_campaign(build, ["Sent", "Failed", "Unknown"] * 5)

    answer = alice.get(
        f"/campaigns/{campaign.id}/deliveries.csv", headers={"Accept": "text/csv, application/json;q=0.5"}
    )

    assert answer.status == 200
    assert "Location" not in answer.headers
    assert answer.headers["Content-Type"].startswith("application/json")
    download = requests.get(answer.json["url"], timeout=10)
    assert download.status_code == 200
    assert download.headers["Content-Disposition"] == f'attachment; filename="{campaign.id}-deliveries.csv"'
    assert len(rows(download.content.decode())) == 16
    # a small export is the CSV itself whatever Accept says
    small = a_campaign(build, ["Sent"])
    inline = alice.get(f"/campaigns/{small.id}/deliveries.csv", headers={"Accept": "application/json"})
    assert inline.status == 200 and inline.headers["Content-Type"].startswith("text/csv")
