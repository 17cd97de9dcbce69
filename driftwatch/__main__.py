from __future__ import annotations

from driftwatch.cli import main

raise SystemExit(main())
