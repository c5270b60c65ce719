"""``python -m kuberun_sandbox`` is ``kuberun sandbox``."""

import sys

from .cli import main

sys.exit(main())
