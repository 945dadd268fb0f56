"""Can one send fit in one invocation? A run plans each send against the worst case
of the calls that send makes (`Sender.worst_case_ms`); if even a fresh invocation
cannot afford it, the run would hand off forever without sending. That is refused:
at cold start for the cheapest possible send (a configuration error, in the logs
and in `make dev`'s banner), and per campaign for its own calls (it pauses with
this reason)."""

from __future__ import annotations

from campaigns.config import Settings
from campaigns.sending.sender import Sender, SendPlan

# The cheapest send there is: no number check, no typing, no message-id call.
CHEAPEST = SendPlan(check_number=False, typing=False, media=True)


def send_budget_problem(worst_send_ms: int, cfg: Settings) -> str | None:
    """Why a send whose calls can take `worst_send_ms` never fits an invocation, or None."""
    if worst_send_ms + cfg.handoff_margin_ms < cfg.runner_timeout_ms:
        return None
    return (
        f"One message can take up to {worst_send_ms / 1000:.0f} s with WAHA's timeouts and retries, "
        f"which does not fit the runner's time limit ({cfg.runner_timeout_ms / 1000:.0f} s, of which "
        f"{cfg.handoff_margin_ms / 1000:.0f} s are kept as margin). Lower WAHA_READ_TIMEOUT_S or "
        "WAHA_MAX_ATTEMPTS, or raise the runner's timeout."
    )


def startup_budget_problem(sender: Sender, cfg: Settings) -> str | None:
    """A configuration in which no campaign could ever send, or None."""
    return send_budget_problem(int(sender.worst_case_ms(CHEAPEST)), cfg)
