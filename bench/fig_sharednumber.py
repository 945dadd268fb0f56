"""Figure 11: two campaigns on one WhatsApp number. Both paced at 1,000 ms
(minDelayMs = maxDelayMs), started together, sending through the same session: the
gap between two messages through the number, as the fake WAHA records them (the
moment it accepts each `sendText`), against the configured 1,000 ms; and each
campaign's share of the sends while both were running.

Real time, real sleeps: the runner function's own handler on the local stack's
invoker (devstack: background workers, hand-offs and delayed continuations as in
AWS), the WAHA sender against the fake WAHA answering after 200 ms, the benchmarks'
DynamoDB server. `checkNumbers` off (figure 4 measures what the number check adds).
The contract: two messages through a number are never closer than the smaller
`minDelayMs` of the campaigns sending them, and campaigns on one number take turns.
"""

from __future__ import annotations

import itertools
import statistics
import time

from bench import common
from bench.common import Context, FigureResult, Row, md_table

USER = "bench-user"
GAP_MS = 1_000
LATENCY_MS = 200
TOLERANCE = 0.03  # of the mean gap against the configured one
FAIRNESS = 0.10  # of each campaign's share against an equal share
PREFIXES = {"A": "+1555100", "B": "+1555200"}


def _campaigns(per_campaign: int) -> dict[str, str]:
    from tests.builders import Builder

    builder = Builder(user_id=USER)
    ids = {}
    for number, (name, prefix) in enumerate(PREFIXES.items()):
        contacts = [(f"{prefix}{index:04d}", f"Name{index}") for index in range(per_campaign)]
        campaign = builder.campaign(
            contacts,
            min_delay_ms=GAP_MS,
            max_delay_ms=GAP_MS,
            check_numbers=False,
            register_session=number == 0,
        )
        ids[name] = campaign.id
    return ids


def _wait_until_final(ids: dict[str, str], timeout_s: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout_s
    while True:
        statuses = {name: common.reload_campaign(cid).status for name, cid in ids.items()}
        if all(status in ("Completed", "Paused", "Failed", "Cancelled") for status in statuses.values()):
            return statuses
        if time.monotonic() > deadline:
            raise RuntimeError(f"the campaigns did not finish in {timeout_s:.0f} s: {statuses}")
        time.sleep(0.5)


def _sends(fake) -> list[tuple[float, str]]:
    """(time, campaign) of every message the fake WAHA accepted, in time order."""
    out = []
    for message in fake.sent():
        digits = "+" + message["chatId"].split("@", 1)[0]
        campaign = next(name for name, prefix in PREFIXES.items() if digits.startswith(prefix))
        out.append((message["time"], campaign))
    return sorted(out)


def _shares(sends: list[tuple[float, str]]) -> tuple[dict[str, int], float, float]:
    """Sends of each campaign while both were sending (from the later first send to
    the earlier last one), and that window's bounds."""
    first = {name: min(t for t, c in sends if c == name) for name in PREFIXES}
    last = {name: max(t for t, c in sends if c == name) for name in PREFIXES}
    start, end = max(first.values()), min(last.values())
    counts = {name: sum(1 for t, c in sends if c == name and start <= t <= end) for name in PREFIXES}
    return counts, start, end


def _gap_row(label: str, gaps: list[float]) -> list[str]:
    if not gaps:
        return [label, "0", "-", "-", "-", "-"]
    return [
        label,
        str(len(gaps)),
        f"{statistics.fmean(gaps):.0f}",
        f"{common.percentile(gaps, 5):.0f}",
        f"{min(gaps):.0f}",
        f"{max(gaps):.0f}",
    ]


def run(ctx: Context) -> FigureResult:
    from campaigns.invoker import runner_event
    from devstack.stack import LocalStack

    figure = FigureResult("sharednumber", "11. Two campaigns on one WhatsApp number")
    per_campaign = ctx.size(20, 6)
    ctx.db.reset()
    with (
        common.fake_waha(LATENCY_MS) as fake,
        LocalStack(
            port=0,
            web_root=None,
            schedule_seconds=3600,
            dynamodb_endpoint=ctx.db.endpoint,
            waha_base_url=fake.base_url,
            waha_api_key=fake.api_key,
        ) as stack,
        common.quiet_stdout(),
    ):
        common.quiet_function_logs()
        ids = _campaigns(per_campaign)
        common.progress(f"figure 11: two campaigns of {per_campaign} contacts on one number, {GAP_MS} ms")
        started = time.monotonic()
        for campaign_id in ids.values():
            stack.invoker.invoke(runner_event(campaign_id))
        statuses = _wait_until_final(ids, timeout_s=60 + per_campaign * 2 * 10)
        seconds = time.monotonic() - started
        sends = _sends(fake)
    if set(statuses.values()) != {"Completed"} or len(sends) != 2 * per_campaign:
        raise RuntimeError(f"statuses {statuses}, {len(sends)} sends of {2 * per_campaign}")

    gaps = [(b[0] - a[0]) * 1000 for a, b in itertools.pairwise(sends)]
    turns = [(b[0] - a[0]) * 1000 for a, b in itertools.pairwise(sends) if a[1] != b[1]]
    same = [(b[0] - a[0]) * 1000 for a, b in itertools.pairwise(sends) if a[1] == b[1]]
    mean, p5, low = statistics.fmean(gaps), common.percentile(gaps, 5), min(gaps)
    error = (mean - GAP_MS) / GAP_MS
    figure.rows.append(
        Row(
            "11",
            f"Gap through one number, two campaigns at {GAP_MS:,} ms, WAHA {LATENCY_MS} ms: mean; p5; min",
            f"{mean:.0f} ms ({100 * error:+.1f} %); {p5:.0f} ms; {low:.0f} ms",
            "within 3 %, never under",
            common.verdict(abs(error) <= TOLERANCE and low >= GAP_MS),
        )
    )
    counts, start, end = _shares(sends)
    both = sum(counts.values())
    shares = {name: count / both for name, count in counts.items()}
    worst = max(abs(share - 0.5) / 0.5 for share in shares.values())
    figure.rows.append(
        Row(
            "11",
            "Each campaign's share of the sends while both were sending: A; B",
            "; ".join(f"{100 * shares[name]:.0f} % ({counts[name]})" for name in PREFIXES),
            "50 % ± 10 %",
            common.verdict(worst <= FAIRNESS),
        )
    )
    order = "".join(campaign for _, campaign in sends)
    figure.details.append(
        f"{2 * per_campaign} sends in {seconds:.0f} s, both campaigns Completed; in the order WAHA "
        f"took them: `{order}`. While both were sending ({(end - start):.1f} s): "
        + ", ".join(f"{name} {counts[name]}" for name in PREFIXES)
        + ".\n\n"
        + md_table(
            ["gaps through the number (ms)", "gaps", "mean", "p5", "min", "max"],
            [
                _gap_row("all", gaps),
                _gap_row("from one campaign to the other", turns),
                _gap_row("within one campaign", same),
            ],
        )
    )
    figure.details.append(
        "How a turn is taken (runner/waits.py, runner/turns.py, data/number_slots.py): the "
        "campaign's claim carries the number's turn, a conditional write on the session item in "
        "the same transaction as the claim and the opt-out check. The turn is judged at the "
        "moment the send should reach WAHA (its typing plus the slowest of the last calls from "
        "taking a turn to the ready request: the claim, the number check, the message id) and "
        "recorded at the latest it may (the calls reserved for with `TURN_ROOM_S` of room); a "
        "message ready sooner waits just before its request for the moment the number allows, "
        "one not ready by the latest takes the turn again. The record that follows a send "
        "settles its turn with the moment its request started (an unconditional update in the "
        "record's transaction, no request of its own); another campaign counts its gap from the "
        "settled moment, and while a turn is unsettled asks again from its earliest. The "
        "campaign that sent last lets a waiting one go first (for up to a gap) and follows the "
        "turn it takes. A wait for the number longer than `CONTINUATION_THRESHOLD_MS` ends the "
        "invocation, and a delayed continuation (whole seconds) resumes it."
    )
    if abs(error) > TOLERANCE:
        figure.findings.append(
            f"**Two campaigns on one number are spaced {mean / GAP_MS:.2f} x the number's gap** "
            f"(figure 11): configured {GAP_MS:,} ms, the sends through the number go out every "
            f"{mean:.0f} ms on average ({statistics.fmean(turns) if turns else float('nan'):.0f} ms "
            f"from one campaign to the other), never closer than {low:.0f} ms"
            + (": safe (the contract's minimum holds)" if low >= GAP_MS else ": closer than the gap")
            + (" and fair" if worst <= FAIRNESS else ", not fair")
            + f", but the number sends at {GAP_MS / mean:.2f} x the rate it allows."
        )
    return figure
