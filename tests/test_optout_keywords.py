"""Opt-out keywords: a message counts only when its whole text is one, whatever its
case, accents and surrounding punctuation."""

from __future__ import annotations

import pytest

from campaigns.domain.optouts import OPT_IN_KEYWORDS, OPT_OUT_KEYWORDS, Intent, intent_of, keyword_in

CONTRACT_OPT_OUTS = [
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
]


def test_the_keywords_are_the_contracts():
    assert set(CONTRACT_OPT_OUTS) == OPT_OUT_KEYWORDS
    assert {"START", "UNSTOP"} == OPT_IN_KEYWORDS


@pytest.mark.parametrize("word", CONTRACT_OPT_OUTS)
def test_every_opt_out_keyword_in_any_case_is_an_opt_out(word):
    assert intent_of(word) is Intent.OPT_OUT
    assert intent_of(word.lower()) is Intent.OPT_OUT
    assert intent_of(word.capitalize()) is Intent.OPT_OUT


@pytest.mark.parametrize(
    ("text", "keyword"),
    [
        ("Stop!", "STOP"),
        (" stop. ", "STOP"),
        ("STOP!!!", "STOP"),
        ("¡Baja!", "BAJA"),
        ("¿Parar?", "PARAR"),
        ('"stop"', "STOP"),
        ("(stop)", "STOP"),
        ("\tStop\n", "STOP"),
        ("PÁRAR", "PARAR"),
        ("párar", "PARAR"),
        ("Sáír", "SAIR"),
        ("ÁLTO", "ALTO"),
        ("désinscrever", "DESINSCREVER"),
        ("\uff33\uff34\uff2f\uff30", "STOP"),  # full-width letters
        ("\u200bstop\u200b", "STOP"),  # zero-width spaces
        ("stop\u00a0", "STOP"),  # no-break space
        ("  …stop…  ", "STOP"),
    ],
)
def test_case_accents_and_surrounding_punctuation_are_ignored(text, keyword):
    assert keyword_in(text) == keyword
    assert intent_of(text) is Intent.OPT_OUT


@pytest.mark.parametrize("text", ["START", "start", " Start! ", "unstop", "UNSTOP.", "stárt"])
def test_start_and_unstop_are_opt_ins(text):
    assert intent_of(text) is Intent.OPT_IN


@pytest.mark.parametrize(
    "text",
    [
        "stop sending me this",
        "please stop",
        "STOP ALL",
        "s.t.o.p",
        "st op",
        "stopp",
        "stops",
        "don't stop",
        "end of story",
        "I want to cancel my order",
        "starting tomorrow",
        "",
        "   ",
        "!!!",
        "🛑",
        "stop 🛑",
        "hello",
        "STOP" + " " * 300,  # too long to be one word, not even looked at
    ],
)
def test_anything_but_a_whole_keyword_is_not_one(text):
    assert keyword_in(text) is None
    assert intent_of(text) is None


@pytest.mark.parametrize("value", [None, 42, b"STOP", ["STOP"]])
def test_a_text_that_is_not_a_string_is_nothing(value):
    assert intent_of(value) is None
