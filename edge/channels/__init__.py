"""Channel adapters: ``send(step, message) -> Delivery`` (see ``edge.channels.base``)."""
