"""POST /campaigns/{id}/test: the campaign's message, personalised with its
`defaultNameValue` and with its media, sent now to one number through the
campaign's WhatsApp session, so its owner can see it on their own phone.

- At most `TEST_SENDS_PER_DAY` per campaign and UTC day (QuotaExceeded after), a
  conditional counter on the campaign (`campaigns.data.test_sends`); a send that
  never went out is given back. The campaign's progress and counters are untouched.
- A test is a message through the campaign's WhatsApp number like any other: it takes
  the number's send slot (`campaigns.data.number_slots`), so it is refused (WrongState,
  with the wait in `details`) while the number's gap since its last message, whatever
  campaign sent it, has not passed, or while the number is at its daily limit; and it
  counts in that limit. While the campaign is Running, its own `minDelayMs` since its
  last send applies too. Refusing rather than waiting keeps the request short; the
  answer says when to try again.
- The message is the campaign's, as the run sends it: with its opt-out footer when it
  asks for one, and its media as WAHA may fetch it now (a URL whose host resolves
  inside is refused; an uploaded file goes as a short-lived link).
- WAHA's failures are the sender's outcomes, answered as 422 (the number) or 409
  (the session or WAHA cannot send now), with reasons that name no internal address.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import replace
from datetime import datetime, timedelta

from campaigns.api.models import SendTestOut
from campaigns.config import settings
from campaigns.data import media, templates, test_sends
from campaigns.data.campaign_reads import CampaignReads
from campaigns.data.models import Campaign
from campaigns.data.number_slots import NumberSlots
from campaigns.data.owned_items import plausible_id
from campaigns.data.session_pauses import named_for_user
from campaigns.domain.errors import CampaignNotFound, Invalid, WrongState
from campaigns.domain.personalise import render_message
from campaigns.domain.phones import PhoneNumberRefused, to_e164
from campaigns.domain.statuses import CampaignStatus
from campaigns.observability import logger
from campaigns.runner.media import RunMedia
from campaigns.sending.factory import build_sender
from campaigns.sending.sender import (
    ContactRejected,
    Media,
    OutgoingMessage,
    SendDeferred,
    Sender,
    SendError,
    SendNotAttempted,
    SendUnconfirmed,
)
from campaigns.timeutil import utcnow

TEST_SENDS_PER_DAY = 10
# A test's turn on the number: recorded this long after it is taken; a message not ready
# by then (a slow WAHA) is not sent.
TEST_TURN_S = 4.0
# A wait for the number this short (a message just sent, recorded at the latest it could
# go out) is spent inside the request rather than refused.
SHORT_WAIT_S = TEST_TURN_S + 0.5
_ADDRESS = re.compile(
    r"\b[a-z][a-z0-9+.-]*://\S+|\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b|\blocalhost(?::\d+)?\b", re.I
)


def send_test(
    user_id: str, campaign_id: str, phone_number: str, now: datetime, sender: Sender | None = None
) -> SendTestOut:
    campaign = _campaign(user_id, campaign_id)
    number = _number(phone_number)
    _refuse_inside_pacing(campaign, now)
    try:
        message = _message(campaign, number)
    except SendNotAttempted as exc:
        raise _refusal(exc) from None
    day = now.date().isoformat()
    used = test_sends.take(campaign.id, user_id, day, TEST_SENDS_PER_DAY)
    try:
        send_by = _take_number_slot(campaign, message.session, now)
    except WrongState:
        test_sends.give_back(campaign.id, day)
        raise
    # Never later than the turn recorded on the number (a slow WAHA): nothing goes out then.
    message = replace(message, on_time=lambda: time.monotonic() <= send_by)
    try:
        result = (sender or build_sender()).send(message)
    except SendUnconfirmed as exc:  # it may have gone out: it stays counted
        raise _refusal(exc, message.session) from None
    except (SendNotAttempted, ContactRejected) as exc:
        test_sends.give_back(campaign.id, day)
        raise _refusal(exc, message.session) from None
    except Exception as exc:
        raise _refusal(exc, message.session) from None
    return SendTestOut(
        phone_number=number,
        message_id=result.message_id,
        sent_today=used,
        left_today=TEST_SENDS_PER_DAY - used,
    )


def _campaign(user_id: str, campaign_id: str) -> Campaign:
    if not plausible_id(campaign_id):
        raise CampaignNotFound(campaign_id)
    return CampaignReads().get_owned_campaign(campaign_id, user_id)


def _number(phone_number: str) -> str:
    try:
        return to_e164(phone_number)
    except PhoneNumberRefused as exc:
        detail = {"in": "body", "field": "phoneNumber", "message": str(exc)}
        raise Invalid(f"phoneNumber: {exc}", [detail]) from None


def _refuse_inside_pacing(campaign: Campaign, now: datetime) -> None:
    if campaign.status != CampaignStatus.RUNNING.value or campaign.last_sent_at is None:
        return
    elapsed_ms = (now - campaign.last_sent_at).total_seconds() * 1000
    wait_ms = int(campaign.min_delay_ms) - elapsed_ms
    if wait_ms > 0:
        raise WrongState(
            f"The campaign is sending: a test must wait {wait_ms / 1000:.1f} s after its last message "
            "(its minimum gap); try again then",
            [{"retryAfterMs": int(wait_ms) + 1}],
        )


def _take_number_slot(campaign: Campaign, session: str, now: datetime) -> float:
    """The number's gap and daily limit hold for a test as for any send through it. The
    turn is judged now and recorded TEST_TURN_S later, the latest the message may go
    out; returns that moment (monotonic)."""
    slots, gap_ms = NumberSlots(), int(campaign.min_delay_ms or 0)

    def take(at: datetime):
        latest = at + timedelta(seconds=TEST_TURN_S)
        return slots.take(session, f"{campaign.id}:test", gap_ms, latest, at, sends_from=at, wait_turn=False)

    taken = time.monotonic()
    decision = take(now)
    wait_s = ((decision.not_before or now) - now).total_seconds()
    if not decision.granted and 0 <= wait_s <= SHORT_WAIT_S:
        # A send just recorded (at the latest it could reach WhatsApp): wait it out here.
        time.sleep(wait_s)
        taken = time.monotonic()
        decision = take(utcnow())
    if decision.granted:
        return taken + TEST_TURN_S
    wait_ms = max(0, int(((decision.not_before or now) - now).total_seconds() * 1000)) + 1
    raise WrongState(
        f"{decision.reason or 'The WhatsApp number is busy'}: a test must wait {wait_ms / 1000:.1f} s; "
        "try again then",
        [{"retryAfterMs": wait_ms}],
    )


def _message(campaign: Campaign, number: str) -> OutgoingMessage:
    """The campaign's message for `number`, as the run would send it to a contact without a name."""
    template = templates.get(campaign.user_id, campaign.message_template_id)
    if template is None:
        raise WrongState("The campaign's message template no longer exists")
    attached = None
    if campaign.media_library_item_id is not None:
        item = media.get(campaign.user_id, campaign.media_library_item_id)
        if item is None:
            raise WrongState("The campaign's media item no longer exists")
        filename = item.storage_path.rsplit("/", 1)[-1].split("?", 1)[0] or item.name
        attached = Media(url=item.storage_path, mime_type=item.mime_type, filename=filename)
        fetchable = RunMedia()
        fetchable.check(attached, item.id)  # SendNotAttempted when WAHA must not fetch it now
        attached = fetchable.link(attached)
    footer = settings().opt_out_footer if campaign.opt_out_footer else None
    session = campaign.waha_session
    if not session or CampaignReads().session_holder(session) != campaign.user_id:
        raise WrongState("The campaign's WhatsApp number is no longer connected to your account")
    return OutgoingMessage(
        session=session,
        phone_number=number,
        text=render_message(template.text_content, None, campaign.default_name_value, footer),
        media=attached,
        idempotency_key=f"{campaign.id}:test:{uuid.uuid4().hex}",
    )


def _refusal(exc: Exception, session: str | None = None) -> Invalid | WrongState:
    """The sender's outcome as the product's error, its reason without internal addresses."""
    if isinstance(exc, ContactRejected):
        return Invalid(f"WhatsApp cannot take this number: {_public(exc.reason)}", [{"field": "phoneNumber"}])
    if isinstance(exc, SendUnconfirmed):
        return WrongState(
            "WhatsApp's service did not confirm the test message: it may or may not have been sent"
        )
    if isinstance(exc, SendDeferred):
        return WrongState(
            "WhatsApp's service cannot be reached right now; nothing was sent. Try again shortly."
        )
    if isinstance(exc, SendNotAttempted):
        return WrongState(f"Nothing was sent: {_public(named_for_user(exc.reason, session))}")
    if isinstance(exc, SendError):
        return WrongState(
            "The test message may or may not have been sent: "
            f"{_public(named_for_user(exc.reason, session))}. Check the phone."
        )
    logger.exception("Test send failed unexpectedly")
    return WrongState("The test message could not be sent; it may or may not have gone out. Check the phone.")


def _public(reason: str) -> str:
    return _ADDRESS.sub("(WhatsApp service)", reason)


__all__ = ["TEST_SENDS_PER_DAY", "send_test"]
