"""Every benchmark, one after the other: ``python benchmarks/run.py [--quick]``.

--quick takes about 8 minutes, the full run about 25.
"""

import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs of each script")
    flags = ["--quick"] if parser.parse_args().quick else []
    for script in ("scan_cost.py", "instance.py"):
        code = subprocess.call([sys.executable, os.path.join(HERE, script), *flags])
        if code:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
