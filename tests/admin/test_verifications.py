"""The verification admin on the real database, the real service and the sandbox."""

from __future__ import annotations

import re

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from kcp_django.admin.verifications import REVEAL_LOG_MESSAGE
from kcp_django.gateways.sandbox import outbox
from kcp_django.models import AccountVerification, BulkVerification
from tests.admin_support import (
    ACTION,
    CHANGELIST,
    account_number,
    confirmation_post,
    make_staff,
    make_verifications,
    run_action,
    verifier,
    without_random_digits,
)

pytestmark = pytest.mark.django_db(transaction=True)

OTHER_KEYS = ["k9:b3RoZXIta2V5LXRoYXQtZGVjcnlwdHMtbm90aGluZy0=", "k8:eWV0LWFub3RoZXIta2V5LW5vLXJvdy11c2VzLWl0IQ=="]


def logged_in(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


def full_numbers(rows: list[AccountVerification]) -> list[str]:
    return [row.account_no for row in rows]


# The list ------------------------------------------------------------------------------------------


def test_the_list_shows_kcps_answer_and_only_the_last_four_digits() -> None:
    rows = make_verifications(3)
    client = logged_in(make_staff("viewer", "kcp_django.view_accountverification"))

    page = client.get(reverse(CHANGELIST)).content.decode()

    for row in rows:
        assert row.ordr_idxx in page
        assert row.tno in page
        assert "********" + row.account_no[-4:] in page
        assert row.account_no not in page
        assert row.account_no[-5:] not in without_random_digits(page)
    assert "kcp-badge-verified" in page
    assert "국민은행" in page


def test_the_list_query_count_does_not_grow_with_the_rows_shown() -> None:
    client = logged_in(verifier())
    make_verifications(5)
    client.get(reverse(CHANGELIST))  # warm the permission and session caches alike for both runs

    with CaptureQueriesContext(connection) as five:
        assert client.get(reverse(CHANGELIST)).status_code == 200
    make_verifications(45, start=5)
    with CaptureQueriesContext(connection) as fifty:
        page = client.get(reverse(CHANGELIST))

    assert page.content.decode().count('class="action-select"') == 50
    assert len(fifty) == len(five), [q["sql"] for q in fifty.captured_queries]


def test_the_list_never_decrypts_an_account_number() -> None:
    make_verifications(2)
    client = logged_in(make_staff("viewer", "kcp_django.view_accountverification"))

    # With keys that open none of the stored numbers, any decryption would fail the page.
    with override_settings(KCP_ENCRYPTION_KEYS=OTHER_KEYS):
        page = client.get(reverse(CHANGELIST))

    assert page.status_code == 200
    assert "********" in page.content.decode()


FIND = "admin:kcp_django_accountverification_find_account"


def auditor(username: str = "auditor") -> object:
    return make_staff(username, "kcp_django.view_accountverification", "kcp_django.view_full_account_number")


@pytest.mark.parametrize("typed", ["123000000001", "123-000-000001", "１２３ ０００ ０００００１"])
def test_the_list_search_no_longer_matches_account_numbers(typed: str) -> None:
    make_verifications(3)
    client = logged_in(auditor())

    page = client.get(reverse(CHANGELIST), {"q": typed})

    assert list(page.context["cl"].result_list) == []


@pytest.mark.parametrize("typed", ["123000000001", "123-000-000001", "１２３ ０００ ０００００１"])
def test_finding_by_full_account_number_takes_a_post_and_is_logged_with_the_masked_number(
    typed: str, caplog: pytest.LogCaptureFixture
) -> None:
    rows = make_verifications(3)
    user = auditor()
    client = logged_in(user)

    with caplog.at_level("INFO", logger="kcp_django"):
        found = client.post(reverse(FIND), {"bank_code": "", "account_no": typed})

    assert found.status_code == 200
    assert [row.pk for row in found.context["rows"]] == [rows[1].pk]
    page = found.content.decode()
    assert rows[1].ordr_idxx in page and "********0001" in page
    assert "000000001" not in without_random_digits(page), "the number is not put back into the page"
    assert "no-store" in found["Cache-Control"]
    assert all("000000001" not in value for value in found.wsgi_request.GET.values())
    entry = LogEntry.objects.get()
    assert (entry.user_id, entry.object_id, entry.action_flag) == (user.pk, str(rows[1].pk), CHANGE)
    assert entry.change_message == "Found by a search for the full account number ********0001."
    [record] = [r for r in caplog.records if "searched verifications" in r.getMessage()]
    assert record.getMessage() == (
        "kcp_django: auditor searched verifications by full account number ********0001 at every bank: 1 row(s) found"
    )


def test_a_search_with_a_bank_finds_only_that_banks_rows_and_is_logged_when_nothing_matches(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rows = make_verifications(2)
    client = logged_in(auditor())

    at_kookmin = client.post(reverse(FIND), {"bank_code": "04", "account_no": rows[0].account_no})
    with caplog.at_level("INFO", logger="kcp_django"):
        elsewhere = client.post(reverse(FIND), {"bank_code": "88", "account_no": rows[0].account_no})

    assert [row.pk for row in at_kookmin.context["rows"]] == [rows[0].pk]
    assert elsewhere.context["rows"] == []
    assert "at bank 88: 0 row(s) found" in caplog.text
    assert LogEntry.objects.count() == 1


def test_the_changelist_offers_the_find_form_by_post_only_to_staff_who_may_see_full_numbers() -> None:
    make_verifications(1)
    find_url = reverse(FIND)

    plain = logged_in(make_staff("viewer", "kcp_django.view_accountverification")).get(reverse(CHANGELIST))
    allowed = logged_in(auditor()).get(reverse(CHANGELIST)).content.decode()

    assert find_url not in plain.content.decode()
    form = allowed.split('id="kcp-find-account"')[1].split("</form>")[0]
    assert 'method="post"' in form and f'action="{find_url}"' in form
    assert 'name="account_no"' in form and 'name="bank_code"' in form and "csrfmiddlewaretoken" in form
    assert "계좌번호로 찾기" in form and "전체 계좌번호로 찾으려면 아래 양식을" in allowed, (
        "labels and the search help are translated"
    )


def test_without_the_reveal_permission_nobody_finds_rows_by_account_number() -> None:
    rows = make_verifications(1)
    client = logged_in(make_staff("viewer", "kcp_django.view_accountverification", "kcp_django.verify_refund_account"))

    asked = client.get(reverse(FIND))
    searched = client.post(reverse(FIND), {"bank_code": "", "account_no": rows[0].account_no})

    assert (asked.status_code, searched.status_code) == (403, 403)
    assert not LogEntry.objects.exists()


def test_a_number_that_is_not_a_full_account_number_is_refused_by_field_and_rule() -> None:
    make_verifications(1)
    client = logged_in(auditor())

    refused = client.post(reverse(FIND), {"bank_code": "", "account_no": "00001"})

    assert refused.context["rows"] is None
    assert refused.context["form"].errors["account_no"] == [
        "계좌번호: 전체 번호를 6~20자리 숫자로 입력해 주세요 (공백과 하이픈은 무시합니다)."
    ]
    assert "00001" not in refused.content.decode().split('id="kcp-find-account"')[1]
    assert not LogEntry.objects.exists()


def test_search_by_order_number_tno_and_reference_is_exact() -> None:
    rows = make_verifications(3)
    client = logged_in(make_staff("viewer", "kcp_django.view_accountverification"))

    def found(term: str) -> list[int]:
        return [r.pk for r in client.get(reverse(CHANGELIST), {"q": term}).context["cl"].result_list]

    assert found(rows[0].ordr_idxx) == [rows[0].pk]
    assert found("order-2") == [rows[2].pk]
    assert found(rows[1].tno) == [r.pk for r in rows if r.tno == rows[1].tno]
    assert found("order-") == []
    assert found("000001") == []  # six digits are no account number, and partial numbers never match


def test_the_uuid_commands_and_the_api_print_finds_the_row_and_the_detail_page_shows_it() -> None:
    """Guards issue 18 item 8: the commands print the UUID, the admin showed and found only numbers."""
    rows = make_verifications(2)
    client = logged_in(make_staff("viewer", "kcp_django.view_accountverification"))

    listed = client.get(reverse(CHANGELIST), {"q": f" {rows[1].public_id} "}).context["cl"].result_list
    detail = client.get(reverse("admin:kcp_django_accountverification_change", args=[rows[1].pk]))

    assert [r.pk for r in listed] == [rows[1].pk]
    assert str(rows[1].public_id) in detail.content.decode()


def test_filters_by_state_bank_and_merchant() -> None:
    make_verifications(2)
    rejected = make_verifications(1, start=10)[0]
    AccountVerification.objects.filter(pk=rejected.pk).update(state="REJECTED", bank_code="88")
    client = logged_in(make_staff("viewer", "kcp_django.view_accountverification"))

    def count(**params: str) -> int:
        return len(client.get(reverse(CHANGELIST), params).context["cl"].result_list)

    assert count(state__exact="REJECTED") == 1
    assert count(bank="04") == 2
    assert count(bank="88") == 1
    assert count(merchant="default") == 3


def test_rows_are_read_only_and_cannot_be_deleted() -> None:
    row = make_verifications(1)[0]
    client = logged_in(verifier())

    page = client.get(reverse("admin:kcp_django_accountverification_change", args=[row.pk]))
    posted = client.post(reverse("admin:kcp_django_accountverification_change", args=[row.pk]), {"owner_nm": "X"})
    deleted = client.post(reverse("admin:kcp_django_accountverification_delete", args=[row.pk]), {"post": "yes"})

    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert posted.status_code == 403
    assert deleted.status_code == 403
    assert AccountVerification.objects.get(pk=row.pk).owner_nm == "홍길동"


# The full number -----------------------------------------------------------------------------------


def test_the_detail_page_shows_the_mask_and_offers_the_number_only_with_the_permission() -> None:
    row = make_verifications(1)[0]
    url = reverse("admin:kcp_django_accountverification_change", args=[row.pk])
    reveal = reverse("admin:kcp_django_accountverification_account_number", args=[row.pk])

    plain = logged_in(make_staff("viewer", "kcp_django.view_accountverification")).get(url).content.decode()
    allowed = logged_in(
        make_staff("auditor", "kcp_django.view_accountverification", "kcp_django.view_full_account_number")
    ).get(url)

    assert row.account_no_masked in plain and reveal not in plain
    assert reveal in allowed.content.decode()
    assert row.account_no not in allowed.content.decode()


def test_revealing_the_number_takes_a_post_and_is_recorded_in_the_admin_log() -> None:
    row = make_verifications(1)[0]
    auditor = make_staff("auditor", "kcp_django.view_accountverification", "kcp_django.view_full_account_number")
    client = logged_in(auditor)
    url = reverse("admin:kcp_django_accountverification_account_number", args=[row.pk])

    asked = client.get(url)
    assert row.account_no not in asked.content.decode()
    assert not LogEntry.objects.exists()

    shown = client.post(url)

    assert row.account_no in shown.content.decode()
    assert "no-store" in shown["Cache-Control"]
    entry = LogEntry.objects.get()
    assert (entry.user_id, entry.object_id, entry.action_flag) == (auditor.pk, str(row.pk), CHANGE)
    assert entry.change_message == REVEAL_LOG_MESSAGE
    client.post(url)
    assert LogEntry.objects.count() == 2


def test_a_number_whose_key_is_gone_is_a_message_not_a_server_error() -> None:
    """Guards issue 18 item 4: revealing a number the server cannot decrypt raised DecryptionError (a 500)."""
    row = make_verifications(1)[0]
    auditor = make_staff("auditor", "kcp_django.view_accountverification", "kcp_django.view_full_account_number")
    client = logged_in(auditor)
    url = reverse("admin:kcp_django_accountverification_account_number", args=[row.pk])

    with override_settings(KCP_ENCRYPTION_KEYS=["other:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="]):
        shown = client.post(url, headers={"accept-language": "en"})

    assert shown.status_code == 200
    assert "encrypted with key k2, which is no longer in KCP_ENCRYPTION_KEYS" in shown.content.decode()
    assert not LogEntry.objects.exists(), "nothing was shown, so nothing is recorded as shown"


def test_without_the_permission_the_number_cannot_be_revealed() -> None:
    row = make_verifications(1)[0]
    client = logged_in(make_staff("viewer", "kcp_django.view_accountverification", "kcp_django.verify_refund_account"))

    response = client.post(reverse("admin:kcp_django_accountverification_account_number", args=[row.pk]))

    assert response.status_code == 403
    assert row.account_no not in response.content.decode()
    assert not LogEntry.objects.exists()


# The action ----------------------------------------------------------------------------------------


def test_the_action_is_offered_only_with_the_verify_permission() -> None:
    make_verifications(1)
    without = logged_in(make_staff("viewer", "kcp_django.view_accountverification")).get(reverse(CHANGELIST))
    with_it = logged_in(verifier()).get(reverse(CHANGELIST))

    assert ACTION not in without.content.decode()
    assert 'name="action"' not in without.content.decode()
    assert f'value="{ACTION}"' in with_it.content.decode()
    assert "환불계좌 인증" in with_it.content.decode()


def test_posting_the_action_without_the_permission_sends_nothing() -> None:
    rows = make_verifications(2)
    outbox.clear()
    client = logged_in(make_staff("viewer", "kcp_django.view_accountverification"))

    client.post(reverse(CHANGELIST), {"action": ACTION, "_selected_action": [r.pk for r in rows], "index": "0"})
    client.post(
        reverse(CHANGELIST),
        {
            "action": ACTION,
            "_selected_action": [r.pk for r in rows],
            "kcp_confirmed": "yes",
            "kcp_confirmation_token": "x" * 32,
        },
    )

    assert len(outbox) == 0
    assert AccountVerification.objects.count() == 2


def test_three_rows_are_confirmed_then_verified_again_as_new_attempts() -> None:
    originals = make_verifications(3)
    before = {row.pk: (row.state, row.ordr_idxx, row.tno, row.updated_at) for row in AccountVerification.objects.all()}
    outbox.clear()
    staff = verifier()
    client = logged_in(staff)

    confirmation = client.post(
        reverse(CHANGELIST), {"action": ACTION, "_selected_action": [row.pk for row in originals], "index": "0"}
    )

    page = confirmation.content.decode()
    assert confirmation.context["calls"] == 3
    assert re.search(r"<strong>3</strong>", page)
    assert all(number not in page for number in full_numbers(originals))
    assert len(outbox) == 0  # nothing is sent before the confirmation

    done = client.post(reverse(CHANGELIST), confirmation_post(confirmation))

    assert done.status_code == 302
    assert len(outbox) == 3
    new = AccountVerification.objects.exclude(pk__in=before)
    assert new.count() == 3
    for original in originals:
        attempt = new.get(reference=original.reference)
        assert attempt.ordr_idxx != original.ordr_idxx
        assert (attempt.bank_code, attempt.account_index, attempt.owner_nm, attempt.merchant) == (
            original.bank_code,
            original.account_index,
            original.owner_nm,
            original.merchant,
        )
        assert attempt.account_no == original.account_no
        assert attempt.state == "VERIFIED"
        assert attempt.requested_by == staff
    after = {
        row.pk: (row.state, row.ordr_idxx, row.tno, row.updated_at)
        for row in AccountVerification.objects.filter(pk__in=before)
    }
    assert after == before  # history is never rewritten
    messages = [str(m) for m in done.wsgi_request._messages]
    assert any("3" in m for m in messages)


def test_submitting_the_same_confirmation_twice_sends_once() -> None:
    rows = make_verifications(2)
    outbox.clear()
    client = logged_in(verifier())
    confirmation = client.post(
        reverse(CHANGELIST), {"action": ACTION, "_selected_action": [r.pk for r in rows], "index": "0"}
    )
    data = confirmation_post(confirmation)

    client.post(reverse(CHANGELIST), data)
    client.post(reverse(CHANGELIST), data)

    assert len(outbox) == 2
    assert BulkVerification.objects.count() == 1


def test_select_across_keeps_the_filters_and_counts_every_matching_row() -> None:
    make_verifications(4)
    AccountVerification.objects.filter(reference__in=["order-0", "order-1"]).update(state="REJECTED")
    outbox.clear()
    client = logged_in(verifier())
    one_rejected = AccountVerification.objects.filter(state="REJECTED").first()
    assert one_rejected is not None

    confirmation, _ = run_action(
        client, CHANGELIST, [one_rejected.pk], query="?state__exact=REJECTED", select_across=True
    )

    assert confirmation.context["calls"] == 2
    assert len(outbox) == 2
    assert sorted(r.account_no for r in outbox) == [account_number(0), account_number(1)]  # type: ignore[attr-defined]


@override_settings(KCP_ADMIN_BULK_MAX=2)
def test_more_rows_than_the_limit_are_refused() -> None:
    rows = make_verifications(3)
    outbox.clear()
    client = logged_in(verifier())

    confirmation = client.post(
        reverse(CHANGELIST), {"action": ACTION, "_selected_action": [r.pk for r in rows], "index": "0"}
    )
    forced = client.post(
        reverse(CHANGELIST),
        {
            "action": ACTION,
            "_selected_action": [r.pk for r in rows],
            "kcp_confirmed": "yes",
            "kcp_confirmation_token": "t" * 32,
        },
    )

    assert confirmation.context["too_many"]
    assert 'name="kcp_confirmed"' not in confirmation.content.decode()
    assert forced.status_code == 302
    assert len(outbox) == 0


@override_settings(KCP_ADMIN_BULK_THRESHOLD=2)
def test_above_the_threshold_the_rows_go_to_the_tasks_framework_and_the_list_shows_progress() -> None:
    rows = make_verifications(5)
    outbox.clear()
    client = logged_in(verifier())

    confirmation, _ = run_action(client, CHANGELIST, [row.pk for row in rows])

    assert confirmation.context["in_background"]
    bulk = BulkVerification.objects.get()
    assert bulk.in_background and bulk.total == 5
    # The default backend is Django's immediate one: the work is done when the request returns.
    assert len(outbox) == 5
    assert bulk.items.filter(finished_at__isnull=True).count() == 0
    listing = client.get(reverse(CHANGELIST)).content.decode()
    assert 'id="kcp-bulk-progress"' in listing
    assert 'data-done="5"' in listing and 'data-queued="0"' in listing
    fragment = client.get(reverse("admin:kcp_django_accountverification_kcp_bulk_progress"))
    assert 'data-running="false"' in fragment.content.decode()


# The add form --------------------------------------------------------------------------------------


ADD = "admin:kcp_django_accountverification_add"


def form_data(client: Client, **values: str) -> dict[str, str]:
    form = client.get(reverse(ADD)).context["form"]
    return {
        "bank_code": "04",
        "account_no": "123-456-789012",
        "owner_nm": "홍길동",
        "reference": "refund-9",
        "merchant": "default",
        "ordr_idxx": form.initial["ordr_idxx"],
        **values,
    }


def test_the_add_form_verifies_through_the_service() -> None:
    staff = verifier()
    client = logged_in(staff)

    response = client.post(reverse(ADD), form_data(client))

    row = AccountVerification.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:kcp_django_accountverification_change", args=[row.pk])
    assert (row.state, row.reference, row.requested_by) == ("VERIFIED", "refund-9", staff)
    assert row.account_no == "123456789012"
    assert LogEntry.objects.get().action_flag == ADDITION
    assert len(outbox) == 1


def test_the_add_form_reports_the_services_rules_by_field_and_never_echoes_the_number() -> None:
    client = logged_in(verifier())

    response = client.post(reverse(ADD), form_data(client, owner_nm="홍길동;", account_no="123-456-7890123"))

    assert response.status_code == 200
    assert "owner_nm" in response.context["form"].errors
    assert "1234567890123" not in response.content.decode()
    assert "123-456-7890123" not in response.content.decode()
    assert AccountVerification.objects.count() == 0
    assert len(outbox) == 0


def test_sending_the_same_add_form_twice_asks_kcp_once() -> None:
    client = logged_in(verifier())
    data = form_data(client)

    client.post(reverse(ADD), data)
    client.post(reverse(ADD), data)

    assert AccountVerification.objects.count() == 1
    assert len(outbox) == 1


def test_the_add_form_needs_the_verify_permission() -> None:
    client = logged_in(
        make_staff("viewer", "kcp_django.view_accountverification", "kcp_django.add_accountverification")
    )

    assert client.get(reverse(ADD)).status_code == 403
    assert client.post(reverse(ADD), {"bank_code": "04"}).status_code == 403


@pytest.mark.parametrize(
    ("remote_addr", "stored"),
    [("203.0.113.9", "203.0.113.9"), ("::ffff:203.0.113.9", "203.0.113.9"), ("unix:/run/app.sock", None)],
)
def test_the_add_form_keeps_the_staff_address_or_none_when_the_server_gives_no_address(
    remote_addr: str, stored: str | None
) -> None:
    client = logged_in(verifier())

    response = client.post(reverse(ADD), form_data(client), REMOTE_ADDR=remote_addr)

    assert response.status_code == 302
    row = AccountVerification.objects.get()
    assert (row.state, row.client_ip) == ("VERIFIED", stored)
    assert next(iter(outbox)).cust_ip == (stored or "")


@pytest.mark.parametrize(("remote_addr", "stored"), [("2001:db8::9", "2001:db8::9"), ("unix:/run/app.sock", None)])
def test_the_action_keeps_the_staff_address_or_none_for_every_row(remote_addr: str, stored: str | None) -> None:
    rows = make_verifications(2)
    outbox.clear()
    client = logged_in(verifier())
    confirmation = client.post(
        reverse(CHANGELIST), {"action": ACTION, "_selected_action": [r.pk for r in rows], "index": "0"}
    )

    client.post(reverse(CHANGELIST), confirmation_post(confirmation), REMOTE_ADDR=remote_addr)

    assert BulkVerification.objects.get().client_ip == stored
    new = AccountVerification.objects.exclude(pk__in=[r.pk for r in rows])
    assert [(row.state, row.client_ip) for row in new] == [("VERIFIED", stored)] * 2
