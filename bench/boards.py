"""The big bitstream builds: each board's default configuration with its dense baseline.

``python -m bench.boards [--board NAME] [--out DIR]`` runs ``python -m gen --board NAME
--build`` for the ULX3S (P = 64 with its baseline: about 4 min on one core, up to 8 when
nextpnr's timing-driven rip-up runs all its iterations) and the iCEBreaker (P = 4, under a
minute), and prints each implementation report.
"""

import argparse
import subprocess
import sys
from pathlib import Path

from tqdm.auto import tqdm

from boards import BOARDS


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.boards", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--board", choices=sorted(BOARDS), action="append",
                        help="build only this board (repeatable); all by default")
    parser.add_argument("--out", default="build/boards", metavar="DIR",
                        help="folder for one sub-folder per board")
    args = parser.parse_args(argv)
    failed = []
    for board in tqdm(args.board or sorted(BOARDS), desc="boards", unit="board",
                      file=sys.stderr):
        out = Path(args.out) / board
        print(f"## {board}\n", flush=True)
        result = subprocess.run([sys.executable, "-m", "gen", "--board", board, "--build",
                                 "--allow-timing-fail", "--out", str(out)])
        if result.returncode != 0:
            failed.append(board)
    if failed:
        sys.exit(f"builds failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
