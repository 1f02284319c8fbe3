"""The clinic's records on PostgreSQL: every treadmill's sessions in one place.

Each controller keeps recording into its own SQLite file (the outbox); the shipper copies
its sessions into PostgreSQL, keyed so that shipping twice stores once. The progression
reads a patient's whole history from here when the clinic's records are configured.
"""
