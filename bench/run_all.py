"""`make bench`: run every benchmark in bench/ and write bench/results.json.

.venv/bin/python bench/run_all.py [--quick]
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def measures(output: str) -> list[dict]:
    """The JSON objects a script prints last, one per line."""
    found = []
    for line in reversed(output.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            break
        if not isinstance(value, dict) or "measure" not in value:
            break
        found.append(value)
    return list(reversed(found))


def main() -> int:
    quick = "--quick" in sys.argv
    results, failed = [], []
    for script in sorted(HERE.glob("*.py")):
        if script.name == "run_all.py":
            continue
        args = [sys.executable, str(script)] + (["--quick"] if quick else [])
        print(f"== {script.name}", flush=True)
        done = subprocess.run(args, cwd=HERE.parent, capture_output=True, text=True)
        found = measures(done.stdout)
        if done.returncode or not found:
            failed.append(script.name)
            print(done.stdout[-2000:], done.stderr[-2000:], sep="\n")
        for measure in found:
            print(json.dumps(measure))
        results += found
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"{len(results)} measure(s) in bench/results.json"
        + (f"; failed: {failed}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
