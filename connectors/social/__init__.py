"""Social channels: WeChat Official Account message push and Meta webhooks (Messenger, Instagram, WhatsApp)."""
