import sys

from devtools.fake_botapi.cli import main

sys.exit(main())
