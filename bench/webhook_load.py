"""Load for the webhooks figure, in its own process (its threads do not share the
server's interpreter lock): CLIENTS threads post WAHA's signed `message.ack`
webhooks for the message ids of a JSON file, each id once, as the fake WAHA of
tests/fakewaha.py signs and posts them (HMAC-SHA512 of the raw body with the
session's key, a fresh event id and timestamp each). Prints JSON: the seconds from
the first post to the last answer, each post's latency, the answers' statuses.

    python -m bench.webhook_load SPEC.json CLIENTS

SPEC.json: {"session": WAHA name, "config": the session's config as WAHA got it
(its webhooks with their URL and HMAC key), "me": the paired number's id,
"ack": "DEVICE" | "READ" | ..., "ids": [message id, ...]}.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import bench  # noqa: F401  (path and environment first)


def main(argv: list[str]) -> None:
    from tests.fakewaha import FakeWaha

    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    clients = int(argv[1])
    # Not started: only its webhook side (WAHA's envelope, signing, the POST) is used.
    waha = FakeWaha()
    name = spec["session"]
    waha.configs[name] = spec["config"]
    waha.me_ids[name] = spec["me"]
    ids = spec["ids"]
    start = threading.Barrier(clients + 1)
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    lock = threading.Lock()

    def client(number: int) -> None:
        mine, answers = [], Counter()
        start.wait()
        for message_id in ids[number::clients]:
            began = time.perf_counter()
            try:
                answers[str(waha.ack(name, message_id, spec["ack"]))] += 1
            except Exception as exc:  # a refused connection, a timeout: counted, not raised
                answers[type(exc).__name__] += 1
            mine.append(time.perf_counter() - began)
        with lock:
            latencies.extend(mine)
            statuses.update(answers)

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.monotonic()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - began
    print(json.dumps({"seconds": seconds, "latencies": latencies, "statuses": statuses}))


if __name__ == "__main__":
    main(sys.argv[1:])
