"""The gateway's two log formats: one JSON object per line (`--log-format json`, for collectors)
or plain text for a terminal. Each prints a LogRecord (`format`) and, with the same text, a line
made without one (`line`: gateway.logs.request_line's short path)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

import msgspec

_encode = msgspec.json.Encoder().encode
# LogRecord attributes that are not extra fields (anything else passed with extra= is emitted).
STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "color_message"}  # uvicorn's ANSI-coloured copy of the message


class _Seconds:
    """A timestamp's text up to the second, kept for the current second (strftime is most of a
    line's formatting otherwise)."""

    def __init__(self, convert: Callable[[float | None], time.struct_time], fmt: str) -> None:
        self._convert, self._fmt = convert, fmt
        self._kept = (-1, "")  # one tuple, so a thread never pairs one second with another's text

    def __call__(self, created: float) -> str:
        second, text = self._kept
        if int(created) != second:
            text = time.strftime(self._fmt, self._convert(created))
            self._kept = (int(created), text)
        return text


def _extra(record: logging.LogRecord) -> dict[str, object]:
    """The fields passed with `extra=`."""
    return {name: value for name, value in record.__dict__.items()
            if name not in STANDARD and not name.startswith("_")}


def msecs(created: float) -> int:
    return int((created - int(created)) * 1000)  # as LogRecord computes `msecs`


class JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self._seconds = _Seconds(time.gmtime, "%Y-%m-%dT%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        fields = _extra(record)
        if record.exc_info:
            fields["error"] = self.formatException(record.exc_info)
        return self.line(record.created, int(record.msecs), record.levelname, record.name,
                         record.getMessage(), fields)

    def line(self, created: float, msecs: int, level: str, name: str, message: str,
             fields: Mapping[str, object]) -> str:
        return _encode({"ts": f"{self._seconds(created)}.{msecs:03d}Z", "level": level.lower(),
                        "logger": name, "msg": message, **fields}).decode()


class TextFormatter(logging.Formatter):
    """`time level logger: message key=value ...` for a terminal."""

    def __init__(self) -> None:
        super().__init__()
        self._seconds = _Seconds(time.localtime, self.default_time_format)  # logging's asctime

    def format(self, record: logging.LogRecord) -> str:
        text = self.line(record.created, int(record.msecs), record.levelname, record.name,
                         record.getMessage(), _extra(record))
        if record.exc_info:
            text = f"{text}\n{self.formatException(record.exc_info)}"
        if record.stack_info:
            text = f"{text}\n{self.formatStack(record.stack_info)}"
        return text

    def line(self, created: float, msecs: int, level: str, name: str, message: str,
             fields: Mapping[str, object]) -> str:
        extra = " ".join([f"{k}={v}" for k, v in fields.items() if v is not None])
        text = f"{self._seconds(created)},{msecs:03d} {level} {name}: {message}"
        return f"{text} {extra}" if extra else text
