import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.accounts.models import Brand
from apps.accounts.services import AccountsError, brand_update
from apps.core.models import AuditEvent

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_the_brand_is_applied_to_public_pages_without_a_rebuild(client):
    brand_update(
        actor=None,
        name="Aurora Funding",
        primary_colour="#ff0066",
        legal_footer="Aurora Ltd, Malta",
    )
    html = client.get("/").content.decode()
    assert "<title>Aurora Funding</title>" in html
    assert "--brand-primary: #ff0066" in html
    assert "Aurora Ltd, Malta" in html
    assert "Aurora Funding" in client.get("/accounts/login/").content.decode()


def test_the_brand_names_the_admin_header_and_title(admin_client_mfa):
    client, _ = admin_client_mfa
    brand_update(actor=None, name="Aurora Funding")
    html = client.get("/admin/").content.decode()
    assert "Aurora Funding administration" in html
    assert "Aurora Funding admin</title>" in html


def test_a_logo_is_served_from_the_database():
    brand_update(actor=None, logo=PNG)
    from django.test import Client

    response = Client().get("/brand/logo")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert response.content == PNG


def test_a_bad_colour_is_refused_and_nothing_changes():
    with pytest.raises(Exception, match="#"):
        brand_update(actor=None, primary_colour="red")
    assert not Brand.objects.exists()


def test_a_logo_that_is_not_an_image_is_refused_in_the_admin(admin_client_mfa):
    client, admin = admin_client_mfa
    brand = brand_update(actor=admin, name="Before")
    response = client.post(
        f"/admin/accounts/brand/{brand.pk}/change/",
        {
            "name": "After",
            "tagline": "",
            "primary_colour": "#111111",
            "accent_colour": "#222222",
            "background_colour": "#333333",
            "text_colour": "#444444",
            "support_email": "help@example.com",
            "legal_footer": "",
            "logo_upload": SimpleUploadedFile("logo.exe", b"MZ\x90\x00not an image"),
        },
    )
    assert response.status_code == 200
    assert "must be a PNG, JPEG, GIF, WebP or SVG" in response.content.decode()
    assert Brand.objects.get().name == "Before"


def test_the_admin_saves_a_brand_change_with_an_audit_event(admin_client_mfa):
    client, admin = admin_client_mfa
    brand = brand_update(actor=admin, name="Before")
    client.post(
        f"/admin/accounts/brand/{brand.pk}/change/",
        {
            "name": "After",
            "tagline": "t",
            "primary_colour": "#111111",
            "accent_colour": "#222222",
            "background_colour": "#333333",
            "text_colour": "#444444",
            "support_email": "help@example.com",
            "legal_footer": "",
            "logo_upload": SimpleUploadedFile("logo.png", PNG),
        },
    )
    brand = Brand.objects.get()
    assert (brand.name, brand.logo_content_type) == ("After", "image/png")
    event = AuditEvent.objects.filter(action="brand.update").last()
    assert event.before["name"] == "Before" and event.after["name"] == "After"
    assert event.actor == admin


def test_an_svg_logo_with_a_script_is_refused():
    with pytest.raises(AccountsError, match="scripts"):
        brand_update(actor=None, logo=b"<svg><script>alert(1)</script></svg>")
