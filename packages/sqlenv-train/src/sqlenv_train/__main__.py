"""``python -m sqlenv_train`` runs the ``sqlenv-train`` command line."""

from sqlenv_train.cli import main

raise SystemExit(main())
