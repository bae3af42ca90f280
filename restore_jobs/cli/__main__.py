import sys

from restore_jobs.cli import main

sys.exit(main())
