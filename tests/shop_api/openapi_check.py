"""A small structural check of answers and payloads against the services' OpenAPI documents
(shop_api/openapi.yaml by default, handoff/openapi.yaml too), without extra packages."""
from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import yaml

SPEC_PATH = Path(__file__).resolve().parents[2] / "shop_api" / "openapi.yaml"
_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
}


class OpenApi:
    """The contract, able to find the operation of a request and check its answer."""

    def __init__(self, path: Path = SPEC_PATH) -> None:
        self.doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        self.paths: dict[str, dict[str, Any]] = self.doc["paths"]

    def operations(self) -> list[tuple[str, str]]:
        """Every documented (METHOD, path template)."""
        return [(method.upper(), path) for path, item in self.paths.items() for method in item]

    def template(self, path: str) -> str | None:
        """The documented template a concrete path matches, if any."""
        for template in self.paths:
            pattern = re.sub(r"\{[^}]+\}", "[^/]+", template)
            if re.fullmatch(pattern, path):
                return template
        return None

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        """Follow a local $ref and merge `allOf` parts into one schema."""
        while "$ref" in schema:
            node: Any = self.doc
            for part in schema["$ref"].removeprefix("#/").split("/"):
                node = node[part]
            schema = node
        if "allOf" in schema:
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                merged.update(self.resolve(part))
            schema = {**merged, **{k: v for k, v in schema.items() if k != "allOf"}}
        return schema

    def response_schema(self, method: str, template: str, status: int) -> dict[str, Any]:
        """The JSON schema of a documented answer; fails for an undocumented status."""
        responses = self.paths[template][method.lower()]["responses"]
        assert str(status) in responses, f"{method} {template}: status {status} not documented"
        response = self.resolve(responses[str(status)])
        return response["content"]["application/json"]["schema"]

    def check(self, response: requests.Response) -> None:
        """Assert that an answer is documented and matches its schema."""
        method, path = response.request.method, urlsplit(response.url).path
        template = self.template(path)
        if template is None or method.lower() not in self.paths[template]:
            schema = {"$ref": "#/components/schemas/Error"}  # undocumented route: an error
        else:
            schema = self.response_schema(method, template, response.status_code)
        assert response.headers["content-type"].startswith("application/json")
        errors = self.validate(schema, response.json())
        assert not errors, f"{method} {path} -> {response.status_code}: {errors}"

    def validate(self, schema: dict[str, Any], value: Any, where: str = "$") -> list[str]:
        """Differences between a value and a schema (empty when it conforms)."""
        schema = self.resolve(schema)
        if value is None:
            return [] if schema.get("nullable") else [f"{where}: null"]
        errors: list[str] = []
        if "oneOf" in schema:
            matches = sum(not self.validate(part, value, where) for part in schema["oneOf"])
            if matches != 1:
                errors.append(f"{where}: matches {matches} of oneOf")
        kind = schema.get("type")
        if kind and not _TYPES[kind](value):
            return [*errors, f"{where}: expected {kind}, got {type(value).__name__}"]
        if "enum" in schema and value not in schema["enum"]:
            errors.append(f"{where}: {value!r} not in {schema['enum']}")
        if isinstance(value, str):
            errors += _string_errors(schema, value, where)
        if isinstance(value, dict):
            errors += self._object_errors(schema, value, where)
        if isinstance(value, list) and len(value) > schema.get("maxItems", len(value)):
            errors.append(f"{where}: more than {schema['maxItems']} items")
        if isinstance(value, list) and "items" in schema:
            for index, item in enumerate(value):
                errors += self.validate(schema["items"], item, f"{where}[{index}]")
        return errors

    def _object_errors(self, schema: dict[str, Any], value: dict, where: str) -> list[str]:
        properties = schema.get("properties", {})
        errors = [f"{where}.{name}: missing" for name in schema.get("required", [])
                  if name not in value]
        extra = schema.get("additionalProperties", False)
        for name, item in value.items():
            if name not in properties:
                if extra is False:
                    errors.append(f"{where}.{name}: not in the schema")
                elif isinstance(extra, dict):
                    errors += self.validate(extra, item, f"{where}.{name}")
            else:
                errors += self.validate(properties[name], item, f"{where}.{name}")
        return errors


def _string_errors(schema: dict[str, Any], value: str, where: str) -> list[str]:
    errors = []
    if len(value) > schema.get("maxLength", len(value)):
        errors.append(f"{where}: longer than {schema['maxLength']} characters")
    if "pattern" in schema and not re.search(schema["pattern"], value):
        errors.append(f"{where}: {value!r} does not match {schema['pattern']}")
    try:
        if schema.get("format") == "date":
            date.fromisoformat(value)
        elif schema.get("format") == "date-time" and datetime.fromisoformat(value).tzinfo is None:
            errors.append(f"{where}: {value!r} has no time zone")
    except ValueError:
        errors.append(f"{where}: {value!r} is not a {schema['format']}")
    return errors
