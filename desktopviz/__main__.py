"""`python -m desktopviz` is the same as the `desktopviz` command."""

import sys

from desktopviz.cli import main

sys.exit(main())
