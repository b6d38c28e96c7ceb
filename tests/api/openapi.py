"""The project's OpenAPI schema, generated once per test session, as schemathesis sees it."""

from __future__ import annotations

from typing import Any

import schemathesis
from drf_spectacular.generators import SchemaGenerator

OPENAPI: dict[str, Any] = SchemaGenerator().get_schema(request=None, public=True)
SCHEMA = schemathesis.openapi.from_dict(OPENAPI)
# "METHOD /path" for every documented operation.
OPERATIONS = sorted(
    f"{method.upper()} {path}" for path, item in OPENAPI["paths"].items() for method in item
)


def operation(label: str) -> Any:
    method, path = label.split(" ", 1)
    return SCHEMA[path][method]
