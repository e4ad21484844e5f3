"""``python -m fusegen ...`` is the same as the ``fusegen`` command."""

from .cli import main

raise SystemExit(main())
