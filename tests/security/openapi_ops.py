"""The operations of the app's OpenAPI document, and minimal valid requests for them.

The security suites walk every operation of ``app.openapi()``, so an endpoint added
later is called too. A request must pass validation to reach the tenant and role
checks, so its body is built from the operation's schema: the required fields with
the smallest value the schema accepts, and every field that names an object (an id)
filled with the sample the caller chose.
"""

from __future__ import annotations

import itertools
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

METHODS = ("get", "put", "post", "patch", "delete")

#: body and query fields that take an object's id (or a list of them), by name
ID_FIELD = re.compile(r"^(\w+_id|\w+_ids|ids)$")

Fill = Callable[[str], Any]  # a field's name → its sample value, or None


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    spec: dict[str, Any] = field(repr=False, compare=False, hash=False)

    @property
    def key(self) -> str:
        return f"{self.method.upper()} {self.path}"

    def params(self, where: str) -> list[dict[str, Any]]:
        return [p for p in self.spec.get("parameters", []) if p["in"] == where]

    @property
    def path_params(self) -> list[str]:
        return [p["name"] for p in self.params("path")]

    @property
    def body_schema(self) -> dict[str, Any] | None:
        content = self.spec.get("requestBody", {}).get("content", {})
        for media in ("application/json", *content):
            if media in content:
                schema: dict[str, Any] = content[media].get("schema", {})
                return schema
        return None

    @property
    def streams(self) -> bool:
        """Answers with an endless stream (Server-Sent Events), not one response."""
        ok = self.spec.get("responses", {}).get("200", {})
        return "text/event-stream" in ok.get("content", {}) or "events" in self.path.split("/")

    @property
    def writes(self) -> bool:
        return self.method != "get"


def operations(doc: dict[str, Any]) -> Iterator[Operation]:
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method in item:
                yield Operation(method, path, item[method])


@dataclass
class Examples:
    """Builds the smallest valid value of a JSON schema of ``doc``."""

    doc: dict[str, Any]

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            node: Any = self.doc
            for part in schema["$ref"].removeprefix("#/").split("/"):
                node = node[part]
            schema = node
        return schema

    def value(self, schema: dict[str, Any], name: str = "", fill: Fill | None = None) -> Any:
        schema = self.resolve(schema)
        if fill is not None and ID_FIELD.match(name):
            sample = fill(name)
            if sample is not None:
                return sample
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return schema["enum"][0]
        if "default" in schema and schema["default"] is not None:
            return schema["default"]
        for key in ("anyOf", "oneOf"):
            if key in schema:
                options = [s for s in schema[key] if self.resolve(s).get("type") != "null"]
                return self.value(options[0] if options else {}, name, fill)
        if "allOf" in schema:
            return self.value(schema["allOf"][0], name, fill)
        kind = schema.get("type", "object" if "properties" in schema else "string")
        if kind == "object":
            return self.object(schema, fill)
        if kind == "array":
            return [
                self.value(schema.get("items", {}), name) for _ in range(schema.get("minItems", 1))
            ]
        if kind in ("integer", "number"):
            return _number(schema)
        if kind == "boolean":
            return True
        return _string(schema, name)

    def object(self, schema: dict[str, Any], fill: Fill | None) -> dict[str, Any]:
        """The required properties, and the optional ones that take an id we have."""
        required = set(schema.get("required", ()))
        out = {}
        for prop, sub in schema.get("properties", {}).items():
            wanted = prop in required or (
                fill is not None and ID_FIELD.match(prop) and fill(prop) is not None
            )
            if wanted:
                out[prop] = self.value(sub, prop, fill)
        return out


def _number(schema: dict[str, Any]) -> int | float:
    if "minimum" in schema:
        return int(schema["minimum"])
    if "exclusiveMinimum" in schema:
        return int(schema["exclusiveMinimum"]) + 1
    return 1


_UNIQUE = itertools.count(1)
_NAMED = {  # plausible values by field name, where "x" would be refused; {n} makes it new
    "email": "new{n}@alpha.example",
    "admin_email": "first-admin{n}@newco.example",
    "password": "a-Long-enough-pass-word-42",
    "admin_password": "a-Long-enough-pass-word-42",
    "new_password": "a-Long-enough-pass-word-43",
    "domain": "d{n}.newco.example",
    "slug": "newco{n}",
    "name": "New {n}",
    "url": "https://idp.example/",
}


def _named(name: str, default: str) -> str:
    return _NAMED.get(name, default).replace("{n}", str(next(_UNIQUE)))


def _string(schema: dict[str, Any], name: str) -> str:
    fmt = schema.get("format")
    if fmt == "date-time":
        return "2024-01-01T00:00:00Z"
    if fmt == "email" or name.endswith("email"):
        return _named(name, _NAMED["email"])
    if fmt in ("uri", "url") or name.endswith("url"):
        return "https://idp.example/"
    text = _named(name, "x")
    if "pattern" in schema:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            text = st.from_regex(schema["pattern"], fullmatch=True).example()
    lo, hi = schema.get("minLength", 1), schema.get("maxLength", 10_000)
    return (text * lo)[: max(lo, min(hi, len(text)))] if len(text) < lo else text[:hi]
