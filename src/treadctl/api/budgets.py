"""The socket server's budgets: what one client may cost the control loop's event loop,
in bytes queued, connections and time (docs/api.md says why they are these)."""

STATUS_HZ = 10.0
HIGH_WATER_BYTES = 64 * 1024  # past this a client's status messages are dropped
HARD_LIMIT_BYTES = 512 * 1024  # past this the client is disconnected at once
STALL_S = 3.0  # a client whose buffer stays past the high-water mark this long is cut off
READ_CHUNK_BYTES = 4096  # received at once per client; the rest waits in the kernel
MAX_CLIENTS = 16  # connections at once; past it the oldest non-operator client makes room
ACCEPT_BACKLOG = 16  # connections waiting in the kernel to be accepted
ACCEPTS_PER_S = 20.0  # new connections accepted per second, after a burst of ...
ACCEPT_BURST = 10
ACCEPT_ERROR_PAUSE_S = 0.1  # after an accept error (out of file descriptors, say)
CLOSE_DRAIN_S = 1.0  # at the end, for the last messages to go out
HELLO_TIMEOUT_S = 5.0  # a connection that has not said hello by then is closed
EVENT_BACKLOG = 200  # events a newly attached client receives
MAX_HELD_HOMES = 16  # incline_home requests waiting for the next cycle's decision
