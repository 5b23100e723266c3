"""``python -m dit4dit_policy.cli …`` (e.g. under ``accelerate launch -m``) runs the ``dit4dit`` command."""

import sys

from dit4dit_policy.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
