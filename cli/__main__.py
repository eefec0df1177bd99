"""`python -m cli ...` is `stocktune ...` (how `launch` starts its workers and the tests call the CLI)."""
import sys

from cli.main import main

sys.exit(main())
