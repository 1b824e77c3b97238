"""Outreach: the rules every send obeys, the one executor per step, inbound replies and opt-outs."""
