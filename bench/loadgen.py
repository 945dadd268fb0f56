"""Load for the API figure, in its own process (its threads do not share the server's
interpreter lock): CLIENTS threads, each with its own requests.Session, alternating
GET /campaigns and GET /campaigns/{id} for DURATION seconds. Prints JSON.

    python -m bench.loadgen BASE_URL TOKEN DURATION CLIENTS ID[,ID...]
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time

import requests


def main(argv: list[str]) -> None:
    base_url, token, duration, clients, ids = (
        argv[0],
        argv[1],
        float(argv[2]),
        int(argv[3]),
        argv[4].split(","),
    )
    headers = {"Authorization": f"Bearer {token}"}
    start = threading.Barrier(clients + 1)
    results: dict[str, list[float]] = {"list": [], "get": []}
    errors: list[str] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        rng = random.Random(number)
        session = requests.Session()
        mine: dict[str, list[float]] = {"list": [], "get": []}
        failures: list[str] = []
        start.wait()
        deadline = time.monotonic() + duration
        turn = number % 2
        while time.monotonic() < deadline:
            route = "list" if turn == 0 else "get"
            url = f"{base_url}/campaigns" if route == "list" else f"{base_url}/campaigns/{rng.choice(ids)}"
            began = time.perf_counter()
            try:
                answer = session.get(url, headers=headers, timeout=30)
                ok = answer.status_code == 200
                if not ok:
                    failures.append(f"{route} {answer.status_code}")
            except requests.RequestException as exc:
                ok = False
                failures.append(f"{route} {type(exc).__name__}")
            if ok:
                mine[route].append(time.perf_counter() - began)
            turn ^= 1
        with lock:
            for route, values in mine.items():
                results[route].extend(values)
            errors.extend(failures)

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.monotonic()
    for thread in threads:
        thread.join()
    print(json.dumps({"seconds": time.monotonic() - began, "latencies": results, "errors": errors}))


if __name__ == "__main__":
    main(sys.argv[1:])
