"""A campaign's send window in the API: validated by the domain's rules on the way in,
stored as JSON on the campaign, answered as an object."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer, model_validator
from pydantic.alias_generators import to_camel

from campaigns.domain.send_windows import InvalidSendWindow, SendWindow

Day = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
ClockTime = Annotated[str, Field(pattern=r"^\d{2}:\d{2}$", examples=["09:00"])]


class SendWindowIn(BaseModel):
    """`{start, end, timeZone, days?}`: nothing is sent outside it."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, validate_by_name=False)

    start: ClockTime
    end: ClockTime
    time_zone: Annotated[str, Field(max_length=64, description="An IANA time zone, e.g. Europe/Madrid.")]
    days: Annotated[list[Day] | None, Field(min_length=1, max_length=7)] = None

    def stored(self) -> dict[str, Any]:
        shape: dict[str, Any] = {"start": self.start, "end": self.end, "timeZone": self.time_zone}
        if self.days is not None:
            shape["days"] = self.days
        return shape

    @model_validator(mode="after")
    def _a_window_that_works(self) -> SendWindowIn:
        try:
            SendWindow.parse(self.stored())
        except InvalidSendWindow as exc:
            raise ValueError(str(exc)) from None
        return self

    @model_serializer
    def _as_stored(self) -> str:
        """As the campaign item keeps it."""
        return json.dumps(self.stored())


class SendWindowOut(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, validate_by_alias=True, validate_by_name=True)

    start: str
    end: str
    time_zone: str
    days: list[str] | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_stored(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value
