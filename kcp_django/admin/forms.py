"""The admin form where staff enter one refund account to verify."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from kcp_django import conf
from kcp_django.banks import bank_choices
from kcp_django.exceptions import InvalidRequest
from kcp_django.validation import generate_ordr_idxx


class UnechoedTextInput(forms.TextInput):
    """A text box that never writes a submitted value back into the page (for account numbers)."""

    def format_value(self, value: Any) -> str | None:
        return None


class VerifyAccountForm(forms.Form):
    """Collects the input only: the service checks it against KCP's rules (required fields
    included) and reports every problem by field at once."""

    bank_code = forms.ChoiceField(label=_("bank"), required=False)
    account_no = forms.CharField(
        label=_("account number"),
        max_length=64,
        required=False,
        widget=UnechoedTextInput(attrs={"autocomplete": "off", "inputmode": "numeric", "spellcheck": "false"}),
        help_text=_("Digits; spaces and hyphens are ignored. Not shown again after sending."),
    )
    owner_nm = forms.CharField(label=_("account holder name"), max_length=50, required=False)
    reference = forms.CharField(
        label=_("shop reference"), max_length=100, required=False, help_text=_("e.g. the order or refund number")
    )
    merchant = forms.ChoiceField(label=_("merchant"))
    #: Fixed when the form is shown: sending the same form twice asks KCP once.
    ordr_idxx = forms.CharField(widget=forms.HiddenInput, max_length=40)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        bank_field = cast(forms.ChoiceField, self.fields["bank_code"])
        bank_field.choices = [("", "---------"), *bank_choices()]
        merchant_field = cast(forms.ChoiceField, self.fields["merchant"])
        aliases = conf.merchant_aliases()
        merchant_field.choices = [(alias, alias) for alias in aliases]
        merchant_field.initial = conf.DEFAULT_ALIAS if conf.DEFAULT_ALIAS in aliases else aliases[0]
        if len(aliases) == 1:
            merchant_field.widget = forms.HiddenInput()
        if not self.is_bound:
            self.initial.setdefault("ordr_idxx", generate_ordr_idxx())

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "bank_code": data["bank_code"],
            "account_no": data["account_no"],
            "owner_nm": data["owner_nm"],
            "reference": data["reference"],
            "merchant": data["merchant"],
            "ordr_idxx": data["ordr_idxx"],
        }

    def add_service_errors(self, error: InvalidRequest) -> None:
        for field_error in error.errors:
            field = field_error.field if field_error.field in self.fields and field_error.field != "ordr_idxx" else None
            self.add_error(field, str(field_error.message))
