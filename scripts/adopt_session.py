"""Hand an existing WAHA session to one user: the operator's way in for WAHA versions
that allow a single session (WAHA Core before 2026.6.1 has only `default`), or for a
number paired by hand. No HTTP route lets a user name a session; this command does it
with the operator's own access to the tables (and, in AWS, to the webhook keys).

    make adopt-session NAME=default USER=<the user's sub>
    python scripts/adopt_session.py --name default --user <sub>

It reads the same environment as the functions: DYNAMODB_ENDPOINT or the AWS
credentials and SESSIONS_TABLE/TABLE_PREFIX; WAHA_BASE_URL and WAHA_API_KEY; the
webhook's address WAHA_WEBHOOK_URL; WEBHOOK_KEYS_PATH for keys in SSM (unset: the
local keys). With WAHA configured, the session must exist there; its webhook is then
pointed at this product's POST /webhooks/waha, signed with a new key of its own.
The session is the user's from then on, listed with its status once WAHA reports it.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def _paths() -> None:
    for path in (ROOT / "layers" / "common", ROOT):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")


def adopt(name: str, user: str) -> str:
    """Adopt `name` for `user`; returns the new session's id. Raises SystemExit with the
    reason when it cannot."""
    from campaigns.api.sessions import webhook_url
    from campaigns.config import settings
    from campaigns.data import sessions
    from campaigns.data.session_keys import session_keys
    from campaigns.domain.errors import WrongState
    from campaigns.sending.sender import SendError
    from campaigns.sending.waha_sessions import WahaSessions
    from campaigns.timeutil import utcnow

    waha = WahaSessions.from_settings()
    info = None
    if waha is not None:
        try:
            info = waha.info(name)
        except SendError as exc:
            raise SystemExit(f"WAHA has no usable session {name!r}: {exc.reason}") from None
    item = sessions.adopt(name, user, 1000, utcnow())
    if item is None:
        raise SystemExit(f"The session {name!r} already belongs to a user; delete it there first")
    if waha is not None and info is not None:
        try:
            key = session_keys().create(name)
            waha.set_webhook(name, webhook_url(name), key, {"session.id": item.id or ""})
        except (SendError, WrongState) as exc:
            sessions.mark_deleted(item, utcnow())
            raise SystemExit(f"Could not point {name!r}'s webhook at this product: {exc}") from None
        sessions.record_status(name, info.status, utcnow(), info.phone_number, info.push_name)
    elif not settings().waha_base_url:
        sessions.record_status(name, "WORKING", utcnow())  # dry run: nothing to pair
    return item.id or ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--name", required=True, help="the WAHA session's name, e.g. default")
    parser.add_argument("--user", required=True, help="the user's id (the JWT's sub)")
    args = parser.parse_args(argv)
    if not NAME_PATTERN.match(args.name):
        parser.error("--name: letters, digits, _ and -, at most 64")
    if not args.user.strip() or len(args.user) > 256:
        parser.error("--user: the user's id (the JWT's sub)")
    _paths()
    session_id = adopt(args.name, args.user.strip())
    print(f"WAHA session {args.name!r} is now {args.user!r}'s WhatsApp session {session_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
