"""The quarantine: every layer keeps each bad record it could not use, with a reason, in this schema.

Records in = kept + filtered + quarantined, for every layer; the quarantine files are what makes
the last term inspectable.
"""

from __future__ import annotations

import pyarrow as pa

QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("position", pa.string()),  # line number, byte offset or record index
        pa.field("reason", pa.string(), nullable=False),  # short machine-readable reason
        pa.field("detail", pa.string()),  # the error message
        pa.field("raw", pa.binary()),  # the bad bytes, truncated to a preview
        pa.field("input_sha256", pa.string(), nullable=False),
    ]
)
