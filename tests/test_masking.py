"""One shape for a masked account number, wherever it is shown."""

from __future__ import annotations

import pytest

from kcp_django.crypto import last_four
from kcp_django.masking import mask_account_no, mask_value
from kcp_django.models import AccountVerification


@pytest.mark.parametrize("number", ["123-456-789012", "12345678901234567890", "110 234 5678", "12345"])
def test_logs_rows_and_previews_mask_a_number_alike(number: str) -> None:
    stored = AccountVerification(account_last4=last_four(number))

    assert mask_account_no(number) == stored.account_no_masked == mask_value("account_no", number)
    assert mask_account_no(number).endswith(number[-4:])
    assert len(mask_account_no(number)) == 12, "the mask does not tell how long the number is"


def test_a_number_of_four_digits_or_fewer_shows_none() -> None:
    assert mask_account_no("1234") == "********"
    assert mask_account_no("") == ""
