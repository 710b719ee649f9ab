"""Identifier normalization shared by every channel, so the same person looks the same everywhere."""
from __future__ import annotations

import phonenumbers

DEFAULT_REGION = "CN"


def e164(raw: str | None, region: str = DEFAULT_REGION) -> str | None:
    """E.164 form of a phone number, or None when it is not a plausible number.

    Platform prefixes such as ``whatsapp:`` or ``tel:`` are stripped first.
    """
    if not raw:
        return None
    text = raw.strip()
    for prefix in ("whatsapp:", "tel:", "sip:"):
        if text.lower().startswith(prefix):
            text = text[len(prefix):]
    if text.isdigit() and len(text) > 11:  # WhatsApp sends wa_id digits without '+'
        text = "+" + text
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def email(raw: str | None) -> str | None:
    if not raw or "@" not in raw:
        return None
    return raw.strip().lower()


def handle(platform: str, user_id: str | None) -> str | None:
    """Platform-namespaced handle: ids are only unique within one platform."""
    if not user_id:
        return None
    return f"{platform.lower()}:{user_id.strip()}"
