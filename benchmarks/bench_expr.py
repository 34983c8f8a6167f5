"""CEL bridge cost per evaluation: celpy vs cel-expr on a memo miss, and the memo hit.

Run: /work/venv/bin/python benchmarks/bench_expr.py [--misses N] [--hits N]

A "miss" is a full CompiledExpression.evaluate whose key is new (activation build +
engine call + caching); "engine" is Program.evaluate alone on a prepared activation;
"hit" is CompiledExpression.evaluate on a key already in the memo.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, date, datetime

from patchpolicy.expr import EngineName, compile_expression, get_engine
from patchpolicy.expr.engines import cel_expr_available
from patchpolicy.model.fleet import FindingRecord, HostRecord, KevRecord

SOURCE = (
    'finding.severity == "critical" || (finding.cvss != null && finding.cvss >= 7.0)'
    ' || (finding.kev != null && "cde" in host.tags)'
)
TIMESTAMP_SOURCE = 'finding.kev != null && finding.kev.due_date < timestamp("2024-06-01T00:00:00Z")'


def per_call_us(fn: object, n: int) -> float:
    call = fn  # type: ignore[assignment]
    start = time.perf_counter()
    for i in range(n):
        call(i)  # type: ignore[operator]
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--misses", type=int, default=3000)
    parser.add_argument("--hits", type=int, default=500_000)
    args = parser.parse_args()

    host = HostRecord(id="h1", env="prod", tags=("cde", "web"))
    findings = [
        FindingRecord(
            id=f"f{i}", vuln=f"CVE-2024-{i}", severity="high",
            cvss=round(i / args.misses * 10, 6),  # distinct: every call a miss
            kev=KevRecord(date_added=date(2024, 1, 1), due_date=date(2024, 1 + i % 12, 1 + i % 28)),
            first_seen_at=datetime(2024, 1, 1, tzinfo=UTC),
        )
        for i in range(args.misses)
    ]
    engines = [EngineName.CELPY] + ([EngineName.CEL_EXPR] if cel_expr_available() else [])
    print(f"expression: {SOURCE}")
    print(f"{'engine':10} {'engine us':>10} {'miss us':>10} {'hit us':>10}  (per evaluation)")
    for name in engines:
        engine = get_engine(name)
        compiled = compile_expression(SOURCE, engine=engine)
        program = engine.compile(SOURCE)
        activations = [compiled.activation(host, f) for f in findings]
        per_call_us(lambda i: program.evaluate(activations[i]), 200)  # warm up
        engine_us = per_call_us(lambda i: program.evaluate(activations[i]), args.misses)
        miss_us = per_call_us(lambda i: compiled.evaluate(host, findings[i]), args.misses)
        assert compiled.cache_info().misses == args.misses
        same = findings[1]
        hit_us = per_call_us(lambda _i: compiled.evaluate(host, same), args.hits)
        print(f"{name.value:10} {engine_us:10.2f} {miss_us:10.2f} {hit_us:10.3f}")

        ts = compile_expression(TIMESTAMP_SOURCE, engine=engine)
        ts_miss = per_call_us(lambda i: ts.evaluate(host, findings[i]), min(args.misses, 336))
        print(f"{'':10} timestamp-field expression, miss: {ts_miss:.2f} us")

    def plain(f: FindingRecord) -> bool:
        return f.severity == "critical" or (f.cvss is not None and f.cvss >= 7.0) or (
            f.kev is not None and "cde" in host.tags
        )

    lambda_us = per_call_us(lambda i: plain(findings[i]), args.misses)
    print(f"{'python':10} {lambda_us:10.2f}  (hand-written predicate, for scale)")


if __name__ == "__main__":
    main()
