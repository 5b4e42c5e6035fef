"""``python -m noex_trio.cluster run --nodes N module:function``: see `_run`."""

import sys

from ._run import main

sys.exit(main())
