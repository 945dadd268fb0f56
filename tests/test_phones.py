"""Phone numbers: parsed with libphonenumber's rules into E.164, with a list's
default country for numbers written in national format."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns.domain.phones import PhoneNumberRefused, normalise_country, to_e164

# ------------------------------------------------------------ international


@pytest.mark.parametrize(
    "raw",
    [
        "+15551230001",
        "+1 (555) 123-0001",
        "+1.555.123.0001",
        "0015551230001",
        "00 1 555 123 0001",
        "+0015551230001",
        "+00015551230001",
        " + 1 555 123 0001 ",
    ],
)
def test_every_international_spelling_of_a_number_is_the_same_e164(raw):
    assert to_e164(raw) == "+15551230001"


def test_a_number_with_its_country_code_ignores_the_default_country():
    assert to_e164("+44 20 7946 0958", "US") == "+442079460958"


def test_a_trunk_zero_in_brackets_after_the_country_code_is_dropped():
    assert to_e164("+44 (0) 20 7946 0958") == "+442079460958"


def test_digits_of_other_scripts_and_a_fullwidth_plus_are_read_as_digits():
    assert to_e164("+٤٤ ٧٩١١ ١٢٣٤٥٦") == "+447911123456"
    fullwidth = "\uff0b\uff14\uff14\uff17\uff19\uff11\uff11\uff11\uff12\uff13\uff14\uff15\uff16"
    assert to_e164(fullwidth) == "+447911123456"


def test_two_leading_zeros_are_international_whatever_the_default_country():
    assert to_e164("0044 7911 123456", "US") == "+447911123456"


# ------------------------------------------------------------------ national


def test_a_national_number_takes_the_default_country():
    assert to_e164("07911 123456", "GB") == "+447911123456"
    assert to_e164("(555) 123-4567", "US") == "+15551234567"


def test_a_national_number_without_a_default_country_is_refused():
    with pytest.raises(PhoneNumberRefused, match=r"\+ or 00.*defaultCountry"):
        to_e164("(555) 123-4567")


def test_a_national_number_never_becomes_a_number_of_another_country():
    with pytest.raises(PhoneNumberRefused):
        to_e164("07911 123456")


def test_letters_are_read_as_a_keypad_would():
    assert to_e164("1-800-FLOWERS", "US") == "+18003569377"


# ------------------------------------------------------------------- refused


@pytest.mark.parametrize(
    ("raw", "country", "words"),
    [
        ("+44 7911", None, "too short for +44 (GB)"),
        ("+44 79111 234567 8", None, "too long for +44 (GB)"),
        ("+999 1234567", None, "country code"),
        ("+0", None, "not a phone number"),
        ("00", None, "not a phone number"),
        ("call me", None, "not a phone number"),
        ("", None, "not a phone number"),
        ("12345", "GB", "short"),
        ("+1 415 555 0100 ext. 5", None, "extension"),
        ("+61 0000001", None, "not a phone number"),
    ],
)
def test_a_number_that_does_not_fit_its_country_is_refused_with_a_reason(raw, country, words):
    with pytest.raises(PhoneNumberRefused) as refused:
        to_e164(raw, country)

    assert words in str(refused.value)
    assert isinstance(refused.value, ValueError)


# ------------------------------------------------------------------ countries


@pytest.mark.parametrize(("value", "code"), [("GB", "GB"), ("gb", "GB"), (" us ", "US"), ("DE", "DE")])
def test_a_country_is_an_iso_alpha_2_region_code(value, code):
    assert normalise_country(value) == code


@pytest.mark.parametrize("value", ["UK", "XX", "G", "GBR", "001", "", "4 4"])
def test_anything_else_is_not_a_country(value):
    with pytest.raises(ValueError, match="ISO 3166"):
        normalise_country(value)


# ------------------------------------------------------------------ any text


@settings(max_examples=500, deadline=None)
@given(
    raw=st.text(max_size=64)
    | st.from_regex(r"[+\uff0b0\uff10\u0660]{0,3}[\d\s().\-/]{0,30}", fullmatch=True),
    country=st.sampled_from([None, "GB", "US", "DE", "IN", "BR"]),
)
def test_any_text_is_e164_or_refused_with_a_reason(raw, country):
    try:
        number = to_e164(raw, country)
    except PhoneNumberRefused as refused:
        assert str(refused)
    else:
        assert number[0] == "+" and number[1:].isascii() and number[1:].isdigit()
        assert to_e164(number) == number
