from treadctl.cli import main

raise SystemExit(main())
