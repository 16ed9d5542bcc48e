"""The side-by-side benchmark still runs: tiny sizes, two rounds, every row and target
printed (the figures themselves are not checked: this machine's timings are noise)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "bench_vs_kubespawner.py"
ROWS = ("KubeSpawner: full render", "KubeSpawner: cached string", "PrimeHub: our page",
        "PrimeHub: our page + listing CRs per request",
        "KubeSpawner: start, equivalent profile", "PrimeHub: start",
        "PrimeHub: start, formatting every string")


def run(*args: str) -> str:
    done = subprocess.run([sys.executable, str(SCRIPT), "--smoke", *args], cwd=REPO, check=False,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_table_and_the_targets_are_printed():
    out = run()
    lines = out.splitlines()
    for size in ("small", "large"):
        for case in ROWS:
            assert any(line.startswith(f"{size:6} {case} ") for line in lines), (size, case)
    # Both spawners build the same pod from the equivalent choice (the start formatting
    # every string is compared too: a difference would replace its note).
    assert sum("same pod" in line for line in lines) == 2, out
    assert sum("our checks and pod rules alone" in line for line in lines) == 2, out
    assert "memory: watch cache for 200 CRs" in out
    assert out.count("memory: one user's entitlements") == 2
    targets = [line for line in lines if line.startswith(("  MET", "  NOT MET"))]
    assert len(targets) == 4, out


def test_markdown_prints_the_readme_table(capsys):
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import bench_vs_kubespawner as bench
    finally:
        sys.path.remove(str(SCRIPT.parent))
    rows = [bench.Row(size, case, [1.0, 2.0, 3.0], base)
            for size in ("small", "large")
            for case, base in zip(ROWS, (ROWS[0],) * 4 + (ROWS[4],) * 3)]
    memory = (8_000_000, 10_000, 40_000_000)
    users = {"large": {"groups": 20, "roles": 4000, "in_memory": 300_000,
                       "auth_state": 60_000, "after_page": 350_000}}
    meta = {"small": {"rounds": 3}, "large": {"rounds": 3}}
    bench.print_markdown(rows, bench.verdicts(rows, memory), memory, users, meta)
    out = capsys.readouterr().out
    assert "| size | case | median ms | p90 ms | ratio | note |" in out
    assert sum(line.startswith("| large | ") for line in out.splitlines()) == len(ROWS)
    assert "- **not met**: listing the CRs per request ≥ 10× our page (large): 1.0×" in out
    assert "- **met**: watch cache for 10,000 CRs ≤ +60 MB: 8.0 MB" in out
