"""The operator console in a browser: the dashboard (or monitor) served over HTTP."""
