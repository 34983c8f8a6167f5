"""Benchmark `patchpolicy import nessus` on a generated large .nessus: bounded memory.

Generates a Nessus v2 file of about SIZE bytes (default 1G; try 100M first), shaped like
real scans: many ReportHosts, each with HostProperties and ~60 ReportItems drawn from a
pool of plugins, every item carrying the long texts real reports carry (description,
synopsis, plugin_output) that the importer reads and drops. Then imports it in a fresh
subprocess and prints wall time, findings, and the subprocess's peak RSS
(``resource.getrusage(RUSAGE_CHILDREN)``), next to the file size: streamed parsing keeps
RSS far below the file size; what remains grows with the findings kept, not the bytes.

    python benchmarks/bench_import_nessus.py --size 100M
    python benchmarks/bench_import_nessus.py            # about 1 GB
    python benchmarks/bench_import_nessus.py --size 300M --keep   # keep the generated file
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from xml.sax.saxutils import escape

PLUGINS = 3000
ITEMS_PER_HOST = 60
LOREM = (
    "The remote host is affected by a vulnerability in a component whose version is older"
    " than the fixed release; an unauthenticated attacker could exploit it remotely. "
)


STREAM_ONLY = """
import sys
from pathlib import Path
from patchpolicy.importers.nessus import NessusImporter
print(sum(len(r.entries) for r in NessusImporter()._stream(Path(sys.argv[1]), sys.argv[1])))
"""


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper().removesuffix("B")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def _plugin(rng: random.Random, pid: int) -> str:
    """The parts of a ReportItem that depend on the plugin only."""
    cves = "".join(f"<cve>CVE-{rng.randint(2010, 2026)}-{rng.randint(1000, 99999)}</cve>"
                   for _ in range(rng.choice((0, 1, 1, 2, 3))))
    risk, score = rng.choice((("None", None), ("Low", 3.1), ("Medium", 5.3), ("High", 7.5), ("Critical", 9.8)))
    cvss = "" if score is None else f"<cvss3_base_score>{score}</cvss3_base_score>"
    return (
        f"<risk_factor>{risk}</risk_factor>{cvss}{cves}"
        f"<description>{escape(LOREM * rng.randint(3, 10))}</description>"
        f"<synopsis>Plugin {pid} synopsis.</synopsis>"
        f"<solution>Upgrade package-{pid} to version {rng.randint(1, 9)}.{rng.randint(0, 20)} or later.</solution>"
        f"<patch_publication_date>20{rng.randint(10, 25):02d}/0{rng.randint(1, 9)}/1{rng.randint(0, 9)}"
        "</patch_publication_date>"
    )


def generate(path: Path, size: int, seed: int = 7) -> tuple[int, int]:
    """Write about ``size`` bytes; returns (hosts, items)."""
    rng = random.Random(seed)
    plugins = [_plugin(rng, pid) for pid in range(10000, 10000 + PLUGINS)]
    output = escape(LOREM * 8)  # plugin_output: the bulk of real files
    hosts = items = 0
    with path.open("w", encoding="utf-8") as f:
        f.write('<?xml version="1.0" ?>\n<NessusClientData_v2>\n<Report name="bench">\n')
        written = 0
        while written < size:
            ip = f"10.{hosts >> 16 & 255}.{hosts >> 8 & 255}.{hosts & 255}"
            parts = [
                f'<ReportHost name="{ip}"><HostProperties>'
                f'<tag name="HOST_END_TIMESTAMP">{1700000000 + hosts}</tag>'
                f'<tag name="host-ip">{ip}</tag><tag name="host-fqdn">host{hosts}.bench.example</tag>'
                '<tag name="operating-system">Linux Kernel 5.15</tag></HostProperties>\n'
            ]
            for n, pid in enumerate(rng.sample(range(PLUGINS), ITEMS_PER_HOST)):
                parts.append(
                    f'<ReportItem port="{n}" protocol="tcp" pluginID="{10000 + pid}" pluginName="p{pid}">'
                    f"{plugins[pid]}<plugin_output>{output}</plugin_output></ReportItem>\n"
                )
            parts.append("</ReportHost>\n")
            chunk = "".join(parts)
            f.write(chunk)
            written += len(chunk)
            hosts += 1
            items += ITEMS_PER_HOST
        f.write("</Report>\n</NessusClientData_v2>\n")
    return hosts, items


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="1G", help="file size to generate: 100M, 1G, ... (default 1G)")
    ap.add_argument("--dir", type=Path, default=Path("benchmarks/data"))
    ap.add_argument("--keep", action="store_true", help="keep the generated .nessus and snapshot")
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    src = args.dir / f"bench-{args.size}.nessus"
    out = args.dir / f"bench-{args.size}.jsonl"
    t0 = time.perf_counter()
    hosts, items = generate(src, parse_size(args.size))
    gen = time.perf_counter() - t0
    size = src.stat().st_size
    print(f"generated {src}: {size / 1e6:.0f} MB, {hosts} hosts, {items} ReportItems in {gen:.1f} s")
    # The parser alone first (RUSAGE_CHILDREN is a maximum over children: smallest first):
    # every host's entries are dropped once counted, so its RSS is the streaming floor.
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", STREAM_ONLY, str(src)], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"parse failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # Linux: KiB
    print(f"parse only (entries dropped per host): {wall:.1f} s, {proc.stdout.strip()} entries,"
          f" peak RSS {rss / 1e6:.0f} MB")
    cmd = [sys.executable, "-m", "patchpolicy", "import", "nessus", str(src), "-o", str(out)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    if proc.returncode != 0:
        sys.exit(f"import failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    total = proc.stdout.strip().splitlines()[-2]
    print(f"import: {wall:.1f} s, {items / wall:,.0f} items/s, peak RSS {rss / 1e6:.0f} MB"
          f" ({rss / size:.2f} x the file)")
    print(f"  {total}")
    if not args.keep:
        src.unlink()
        out.unlink()


if __name__ == "__main__":
    main()
