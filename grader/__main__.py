"""`python -m grader` runs the command-line interface."""
from grader.cli import main

raise SystemExit(main())
