"""Loading a bitstream into a board's FPGA with openFPGALoader.

``python -m boards.program --board NAME BITSTREAM [--flash]`` loads ``BITSTREAM`` (the
``.bit`` or ``.bin`` that ``python -m gen --board NAME --build`` writes) into the FPGA's
configuration memory, or with ``--flash`` into the board's flash. openFPGALoader is not on
PyPI: it comes from the system's packages or its own releases; ``$OPENFPGALOADER`` names it
where it is not on ``PATH``.
"""

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path


__all__ = ["LOADER_BOARDS", "ProgramError", "loader", "program", "program_command"]


#: openFPGALoader's name (``--board``) for each board of :data:`boards.BOARDS`.
LOADER_BOARDS = {"ulx3s": "ulx3s", "icebreaker": "ice40_generic"}

HOW_TO_INSTALL = ("install it from your distribution (`apt install openfpgaloader` on Debian "
                  "and Ubuntu, `brew install openfpgaloader` on macOS) or from "
                  "https://trabucayre.github.io/openFPGALoader/guide/install.html, or set "
                  "OPENFPGALOADER to its path")


class ProgramError(RuntimeError):
    """The bitstream could not be loaded; the message says why and what to do."""


def loader():
    """The openFPGALoader executable: ``$OPENFPGALOADER``, or the one on ``PATH``."""
    named = os.environ.get("OPENFPGALOADER")
    if named:
        found = shutil.which(named)
        if found is None:
            raise ProgramError(f"OPENFPGALOADER is {named!r}, which is not an executable")
        return found
    found = shutil.which("openFPGALoader")
    if found is None:
        raise ProgramError(f"openFPGALoader is not installed: {HOW_TO_INSTALL}")
    return found


def program_command(board, bitstream, *, flash=False):
    """The command that loads ``bitstream`` into ``board``'s FPGA (its flash with
    ``flash``)."""
    if board not in LOADER_BOARDS:
        raise ValueError(f"No openFPGALoader board for {board!r} (boards: "
                         f"{', '.join(sorted(LOADER_BOARDS))})")
    if not Path(bitstream).is_file():
        raise ValueError(f"No bitstream at {str(bitstream)!r}")
    return [loader(), "--board", LOADER_BOARDS[board], *(["--write-flash"] if flash else []),
            str(bitstream)]


def program(board, bitstream, *, flash=False):
    """Run :func:`program_command`; raises :class:`ProgramError` if openFPGALoader is
    missing or fails."""
    command = program_command(board, bitstream, flash=flash)
    result = subprocess.run(command)
    if result.returncode:
        raise ProgramError(f"openFPGALoader failed (exit {result.returncode}): "
                           f"{' '.join(command)}")
    return command


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m boards.program", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--board", required=True, choices=sorted(LOADER_BOARDS))
    parser.add_argument("bitstream", help="the .bit (ULX3S) or .bin (iCEBreaker) to load")
    parser.add_argument("--flash", action="store_true",
                        help="write the board's flash (kept at power-off) instead of the "
                             "FPGA's configuration memory")
    args = parser.parse_args(argv)
    try:
        program(args.board, args.bitstream, flash=args.flash)
    except (ProgramError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
