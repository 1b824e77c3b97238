"""Protocol and schema versions carried by every batch.

``SCHEMA_VERSION`` changes when a record type changes shape in a way an older peer cannot read;
adding a field with a default does not change it. ``PROTOCOL_VERSION`` changes when the message
exchange itself changes.
"""

PROTOCOL_VERSION = 1
SCHEMA_VERSION = 1
