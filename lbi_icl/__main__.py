import sys

from lbi_icl.cli import main

sys.exit(main())
