"""Integrations with the CRMs brokerages use: HighLevel's webhooks and API, CSV imports."""
