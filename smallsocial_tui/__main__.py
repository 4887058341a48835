"""``python -m smallsocial_tui``: the same as the ``smallsocial`` command."""

from smallsocial_tui.entry import main

raise SystemExit(main())
