import sys

from gradtrace.cli import main

sys.exit(main())
