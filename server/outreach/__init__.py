"""Outreach on the server: SMTP e-mail, an SMS/WhatsApp provider's HTTP API, its webhook."""
