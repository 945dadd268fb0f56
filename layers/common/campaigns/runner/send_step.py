"""Send one claimed contact: check the number, show typing, send, and say what happened.

The result carries its own reason: an `Outcome` to record (Sent, Failed, Unknown),
or `NotSent` (nothing went out: release the claim, then pause, or wait when
WAHA is only down for a while). The campaign's media is checked again before the
first media send of the invocation (`campaigns.runner.media`): media WAHA must not
fetch now is a `NotSent` that pauses the campaign. The owner's opt-out list was
checked by the claim, in its own request (`campaigns.data.run_writes`): an opted-out
contact never reaches this step.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from campaigns.config import settings
from campaigns.data.models import Campaign, Contact
from campaigns.domain.outcomes import Outcome
from campaigns.domain.personalise import render_message
from campaigns.domain.statuses import DeliveryStatus
from campaigns.runner.media import RunMedia
from campaigns.runner.turns import LATE_FOR_TURN, NumberTurn
from campaigns.sending.pacing import Pacer
from campaigns.sending.sender import (
    ContactRejected,
    Media,
    OutgoingMessage,
    SendDeferred,
    Sender,
    SendNotAttempted,
    SendOutcomeUnknown,
    SendPlan,
    SendTooLate,
    SendUnconfirmed,
)

NOT_ON_WHATSAPP = "This number is not on WhatsApp"
TYPING_MS_PER_CHAR = 40
TYPING_MIN_MS = 800
TYPING_MAX_MS = 6_000


def typing_ms(text: str) -> int:
    return max(TYPING_MIN_MS, min(TYPING_MAX_MS, TYPING_MS_PER_CHAR * len(text)))


@dataclass(frozen=True)
class NotSent:
    reason: str
    transient: bool = False  # WAHA down or restarting: wait and try again
    # An unconfirmed send's id: the contact is sent again with it, never with another.
    message_id: str | None = None
    # The calls before the send overran the number's turn: take the turn again.
    retake_turn: bool = False


@dataclass(frozen=True)
class Message:
    """What every contact of a run gets, before personalisation."""

    campaign_id: str
    owner_id: str  # whose opt-out list the claim checks
    session: str
    template: str
    default_name: str
    media: Media | None
    plan: SendPlan
    # The opt-out footer every message ends with, when the campaign asks for one.
    footer: str | None = None
    # The campaign's media item, named when its media is refused at send time.
    media_item_id: str | None = None

    def for_campaign(self, campaign: Campaign) -> Message:
        """This message as `campaign` sends it: with the opt-out footer (OPT_OUT_FOOTER)
        when it asks for one, and knowing its media item."""
        footer = settings().opt_out_footer if campaign.opt_out_footer else None
        return replace(self, footer=footer, media_item_id=campaign.media_library_item_id)

    def text_for(self, contact: Contact) -> str:
        return render_message(self.template, contact.first_name, self.default_name, self.footer)


class SendStep:
    def __init__(
        self,
        sender: Sender,
        sleep: Callable[[float], None],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sender = sender
        self.sleep = sleep
        self.monotonic = monotonic
        self.media = RunMedia()  # a runner (and so this step) serves one invocation
        self.turn = NumberTurn(monotonic, sleep)  # the number's turn for the next send (runner/waits.py)

    def typing_for(self, message: Message, contact: Contact) -> int:
        return typing_ms(message.text_for(contact)) if message.plan.typing else 0

    def send(
        self, message: Message, contact: Contact, pacer: Pacer, message_id: str | None = None
    ) -> Outcome | NotSent:
        phone = contact.phone_number
        try:
            if message.media is not None:
                self.media.check(message.media, message.media_item_id)
            if message.plan.check_number:
                exists = self.sender.number_exists(message.session, phone)
                if exists is False:
                    return Outcome(DeliveryStatus.FAILED, error=NOT_ON_WHATSAPP)
            text = message.text_for(contact)
            if message.plan.typing:
                self._type(message.session, phone, typing_ms(text))
            if self.turn.overran():
                return NotSent(LATE_FOR_TURN, retake_turn=True)
            return self._deliver(message, contact, text, pacer, message_id)
        except ContactRejected as exc:
            return Outcome(DeliveryStatus.FAILED, error=exc.reason)
        except SendOutcomeUnknown as exc:
            return Outcome(DeliveryStatus.UNKNOWN, error=exc.reason)
        except SendTooLate:
            return NotSent(LATE_FOR_TURN, retake_turn=True)
        except SendUnconfirmed as exc:
            return NotSent(exc.reason, transient=True, message_id=exc.message_id)
        except SendDeferred as exc:
            return NotSent(exc.reason, transient=True)
        except SendNotAttempted as exc:
            return NotSent(exc.reason)

    def _deliver(
        self,
        message: Message,
        contact: Contact,
        text: str,
        pacer: Pacer,
        message_id: str | None,
    ) -> Outcome:
        started = self.monotonic()
        outgoing = OutgoingMessage(
            session=message.session,
            phone_number=contact.phone_number,
            text=text,
            media=None if message.media is None else self.media.link(message.media),
            idempotency_key=f"{message.campaign_id}:{int(contact.index)}",
            message_id=message_id,
            on_time=self.turn.on_time,
        )
        self.turn.cleared = self.turn.ready_at = None
        self.turn.pace_until = pacer.due()  # the campaign's own gap, and its transit margin
        try:
            result = self.sender.send(outgoing)
        except (SendOutcomeUnknown, SendUnconfirmed):
            # It may have gone out: the next gap counts from it.
            pacer.sent(self.turn.not_before_cleared(started))
            raise
        # Pace from when the delivering request started: a send delayed by retries
        # went out late, so the next one waits its full gap after it; a send that waited
        # for the number's gap (`turn.on_time`) went out after that wait.
        lag = result.delivery_lag_s
        at = self.turn.not_before_cleared
        pacer.sent(at(started if lag is None else self.monotonic() - lag), self._lead(pacer, message, text))
        self.turn.sent(at(started + result.prepared_s if lag is None else self.monotonic() - lag))
        return Outcome(DeliveryStatus.SENT, message_id=result.message_id)

    def _lead(self, pacer: Pacer, message: Message, text: str) -> float | None:
        """How long the calls from the end of the pacing wait to the ready request took
        (typing left out), or None when either moment is unknown."""
        if pacer.wait_ended is None or self.turn.ready_at is None:
            return None
        typing_s = typing_ms(text) / 1000 if message.plan.typing else 0.0
        return self.turn.ready_at - pacer.wait_ended - typing_s

    def _type(self, session: str, phone: str, typing: int) -> None:
        started = self.monotonic()
        self.sender.start_typing(session, phone)
        # Typing fills the end of the wait; with no wait (a run's first message) it
        # still shows for its full time.
        remaining = typing / 1000 - (self.monotonic() - started)
        if remaining > 0:
            self.sleep(remaining)
        self.sender.stop_typing(session, phone)
