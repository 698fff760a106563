"""Executes a notebook headless with nbclient and a given kernel, writing the executed copy even when a cell fails.

Usage: run_notebook.py IN.ipynb OUT.ipynb KERNEL_NAME CELL_TIMEOUT_S WORKING_DIR
Exit 0 when every cell ran; 1 with the failing cell's error on stderr otherwise. Run by scripts/demo.ts.
"""

import sys
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def main() -> int:
    source, target, kernel_name, timeout, cwd = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    nb = nbformat.read(source, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name=kernel_name,
        timeout=timeout,
        allow_errors=False,
        resources={"metadata": {"path": cwd}},
    )
    try:
        client.execute()
        return 0
    except CellExecutionError as err:
        sys.stderr.write(f"{err}\n")
        return 1
    finally:
        nbformat.write(nb, target)


if __name__ == "__main__":
    sys.exit(main())
