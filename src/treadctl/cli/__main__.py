"""`python -m treadctl.cli`: the controller process `treadctl run` starts, and the tests."""

from treadctl.cli import console_main

raise SystemExit(console_main())
