"""The `stocktune` command line: one registry of subcommands, one error path.

Each subcommand is a module of this package with a docstring (its help), ``add_arguments``
and ``run(args) -> int``. Modules are imported lazily so that `stocktune --help` does not pay for
importing torch. Any ``InputError`` becomes a one-line message on stderr and exit code 2;
``--debug`` shows the traceback instead.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from types import ModuleType

from common import env
from common.errors import InputError

# name -> module under cli (the order is the order of --help)
COMMANDS: dict[str, str] = {
    "prep": "prep",
    "fit": "fit",
    "worker": "worker",
    "launch": "launch",
    "tune": "tune",
    "confirm": "confirm",
    "status": "status",
    "export": "export",
    "dashboard": "dashboard",
    "evaluate": "evaluate",
    "predict": "predict",
}


def _load(name: str) -> ModuleType:
    return importlib.import_module(f"cli.{COMMANDS[name]}")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stocktune", description=__doc__.split("\n")[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        if only is not None and name != only:
            # cheap placeholder so that `stocktune --help` lists every command without importing them
            sub.add_parser(name, help=f"see `stocktune {name} --help`")
            continue
        mod = _load(name)
        doc = (mod.__doc__ or "").strip()
        p = sub.add_parser(name, help=doc.split("\n")[0], description=doc,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(only=command if command in COMMANDS else None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    env.warn_unknown(argv)
    try:
        code = int(args._run(args) or 0)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # the reader went away (`stocktune prep ... | head`): the Python docs' recipe, so that the
        # interpreter's own flush at exit does not print a second traceback
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except InputError as e:
        if args.debug:
            raise
        print(f"stocktune {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        print(f"stocktune {args.command}: interrupted", file=sys.stderr)
        return getattr(e, "exit_code", 130)  # tuner.signals.Stopped: 143 after a SIGTERM

