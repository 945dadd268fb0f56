"""The sender the functions use, chosen by the settings: WAHA or the dry run.

Kept apart from `sender` (the interface) so the interface never imports the WAHA
modules that implement it.
"""

from __future__ import annotations

from campaigns.config import settings
from campaigns.sending.sender import DryRunSender, Sender
from campaigns.sending.waha_sender import WahaSender


def build_sender() -> Sender:
    """WAHA when WAHA_BASE_URL is set, the dry-run sender otherwise."""
    cfg = settings()
    if cfg.waha_base_url:
        return WahaSender.from_settings(cfg)
    return DryRunSender(keep_sent=False)
