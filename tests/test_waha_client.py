"""WahaClient / WahaSender against the fake WAHA server over real HTTP.

Every failure ends in the runner's outcome: ContactRejected (run goes on),
SendNotAttempted (pause, retry the contact later) or SendOutcomeUnknown (may have
gone out: never resent). Retry delays are milliseconds here.
"""

from __future__ import annotations

import json
import logging
import random
import re
import socket
import time
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from jsonschema import Draft202012Validator
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from campaigns.config import ConfigError, Settings
from campaigns.observability import logger
from campaigns.sending.sender import (
    ContactRejected,
    Media,
    OutgoingMessage,
    SendDeferred,
    SendNotAttempted,
    SendOutcomeUnknown,
    SendPlan,
    SendUnconfirmed,
)
from campaigns.sending.waha_client import (
    ApiKeyRejected,
    EndpointUnsupported,
    RateLimited,
    RetryPolicy,
    SessionNotFound,
    SessionNotWorking,
    WahaClient,
    WahaUnavailable,
    WhatsAppRestricted,
    chat_id_for,
    extract_message_id,
)
from campaigns.sending.waha_sender import (
    MESSAGE_CAPPED,
    NOT_FOUND,
    REACHOUT_TIMELOCK,
    ParameterApiKey,
    WahaSender,
)
from tests import fakewaha
from tests.fakewaha import FakeWaha

# The fixture, also offered by the shared conftest; bound here so this file runs on its own.
fake_waha = fakewaha.fake_waha

SUBSET = json.loads((Path(__file__).parent / "data" / "waha_openapi_subset.json").read_text("utf-8"))
FAST = RetryPolicy(
    max_attempts=3,
    base_delay_s=0.002,
    max_delay_s=0.01,
    rate_limit_base_delay_s=0.004,
    rate_limit_max_delay_s=0.02,
)
PHONE = "+1 (213) 213-2131"
CHAT = "12132132131@c.us"


def make_client(fake: FakeWaha, **kwargs: Any) -> WahaClient:
    options: dict[str, Any] = {"connect_timeout_s": 1.0, "read_timeout_s": 2.0, "retry": FAST}
    options.update(kwargs)
    return WahaClient(
        options.pop("base_url", None) or fake.base_url, options.pop("api_key", fake.api_key), **options
    )


def make_sender(fake: FakeWaha, **kwargs: Any) -> WahaSender:
    return WahaSender(make_client(fake, **kwargs))


def text(phone: str = PHONE, session: str = "default", body: str = "Hello Ana") -> OutgoingMessage:
    return OutgoingMessage(session=session, phone_number=phone, text=body, idempotency_key="c1:0")


def with_media(mime: str, url: str = "https://cdn.example.com/m/promo.bin", filename: str | None = None):
    return OutgoingMessage(
        session="default",
        phone_number=PHONE,
        text="See this",
        media=Media(url=url, mime_type=mime, filename=filename),
        idempotency_key="c1:1",
    )


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def validate(instance: Any, schema_name: str, drop: tuple[str, ...] = ()) -> None:
    schema = dict(SUBSET["components"]["schemas"][schema_name])
    if drop:
        schema["properties"] = {k: v for k, v in schema["properties"].items() if k not in drop}
    validator = Draft202012Validator({**schema, "components": SUBSET["components"]})
    errors = [e.message for e in validator.iter_errors(instance)]
    assert not errors, errors


# ---------------------------------------------------------------------- sending text


def test_send_text_with_pre_generated_id(fake_waha: FakeWaha) -> None:
    result = make_sender(fake_waha).send(text())

    [request] = fake_waha.request_log("sendText")
    assert request["api_key"] == fake_waha.api_key
    assert request["headers"]["Content-Type"] == "application/json"
    body = request["body"]
    validate(body, "MessageTextRequest")
    assert body["chatId"] == CHAT and body["session"] == "default" and body["text"] == "Hello Ana"
    assert body["linkPreview"] is True
    issued = body["id"]
    assert fake_waha.count_requests("new-message-id") == 1
    assert result.message_id == f"true_{CHAT}_{issued}"
    # Pacing counts from the start of the delivering request: its lag is reported.
    assert result.delivery_lag_s is not None and 0 <= result.delivery_lag_s < 5
    assert fake_waha.texts_by_chat() == {CHAT: ["Hello Ana"]}


@pytest.mark.parametrize("unsupported_status", [404, 422, 501])
def test_no_pre_generated_id_where_waha_has_none(fake_waha: FakeWaha, unsupported_status: int) -> None:
    fake_waha.supports_message_id = False
    fake_waha.message_id_unsupported_status = unsupported_status
    sender = make_sender(fake_waha)

    sender.send(text())
    sender.send(text(phone="+44 7911 123456"))

    assert all("id" not in r["body"] for r in fake_waha.request_log("sendText"))
    assert fake_waha.count_requests("new-message-id") == 1  # remembered per client
    assert sender.client.message_id_supported is False
    assert fake_waha.count_by_chat() == {CHAT: 1, "447911123456@c.us": 1}


@pytest.mark.parametrize("engine", ["SPEC", "GOWS", "WEBJS", "NOWEB", "EMPTY"])
def test_message_id_from_every_engine(fake_waha: FakeWaha, engine: str) -> None:
    fake_waha.engine = engine
    result = make_sender(fake_waha).send(text())
    assert result.message_id == fake_waha.sent()[0]["message_id"]
    assert result.message_id.startswith(f"true_{CHAT}_")


def test_empty_answer_without_pre_generated_id_gives_no_id(fake_waha: FakeWaha) -> None:
    fake_waha.engine = "EMPTY"
    fake_waha.supports_message_id = False
    assert make_sender(fake_waha).send(text()).message_id is None
    assert fake_waha.count_by_chat() == {CHAT: 1}


@pytest.mark.parametrize(
    "body, expected",
    [
        ({"id": "true_1@c.us_AAA"}, "true_1@c.us_AAA"),
        ({"id": {"_serialized": "true_1@c.us_BBB", "id": "BBB"}}, "true_1@c.us_BBB"),
        ({"id": {"id": "CCC", "fromMe": True}}, f"true_{CHAT}_CCC"),
        (
            {"key": {"id": "DDD", "fromMe": True, "remoteJid": "12132132131@s.whatsapp.net"}},
            f"true_{CHAT}_DDD",
        ),
        ({"id": ""}, None),
        ({"id": 42}, None),
        ({"key": "weird"}, None),
        ([{"id": "x"}], None),
        ("not json", None),
        (None, None),
    ],
)
def test_extract_message_id_never_crashes(body: Any, expected: str | None) -> None:
    assert extract_message_id(body, CHAT) == expected
    assert extract_message_id(body, CHAT, "PRE") == (expected or f"true_{CHAT}_PRE")


# ---------------------------------------------------------------------- media


@pytest.mark.parametrize(
    "mime, endpoint, schema",
    [
        ("image/jpeg", "sendImage", "MessageImageRequest"),
        ("image/png", "sendImage", "MessageImageRequest"),
        ("video/mp4", "sendVideo", "MessageVideoRequest"),
        ("application/pdf", "sendFile", "MessageFileRequest"),
        ("audio/ogg; codecs=opus", "sendFile", "MessageFileRequest"),
    ],
)
def test_media_endpoint_by_mime_type(fake_waha: FakeWaha, mime: str, endpoint: str, schema: str) -> None:
    make_sender(fake_waha).send(with_media(mime, filename="promo.bin"))

    [request] = fake_waha.request_log(endpoint)
    body = request["body"]
    assert body["caption"] == "See this" and body["chatId"] == CHAT
    assert body["file"] == {
        "url": "https://cdn.example.com/m/promo.bin",
        "mimetype": mime,
        "filename": "promo.bin",
    }
    if endpoint == "sendVideo":
        assert body["convert"] is False
        # The spec types VideoRemoteFile.mimetype/filename as "object" (a generator slip), so the
        # file is checked against that schema's required keys instead.
        validate(body, schema, drop=("file",))
        assert set(SUBSET["components"]["schemas"]["VideoRemoteFile"]["required"]) <= set(body["file"])
    else:
        validate(body, schema)
    assert fake_waha.count_requests("new-message-id") == 0  # media requests have no id field
    assert fake_waha.count_requests() == 1


def test_media_filename_from_url_when_missing(fake_waha: FakeWaha) -> None:
    make_sender(fake_waha).send(
        with_media("video/mp4", url="https://cdn.example.com/v/promo%20clip.mp4?sig=1")
    )
    assert fake_waha.sent()[0]["file"]["filename"] == "promo clip.mp4"


# ---------------------------------------------------------------------- chat ids


@pytest.mark.parametrize(
    "phone, chat_id",
    [
        ("+1 (213) 213-2131", "12132132131@c.us"),
        ("  12132132131 ", "12132132131@c.us"),
        ("+447911123456", "447911123456@c.us"),
        ("+4915123456789", "4915123456789@c.us"),
        ("+55 11 99999-8888", "5511999998888@c.us"),
        ("+44.7911.123456", "447911123456@c.us"),
    ],
)
def test_chat_id_normalisation(fake_waha: FakeWaha, phone: str, chat_id: str) -> None:
    assert chat_id_for(phone) == chat_id
    make_sender(fake_waha).send(text(phone=phone))
    assert fake_waha.request_log("sendText")[0]["body"]["chatId"] == chat_id


@pytest.mark.parametrize(
    "phone",
    [
        "",
        "abc",
        "123",
        "+1 213 213 2131 ext 5",
        "1234567890123456",
        "000",
        "1+2132132131",
        # Not E.164: no country code starts with 0, so these are refused, not guessed at.
        "0049 151 2345 6789",
        "+0015551230001",
        "+00015551230001",
        "07911 123456",
    ],
)
def test_not_a_phone_number_is_rejected_without_a_request(fake_waha: FakeWaha, phone: str) -> None:
    sender = make_sender(fake_waha)
    with pytest.raises(ContactRejected):
        sender.send(text(phone=phone))
    assert sender.number_exists("default", phone) is False
    assert fake_waha.count_requests() == 0


def test_check_exists_chat_id_is_used_for_the_send(fake_waha: FakeWaha) -> None:
    fake_waha.chat_ids["5511999998888"] = "551199998888@c.us"  # WhatsApp knows it without the extra 9
    sender = make_sender(fake_waha)

    assert sender.number_exists("default", "+55 11 99999-8888") is True
    sender.start_typing("default", "+55 11 99999-8888")
    sender.send(text(phone="+55 11 99999-8888"))

    assert fake_waha.request_log("check-exists")[0]["query"] == {
        "phone": "5511999998888",
        "session": "default",
    }
    assert fake_waha.typing[0]["chatId"] == "551199998888@c.us"
    assert fake_waha.count_by_chat() == {"551199998888@c.us": 1}


# ---------------------------------------------------------------------- number checks


def test_number_exists(fake_waha: FakeWaha) -> None:
    fake_waha.reject_numbers.add("19999999999")
    sender = make_sender(fake_waha)
    assert sender.number_exists("default", PHONE) is True
    assert sender.number_exists("default", "+1 999 999 9999") is False


@pytest.mark.parametrize(
    "setup",
    [
        lambda f: setattr(f, "check_exists_supported", False),
        lambda f: f.fail_next(1, 400, endpoints={"check-exists"}),
    ],
    ids=["no-endpoint", "400"],
)
def test_number_exists_is_none_when_the_check_is_unavailable(fake_waha: FakeWaha, setup: Any) -> None:
    setup(fake_waha)
    assert make_sender(fake_waha).number_exists("default", PHONE) is None
    assert fake_waha.count_requests("check-exists") == 1


def test_a_check_that_fails_for_a_moment_is_retried(fake_waha: FakeWaha) -> None:
    fake_waha.fail_next(1, 503, endpoints={"check-exists"})
    assert make_sender(fake_waha).number_exists("default", PHONE) is True
    assert fake_waha.count_requests("check-exists") == 2


@pytest.mark.parametrize(
    ("setup", "error"),
    [
        (lambda f: f.rate_limit_next(10, endpoints={"check-exists"}), RateLimited),
        (lambda f: f.set_session("default", "SCAN_QR_CODE"), SessionNotWorking),
    ],
    ids=["rate-limited", "not-working"],
)
def test_a_check_that_cannot_be_made_now_pauses_instead_of_sending_unchecked(
    fake_waha: FakeWaha, setup: Any, error: type[Exception]
) -> None:
    setup(fake_waha)
    with pytest.raises(error):
        make_sender(fake_waha).number_exists("default", PHONE)
    assert fake_waha.sent() == []


def test_number_check_with_a_bad_key_raises_the_key_error(fake_waha: FakeWaha) -> None:
    with pytest.raises(ApiKeyRejected):
        make_sender(fake_waha, api_key="another-key").number_exists("default", PHONE)


def test_number_check_with_waha_down_says_waha_is_unavailable(fake_waha: FakeWaha) -> None:
    sender = make_sender(fake_waha, base_url=closed_port_url())
    with pytest.raises(WahaUnavailable):
        sender.number_exists("default", PHONE)


# ---------------------------------------------------------------------- classification


def test_bad_api_key(fake_waha: FakeWaha) -> None:
    sender = make_sender(fake_waha, api_key="wrong-key-0123456789")
    with pytest.raises(ApiKeyRejected) as caught:
        sender.send(text())
    assert isinstance(caught.value, SendNotAttempted)
    assert caught.value.reason == "WAHA rejected the API key"
    assert fake_waha.count_requests() == 1
    with pytest.raises(ApiKeyRejected):
        sender.send(with_media("image/jpeg"))


def test_session_not_found(fake_waha: FakeWaha) -> None:
    sender = make_sender(fake_waha)
    for message in (text(session="ghost"), replace(with_media("image/jpeg"), session="ghost")):
        with pytest.raises(SessionNotFound) as caught:
            sender.send(message)
        assert "'ghost'" in caught.value.reason
        assert "not found" in caught.value.reason and "not started" in caught.value.reason
    assert fake_waha.sent() == []


def test_session_not_working(fake_waha: FakeWaha) -> None:
    fake_waha.set_session("default", "SCAN_QR_CODE")
    with pytest.raises(SessionNotWorking) as caught:
        make_sender(fake_waha).send(text())
    assert caught.value.status == "SCAN_QR_CODE"
    assert "SCAN_QR_CODE" in caught.value.reason
    assert fake_waha.count_requests() == 1  # not retried


def test_session_drops_mid_run(fake_waha: FakeWaha) -> None:
    fake_waha.drop_after(2)
    sender = make_sender(fake_waha)
    sender.send(text(phone="12130000001"))
    sender.send(text(phone="12130000002"))
    with pytest.raises(SendNotAttempted, match="SCAN_QR_CODE"):
        sender.send(text(phone="12130000003"))
    assert fake_waha.count_by_chat() == {"12130000001@c.us": 1, "12130000002@c.us": 1}


def test_old_waha_failed_session_body(fake_waha: FakeWaha) -> None:
    fake_waha.fail_next(
        1,
        422,
        {
            "statusCode": 422,
            "message": "The session under FAILED status. Please try to restart it.",
            "error": "x",
        },
    )
    with pytest.raises(SessionNotWorking, match="FAILED"):
        make_sender(fake_waha).send(text())


@pytest.mark.parametrize(
    "message",
    ["Error: wid error: invalid wid", "2 UNKNOWN: message recipient must be a user JID with no device part"],
)
def test_invalid_number_is_contact_rejected(fake_waha: FakeWaha, message: str) -> None:
    fake_waha.fail_next(1, 500, {"statusCode": 500, "exception": {"message": message, "name": "Error"}})
    with pytest.raises(ContactRejected) as caught:
        make_sender(fake_waha).send(text())
    assert message.split(":")[-1].strip() in caught.value.reason
    assert fake_waha.count_requests("sendText") == 1


def test_reject_numbers_on_send(fake_waha: FakeWaha) -> None:
    fake_waha.reject_numbers.add("12132132131")
    with pytest.raises(ContactRejected, match="invalid wid"):
        make_sender(fake_waha).send(with_media("image/jpeg"))


@pytest.mark.parametrize("status", [500, 429])
def test_rate_limit_retries_then_pauses(fake_waha: FakeWaha, status: int) -> None:
    fake_waha.rate_limit_next(10, status=status)
    with pytest.raises(RateLimited) as caught:
        make_sender(fake_waha).send(text())
    assert "WhatsApp is rate limiting" in caught.value.reason
    assert fake_waha.count_requests("sendText") == FAST.max_attempts
    assert fake_waha.sent() == []


def test_rate_limit_once_then_sent(fake_waha: FakeWaha) -> None:
    fake_waha.rate_limit_next(1)
    make_sender(fake_waha).send(text())
    assert fake_waha.count_requests("sendText") == 2
    assert fake_waha.count_by_chat() == {CHAT: 1}


def test_reach_out_timelock_stops_at_once(fake_waha: FakeWaha) -> None:
    fake_waha.timelock = True
    with pytest.raises(WhatsAppRestricted) as caught:
        make_sender(fake_waha).send(text())
    reason = caught.value.reason
    assert caught.value.code == 463
    assert "reach-out timelock" in reason and "new contacts" in reason
    assert "restarting" in reason and "does not lift it" in reason
    assert fake_waha.count_requests("sendText") == 1


def test_message_capping_stops_at_once(fake_waha: FakeWaha) -> None:
    fake_waha.capped = True
    with pytest.raises(WhatsAppRestricted) as caught:
        make_sender(fake_waha).send(with_media("image/jpeg"))
    assert caught.value.code == 475 and "quota" in caught.value.reason
    assert fake_waha.count_requests("sendImage") == 1


def test_service_unavailable_burst_is_retried(fake_waha: FakeWaha) -> None:
    fake_waha.fail_next(2, status=503)
    make_sender(fake_waha).send(text())  # the pre-generated id makes the repeats safe
    assert fake_waha.count_requests("sendText") == 3
    assert fake_waha.count_by_chat() == {CHAT: 1}


@pytest.mark.parametrize("status", [503, 500])
def test_persistent_5xx_gives_up_after_the_bound(fake_waha: FakeWaha, status: int) -> None:
    fake_waha.fail_next(10, status=status, endpoints={"new-message-id"})
    with pytest.raises(WahaUnavailable) as caught:
        make_sender(fake_waha).send(text())
    assert f"HTTP {status}" in caught.value.reason and "nothing was sent" in caught.value.reason
    assert fake_waha.count_requests("new-message-id") == FAST.max_attempts
    assert fake_waha.count_requests("sendText") == 0


def test_unreachable_waha(fake_waha: FakeWaha) -> None:
    delays: list[float] = []
    sender = make_sender(fake_waha, base_url=closed_port_url(), sleep=delays.append)
    with pytest.raises(WahaUnavailable) as caught:
        sender.send(text())
    assert isinstance(caught.value, SendDeferred)
    assert caught.value.reason == (
        "The WhatsApp server (WAHA) could not be reached after 3 attempts; nothing was sent"
    )
    assert len(delays) == FAST.max_attempts - 1


def test_backoff_is_bounded_exponential_with_full_jitter(fake_waha: FakeWaha) -> None:
    delays: list[float] = []
    policy = RetryPolicy(max_attempts=4, base_delay_s=0.004, max_delay_s=0.01)
    client = make_client(fake_waha, retry=policy, sleep=delays.append, rng=random.Random(7))
    fake_waha.fail_next(3, status=503)
    WahaSender(client).send(text())

    assert len(delays) == 3
    ceilings = [0.004, 0.008, 0.01]
    assert all(0 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert delays != ceilings  # jittered, not the ceilings themselves
    assert len(set(delays)) == 3


def test_rate_limit_backoff_is_longer(fake_waha: FakeWaha) -> None:
    delays: list[float] = []
    policy = RetryPolicy(max_attempts=3, base_delay_s=0.001, max_delay_s=0.001, rate_limit_base_delay_s=0.02)
    client = make_client(fake_waha, retry=policy, sleep=delays.append)
    fake_waha.rate_limit_next(2)
    WahaSender(client).send(text())
    assert 0.01 <= delays[0] <= 0.02 and 0.02 <= delays[1] <= 0.04


# ---------------------------------------------------------------------- ambiguous outcomes


def test_read_timeout_without_id_is_unknown_and_not_resent(fake_waha: FakeWaha) -> None:
    fake_waha.hang_next(1, seconds=3)
    with pytest.raises(SendOutcomeUnknown) as caught:
        make_sender(fake_waha, read_timeout_s=0.3).send(with_media("image/jpeg"))
    assert "may have reached WhatsApp" in caught.value.reason
    assert fake_waha.count_requests("sendImage") == 1


def test_read_timeout_on_text_without_id_support(fake_waha: FakeWaha) -> None:
    fake_waha.supports_message_id = False
    fake_waha.hang_next(1, seconds=3)
    with pytest.raises(SendOutcomeUnknown):
        make_sender(fake_waha, read_timeout_s=0.3).send(text())
    assert fake_waha.count_requests("sendText") == 1


def test_read_timeout_with_id_is_retried_and_delivered_once(fake_waha: FakeWaha) -> None:
    fake_waha.hang_next(1, seconds=3)
    result = make_sender(fake_waha, read_timeout_s=0.3).send(text())

    [first, second] = fake_waha.request_log("sendText")
    assert first["body"]["id"] == second["body"]["id"]
    assert fake_waha.count_by_chat() == {CHAT: 1}
    assert fake_waha.deduped == 1
    assert result.message_id == fake_waha.sent()[0]["message_id"]


@pytest.mark.parametrize("status", [502, 504])
def test_gateway_error_without_id_is_unknown(fake_waha: FakeWaha, status: int) -> None:
    fake_waha.fail_next(1, status=status, process=True)
    with pytest.raises(SendOutcomeUnknown):
        make_sender(fake_waha).send(with_media("application/pdf"))
    assert fake_waha.count_requests("sendFile") == 1
    assert fake_waha.count_by_chat() == {CHAT: 1}


def test_gateway_error_with_id_is_retried_and_deduplicated(fake_waha: FakeWaha) -> None:
    fake_waha.fail_next(1, status=504, process=True)
    make_sender(fake_waha).send(text())
    assert fake_waha.count_requests("sendText") == 2
    assert fake_waha.count_by_chat() == {CHAT: 1}
    assert fake_waha.deduped == 1


def test_engine_timeout_500_counts_as_ambiguous(fake_waha: FakeWaha) -> None:
    fake_waha.fail_next(1, 500, {"statusCode": 500, "exception": {"message": "Timed Out"}})
    with pytest.raises(SendOutcomeUnknown):
        make_sender(fake_waha).send(with_media("image/jpeg"))
    assert fake_waha.count_requests("sendImage") == 1


def test_exhausted_after_ambiguous_attempts_is_unconfirmed_with_its_id(fake_waha: FakeWaha) -> None:
    fake_waha.fail_next(FAST.max_attempts, status=502, process=True)
    sender = make_sender(fake_waha)
    with pytest.raises(SendUnconfirmed, match="did not confirm") as caught:
        sender.send(text())
    assert fake_waha.count_requests("sendText") == FAST.max_attempts

    # Sent again later with the same id, WhatsApp still gets it once.
    again = sender.send(replace(text(), message_id=caught.value.message_id))
    assert fake_waha.count_by_chat() == {CHAT: 1}
    assert caught.value.message_id in (again.message_id or "")
    assert fake_waha.count_requests("new-message-id") == 1


def test_exhausted_after_ambiguous_attempts_without_an_id_is_unknown(fake_waha: FakeWaha) -> None:
    fake_waha.fail_next(10, status=502)
    with pytest.raises(SendOutcomeUnknown):
        make_sender(fake_waha).send(with_media("image/jpeg"))
    assert fake_waha.count_requests("sendImage") == 1


def test_not_working_after_an_ambiguous_attempt_keeps_the_id(fake_waha: FakeWaha) -> None:
    fake_waha.drop_after(1)  # the hung first attempt goes out, then the session drops
    fake_waha.hang_next(1, seconds=3)
    with pytest.raises(SendUnconfirmed) as caught:
        make_sender(fake_waha, read_timeout_s=0.3).send(text())
    assert "SCAN_QR_CODE" in caught.value.reason
    assert caught.value.message_id
    assert fake_waha.count_by_chat() == {CHAT: 1}


EVERY_CALL = SendPlan(check_number=True, typing=True)


def test_worst_case_ms_covers_the_worst_case(fake_waha: FakeWaha) -> None:
    # Every call of one contact at its worst but one attempt short of failing (the check and
    # the id call answer on their last attempt), typing timing out, then every send attempt.
    fake_waha.hang_next(FAST.max_attempts - 1, seconds=3, endpoints={"check-exists"})
    fake_waha.hang_next(2, seconds=3, endpoints={"startTyping", "stopTyping"})
    fake_waha.hang_next(FAST.max_attempts - 1, seconds=3, endpoints={"new-message-id"})
    fake_waha.hang_next(FAST.max_attempts, seconds=3, endpoints={"sendText"})
    sender = make_sender(fake_waha, connect_timeout_s=0.2, read_timeout_s=0.2)
    started = time.monotonic()
    assert sender.number_exists("default", PHONE) is True
    sender.start_typing("default", PHONE)
    sender.stop_typing("default", PHONE)
    with pytest.raises(SendUnconfirmed):
        sender.send(text())
    elapsed_ms = (time.monotonic() - started) * 1000

    assert elapsed_ms <= sender.worst_case_ms(EVERY_CALL)
    assert fake_waha.count_requests() == 3 * FAST.max_attempts + 2
    assert fake_waha.count_by_chat() == {CHAT: 1}
    # Without the number check and typing, the same send needs strictly less.
    assert sender.worst_case_ms(SendPlan()) < sender.worst_case_ms(EVERY_CALL)


def test_worst_case_counts_only_the_calls_the_plan_makes(fake_waha: FakeWaha) -> None:
    sender = make_sender(fake_waha, connect_timeout_s=1.0, read_timeout_s=2.0)
    call, once = sender.client.worst_case_ms(), sender.client.worst_case_ms(1)
    assert sender.worst_case_ms(SendPlan()) == 2 * call  # the id call and the send
    assert sender.worst_case_ms(SendPlan(media=True)) == call  # media requests have no id
    assert sender.worst_case_ms(SendPlan(check_number=True)) == 3 * call
    assert sender.worst_case_ms(SendPlan(typing=True)) == 2 * call + 2 * once
    assert sender.worst_case_ms(EVERY_CALL) == 3 * call + 2 * once

    fake_waha.supports_message_id = False
    sender.send(text())  # learns that this WAHA gives no ids
    assert sender.worst_case_ms(SendPlan()) == call
    assert sender.worst_case_ms(EVERY_CALL) == 2 * call + 2 * once


def test_default_budget_and_timeouts() -> None:
    client = WahaClient("http://127.0.0.1:9", "k")
    assert client.timeout == (3.05, 30.0)
    sender = WahaSender(client)
    # One call, 3 attempts: (3.05 + 30 + slack) * 3 + backoff (rate-limit ceilings 5 + 10 s).
    assert 110_000 <= client.worst_case_ms() <= 130_000
    # Number check, id fetch and send, 3 attempts each, and typing on and off, one attempt each.
    assert 330_000 <= sender.worst_case_ms(EVERY_CALL) <= 420_000
    # A text without number check or typing: the id fetch and the send.
    assert 220_000 <= sender.worst_case_ms(SendPlan()) <= 260_000
    # A media send without them: the send alone.
    assert 110_000 <= sender.worst_case_ms(SendPlan(media=True)) <= 130_000


# ---------------------------------------------------------------------- session state


@pytest.mark.parametrize(
    "status", ["WORKING", "SCAN_QR_CODE", "STARTING", "FAILED", "PASSKEY_REQUIRED", "NEW_THING"]
)
def test_session_state_reports_waha_status(fake_waha: FakeWaha, status: str) -> None:
    fake_waha.set_session("sales", status)
    state = make_sender(fake_waha).session_state("sales")
    assert state.name == "sales" and state.status == status
    assert state.ready is (status == "WORKING")


def test_session_state_of_unknown_session(fake_waha: FakeWaha) -> None:
    state = make_sender(fake_waha).session_state("ghost")
    assert state.status == NOT_FOUND and not state.ready


def test_session_state_bad_key_or_unreachable_raises(fake_waha: FakeWaha) -> None:
    with pytest.raises(ApiKeyRejected):
        make_sender(fake_waha, api_key="nope-nope-nope").session_state("default")
    with pytest.raises(WahaUnavailable, match="could not be reached"):
        make_sender(fake_waha, base_url=closed_port_url()).session_state("default")


@pytest.mark.parametrize("in_session_info", [True, False])
def test_reach_out_timelock_makes_the_session_not_ready(fake_waha: FakeWaha, in_session_info: bool) -> None:
    fake_waha.session_info_me_extra = in_session_info
    timelock = {
        "enforcementType": "RESTRICT_ALL_COMPANIONS",
        "isActive": True,
        "timeEnforcementEnds": 1790000000,
    }
    fake_waha.set_session("default", "WORKING", reachoutTimelock=timelock)
    state = make_sender(fake_waha).session_state("default")
    assert state.status == REACHOUT_TIMELOCK and not state.ready


def test_message_capping_makes_the_session_not_ready(fake_waha: FakeWaha) -> None:
    fake_waha.session_info_me_extra = False
    fake_waha.set_session("default", "WORKING", messageCapping={"cappingStatus": "CAPPED", "totalQuota": 100})
    assert make_sender(fake_waha).session_state("default").status == MESSAGE_CAPPED


def test_lifted_or_absent_restrictions_and_failing_me_are_tolerated(fake_waha: FakeWaha) -> None:
    sender = make_sender(fake_waha)
    fake_waha.set_session("default", "WORKING", reachoutTimelock={"isActive": False}, messageCapping=None)
    assert sender.session_state("default").ready
    fake_waha.me_extra.clear()
    fake_waha.fail_next(1, 500, endpoints={"me"})
    assert sender.session_state("default").ready
    fake_waha.fail_next(1, 404, endpoints={"me"})
    assert sender.session_state("default").ready


# ---------------------------------------------------------------------- typing


def test_typing_start_and_stop(fake_waha: FakeWaha) -> None:
    sender = make_sender(fake_waha)
    sender.start_typing("default", PHONE)
    sender.stop_typing("default", PHONE)
    assert [(t["endpoint"], t["chatId"]) for t in fake_waha.typing] == [
        ("startTyping", CHAT),
        ("stopTyping", CHAT),
    ]


def test_typing_failures_are_swallowed(fake_waha: FakeWaha) -> None:
    make_sender(fake_waha).start_typing("ghost", PHONE)
    make_sender(fake_waha).stop_typing("default", "not a phone")
    make_sender(fake_waha, base_url=closed_port_url()).start_typing("default", PHONE)
    fake_waha.fail_next(1, 503, endpoints={"stopTyping"})
    make_sender(fake_waha).stop_typing("default", PHONE)
    assert fake_waha.count_requests("stopTyping") == 1  # best effort: no retry


# ---------------------------------------------------------------------- the API key stays secret


def test_api_key_never_logged_nor_in_exceptions(
    fake_waha: FakeWaha, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG, logger=logger.name)
    secret = fake_waha.api_key
    assert secret
    reasons: list[str] = []
    sender = make_sender(fake_waha)

    sender.send(text())
    # A server that echoes the key in its errors: retried (logged), then given up.
    echo = {"statusCode": 503, "message": f"upstream refused key {secret}"}
    fake_waha.fail_next(FAST.max_attempts, 503, echo, endpoints={"new-message-id"})
    with pytest.raises(SendNotAttempted) as caught:
        sender.send(text())
    reasons.append(caught.value.reason)
    fake_waha.fail_next(1, 500, {"statusCode": 500, "exception": {"message": f"invalid wid {secret}"}})
    with pytest.raises(ContactRejected) as rejected:
        sender.send(text())
    reasons.append(rejected.value.reason)
    fake_waha.fail_next(1, 503, echo, endpoints={"startTyping"})
    sender.start_typing("default", PHONE)
    with pytest.raises(ApiKeyRejected) as refused:
        make_sender(fake_waha, api_key=secret + "-wrong").send(text())
    reasons.append(refused.value.reason)

    assert any("***" in r for r in reasons)
    everything = [caplog.text, *reasons, *capfd.readouterr()]
    everything += [repr(vars(record)) for record in caplog.records]
    assert caplog.records, "expected retry warnings to be logged"
    assert not [chunk for chunk in everything if secret in chunk]


# ---------------------------------------------------------------------- configuration


def settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name in ("WAHA_BASE_URL", "WAHA_API_KEY", "WAHA_API_KEY_PARAMETER"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings.from_env()


def test_from_settings_with_plain_key(fake_waha: FakeWaha, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = settings(
        monkeypatch,
        WAHA_BASE_URL=fake_waha.base_url,
        WAHA_API_KEY=fake_waha.api_key or "",
        WAHA_CONNECT_TIMEOUT_S="1.5",
        WAHA_READ_TIMEOUT_S="12",
        WAHA_MAX_ATTEMPTS="2",
    )
    sender = WahaSender.from_settings(cfg)
    assert sender.client.timeout == (1.5, 12.0)
    assert sender.client.retry.max_attempts == 2
    assert sender.session_state("default").ready


@pytest.mark.parametrize(
    "name, getter",
    [
        ("/wcr/waha-api-key", "get_parameter"),
        ("secret:wcr/waha", "get_secret"),
        ("arn:aws:secretsmanager:us-east-1:123456789012:secret:wcr/waha-AbCdEf", "get_secret"),
    ],
)
def test_from_settings_reads_the_key_parameter(
    fake_waha: FakeWaha, monkeypatch: pytest.MonkeyPatch, name: str, getter: str
) -> None:
    from aws_lambda_powertools.utilities import parameters

    calls: list[tuple[str, str, dict[str, Any]]] = []

    def fake_getter(kind: str):
        def get(param: str, **kwargs: Any) -> str:
            calls.append((kind, param, kwargs))
            return f"{fake_waha.api_key}\n"

        return get

    monkeypatch.setattr(parameters, "get_parameter", fake_getter("get_parameter"))
    monkeypatch.setattr(parameters, "get_secret", fake_getter("get_secret"))
    cfg = settings(monkeypatch, WAHA_BASE_URL=fake_waha.base_url, WAHA_API_KEY_PARAMETER=name)
    sender = WahaSender.from_settings(cfg)

    sender.send(text())

    kind, param, kwargs = calls[0]
    assert kind == getter and param == name.removeprefix("secret:")
    assert kwargs["max_age"] == 300
    if getter == "get_parameter":
        assert kwargs["decrypt"] is True
    assert fake_waha.count_by_chat() == {CHAT: 1}
    assert fake_waha.api_key not in repr(ParameterApiKey(name))


def test_unreadable_key_parameter_pauses_without_details(fake_waha: FakeWaha) -> None:
    def broken() -> str:
        raise RuntimeError("AccessDenied for arn with secret-ish details")

    sender = WahaSender(make_client(fake_waha, api_key=broken))
    with pytest.raises(SendNotAttempted) as caught:
        sender.send(text())
    assert "Could not read the WAHA API key" in caught.value.reason
    assert "AccessDenied" not in caught.value.reason
    assert fake_waha.count_requests() == 0


@pytest.mark.parametrize(
    "env", [{"WAHA_READ_TIMEOUT_S": "soon"}, {"WAHA_CONNECT_TIMEOUT_S": "0"}, {"WAHA_MAX_ATTEMPTS": "0"}]
)
def test_from_settings_rejects_bad_knobs(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as caught:
        settings(monkeypatch, WAHA_BASE_URL="http://127.0.0.1:9", WAHA_API_KEY="k", **env)
    assert next(iter(env)) in str(caught.value)


def test_unsupported_endpoint_is_not_attempted(fake_waha: FakeWaha) -> None:
    fake_waha.fail_next(1, 501, {"statusCode": 501, "message": "Not Implemented"}, endpoints={"sendVideo"})
    with pytest.raises(EndpointUnsupported):
        make_sender(fake_waha).send(with_media("video/mp4"))


# ---------------------------------------------------------------------- a send that may have gone out

UPSTREAM_503 = (
    "upstream connect error or disconnect/reset before headers. reset reason: connection termination"
)
BAD_RECORD_MAC = (
    "[SSL: DECRYPTION_FAILED_OR_BAD_RECORD_MAC] decryption failed or bad record mac (_ssl.c:2580)"
)


class TlsBreaksAfterSending(HTTPAdapter):
    """Writes the request for real (WAHA handles it), then fails as a TLS stream that broke
    before the answer arrived."""

    def __init__(self, times: int, endpoints: set[str]) -> None:
        super().__init__()
        self.remaining = times
        self.endpoints = endpoints

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        response = super().send(request, **kwargs)
        endpoint = (request.path_url or "").split("?", 1)[0].rsplit("/", 1)[-1]
        if self.remaining > 0 and endpoint in self.endpoints:
            self.remaining -= 1
            response.close()
            raise requests.exceptions.SSLError(BAD_RECORD_MAC, request=request)
        return response


def tls_breaking_session(times: int = 1, endpoints: set[str] | None = None) -> requests.Session:
    session = requests.Session()
    session.mount("http://", TlsBreaksAfterSending(times, endpoints or set(fakewaha.SEND_ENDPOINTS)))
    return session


def no_id_text(fake: FakeWaha) -> OutgoingMessage:
    fake.supports_message_id = False
    return text()


AMBIGUOUS_SENDS = {
    "image": (lambda fake: with_media("image/jpeg"), "sendImage"),
    "text-without-id": (no_id_text, "sendText"),
    "file": (lambda fake: with_media("application/pdf"), "sendFile"),
}
DELIVERED_THEN_FAILED = {
    "500-engine-error": lambda f: f.fail_next(
        1,
        500,
        {"statusCode": 500, "exception": {"message": "Connection Closed", "name": "Error"}},
        process=True,
    ),
    "503-upstream-reset": lambda f: f.fail_next(1, 503, UPSTREAM_503, process=True),
    "503-json": lambda f: f.fail_next(1, 503, process=True),
    "connection-closed": lambda f: f.break_next(1),
}


@pytest.mark.parametrize("failure", list(DELIVERED_THEN_FAILED))
@pytest.mark.parametrize("kind", list(AMBIGUOUS_SENDS))
def test_a_send_delivered_then_failed_is_unknown_and_never_repeated(
    fake_waha: FakeWaha, kind: str, failure: str
) -> None:
    build, endpoint = AMBIGUOUS_SENDS[kind]
    message = build(fake_waha)
    DELIVERED_THEN_FAILED[failure](fake_waha)
    with pytest.raises(SendOutcomeUnknown) as caught:
        make_sender(fake_waha).send(message)
    assert "may have reached WhatsApp" in caught.value.reason
    assert fake_waha.count_requests(endpoint) == 1
    assert fake_waha.count_by_chat() == {CHAT: 1}


@pytest.mark.parametrize("kind", list(AMBIGUOUS_SENDS))
def test_a_tls_error_after_the_request_was_written_is_unknown(fake_waha: FakeWaha, kind: str) -> None:
    build, endpoint = AMBIGUOUS_SENDS[kind]
    message = build(fake_waha)
    sender = make_sender(fake_waha, http=tls_breaking_session())
    with pytest.raises(SendOutcomeUnknown):
        sender.send(message)
    assert fake_waha.count_requests(endpoint) == 1
    assert fake_waha.count_by_chat() == {CHAT: 1}


@pytest.mark.parametrize("failure", list(DELIVERED_THEN_FAILED))
def test_a_send_with_a_pre_generated_id_is_repeated_and_deduplicated(
    fake_waha: FakeWaha, failure: str
) -> None:
    DELIVERED_THEN_FAILED[failure](fake_waha)
    result = make_sender(fake_waha).send(text())
    [first, second] = fake_waha.request_log("sendText")
    assert first["body"]["id"] == second["body"]["id"]
    assert fake_waha.count_by_chat() == {CHAT: 1} and fake_waha.deduped == 1
    assert result.message_id == fake_waha.sent()[0]["message_id"]


def test_a_tls_error_with_a_pre_generated_id_is_repeated_and_deduplicated(fake_waha: FakeWaha) -> None:
    make_sender(fake_waha, http=tls_breaking_session()).send(text())
    assert fake_waha.count_requests("sendText") == 2
    assert fake_waha.count_by_chat() == {CHAT: 1} and fake_waha.deduped == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_5xx_that_delivered_nothing_is_still_never_repeated_without_an_id(
    fake_waha: FakeWaha, status: int
) -> None:
    # WAHA cannot say whether WhatsApp got it; only a pre-generated id makes a repeat safe.
    fake_waha.fail_next(1, status)
    with pytest.raises(SendOutcomeUnknown):
        make_sender(fake_waha).send(with_media("video/mp4"))
    assert fake_waha.count_requests("sendVideo") == 1


class RefusesToConnect(HTTPAdapter):
    """Fails the first `times` requests the way urllib3 does when no connection could be opened."""

    def __init__(self, times: int, reason: type[Exception]) -> None:
        super().__init__()
        self.remaining = times
        self.reason = reason

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if self.remaining > 0:
            self.remaining -= 1
            cause = self.reason(None, "Failed to establish a new connection: [Errno 111] Connection refused")
            error = MaxRetryError(None, request.url or "", cause)  # type: ignore[arg-type]
            if self.reason is ConnectTimeoutError:
                raise requests.ConnectTimeout(error, request=request)
            raise requests.ConnectionError(error, request=request)
        return super().send(request, **kwargs)


@pytest.mark.parametrize("reason", [NewConnectionError, ConnectTimeoutError])
def test_a_send_that_could_not_connect_is_retried_without_an_id(
    fake_waha: FakeWaha, reason: type[Exception]
) -> None:
    http = requests.Session()
    http.mount("http://", RefusesToConnect(2, reason))
    make_sender(fake_waha, http=http).send(with_media("image/jpeg"))
    assert fake_waha.count_requests("sendImage") == 1
    assert fake_waha.count_by_chat() == {CHAT: 1}


@pytest.mark.parametrize("endpoints", [{"session"}, {"new-message-id"}, {"check-exists"}])
@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_of_calls_that_send_nothing_are_retried(
    fake_waha: FakeWaha, status: int, endpoints: set[str]
) -> None:
    fake_waha.fail_next(2, status, endpoints=endpoints)
    sender = make_sender(fake_waha)
    assert sender.session_state("default").ready
    assert sender.number_exists("default", PHONE) is True
    sender.send(text())
    assert fake_waha.count_requests(next(iter(endpoints))) == 3
    assert fake_waha.count_by_chat() == {CHAT: 1}


# ---------------------------------------------------------------------- WAHA down: deferred


def _unavailable_setups() -> dict[str, Any]:
    return {
        "refused": lambda f: {"base_url": closed_port_url().replace("127.0.0.1", "localhost")},
        "session-503": lambda f: f.fail_next(10, 503, endpoints={"session"}) or {},
        "message-id-503": lambda f: f.fail_next(10, 503, UPSTREAM_503, endpoints={"new-message-id"}) or {},
        "malformed-url": lambda f: {"base_url": "http://[::1"},
        "unusable-url": lambda f: {"base_url": "htp://10.0.0.5:3000"},
    }


@pytest.mark.parametrize("setup", list(_unavailable_setups()))
def test_waha_down_is_deferred_with_a_reason_that_names_no_internals(
    fake_waha: FakeWaha, setup: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=logger.name)
    options = _unavailable_setups()[setup](fake_waha)
    sender = make_sender(fake_waha, **options)
    with pytest.raises(WahaUnavailable) as caught:
        sender.session_state("default") if setup == "session-503" else sender.send(text())
    assert isinstance(caught.value, SendDeferred)
    reason = caught.value.reason
    assert "could not be reached" in reason or "is not answering" in reason or "not usable" in reason
    assert "nothing was sent" in reason
    assert "127.0.0.1" not in reason and "localhost" not in reason and "10.0.0.5" not in reason
    assert "[::1" not in reason
    assert not re.search(r":\d{2,5}\b", reason) and "/api/" not in reason
    assert fake_waha.sent() == []
    # The details stay in the logs.
    assert any(getattr(r, "waha_url", None) for r in caplog.records)


def test_refusals_name_no_internal_paths(fake_waha: FakeWaha) -> None:
    sender = make_sender(fake_waha)
    reasons = []
    with pytest.raises(SessionNotFound) as missing:
        sender.send(text(session="ghost"))
    reasons.append(missing.value.reason)
    fake_waha.fail_next(
        1, 404, {"message": "Cannot POST /api/sendVideo", "statusCode": 404}, endpoints={"sendVideo"}
    )
    with pytest.raises(EndpointUnsupported) as unsupported:
        sender.send(with_media("video/mp4"))
    reasons.append(unsupported.value.reason)
    fake_waha.fail_next(
        1, 500, {"statusCode": 500, "exception": {"message": "invalid wid at http://10.0.0.5:3000/api/x"}}
    )
    with pytest.raises(ContactRejected) as rejected:
        sender.send(text())
    reasons.append(rejected.value.reason)
    for reason in reasons:
        assert "/api/" not in reason and "10.0.0.5" not in reason and ":3000" not in reason, reason
        assert urlsplit(fake_waha.base_url).netloc not in reason, reason


# ---------------------------------------------------------------------- what pacing may subtract


def test_prepared_time_is_the_message_id_call_not_the_sends_retries(fake_waha: FakeWaha) -> None:
    fake_waha.hang_next(1, seconds=0.3, endpoints={"new-message-id"})  # a slow id call: 0.3 s
    fake_waha.fail_next(1, 503, endpoints={"sendText"})  # then one 503 and a 0.5 s backoff
    sender = make_sender(fake_waha, sleep=lambda _s: time.sleep(0.5))
    started = time.monotonic()
    result = sender.send(text())
    elapsed = time.monotonic() - started

    assert fake_waha.count_requests("sendText") == 2 and fake_waha.count_by_chat() == {CHAT: 1}
    assert elapsed >= 0.8
    assert 0.3 <= result.prepared_s < 0.55  # the id call only: not the 503 attempt nor its backoff
    assert result.delivery_lag_s is not None and result.delivery_lag_s < 0.25


def test_prepared_time_of_a_media_send_is_almost_nothing(fake_waha: FakeWaha) -> None:
    fake_waha.fail_next(1, 429, endpoints={"sendImage"})  # a refusal: retried after a backoff
    result = make_sender(fake_waha, sleep=lambda _s: time.sleep(0.3)).send(with_media("image/jpeg"))
    assert result.prepared_s < 0.1
    assert result.delivery_lag_s is not None and result.delivery_lag_s < 0.25
