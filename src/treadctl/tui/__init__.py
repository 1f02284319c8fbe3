"""The operator dashboard (Textual): `treadctl dashboard --socket PATH`.

`treadctl.tui.app.run_dashboard(socket)` runs it in the terminal; `DashboardApp` is the
App, fed by the controller's socket or, with no socket, by `apply` (tests).
"""
