"""Opt-out keywords: what an inbound WhatsApp message asks for.

A message counts only when its whole text is a keyword: "Stop!", " stop. ",
"PÁRAR" and a full-width STOP do; "stop sending me this" does not (a reply in
a conversation must not silently drop a customer). Case is ignored, accents and
compatibility forms are folded (Unicode NFKD, combining marks dropped), and
whitespace, punctuation and invisible format characters around the word are
ignored. The keywords are the contract's ("Sending safely").
"""

from __future__ import annotations

import unicodedata
from enum import StrEnum

OPT_OUT_KEYWORDS = frozenset(
    {
        "STOP",
        "UNSUBSCRIBE",
        "CANCEL",
        "END",
        "QUIT",
        "STOPALL",
        "OPTOUT",
        "PARAR",
        "SAIR",
        "BAJA",
        "ALTO",
        "DESINSCREVER",
    }
)
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP"})

# Longer texts cannot be one keyword however much punctuation surrounds it; they are
# not normalised at all.
_MAX_TEXT_CHARS = 200


class OptOutSource(StrEnum):
    """Why a number is on a user's opt-out list."""

    KEYWORD = "keyword"  # the contact sent an opt-out keyword to one of the user's numbers
    MANUAL = "manual"  # the user added it (POST /opt-outs with JSON)
    IMPORT = "import"  # the user uploaded it (POST /opt-outs with CSV)


class Intent(StrEnum):
    OPT_OUT = "opt-out"
    OPT_IN = "opt-in"


def keyword_in(text: str) -> str | None:
    """The keyword `text` consists of (upper case, accents folded), or None."""
    if not isinstance(text, str) or len(text) > _MAX_TEXT_CHARS:
        return None
    word = _folded(text)
    return word if word in OPT_OUT_KEYWORDS or word in OPT_IN_KEYWORDS else None


def intent_of(text: str) -> Intent | None:
    """OPT_OUT for a message that is an opt-out keyword, OPT_IN for START/UNSTOP,
    None for anything else."""
    word = keyword_in(text)
    if word is None:
        return None
    return Intent.OPT_OUT if word in OPT_OUT_KEYWORDS else Intent.OPT_IN


def _folded(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    kept = "".join(char for char in decomposed if not unicodedata.combining(char))
    start, end = 0, len(kept)
    while start < end and _ignorable(kept[start]):
        start += 1
    while end > start and _ignorable(kept[end - 1]):
        end -= 1
    return kept[start:end].upper()


def _ignorable(char: str) -> bool:
    """Whitespace, punctuation, control and format characters (zero-width spaces,
    direction marks) around the word."""
    category = unicodedata.category(char)
    return char.isspace() or category[0] in ("P", "Z") or category in ("Cc", "Cf")


__all__ = ["OPT_IN_KEYWORDS", "OPT_OUT_KEYWORDS", "Intent", "OptOutSource", "intent_of", "keyword_in"]
