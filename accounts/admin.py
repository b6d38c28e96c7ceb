"""Django admin for users (email login). Groups follow the role; token/sync counters are
read-only. simplejwt registers the outstanding/blacklisted token admins itself."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.contrib.auth.hashers import check_password
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from accounts.models import User
from accounts.services import LastAdmin, user_deactivate, user_logout_all, user_set_role


class UserCreateForm(AdminUserCreationForm):
    """Email, name, role and a password that is validated and hashed (never stored raw)."""

    class Meta:
        model = User
        fields = ("email", "name", "role")

    def clean_email(self) -> str:
        normalized: str = User.objects.normalize_email(self.cleaned_data["email"])
        email = normalized.strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("A user with this email already exists.")
        return email


class UserEditForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        user = self.instance
        if user.pk and user.role == User.Role.ADMIN and user.is_active:
            leaves_admins = (
                cleaned.get("role", user.role) != User.Role.ADMIN
                or cleaned.get("is_active") is False
            )
            others = User.objects.filter(role=User.Role.ADMIN, is_active=True).exclude(pk=user.pk)
            if leaves_admins and not others.exists():
                raise forms.ValidationError(
                    "The last active admin cannot be demoted or deactivated."
                )
        return cleaned


class OwnUserEditForm(UserEditForm):
    """The change form of one's own account: a new email needs the current password (the
    same rule as the API, for every role; a hijacked admin session must not be enough)."""

    current_password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text="Needed to change your own email.",
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if "email" in self.changed_data:
            password = cleaned.get("current_password") or ""
            # The stored hash (this form cannot change it); no rehash-and-save mid-edit.
            if not check_password(password, self.instance.password):
                self.add_error("current_password", "Enter your current password.")
        return cleaned


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserEditForm
    add_form = UserCreateForm
    list_display = (
        "email",
        "name",
        "role",
        "is_active",
        "is_staff",
        "plan",
        "timezone",
        "date_joined",
        "last_login",
    )
    list_filter = ("role", "is_active", "plan", "is_superuser", "marketing_opt_in")
    search_fields = ("email", "name")
    ordering = ("-id",)
    # COUNT(*) over every user on each search is slow at millions of rows; the filtered
    # count is still shown.
    show_full_result_count = False
    list_per_page = 50
    readonly_fields = ("is_staff", "groups", "token_version", "sync_version", "last_login")
    filter_horizontal = ("user_permissions",)
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (
            "Profile",
            {"fields": ("name", "timezone", "locale", "phone", "marketing_opt_in", "plan")},
        ),
        (
            "Access (groups follow the role)",
            {
                "fields": (
                    "role",
                    "is_active",
                    "is_staff",
                    "is_superuser",
                    "groups",
                    "user_permissions",
                )
            },
        ),
        ("Tokens and provider sync", {"fields": ("token_version", "sync_version")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "name", "role", "usable_password", "password1", "password2"),
            },
        ),
    )
    actions = ("deactivate_users", "logout_users_everywhere")

    @staticmethod
    def _is_own(request: HttpRequest, obj: Any) -> bool:
        return obj is not None and obj.pk == request.user.pk

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if self._is_own(request, obj):
            kwargs["form"] = OwnUserEditForm
        # Keyword: auth's UserAdmin.get_form takes (request, obj, **kwargs) and passes change on.
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets: Any = super().get_fieldsets(request, obj)
        if self._is_own(request, obj):
            own = (None, {"fields": ("email", "current_password", "password")})
            fieldsets = (own, *fieldsets[1:])
        return fieldsets

    def user_change_password(
        self, request: HttpRequest, id: str, form_url: str = ""
    ) -> HttpResponse:
        # Setting one's own password here asks for no old password; Django's own
        # password-change page does, and both revoke every API token (User.save).
        if str(id) == str(request.user.pk):
            return HttpResponseRedirect(reverse("admin:password_change"))
        return super().user_change_password(request, id, form_url)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = tuple(super().get_readonly_fields(request, obj))
        if obj is not None and not request.user.is_superuser:
            fields += ("is_superuser", "user_permissions")  # no self-promotion past admin
        return fields

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        user = form.instance
        user_set_role(user=user, role=user.role)  # group membership follows the role
        if change and "is_active" in form.changed_data and not user.is_active:
            user_logout_all(user=user)

    @admin.action(description="Deactivate selected users and revoke their tokens")
    def deactivate_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        done = 0
        for user in queryset.order_by("pk"):
            try:
                user_deactivate(user=user)
                done += 1
            except LastAdmin as exc:
                self.message_user(request, f"{user.email}: {exc.detail}", messages.ERROR)
        self.message_user(request, f"Deactivated {done} user(s).", messages.SUCCESS)

    @admin.action(description="Log selected users out everywhere")
    def logout_users_everywhere(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        users = list(queryset.order_by("pk"))
        for user in users:
            user_logout_all(user=user)
        self.message_user(request, f"Revoked the tokens of {len(users)} user(s).", messages.SUCCESS)
