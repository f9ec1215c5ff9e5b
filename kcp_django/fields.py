"""A model field that keeps its value encrypted in the database (see :mod:`kcp_django.crypto`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from django import forms
from django.core.exceptions import FieldError, ValidationError
from django.db import models
from django.db.models.lookups import Exact, Lookup, Transform
from django.db.models.query_utils import DeferredAttribute
from django.utils.translation import gettext_lazy as _

from kcp_django.crypto import KeyRing, is_token
from kcp_django.exceptions import DecryptionError
from kcp_django.masking import mask_account_no

if TYPE_CHECKING:
    from django.db.models.expressions import Combinable
    from django_stubs_ext import StrOrPromise

    _TextField = models.TextField[str | None, str | None]
else:
    _TextField = models.TextField

__all__ = [
    "KEEP_STORED_VALUE",
    "Ciphertext",
    "EncryptedAttribute",
    "EncryptedTextField",
    "MaskedInput",
    "MaskedValueField",
    "OptionalLink",
    "reencrypt",
]


class Ciphertext(str):
    """A token as loaded from the database, decrypted only when the attribute is read."""

    # (associated data, plaintext) once decrypted. Kept off the instance's own attributes so
    # that pickling a model (e.g. into a cache) carries the ciphertext only.
    _decrypted: tuple[bytes, str] | None = None

    def __reduce__(self) -> tuple[type[Ciphertext], tuple[str]]:
        return (Ciphertext, (str(self),))


class EncryptedAttribute(DeferredAttribute):
    """Reads decrypt the stored :class:`Ciphertext` (once); writes take plaintext or a Ciphertext."""

    field: EncryptedTextField

    def __get__(self, instance: models.Model | None, cls: type[models.Model] | None = None) -> Any:
        if instance is None:
            return self
        value = _stored_value(instance, self.field)
        if isinstance(value, Ciphertext):
            return self.field.decrypt(instance, value)
        return value

    def __set__(self, instance: models.Model, value: Any) -> None:
        instance.__dict__[self.field.attname] = value


class EncryptedTextField(_TextField):
    """Text stored as a :class:`~kcp_django.crypto.KeyRing` token; the attribute reads as plaintext.

    The value is bound to its model and field (the associated data is ``"<app>.<model>.<field>"``), so
    a token copied into another field does not decrypt; renaming the model or field therefore needs
    the values re-encrypted. Only ``isnull`` lookups work: find rows by a blind index column
    (``blind_index_field``, filled with :func:`kcp_django.crypto.blind_index`) instead.
    """

    description = _("Text encrypted with AES-256-GCM (KCP_ENCRYPTION_KEYS)")
    descriptor_class = EncryptedAttribute

    def __init__(self, *args: Any, blind_index_field: str | None = None, **kwargs: Any) -> None:
        self.blind_index_field = blind_index_field
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> tuple[str, str, Any, dict[str, Any]]:
        name, path, args, kwargs = super().deconstruct()
        if self.blind_index_field is not None:
            kwargs["blind_index_field"] = self.blind_index_field
        return name, path, args, kwargs

    @property
    def associated_data(self) -> bytes:
        return f"{self.model._meta.label_lower}.{self.name}".encode()

    def decrypt(self, instance: models.Model, token: Ciphertext) -> str:
        """The plaintext of ``token`` read from ``instance``; errors name the row and the field."""
        associated_data = self.associated_data
        if token._decrypted is not None and token._decrypted[0] == associated_data:
            return token._decrypted[1]
        try:
            plaintext = KeyRing.from_settings().decrypt(token, associated_data=associated_data)
        except DecryptionError as exc:
            name = instance._meta.object_name
            raise DecryptionError(
                f"Cannot decrypt {name} pk={instance.pk} field {self.name}: {exc}",
                key_id=exc.key_id,
                missing_key=exc.missing_key,
            ) from exc
        token._decrypted = (associated_data, plaintext)
        return plaintext

    def encrypt(self, plaintext: str, keyring: KeyRing | None = None) -> Ciphertext:
        """A new token for ``plaintext`` under the newest key, already known to decrypt to it."""
        keyring = keyring or KeyRing.from_settings()
        associated_data = self.associated_data
        token = Ciphertext(keyring.encrypt(plaintext, associated_data=associated_data))
        token._decrypted = (associated_data, plaintext)
        return token

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Ciphertext | None:
        return None if value is None else Ciphertext(value)

    def to_python(self, value: Any) -> Any:
        """Plaintext stays plaintext; a value shaped like a token is taken as already encrypted.

        That is how ``loaddata`` gets back the tokens ``dumpdata`` wrote (see :meth:`value_to_string`)
        without encrypting them a second time. Such a token must decrypt for this field with a key
        of ``KCP_ENCRYPTION_KEYS``: one that does not (its key is gone, it was altered, or it
        belongs to another field) is refused, never stored as the plaintext of a new token.
        """
        value = super().to_python(value)
        if isinstance(value, str) and not isinstance(value, Ciphertext) and is_token(value):
            return self._checked_token(value)
        return value

    def _checked_token(self, value: str) -> Ciphertext:
        token = Ciphertext(value)
        associated_data = self.associated_data
        try:
            plaintext = KeyRing.from_settings().decrypt(token, associated_data=associated_data)
        except DecryptionError as exc:
            raise ValidationError(
                _("%(field)s holds an encrypted value that cannot be decrypted for this field: %(problem)s"),
                code="undecryptable",
                params={"field": f"{self.model._meta.label}.{self.name}", "problem": exc},
            ) from None
        token._decrypted = (associated_data, plaintext)
        return token

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        # Read the stored value, not the decrypting attribute: an unchanged token is written back
        # as is, and plaintext is swapped for its token so the next save does not encrypt again.
        value = _stored_value(model_instance, self)
        if value is None or isinstance(value, Ciphertext):
            return value
        value = self.to_python(value)
        token = value if isinstance(value, Ciphertext) else self.encrypt(cast(str, value))
        model_instance.__dict__[self.attname] = token
        return token

    def get_prep_value(self, value: Any) -> Any:
        # TextField.get_prep_value goes through to_python: a token stays the same token.
        value = super().get_prep_value(value)
        if value is None:
            return None
        if isinstance(value, Ciphertext):
            return str(value)
        # Reached by QuerySet.update() and bulk_update(), which skip pre_save.
        return str(self.encrypt(value))

    def clean(self, value: Any, model_instance: models.Model | None) -> Any:
        # Model.full_clean() sets the attribute to what this returns: give back the stored token
        # when the value is the one it holds, so that validating does not re-encrypt it on save.
        cleaned = super().clean(value, model_instance)
        if model_instance is not None and self.attname in model_instance.__dict__:
            stored = model_instance.__dict__[self.attname]
            if isinstance(stored, Ciphertext) and stored._decrypted == (self.associated_data, cleaned):
                return stored
        return cleaned

    def value_to_string(self, obj: models.Model) -> Any:
        """The stored token, so that ``dumpdata`` (and every serializer) writes no plaintext."""
        value = _stored_value(obj, self)
        if value is None:
            return None
        if not isinstance(value, Ciphertext):
            value = self.to_python(value)
            if not isinstance(value, Ciphertext):
                value = self.encrypt(value)  # not saved yet: serialise what a save would store
        return str(value)

    def formfield(self, **kwargs: Any) -> Any:
        """A text input that never shows the stored value (see :class:`MaskedValueField`).

        A widget given here (the admin gives a textarea to every TextField) is replaced unless it
        is a :class:`MaskedInput`.
        """
        widget = kwargs.pop("widget", None)
        is_masked = isinstance(widget, MaskedInput) or (isinstance(widget, type) and issubclass(widget, MaskedInput))
        kwargs["widget"] = widget if is_masked else MaskedInput
        kwargs.setdefault("form_class", MaskedValueField)
        return super().formfield(**kwargs)

    def save_form_data(self, instance: models.Model, data: Any) -> None:
        if data is KEEP_STORED_VALUE:
            return  # left empty on the form: the stored value stays as it is
        super().save_form_data(instance, data)

    def get_lookup(self, lookup_name: str) -> type[Lookup] | None:
        if lookup_name == "isnull":
            return super().get_lookup(lookup_name)
        if lookup_name == "exact":
            return _NoneOnlyExact
        raise self.lookup_refused(lookup_name)

    def get_transform(self, lookup_name: str) -> type[Transform] | None:
        raise self.lookup_refused(lookup_name)

    def lookup_refused(self, lookup_name: str) -> FieldError:
        index = self.blind_index_field or "a blind index column"
        return FieldError(
            f"{self.name} is encrypted, so '{lookup_name}' lookups cannot work on it; look it up by "
            f"{index} (kcp_django.crypto.blind_index) instead."
        )


class _NoneOnlyExact(Exact):
    """``field=None`` is allowed (Django turns it into ``isnull``); any other value is refused."""

    def get_prep_lookup(self) -> Any:
        if self.rhs is None:
            return None
        raise cast(EncryptedTextField, self.lhs.output_field).lookup_refused("exact")


class _KeepStoredValue:
    """What :class:`MaskedValueField` cleans an empty input to: keep the value already stored."""

    def __repr__(self) -> str:
        return "KEEP_STORED_VALUE"


KEEP_STORED_VALUE: Any = _KeepStoredValue()


class MaskedInput(forms.TextInput):
    """A text input that renders empty; a stored value shows only masked, as the placeholder.

    Like a password input that does not render its value: neither the stored plaintext nor a
    number typed into a form sent back with errors ever reaches the page.
    """

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__({"autocomplete": "off", "class": "vTextField", **(attrs or {})})

    def format_value(self, value: Any) -> str | None:
        return None

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, None, attrs)
        if value not in (None, "", KEEP_STORED_VALUE):
            widget_attrs = context["widget"]["attrs"]
            widget_attrs["placeholder"] = mask_account_no(str(value))
            widget_attrs["title"] = _("Leave empty to keep the stored value; type a new value to replace it.")
        return context

    def use_required_attribute(self, initial: Any) -> bool:
        # On a change form the field may be left empty (the stored value stays).
        return super().use_required_attribute(initial) and not initial


class MaskedValueField(forms.CharField):
    """The form field of :class:`EncryptedTextField`: empty means "keep the stored value".

    A new value replaces the stored one. On an add form there is nothing stored, so a required
    field left empty fails the model's own "cannot be blank" check.
    """

    widget = MaskedInput

    def to_python(self, value: Any) -> Any:
        value = super().to_python(value)
        return KEEP_STORED_VALUE if value in self.empty_values else value

    def validate(self, value: Any) -> None:
        if value is not KEEP_STORED_VALUE:
            super().validate(value)

    def run_validators(self, value: Any) -> None:
        if value is not KEEP_STORED_VALUE:
            super().run_validators(value)

    def bound_data(self, data: Any, initial: Any) -> Any:
        # A form shown again after an error masks what is stored, never what was typed.
        return initial

    def has_changed(self, initial: Any, data: Any) -> bool:
        if self.disabled:
            return False
        value = self.to_python(data)
        return value is not KEEP_STORED_VALUE and value != initial


def _stored_value(instance: models.Model, field: EncryptedTextField) -> Any:
    """The value as held by ``instance`` (a Ciphertext, plaintext or None), without decrypting."""
    if field.attname not in instance.__dict__:
        # A deferred field. Load the token itself: refresh_from_db() would copy the decrypted value.
        manager = type(instance)._base_manager.db_manager(hints={"instance": instance})
        rows = manager.filter(pk=instance.pk).values_list(field.attname, flat=True)
        instance.__dict__[field.attname] = rows.get()
    return instance.__dict__[field.attname]


def reencrypt(instance: models.Model, field_name: str) -> bool:
    """Re-encrypt ``instance.<field_name>`` under the newest key if an older key encrypted it.

    Returns True when the token changed; the caller saves (``save(update_fields=[field_name])``).
    Every token is decrypted first, so a value that cannot be read raises :class:`DecryptionError`
    naming the row instead of being skipped.
    """
    field = instance._meta.get_field(field_name)
    if not isinstance(field, EncryptedTextField):
        raise TypeError(f"{instance._meta.label}.{field_name} is not an EncryptedTextField.")
    token = _stored_value(instance, field)
    if not isinstance(token, Ciphertext):
        return False  # None, or plaintext that the next save encrypts with the newest key anyway
    plaintext = field.decrypt(instance, token)
    keyring = KeyRing.from_settings()
    if not keyring.needs_rotation(token):
        return False
    instance.__dict__[field.attname] = field.encrypt(plaintext, keyring)
    return True


_Set = TypeVar("_Set")
_Get = TypeVar("_Get")


class OptionalLink(models.ForeignKey[_Set, _Get]):
    """A link another row may lack: NULL in the database, optional in forms.

    Nothing but those defaults: migrations see (and write) the plain ``ForeignKey`` it is, and type
    checkers the linked model or ``None``, as for any ``ForeignKey`` with ``null=True``.
    """

    if TYPE_CHECKING:  # how django-stubs types a custom field's values: here, maybe None
        _pyi_private_set_type: Any | Combinable | None
        _pyi_private_get_type: Any | None

    def __init__(
        self,
        to: type[models.Model] | str,
        verbose_name: StrOrPromise,
        *,
        on_delete: Callable[..., None],
        related_name: str,
        **options: Any,
    ) -> None:
        options.setdefault("null", True)
        options.setdefault("blank", True)
        super().__init__(to, on_delete, verbose_name=verbose_name, related_name=related_name, **options)

    def deconstruct(self) -> Any:
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.ForeignKey", args, kwargs
