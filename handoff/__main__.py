"""Command line of the handoff service.

    python -m handoff serve [--port 8000]          run the API and the agent console
    python -m handoff create-agent NAME [--display-name 小王] [--role supervisor]
                                                   [--password-stdin]
    python -m handoff set-password NAME [--password-stdin]
"""
from __future__ import annotations

import argparse
import getpass
import logging
import sys

from handoff import auth
from handoff.config import Settings, SettingsError
from handoff.store import ROLES, ConflictError, Store


def _password(from_stdin: bool) -> str:
    """The new password: typed twice at a terminal, or read from standard input when it is
    not a terminal (`echo pw | make agent ...`, `--password-stdin`): the first line, and a
    second line, if there is one, must repeat it. Never a traceback."""
    try:
        if from_stdin or not sys.stdin.isatty():
            lines = sys.stdin.read(64 * 1024).splitlines()
            if not lines or not lines[0]:
                raise SystemExit("no password on standard input")
            if len(lines) > 1 and lines[1] and lines[1] != lines[0]:
                raise SystemExit("the two passwords differ")
            return lines[0].rstrip("\r")
        first = getpass.getpass("密码 / password: ")
        if first != getpass.getpass("再输入一次 / again: "):
            raise SystemExit("the two passwords differ")
        return first
    except (EOFError, KeyboardInterrupt):
        raise SystemExit("no password given") from None


def _checked(password: str) -> str:
    if len(password) < auth.MIN_PASSWORD_CHARS:
        raise SystemExit(f"the password needs at least {auth.MIN_PASSWORD_CHARS} characters")
    return password


def main(argv: list[str] | None = None) -> int:
    """Run a command; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m handoff", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the API and the agent console")
    serve.add_argument("--port", type=int, help="default HANDOFF_PORT or 8000")
    serve.add_argument("--no-access-log", action="store_true")
    for name in ("create-agent", "set-password"):
        command = commands.add_parser(name, help=f"{name.replace('-', ' ')} (agent account)")
        command.add_argument("username")
        command.add_argument("--password-stdin", action="store_true",
                             help="read the password from the first line of stdin")
        if name == "create-agent":
            command.add_argument("--display-name", help="name the customer sees (default NAME)")
            command.add_argument("--role", choices=ROLES, default="agent",
                                 help="supervisor: also the reports and the team view")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"handoff: {error}", file=sys.stderr)
        return 2
    if args.command == "serve":
        return _serve(settings, args.port, not args.no_access_log)
    username = args.username.strip()
    if not username or len(username) > 64:
        print("the username needs 1-64 characters", file=sys.stderr)
        return 2
    store = Store(settings.db_url)
    password_hash = auth.hash_password(_checked(_password(args.password_stdin)))
    if args.command == "set-password":
        if not store.set_password(username, password_hash):
            print(f"no agent {username!r}", file=sys.stderr)
            return 1
        print(f"password of {username} changed")
        return 0
    try:
        store.add_agent(username, (args.display_name or username).strip()[:64], password_hash,
                        role=args.role)
    except ConflictError:
        print(f"agent {username!r} exists (use set-password to change the password)",
              file=sys.stderr)
        return 1
    print(f"{args.role} {username} created")
    return 0


def _serve(settings: Settings, port: int | None, access_log: bool) -> int:
    from contracts.logs import SANIC_LOGGERS, install_masking
    from handoff.app import create_app

    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = create_app(settings)
    install_masking(logging.getLogger(), *(logging.getLogger(name) for name in SANIC_LOGGERS))
    # One worker: the event tail and the store's SQLite file belong to one process.
    app.run(host=settings.host, port=port or settings.port, access_log=access_log, workers=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
