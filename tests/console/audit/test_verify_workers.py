"""What a verify worker process imports: it must start fast (it is spawned per CPU)."""

from __future__ import annotations

import subprocess
import sys


def test_a_verify_worker_imports_neither_sqlalchemy_nor_the_console() -> None:
    probe = (
        "import sys, raxx.console.audit.chainwalk, raxx.__main__\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'fastapi', 'click', 'typer')"
        " or m.startswith(('raxx.console.audit.service', 'raxx.cli', 'raxx.console.app')))\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"a verify worker would import: {out.stdout.strip()}"
