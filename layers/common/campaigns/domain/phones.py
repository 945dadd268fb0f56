"""Phone numbers: a number as people write it, read with libphonenumber's rules and
kept in E.164 (`+447911123456`), so that one WhatsApp chat is one string however
the number was written.

A number is international when it starts with `+` or `00` (Unicode digits,
spaces and punctuation are read as the library reads them). Zeros right after the
plus are an international prefix typed twice (`+0015551230001`): no country code
starts with 0, so they are dropped. Any other number is in national format and
needs a default country (ISO 3166 alpha-2), or it is refused: guessing would turn
`07911 123456` into a number of another country.

A number must fit its country's numbering plan: a length the plan allows
(libphonenumber's "possible number"). Ranges not in service today are not refused,
because the library's allocation data lags the real world, and the fictional
+1 555 range is what demos and tests use.
"""

from __future__ import annotations

import unicodedata

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult

_PLUS_SIGNS = "+\uff0b"

_TOO_SHORT = (ValidationResult.TOO_SHORT, ValidationResult.IS_POSSIBLE_LOCAL_ONLY)
_LENGTH_REASONS = {
    ValidationResult.INVALID_COUNTRY_CODE: "no valid country code",
    ValidationResult.TOO_LONG: "too long for {country}",
    ValidationResult.INVALID_LENGTH: "a length no number of {country} has",
    **dict.fromkeys(_TOO_SHORT, "too short for {country}"),
}
_NATIONAL_WITHOUT_COUNTRY = (
    "written without a country: start it with + or 00 and the country code, or give the list a defaultCountry"
)


class PhoneNumberRefused(ValueError):
    """Not a number WhatsApp can be sent to; the message says why."""


def to_e164(raw: str, default_country: str | None = None) -> str:
    """`raw` in E.164, or PhoneNumberRefused. `default_country` (ISO 3166 alpha-2)
    is used only for a number written in national format."""
    if not any(unicodedata.digit(char, None) is not None for char in raw):
        raise PhoneNumberRefused("not a phone number")
    international = _after_international_prefix(raw)
    if international is None and default_country is None:
        raise PhoneNumberRefused(_NATIONAL_WITHOUT_COUNTRY)
    try:
        if international is not None:
            number = phonenumbers.parse("+" + international, None)
        else:
            number = phonenumbers.parse(raw, default_country)
    except NumberParseException as exc:
        raise PhoneNumberRefused(_parse_failure(exc)) from exc
    if number.extension:
        raise PhoneNumberRefused("an extension, which a WhatsApp chat cannot have")
    fit = phonenumbers.is_possible_number_with_reason(number)
    if fit != ValidationResult.IS_POSSIBLE:
        raise PhoneNumberRefused(_LENGTH_REASONS[fit].format(country=_country_of(number.country_code)))
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    # Zeros after the country code can read back as another number (+61 0000001):
    # a number is kept only in a form that is stable, or two spellings of one
    # chat could be stored as two numbers.
    if _reread(e164) != e164:
        raise PhoneNumberRefused("not a phone number")
    return e164


def normalise_country(value: str) -> str:
    """An ISO 3166 alpha-2 code libphonenumber knows (any case, spaces around), in
    upper case; ValueError otherwise."""
    code = value.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"must be an ISO 3166 alpha-2 country code such as GB or US, got {value[:10]!r}")
    return code


def _after_international_prefix(raw: str) -> str | None:
    """What follows the international prefix (`+`, `00`, or `+` and zeros), or None
    when `raw` is written in national format. Separators before and inside the
    prefix are skipped; a plus must come first."""
    plus, zeros = False, 0
    for position, char in enumerate(raw):
        if char in _PLUS_SIGNS and not plus and zeros == 0:
            plus = True
        elif unicodedata.digit(char, None) == 0:
            zeros += 1
        elif char.isalnum():
            return raw[position:] if plus or zeros >= 2 else None
    return "" if plus or zeros >= 2 else None


def _reread(e164: str) -> str | None:
    try:
        return phonenumbers.format_number(phonenumbers.parse(e164, None), PhoneNumberFormat.E164)
    except NumberParseException:
        return None


def _parse_failure(exc: NumberParseException) -> str:
    if exc.error_type == NumberParseException.INVALID_COUNTRY_CODE:
        return "no valid country code"
    if exc.error_type in (NumberParseException.TOO_SHORT_NSN, NumberParseException.TOO_SHORT_AFTER_IDD):
        return "too short to be a phone number"
    if exc.error_type == NumberParseException.TOO_LONG:
        return "too long to be a phone number"
    return "not a phone number"


def _country_of(country_code: int) -> str:
    region = phonenumbers.region_code_for_country_code(country_code)
    return f"+{country_code} ({region})" if region != phonenumbers.UNKNOWN_REGION else f"+{country_code}"


__all__ = ["PhoneNumberRefused", "normalise_country", "to_e164"]
