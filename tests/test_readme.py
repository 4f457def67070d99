"""The README's promises: its plugin example, pasted into a file as written,
runs with --plugin and is correct."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_plugin() -> str:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    plugin = [b for b in blocks if b.startswith("# my_box_iou.py")]
    assert plugin, "the README no longer has the my_box_iou.py plugin example"
    return plugin[0]


def test_readme_plugin_example_runs_as_written(tmp_path):
    source = _readme_plugin()
    assert len(source.strip().splitlines()) <= 14  # "a ten-line plugin", give or take the imports
    plugin = tmp_path / "my_box_iou.py"
    plugin.write_text(source)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--op", "box_iou", "--impl", "my_box_iou", "--plugin", str(plugin),
         "--quick", "--no-peaks", "--min-time", "0.01", "--db", str(tmp_path / "r.sqlite"), "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert rows and all(r["name"] == "my_box_iou" and r["status"] == "ok" for r in rows), rows
