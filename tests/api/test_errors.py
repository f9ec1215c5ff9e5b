"""Every error the API defines answers its own code, with that code's message, status and wait."""

from __future__ import annotations

import pytest
from rest_framework import status

from kcp_django.api import errors
from kcp_django.api.errors import MESSAGES, ApiError, exception_handler

DEFINED = [
    value for value in map(vars(errors).get, errors.__all__) if isinstance(value, type) and issubclass(value, ApiError)
]
#: What the errors that take arguments are raised with.
ARGUMENTS: dict[type[ApiError], tuple[object, ...]] = {
    errors.LimitExceeded: (7,),
    errors.OutcomeNotStored: ("/kcp/verifications/x/",),
}
#: Seconds each error tells the client to wait (Retry-After), where it tells one.
WAITS = {
    errors.LimitExceeded: "7",
    errors.IdempotencyKeyInProgress: "1",
    errors.OutcomeNotStored: "30",
    errors.DatabaseUnavailable: str(errors.DATABASE_RETRY_AFTER),
}


@pytest.mark.parametrize("error", [cls for cls in DEFINED if cls is not ApiError], ids=lambda cls: cls.__name__)
def test_each_api_error_answers_its_codes_message(error: type[ApiError]) -> None:
    response = exception_handler(error(*ARGUMENTS.get(error, ())), {})

    assert response is not None
    assert response.status_code == error.status_code
    assert response.data["code"] == error.default_code
    assert response.data["message"] == str(MESSAGES[error.default_code])
    assert response.headers.get("Retry-After") == WAITS.get(error)


def test_an_api_error_whose_code_has_no_message_fails_when_it_is_defined() -> None:
    with pytest.raises(KeyError):

        class Unworded(ApiError, code="no_such_code", status_code=status.HTTP_400_BAD_REQUEST):
            pass
