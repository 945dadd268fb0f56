"""`make demo`: two campaigns end to end on an in-process local stack, over HTTP.

Alice registers a WhatsApp session, uploads 25 contacts (some without a first
name, some with a blank one), a template using {Name} and {name}, and a media
item, then runs a campaign and watches it to the end. A second campaign is
paused midway and resumed, and its deliveries show that no contact got the
message twice. Messages are not sent: the dry-run sender logs each one, and the
demo prints those lines as they come.
"""

from __future__ import annotations

import logging
import queue
import sys
import time
from collections import Counter
from typing import Any

import requests

from campaigns.api.media_urls import set_resolver, system_resolver
from devstack.stack import DRY_RUN_PREFIX, LocalStack, configure_logging

USER = "demo-alice"
SESSION = "demo-alice-phone"
FIRST_NAMES = ["Ana", "Bruno", None, "Chen", "", "Dalia", "Emeka", "   ", "Fatima", "Gustavo", None, "Hana"]
TEMPLATE = "Hi {Name}! Our spring sale starts today. See you soon, {name}."
SECOND_TEMPLATE = "{NAME}, the spring sale ends tonight."
DEFAULT_NAME = "friend"
MEDIA_URL = "https://example.com/media/spring-sale.jpg"
# example.com's public address: the API resolves a media URL's host before accepting
# it, and the demo must run offline, so its one media host is answered from here.
MEDIA_HOST_ADDRESS = "93.184.215.14"
MIN_DELAY_MS = 60
MAX_DELAY_MS = 140
FINAL = {"Completed", "Failed", "Cancelled"}
BAR_WIDTH = 30


class DemoFailed(Exception):
    pass


class _DryRunLines(logging.Handler):
    """Collects the dry-run sender's lines from the functions' logger."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: queue.Queue[str] = queue.Queue()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith(DRY_RUN_PREFIX):
            self.lines.put(message)


class Demo:
    def __init__(self, stack: LocalStack, lines: _DryRunLines, contacts: int, out: Any = None) -> None:
        self.stack = stack
        self.dry_run = lines
        self.contacts = contacts
        self.out = out or sys.stdout
        self.tty = hasattr(self.out, "isatty") and self.out.isatty()
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {stack.token(USER)}"
        self._bar_shown = False
        self._last_bar: tuple[int, str] | None = None

    # ------------------------------------------------------------------ output

    def say(self, text: str = "") -> None:
        self._clear_bar()
        print(text, file=self.out, flush=True)

    def _clear_bar(self) -> None:
        if self._bar_shown and self.tty:
            self.out.write("\r\033[K")
        self._bar_shown = False

    def _bar(self, done: int, total: int, status: str, elapsed: float) -> None:
        filled = int(BAR_WIDTH * done / total) if total else 0
        line = (
            f"  [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done:>3}/{total} {status:<9} {elapsed:5.1f} s"
        )
        if self.tty:
            self._clear_bar()
            self.out.write(line)
            self.out.flush()
            self._bar_shown = True
        elif self._last_bar is None or (
            # Not a terminal: a line when the status changes and every fifth contact.
            (done, status) != self._last_bar and (status != self._last_bar[1] or done % 5 == 0)
        ):
            print(line, file=self.out, flush=True)
        self._last_bar = (done, status)

    def drain_dry_run(self, seen: list[str]) -> None:
        while True:
            try:
                line = self.dry_run.lines.get_nowait()
            except queue.Empty:
                return
            seen.append(line)
            self.say(f"  {line}")

    # -------------------------------------------------------------------- http

    def call(self, method: str, path: str, expect: tuple[int, ...], body: Any = None) -> Any:
        response = self.http.request(method, f"{self.stack.base_url}{path}", json=body, timeout=30)
        if response.status_code not in expect:
            raise DemoFailed(f"{method} {path} answered {response.status_code}: {response.text[:500]}")
        return response.json() if response.content else None

    def deliveries(self, campaign_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            path = f"/campaigns/{campaign_id}/deliveries"
            page = self.call("GET", path + (f"?nextToken={token}" if token else ""), (200,))
            items.extend(page["items"])
            token = page.get("nextToken")
            if not token:
                return items

    # ------------------------------------------------------------------ stages

    def setup(self) -> dict[str, str]:
        self.say(f"1. {USER} connects a WhatsApp number, '{SESSION}' (a dry run pairs it at once)")
        self.call("POST", "/whatsapp-sessions", (201,), {"label": SESSION})
        contacts = []
        for index in range(self.contacts):
            contact: dict[str, Any] = {"phoneNumber": f"+1555010{index:04d}"}
            name = FIRST_NAMES[index % len(FIRST_NAMES)]
            if name is not None:
                contact["firstName"] = name
            contacts.append(contact)
        missing = sum(1 for c in contacts if "firstName" not in c)
        blank = sum(1 for c in contacts if "firstName" in c and not c["firstName"].strip())
        self.say(
            f"2. Uploads a contact list of {len(contacts)} contacts "
            f"({missing} without a first name, {blank} with a blank one)"
        )
        contact_list = self.call(
            "POST", "/contact-lists", (201,), {"name": "Spring customers", "contacts": contacts}
        )
        self.say(f'3. Writes a template: "{TEMPLATE}"')
        template = self.call(
            "POST", "/message-templates", (201,), {"name": "Spring sale", "textContent": TEMPLATE}
        )
        second = self.call(
            "POST", "/message-templates", (201,), {"name": "Last call", "textContent": SECOND_TEMPLATE}
        )
        self.say(f"4. Adds a media item: {MEDIA_URL}")
        media = self.call(
            "POST",
            "/media-items",
            (201,),
            {"name": "Spring sale flyer", "storagePath": MEDIA_URL, "mimeType": "image/jpeg"},
        )
        return {
            "list": contact_list["id"],
            "template": template["id"],
            "second": second["id"],
            "media": media["id"],
        }

    def create_campaign(
        self, name: str, list_id: str, template_id: str, media_id: str | None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": name,
            "contactListId": list_id,
            "messageTemplateId": template_id,
            "defaultNameValue": DEFAULT_NAME,
            "minDelayMs": MIN_DELAY_MS,
            "maxDelayMs": MAX_DELAY_MS,
        }
        if media_id:
            body["mediaLibraryItemId"] = media_id
        return self.call("POST", "/campaigns", (201,), body)

    def watch(
        self, campaign_id: str, seen: list[str], until: Any, started: float, timeout_s: float = 120
    ) -> dict[str, Any]:
        """Print dry-run lines and the progress bar until `until(campaign)` holds."""
        deadline = time.monotonic() + timeout_s
        while True:
            campaign = self.call("GET", f"/campaigns/{campaign_id}", (200,))
            self.drain_dry_run(seen)
            done = int(campaign["sentCount"]) + int(campaign["failedCount"]) + int(campaign["unknownCount"])
            self._bar(
                done,
                int(campaign["totalContacts"] or self.contacts),
                campaign["status"],
                time.monotonic() - started,
            )
            if until(campaign):
                self.drain_dry_run(seen)
                self._bar(
                    done,
                    int(campaign["totalContacts"] or self.contacts),
                    campaign["status"],
                    time.monotonic() - started,
                )
                if self._bar_shown:  # keep the last state of the bar on screen
                    self.out.write("\n")
                    self._bar_shown = False
                return campaign
            if time.monotonic() > deadline:
                raise DemoFailed(f"campaign {campaign_id} did not get there in {timeout_s:.0f} s: {campaign}")
            time.sleep(0.05)

    def summary(self, campaign: dict[str, Any], seconds: float) -> None:
        self.say(
            f"   status {campaign['status']}, sent {campaign['sentCount']}, failed {campaign['failedCount']}, "
            f"unknown {campaign['unknownCount']}, time {seconds:.1f} s"
        )

    def check_deliveries(self, campaign_id: str, lines: list[str]) -> list[dict[str, Any]]:
        items = self.deliveries(campaign_id)
        by_index = Counter(int(item["contactIndex"]) for item in items)
        phones_sent = Counter(line[len(DRY_RUN_PREFIX) :].split(":", 1)[0] for line in lines)
        twice = [phone for phone, count in phones_sent.items() if count > 1]
        if sorted(by_index) != list(range(self.contacts)) or any(n != 1 for n in by_index.values()):
            raise DemoFailed(f"deliveries are not one per contact: {sorted(by_index.items())}")
        if twice or len(phones_sent) != self.contacts:
            raise DemoFailed(f"dry-run lines: {len(phones_sent)} numbers, sent twice: {twice}")
        if any(item["status"] != "Sent" for item in items):
            raise DemoFailed(f"not every delivery is Sent: {Counter(i['status'] for i in items)}")
        return items

    # --------------------------------------------------------------------- run

    def run(self) -> None:
        ids = self.setup()

        first = self.create_campaign("Spring sale", ids["list"], ids["template"], ids["media"])
        self.say(f"5. Creates the campaign '{first['name']}' ({first['status']}) and runs it")
        lines: list[str] = []
        started = time.monotonic()
        self.call("POST", f"/campaigns/{first['id']}/run", (202,))
        done = self.watch(first["id"], lines, lambda c: c["status"] in FINAL, started)
        elapsed = time.monotonic() - started
        self.say("   Finished:")
        self.summary(done, elapsed)
        self.check_deliveries(first["id"], lines)
        if done["status"] != "Completed" or int(done["sentCount"]) != self.contacts:
            raise DemoFailed(f"the first campaign ended {done['status']} with {done['sentCount']} sent")
        defaulted = sum(1 for line in lines if f"Hi {DEFAULT_NAME}!" in line)
        self.say(f"   {defaulted} messages used the default name '{DEFAULT_NAME}' (no or blank first name)")

        second = self.create_campaign("Last call", ids["list"], ids["second"], None)
        self.say()
        self.say(f"6. Runs a second campaign, '{second['name']}', and pauses it midway")
        second_lines: list[str] = []
        started = time.monotonic()
        self.call("POST", f"/campaigns/{second['id']}/run", (202,))
        halfway = self.contacts // 2
        self.watch(second["id"], second_lines, lambda c: int(c["sentCount"]) >= halfway, started)
        self.say(f"   {halfway} of {self.contacts} sent: POST /campaigns/<id>/pause")
        self.call("POST", f"/campaigns/{second['id']}/pause", (200,))
        paused = self.settle(second["id"], second_lines, started)
        if paused["status"] != "Paused":
            raise DemoFailed(f"the second campaign is {paused['status']}, not Paused")
        at = paused["lastProcessedContactIndex"]
        self.say(
            f"   Paused with {paused['sentCount']}/{self.contacts} sent (last contact handled: index {at}); "
            f"{len(second_lines)} dry-run lines so far"
        )
        self.say("7. Resumes it")
        self.call("POST", f"/campaigns/{second['id']}/resume", (202,))
        done2 = self.watch(second["id"], second_lines, lambda c: c["status"] in FINAL, started)
        elapsed2 = time.monotonic() - started
        self.say("   Finished:")
        self.summary(done2, elapsed2)
        if done2["status"] != "Completed" or int(done2["sentCount"]) != self.contacts:
            raise DemoFailed(f"the second campaign ended {done2['status']} with {done2['sentCount']} sent")
        items = self.check_deliveries(second["id"], second_lines)
        self.say(
            f"   No contact got it twice: {len(items)} deliveries, one per contact index 0..{self.contacts - 1}, "
            f"and {len(second_lines)} dry-run lines to {len(set(second_lines))} different numbers"
        )

    def settle(self, campaign_id: str, seen: list[str], started: float) -> dict[str, Any]:
        """After a pause, wait until the runner has stopped (progress holds still)."""
        last: tuple[Any, ...] | None = None
        stable_since = time.monotonic()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            campaign = self.call("GET", f"/campaigns/{campaign_id}", (200,))
            self.drain_dry_run(seen)
            state = (campaign["status"], campaign["sentCount"], campaign["lastProcessedContactIndex"])
            if state != last:
                last, stable_since = state, time.monotonic()
            elif time.monotonic() - stable_since > 4 * MAX_DELAY_MS / 1000:
                return campaign
            time.sleep(0.05)
        raise DemoFailed("the paused campaign did not settle")


def main(contacts: int = 25) -> int:
    configure_logging("INFO")
    from campaigns.observability import logger as functions_logger

    # The demo prints its own story: the functions' and the stack's own logs only
    # show warnings; dry-run lines are collected and printed as they come.
    functions_logger.registered_handler.setLevel(logging.WARNING)
    logging.getLogger("devstack").setLevel(logging.WARNING)
    lines = _DryRunLines()
    functions_logger.addHandler(lines)
    set_resolver(
        lambda name, port: [MEDIA_HOST_ADDRESS] if name == "example.com" else system_resolver(name, port)
    )

    began = time.monotonic()
    print("Starting the local stack (embedded DynamoDB, dry-run sender)...", flush=True)
    try:
        with LocalStack(port=0, waha_base_url=None, schedule_seconds=5) as stack:
            print(
                f"API on {stack.base_url} (tables from template.yaml, ready in {time.monotonic() - began:.1f} s)\n"
            )
            Demo(stack, lines, contacts).run()
    except DemoFailed as exc:
        print(f"\nDemo FAILED: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        functions_logger.removeHandler(lines)
    print(f"\nDemo passed in {time.monotonic() - began:.1f} s.", flush=True)
    return 0
