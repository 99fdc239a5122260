"""`grader batch DIR`: grade a whole class into a gradebook, resumable after Ctrl-C."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from grader.commands.common import (EXIT_OK, add_exercises_option, add_limit_options, limit_options,
                                    load_plugins, load_selected)
from grader.errors import UsageError

NAME, HELP = "batch", "grade a class: one <student>.py or <student>/ folder per student"
EXIT_INTERRUPTED = 130


def add_arguments(parser) -> None:
    parser.add_argument("directory", type=Path, metavar="DIR")
    add_exercises_option(parser)
    parser.add_argument("--exercise", action="append", metavar="ID", help="grade only this exercise (repeatable)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, metavar="N",
                        help="students graded at once (default: the number of cores)")
    parser.add_argument("--out", type=Path, default=Path("gradebook.csv"), metavar="FILE",
                        help="the gradebook CSV (default gradebook.csv); its journal is FILE.journal")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write every student's full report")
    parser.add_argument("--html", type=Path, metavar="FILE", help="also write a class report as HTML")
    parser.add_argument("--state", type=Path, metavar="DIR", help="keep the journal here instead of FILE.journal")
    parser.add_argument("--filename", metavar="NAME", help="the solution file inside each student folder")
    parser.add_argument("--variants", action="store_true",
                        help="every student gets their own random inputs (seeded by the student name)")
    add_limit_options(parser)
    parser.add_argument("--seed", type=int, metavar="N", help="change the random cases (same N, same cases)")


def run(args) -> int:
    from grader.roster import discover_students
    from grader.sandbox.pool import SandboxPool, servers_for
    if not args.directory.is_dir():
        raise UsageError(f"no such directory: {args.directory}")
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if args.filename and (Path(args.filename).name != args.filename or not args.filename.endswith(".py")):
        raise UsageError(f"--filename must be a file name ending in .py, got {args.filename!r}")
    timeout, memory, limits = limit_options(args)
    for output in (args.out, args.json, args.html):
        if output is not None and not output.parent.resolve().is_dir():
            raise UsageError(f"cannot write {output}: no directory {output.parent}")
    # the fork servers boot first, while this process imports numpy and loads the exercises; they
    # never see a reference value
    students = discover_students(args.directory, args.filename)
    pool = SandboxPool(servers_for(args.jobs, len(students)))
    try:
        from grader.batch import BatchOptions, run_batch
        from grader.gradebook import summary_text
        plugins = load_plugins()
        exercises = load_selected(args, plugins, args.exercise)
        options = BatchOptions(directory=args.directory, exercises=exercises, out=args.out, jobs=args.jobs,
                               filename=args.filename, seed=args.seed, timeout=timeout, memory=memory, limits=limits,
                               variants=args.variants, json_path=args.json, html_path=args.html,
                               journal_path=args.state / "journal.jsonl" if args.state else None,
                               title=args.directory.resolve().name)
        result = run_batch(options, plugins, pool=pool, students=students)
    finally:
        pool.close(wait=False)      # about to exit: the servers end on their own, uids held till then
    if result.interrupted:
        done = sum(1 for g in result.graded if g.journaled)
        print(f"grader: interrupted; {done} students are in the journal, no gradebook was written. "
              f"Run the same command again to resume.", file=sys.stderr)
        return EXIT_INTERRUPTED
    try:
        sys.stdout.write(summary_text(result))
        sys.stdout.flush()
        print(f"gradebook: {args.out}", file=sys.stderr)
    except BrokenPipeError:     # `grader batch ... | head`: the gradebook is written all the same
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_OK
