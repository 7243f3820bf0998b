import sys

from rtu.cli import main

sys.exit(main())
