"""The OpenAPI schema (drf-spectacular, optional): complete, warning-free, error shapes documented."""

from __future__ import annotations

from typing import Any

import pytest

from kcp_django.api import schema

spectacular = pytest.importorskip("drf_spectacular")

ERROR_REF = "#/components/schemas/Error"


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.validation import validate_schema

    GENERATOR_STATS.reset()
    document = SchemaGenerator().get_schema(request=None, public=True)  # with DRF's own DEFAULT_SCHEMA_CLASS
    assert not GENERATOR_STATS, "drf-spectacular warned while generating the schema"
    validate_schema(document)
    return dict(document)


def operation(openapi: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    return dict(openapi["paths"][path][method])


def test_every_endpoint_is_described(openapi: dict[str, Any]) -> None:
    assert {path: sorted(methods) for path, methods in openapi["paths"].items()} == {
        "/kcp/verifications/": ["post"],
        "/kcp/verifications/{public_id}/": ["get"],
        "/kcp/banks/": ["get"],
        "/kcp/refunds/": ["get", "post"],
        "/kcp/refunds/{public_id}/": ["get"],
    }


def test_every_error_answer_has_the_documented_shape(openapi: dict[str, Any]) -> None:
    for path, methods in openapi["paths"].items():
        for method, described in methods.items():
            for status, response in described["responses"].items():
                if int(status) >= 400:
                    body = response["content"]["application/json"]["schema"]
                    assert body == {"$ref": ERROR_REF}, (path, method, status)
    error = openapi["components"]["schemas"]["Error"]
    assert error["required"] == ["code", "message"]
    assert error["properties"]["errors"]["additionalProperties"]["items"] == {"$ref": "#/components/schemas/FieldError"}


def test_the_create_operation_documents_its_answers_and_headers(openapi: dict[str, Any]) -> None:
    create = operation(openapi, "/kcp/verifications/", "post")

    assert set(create["responses"]) == {"201", "202", "400", "401", "403", "409", "415", "422", "429", "503"}
    assert create["responses"]["202"]["headers"]["Location"]["required"] is True
    assert create["responses"]["429"]["headers"]["Retry-After"]["required"] is True
    # 503 is outcome_not_stored (with Location) or database_unavailable (without): Location is optional.
    assert create["responses"]["503"]["headers"]["Location"].get("required", False) is False
    assert create["responses"]["503"]["headers"]["Retry-After"]["required"] is True
    assert create["responses"]["201"]["headers"]["Location"]["required"] is True
    assert "database_unavailable" in create["responses"]["503"]["description"]
    retrieve = operation(openapi, "/kcp/verifications/{public_id}/", "get")
    assert retrieve["responses"]["503"]["headers"]["Retry-After"]["required"] is True
    assert create["parameters"][0]["name"] == "Idempotency-Key"
    request = openapi["components"]["schemas"]["VerificationRequest"]
    assert request["required"] == ["account_no", "bank_code", "owner_nm", "reference"]
    statuses = openapi["components"]["schemas"]["StatusEnum"]["enum"]
    assert statuses == ["pending", "verified", "rejected", "unknown"]


def test_the_verification_never_documents_secrets(openapi: dict[str, Any]) -> None:
    fields = set(openapi["components"]["schemas"]["Verification"]["properties"])

    assert not fields & {"account_no", "owner_nm", "raw_response", "site_key", "ordr_idxx"}


def test_what_only_some_callers_see_is_documented_as_optional(openapi: dict[str, Any]) -> None:
    verification = openapi["components"]["schemas"]["Verification"]

    assert {"res_cd", "res_msg", "reason"} <= set(verification["properties"])
    assert not {"res_cd", "res_msg", "reason"} & set(verification["required"])
    assert openapi["components"]["schemas"]["ReasonEnum"]["enum"] == ["account_invalid", "holder_mismatch", "other"]
    assert verification["properties"]["reason"]["nullable"] is True


def test_only_session_authentication_is_documented_by_default(openapi: dict[str, Any]) -> None:
    # HTTP Basic, in DRF's defaults, is not accepted unless KCP_API["AUTHENTICATION_CLASSES"] lists it.
    assert operation(openapi, "/kcp/verifications/", "post")["security"] == [{"cookieAuth": []}]
    assert "basicAuth" not in openapi["components"].get("securitySchemes", {})


def test_the_banks_operation_documents_caching(openapi: dict[str, Any]) -> None:
    banks = operation(openapi, "/kcp/banks/", "get")

    assert set(banks["responses"]) == {"200", "304", "429"}
    assert set(banks["responses"]["304"]["headers"]) == {"ETag", "Cache-Control"}
    assert {} in banks["security"]  # no sign-in needed


def test_without_drf_spectacular_views_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schema, "spectacular_installed", lambda: False)

    def view() -> None: ...

    assert schema.document("create")(view) is view


def test_a_configuration_error_is_a_503_without_location(openapi: dict[str, Any]) -> None:
    create = operation(openapi, "/kcp/verifications/", "post")

    answer = create["responses"]["503"]
    assert "configuration_error" in answer["description"]
    assert answer["headers"]["Location"].get("required", False) is False  # outcome_not_stored only
    assert answer["headers"]["Retry-After"]["required"] is True
    assert create["responses"]["201"]["headers"]["Location"]["required"] is True


def refusal_rules_raised_in_the_package() -> set[str]:
    """Every literal rule id given to ``RefundRefused(...)`` anywhere in kcp_django."""
    import ast
    from pathlib import Path

    import kcp_django

    found = set()
    for path in Path(kcp_django.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "RefundRefused"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                found.add(node.args[0].value)
    return found


def test_the_refund_rules_in_code_are_every_rule_raised_and_each_is_documented(openapi: dict[str, Any]) -> None:
    from kcp_django.exceptions import REFUND_RULES, RESOLVE_RULES

    assert set(REFUND_RULES) | set(RESOLVE_RULES) == refusal_rules_raised_in_the_package()
    refused = operation(openapi, "/kcp/refunds/", "post")["responses"]["409"]["description"]
    assert [rule for rule in REFUND_RULES if rule not in refused] == []


def test_each_idempotency_key_pattern_is_the_limit_its_endpoint_enforces(openapi: dict[str, Any]) -> None:
    import re

    from kcp_django.api.idempotency import IDEMPOTENCY_KEY_MAX_LENGTH as VERIFICATION_LIMIT
    from kcp_django.refunds.inputs import IDEMPOTENCY_KEY_MAX_LENGTH as REFUND_LIMIT

    for path, limit in (("/kcp/verifications/", VERIFICATION_LIMIT), ("/kcp/refunds/", REFUND_LIMIT)):
        [header] = [p for p in operation(openapi, path, "post")["parameters"] if p["name"] == "Idempotency-Key"]
        pattern = re.compile(header["schema"]["pattern"])
        assert pattern.fullmatch("k" * limit) and not pattern.fullmatch("k" * (limit + 1)), path
        assert not pattern.fullmatch("with space")
