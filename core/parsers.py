"""The one JSON parser for the API: standard JSON, bounded, finite.

DRF's JSONParser hands a body straight to `json.load`, so a 2 KB body of 1,000 nested
brackets blows the C decoder's recursion limit (RecursionError, a 500), and `1e999` parses
as `inf` and is stored. Here every body is checked once, right after decoding:

- nesting deeper than API_JSON_MAX_DEPTH, or more than API_JSON_MAX_MEMBERS keys and items
  in all, is a 400 problem (`json_too_complex`), before any serializer walks it;
- `NaN`, `Infinity`, `-Infinity` and numbers that overflow a double (`1e999`) are a 400
  (`parse_error`): they are not JSON (RFC 8259 section 6) and no column can hold them;
- integers are bounded to a signed 64-bit range, the widest column we have.
"""

from __future__ import annotations

import codecs
import json
import math
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# Signed BIGINT: anything outside can only be an attack or a bug, never an id or a count.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1


class JsonTooComplex(ParseError):
    default_detail = "The JSON body is nested too deeply or has too many members."
    default_code = "json_too_complex"


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {text[:32]}")
    return value


def _bounded_int(text: str) -> int:
    # int() itself refuses more than 4,300 digits (ValueError); 20 digits already overflow.
    if len(text.lstrip("-")) > 19:
        raise ValueError("integer out of range")
    value = int(text)
    if not INT_MIN <= value <= INT_MAX:
        raise ValueError("integer out of range")
    return value


def _reject_constant(text: str) -> Any:
    raise ValueError(f"{text} is not valid JSON")


def json_loads_bounded(
    text: str | bytes, *, max_depth: int | None = None, max_members: int | None = None
) -> Any:
    """`json.loads` with the API's limits; raises ParseError (400) for anything outside them."""
    depth_limit = settings.API_JSON_MAX_DEPTH if max_depth is None else max_depth
    member_limit = settings.API_JSON_MAX_MEMBERS if max_members is None else max_members
    try:
        data = json.loads(
            text,
            parse_float=_finite_float,
            parse_int=_bounded_int,
            parse_constant=_reject_constant,
        )
    except RecursionError:
        raise JsonTooComplex() from None
    except ValueError as exc:  # JSONDecodeError is a ValueError
        raise ParseError(f"JSON parse error - {exc}") from None
    check_complexity(data, max_depth=depth_limit, max_members=member_limit)
    return data


def check_complexity(data: Any, *, max_depth: int, max_members: int) -> None:
    """Raise JsonTooComplex if `data` nests deeper than `max_depth` containers or holds more
    than `max_members` keys and items in all. Iterative, and stops at the first excess, so
    its cost is bounded by the limits, not by the body."""
    members = 0
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > max_depth:
            raise JsonTooComplex(f"The JSON body nests deeper than {max_depth} levels.")
        members += len(node)
        if members > max_members:
            raise JsonTooComplex(f"The JSON body has more than {max_members} keys and items.")
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser with the limits above (the DEFAULT_PARSER_CLASSES entry)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = codecs.getreader(encoding)(stream).read()
        except (UnicodeDecodeError, LookupError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        return json_loads_bounded(text)
