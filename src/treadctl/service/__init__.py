"""Running `treadctl serve` as a systemd service: readiness, watchdog pings fed by the
control loop's own cycles, a short status line, and journal-friendly log lines.

Everything here is best effort and never blocks: a missing or full notify socket is
counted, never raised, so nothing on the stop path can hang on systemd.
"""
