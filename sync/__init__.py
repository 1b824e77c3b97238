"""The wire protocol: record and message types, the codec, the hybrid logical clock.

This package imports the standard library and msgspec only, nothing of ours, so that the
device, the server and the tools agree on one definition of every byte that crosses a wire
or lands in a store.
"""

from sync.version import PROTOCOL_VERSION, SCHEMA_VERSION

__all__ = ["PROTOCOL_VERSION", "SCHEMA_VERSION"]
