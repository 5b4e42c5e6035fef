"""``python -m noex_trio.observer top URL``: the terminal dashboard of another program.

The program must serve the observer's web endpoint; URL is its address
(``http://127.0.0.1:8080``). The dashboard redraws every `--refresh` seconds from the
snapshots of ``URL/events`` (or of ``URL/snapshot.json``) until Ctrl-C (or `--frames`
frames).
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from typing import TYPE_CHECKING

import trio

from .. import _checks as checks
from ._alerts import AlertRules
from ._client import endpoint
from ._terminal import terminal_dashboard

if TYPE_CHECKING:
    from rich.console import Console


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="python -m noex_trio.observer", description="The noex_trio observer."
    )
    commands = main.add_subparsers(dest="command", required=True, metavar="COMMAND")
    top = commands.add_parser(
        "top",
        help="a live, top-like view of a program serving the observer's web endpoint",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
    )
    top.add_argument("url", help="the endpoint, e.g. http://127.0.0.1:8080")
    top.add_argument("--refresh", type=float, default=1.0, help="seconds between frames (1)")
    top.add_argument("--frames", type=int, default=None, help="stop after this many frames")
    top.add_argument("--screen", action="store_true", help="use the alternate screen, as top")
    defaults = AlertRules()
    for option, kind, what in RULES:
        default = getattr(defaults, option)
        top.add_argument(
            f"--{option.replace('_', '-')}",
            type=kind,
            default=default,
            help=f"{what} ({default:g})",
        )
    return main


#: The alert rules as options: (AlertRules field, type, help).
RULES = (
    ("mailbox_length", int, "mailbox alert: the shortest mailbox reported as growing"),
    ("mailbox_samples", int, "mailbox alert: samples in a row it must have grown at"),
    ("restarts", int, "restart storm: restarts by one supervisor that make a storm"),
    ("restart_window", float, "restart storm: within this many seconds"),
    ("long_call", float, "long call alert: seconds a call may be served or waited on"),
)


async def top(
    url: str,
    *,
    refresh: float = 1.0,
    frames: int | None = None,
    screen: bool = False,
    rules: AlertRules | None = None,
    console: Console | None = None,
) -> None:
    """Show the dashboard of the endpoint at `url` until cancelled, or for `frames` frames."""
    async with terminal_dashboard(
        url, refresh=refresh, screen=screen, rules=rules, console=console
    ) as dashboard:
        while frames is None or dashboard.frames < frames:
            await dashboard.next_frame()


def main(argv: list[str] | None = None) -> int:
    """Run a command; return the exit status (130 after Ctrl-C, as shells do)."""
    cli = parser()
    args = cli.parse_args(argv)
    if args.frames is not None and args.frames < 1:
        cli.error("--frames must be >= 1")
    try:
        endpoint(args.url)
        checks.seconds(args.refresh, "--refresh", inf=False)
        rules = AlertRules(**{option: getattr(args, option) for option, _, _ in RULES})
    except (TypeError, ValueError) as error:
        cli.error(str(error))
    try:
        trio.run(
            partial(
                top,
                args.url,
                refresh=args.refresh,
                frames=args.frames,
                screen=args.screen,
                rules=rules,
            )
        )
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover - run by python -m (tested in a subprocess)
    sys.exit(main())
