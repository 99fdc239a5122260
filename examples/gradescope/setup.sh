#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image.
# The autograder zip holds: setup.sh, run_autograder, the grader (a wheel or its source tree in
# calculus-grader/) and, optionally, your own exercises/ (without it the bundled bank is used).
set -euo pipefail
apt-get install -y python3 python3-venv python3-pip
python3 -m venv /autograder/venv
if ls /autograder/source/calculus_grader-*.whl >/dev/null 2>&1; then
    /autograder/venv/bin/pip install /autograder/source/calculus_grader-*.whl
else
    /autograder/venv/bin/pip install /autograder/source/calculus-grader
fi
/autograder/venv/bin/grader plugins >/dev/null      # fail the build now, not at the first submission
