"""Every benchmark, one after the other: ``python benchmarks/run.py [--quick]``.

--quick takes about 8 minutes, the full run about 25.
"""

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs of each script")
    flags = ["--quick"] if parser.parse_args().quick else []
    scripts = ["scan_cost.py", "instance.py"]
    if shutil.which("chromium") and shutil.which("chromedriver") and importlib.util.find_spec("selenium"):
        scripts.append("browser.py")
    else:
        print("browser.py skipped: it needs chromium, chromium-driver and selenium", flush=True)
    for script in scripts:
        code = subprocess.call([sys.executable, os.path.join(HERE, script), *flags])
        if code:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
