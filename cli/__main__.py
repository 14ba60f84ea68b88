"""`python -m cli` is `harness`."""

import sys

from cli import main

sys.exit(main())
