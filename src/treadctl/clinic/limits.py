"""The clinic records' figures the CLI states in its help: the treadmill id's pattern
and the shipper's batch and timing. A module of its own, importing nothing, so that
`treadctl --help` does not load psycopg (the shipper and the connection import these).
"""

ID_PATTERN = r"^[A-Za-z0-9_.\-]{1,64}$"
BATCH_ROWS = 5_000  # samples (and events) per transaction: ~8 min of a session at 10 Hz
PERIOD_S = 1.0  # a pass this often while everything is shipped
RETRY_MIN_S = 1.0  # first wait after a failed pass; doubles up to RETRY_MAX_S
RETRY_MAX_S = 60.0
