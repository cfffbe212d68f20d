from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django_countries.fields import CountryField

from apps.core import clock

hex_colour = RegexValidator(
    r"^#[0-9a-fA-F]{6}$", "Use a colour like #1f6feb (# and six hex digits)."
)
usdc_address = RegexValidator(
    r"^0x[0-9a-fA-F]{40}$", "A USDC address is 0x followed by 40 hexadecimal characters."
)


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **fields) -> User:
        if not email:
            raise ValueError("An e-mail address is required")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **fields) -> User:
        fields.setdefault("is_staff", False)
        fields.setdefault("is_superuser", False)
        return self._create(email, password, **fields)

    def create_superuser(self, email: str, password: str | None = None, **fields) -> User:
        fields.update(is_staff=True, is_superuser=True)
        return self._create(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in with an e-mail address: candidate, trader or staff."""

    email = models.EmailField("e-mail address", max_length=254, unique=True)
    name = models.CharField(max_length=150, blank=True, help_text="How the firm addresses them.")
    is_staff = models.BooleanField(default=False, help_text="May sign in to the admin.")
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=clock.now)
    erased_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        constraints = [models.UniqueConstraint(Lower("email"), name="user_email_unique_ci")]

    def __str__(self) -> str:
        return self.email

    def get_full_name(self) -> str:
        return self.name or self.email

    def get_short_name(self) -> str:
        return self.name or self.email.split("@")[0]

    def has_role(self, role: str) -> bool:
        return self.groups.filter(name=role).exists()


class KycStatus(models.TextChoices):
    NOT_SUBMITTED = "not_submitted", "Not submitted"
    PENDING = "pending", "Pending review"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class PayoutMethod(models.TextChoices):
    USDC = "usdc", "USDC address"
    BANK = "bank", "Bank transfer"


class TraderProfile(models.Model):
    """What payouts and tax reports need to know about a trader, and their KYC review."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="trader_profile"
    )
    legal_name = models.CharField(max_length=200, blank=True)
    country = CountryField(blank=True)
    tax_id = models.CharField("tax identifier", max_length=64, blank=True)
    payout_method = models.CharField(max_length=8, choices=PayoutMethod.choices, blank=True)
    payout_usdc_address = models.CharField(
        "USDC address", max_length=42, blank=True, validators=[usdc_address]
    )
    payout_bank_reference = models.CharField(
        "bank reference", max_length=120, blank=True, help_text="IBAN or account reference."
    )
    kyc_status = models.CharField(
        "KYC status", max_length=16, choices=KycStatus.choices, default=KycStatus.NOT_SUBMITTED
    )
    kyc_reason = models.TextField("KYC decision reason", blank=True)
    kyc_reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    kyc_reviewed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        permissions = [("review_kyc", "Can approve or reject a trader's KYC")]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(kyc_status="rejected") | ~models.Q(kyc_reason=""),
                name="kyc_rejection_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"profile of {self.user}"

    @property
    def payout_destination(self) -> str:
        if self.payout_method == PayoutMethod.USDC:
            return self.payout_usdc_address
        if self.payout_method == PayoutMethod.BANK:
            return self.payout_bank_reference
        return ""

    @property
    def is_complete(self) -> bool:
        return bool(self.legal_name and self.country and self.tax_id and self.payout_destination)


class Brand(models.Model):
    """The firm's brand: one per deployment, applied to every page people see."""

    singleton = models.BooleanField(default=True, unique=True, editable=False)
    name = models.CharField(max_length=80, default="Propfirm")
    tagline = models.CharField(max_length=160, blank=True)
    logo = models.BinaryField(null=True, blank=True, editable=False)
    logo_content_type = models.CharField(max_length=40, blank=True, editable=False)
    primary_colour = models.CharField(max_length=7, default="#1f6feb", validators=[hex_colour])
    accent_colour = models.CharField(max_length=7, default="#f2b705", validators=[hex_colour])
    background_colour = models.CharField(max_length=7, default="#0d1117", validators=[hex_colour])
    text_colour = models.CharField(max_length=7, default="#e6edf3", validators=[hex_colour])
    support_email = models.EmailField(default="support@propfirm.local")
    legal_footer = models.TextField(blank=True)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(singleton=True), name="one_brand")]

    def __str__(self) -> str:
        return self.name


class ApiKey(models.Model):
    """A trader's key for the REST API. Only its SHA-256 digest is stored: the key is a long
    random string shown once, so a slow password hash would add nothing but latency."""

    class Scope(models.TextChoices):
        TRADING = "trading", "Trading (read and place orders)"
        READ_ONLY = "read_only", "Read only"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=80)
    prefix = models.CharField(
        max_length=16, help_text="The key's first characters, to tell keys apart."
    )
    digest = models.CharField(max_length=64, unique=True)
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.TRADING)
    created_at = models.DateTimeField(default=clock.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        now = clock.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)
