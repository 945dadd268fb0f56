"""`python -m devstack dev | token USER | demo` (what `make dev`, `make token` and
`make demo` run)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import warnings
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
for _path in (REPO_ROOT / "layers" / "common", REPO_ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

# Read by the Powertools singletons when the domain package is first imported:
# no X-Ray locally, and no CloudWatch metric blobs in the console.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "whatsapp-campaigns")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
warnings.filterwarnings("ignore", message="No application metrics to publish")


def _dev(args: argparse.Namespace) -> int:
    from devstack.stack import LocalStack, StackError, configure_logging

    configure_logging(os.environ.get("POWERTOOLS_LOG_LEVEL") or "INFO")
    overrides = {"port": args.port} if args.port is not None else {}
    try:
        stack = LocalStack.from_env(**overrides)
        stack.start()
    except (StackError, OSError, ImportError) as exc:
        print(f"make dev: the local stack did not start: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C while starting: start() already undid what it began
        return 130

    stopping = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        if stopping.is_set():
            print("\nStopping now; a runner cut off mid-send leaves that contact Unknown.", flush=True)
            os._exit(130)
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    print(
        f"\n  API and dashboard: {stack.base_url}/\n"
        f"  Sign in:           the dashboard's Sign in button (development sign-in: any user id)\n"
        f"  Token:             make token USER=alice   (then Authorization: Bearer <token>)\n"
        f"  DynamoDB:          {stack.dynamodb_endpoint}"
        f"{' (embedded, in memory)' if stack.embedded_dynamodb else ''}\n"
        f"  Media uploads:     bucket {stack.media_bucket} at {stack.s3_endpoint}\n"
        f"  Sender:            {'WAHA at ' + stack.waha_base_url if stack.waha_base_url else 'dry run'}\n"
        f"  Ctrl-C stops; runners save their place first (Ctrl-C twice to quit at once).\n"
        + (f"\n  CONFIGURATION ERROR: {stack.budget_problem}\n" if stack.budget_problem else ""),
        flush=True,
    )
    while not stopping.wait(0.5):
        pass
    print("\nStopping the local stack...", flush=True)
    stack.stop()
    return 0


def _token(args: argparse.Namespace) -> int:
    from devstack.auth import make_token, secret_from_env

    print(make_token(args.user, secret_from_env(), args.ttl))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from devstack.demo import main

    return main(contacts=args.contacts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    dev = commands.add_parser("dev", help="serve the API and dashboard on 127.0.0.1:$PORT")
    dev.add_argument("--port", type=int, default=None, help="default: $PORT or 3000")
    dev.set_defaults(run=_dev)
    token = commands.add_parser("token", help="print a local JWT for USER")
    token.add_argument("user")
    token.add_argument("--ttl", type=int, default=12 * 3600, help="seconds the token is valid (default 12 h)")
    token.set_defaults(run=_token)
    demo = commands.add_parser("demo", help="run campaigns end to end on an in-process stack")
    demo.add_argument("--contacts", type=int, default=25)
    demo.set_defaults(run=_demo)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
