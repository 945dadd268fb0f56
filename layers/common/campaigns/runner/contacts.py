"""The contacts of a run, in index order, a page at a time.

A contact below `totalContacts` that a Query does not return yet (an append still
being written, an item not yet visible) is read again after a short wait, never
stepped over: after a few tries the run stops with `ContactMissing`, and the
campaign pauses where it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from campaigns.data.campaign_reads import CampaignReads
from campaigns.data.models import Contact

MISSING_CONTACT_TRIES = 4
MISSING_CONTACT_WAIT_S = 0.5


class ContactMissing(Exception):
    def __init__(self, index: int) -> None:
        super().__init__(f"contact {index} is not readable")
        self.index = index


@dataclass
class ContactCursor:
    reads: CampaignReads
    list_id: str
    next_index: int  # where the run starts: lastProcessedContactIndex + 1
    total: int
    page_size: int
    sleep: Callable[[float], None]
    _page: dict[int, Contact] = field(default_factory=dict, init=False)

    def peek(self, index: int) -> Contact | None:
        """Contact `index` when it is already read (a claim of it can be merged with a record)."""
        return self._page.get(index)

    def __iter__(self) -> Iterator[Contact]:
        while self.next_index < self.total:
            contact = self._page.pop(self.next_index, None) or self._read(self.next_index)
            self.next_index += 1
            yield contact

    def _read(self, index: int) -> Contact:
        for attempt in range(MISSING_CONTACT_TRIES):
            if attempt:
                self.sleep(MISSING_CONTACT_WAIT_S * attempt)
            size = min(self.page_size, self.total - index)
            page = self.reads.contact_page(self.list_id, index, size)
            # Keep the contiguous run from `index`; anything after a gap is read again later.
            self._page = {}
            expected = index
            for contact in page:
                if int(contact.index) != expected:
                    break
                self._page[expected] = contact
                expected += 1
            if index in self._page:
                return self._page.pop(index)
        raise ContactMissing(index)
