"""One error body across the services (contracts/errors.py), as their OpenAPI documents say."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.clients.shop_api import ShopApiError, _answer
from contracts.errors import ERROR_FIELDS, error_body, error_code
from contracts.http_input import InputError
from shop_api.errors import ShopError

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("document", ["handoff/openapi.yaml", "shop_api/openapi.yaml"])
def test_each_openapi_document_declares_the_shared_error_body(document: str) -> None:
    schema = yaml.safe_load((ROOT / document).read_text(encoding="utf-8"))[
        "components"]["schemas"]["Error"]
    assert set(schema["properties"]) == set(ERROR_FIELDS)
    assert set(schema["required"]) == {name for name, always in ERROR_FIELDS.items() if always}


def test_every_error_type_answers_the_same_body() -> None:
    assert InputError(400, "invalid_json", "bad").body() == {"error": "invalid_json",
                                                             "message": "bad"}
    refused = ShopError(409, "already_shipped", "shipped", {"state": "shipped"})
    assert refused.body() == {"error": "already_shipped", "message": "shipped",
                              "details": {"state": "shipped"}}
    assert error_body("x", "y", {}) == {"error": "x", "message": "y"}


@pytest.mark.parametrize(("body", "code"), [
    ({"error": "order_not_found", "message": "m"}, "order_not_found"),
    ({"error": ""}, None), ({"code": "old_shape"}, None), (["error"], None), ("<html>", None),
])
def test_clients_read_the_code_or_nothing(body: object, code: str | None) -> None:
    assert error_code(body) == code


class _Response:
    """Enough of requests.Response for the shop client's error mapping."""

    def __init__(self, status_code: int, body: object) -> None:
        self.status_code, self.body, self.url, self.text = status_code, body, "u", str(body)

    def json(self) -> object:
        return self.body


def test_the_shop_client_maps_the_shared_body_to_its_error() -> None:
    with pytest.raises(ShopApiError) as caught:
        _answer(_Response(409, ShopError(409, "already_shipped", "m", {"state": "shipped"})
                          .body()))
    assert (caught.value.code, caught.value.status) == ("already_shipped", 409)
    assert caught.value.details == {"state": "shipped"}
