"""The campaign's own gap as WhatsApp sees it: from one delivering request to the next.

Between the end of a pacing wait and the delivering request the runner takes the
number's turn, claims the contact, checks the number and asks WAHA for a message id.
The wait ends that much earlier (the calls' lead, measured), so those round trips do
not stretch every gap; a message ready early is held just before its request until
the drawn gap is over, so the gap is never under it (plus a margin of 1 % of it for
the requests' transit, `transit_s`). On a fake clock: exact.
"""

from __future__ import annotations

import itertools

import pytest

from campaigns.runner.service import RunResult
from campaigns.sending.pacing import transit_s
from campaigns.sending.sender import DryRunSender, OutgoingMessage, SendResult
from tests.runner_harness import FakeClock, Harness

GAP_S = 1.0
HELD_S = GAP_S + transit_s(1000)  # the gap and its transit margin: 1.01 s


class SlowCalls(DryRunSender):
    """Each number check and each message-id call takes `calls_s[n]` on the fake clock
    (the n-th send's); records when each delivering request started."""

    def __init__(self, clock: FakeClock, calls_s: list[float]) -> None:
        super().__init__()
        self.clock = clock
        self.calls_s = calls_s
        self.starts: list[float] = []

    def _call(self) -> None:
        self.clock.now += self.calls_s[min(len(self.starts), len(self.calls_s) - 1)]

    def number_exists(self, session: str, phone_number: str) -> bool | None:
        self._call()
        return True

    def send(self, message: OutgoingMessage) -> SendResult:
        self._call()  # the message id, asked before the request
        result = super().send(message)  # asks `on_time` first, as WAHA's sender does
        self.starts.append(self.clock.now)
        return result


def _gaps(starts: list[float]) -> list[float]:
    return [round(b - a, 6) for a, b in itertools.pairwise(starts)]


@pytest.mark.parametrize("check_numbers", [True, False])
def test_the_calls_before_a_send_do_not_stretch_the_gap(build, check_numbers):
    campaign = build.campaign(8, min_delay_ms=1000, max_delay_ms=1000, check_numbers=check_numbers)
    clock = FakeClock()
    sender = SlowCalls(clock, [0.2])
    assert Harness(sender=sender, clock=clock).run(campaign.id) is RunResult.COMPLETED

    gaps = _gaps(sender.starts)
    assert len(gaps) == 7
    # The first gap has no measured lead yet; from then on the gap is the configured one.
    assert gaps[0] >= HELD_S
    assert gaps[1:] == [HELD_S] * 6, gaps


def test_calls_quicker_than_measured_hold_the_message_until_its_gap(build):
    campaign = build.campaign(8, min_delay_ms=1000, max_delay_ms=1000)
    clock = FakeClock()
    # Slow calls at first (a 0.8 s lead is measured), then quick ones.
    sender = SlowCalls(clock, [0.4, 0.4, 0.4, 0.05, 0.05, 0.05, 0.05, 0.05])
    assert Harness(sender=sender, clock=clock).run(campaign.id) is RunResult.COMPLETED

    gaps = _gaps(sender.starts)
    assert min(gaps) >= HELD_S, gaps  # never under the gap
    # The first quick send was ready 0.7 s early and held for it: the gap, to the
    # millisecond the waits are counted in; and so are the quick ones after it.
    assert all(HELD_S <= gap <= HELD_S + 0.002 for gap in gaps[2:]), gaps
