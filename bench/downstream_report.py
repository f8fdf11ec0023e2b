#!/usr/bin/env python3
"""Instructions per request of /open and /guarded from bench/downstream.sh's callgrind
dumps, and their ratio guarded/open (issue 18's goal: <= 1.10).

  downstream_report.py --requests N --runs R --dir DIR --bin PATH --alg ALG
                       [--vdso-clock-instr 72] [--json OUT]

DIR holds downstream-rRUN-CASE.out and downstream-rRUN-CASE.idle.out for CASE in open,
guarded. The corrections are callgrind_report.py's (imported, not copied): SHA-256
software compression re-costed at SHA-NI, clock_gettime at the vDSO's cost.
"""
import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import callgrind_report as cr  # noqa: E402

CASES = ["open", "guarded"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, required=True)
    ap.add_argument("--runs", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--alg", required=True)
    ap.add_argument("--vdso-clock-instr", type=int, default=72)
    ap.add_argument("--json")
    a = ap.parse_args()
    n, errors, res = a.requests, set(), {c: [] for c in CASES}
    dis = cr.Disasm(a.bin)
    for case in CASES:
        for r in range(1, a.runs + 1):
            base = f"{a.dir}/downstream-r{r}-{case}"
            # Only an HS256 token's check must show SHA-256 (HMAC); EdDSA hashes with
            # SHA-512, ECDSA and RSA with SHA-256 (re-costed when seen).
            need_sha = case == "guarded" and a.alg == "hs256"
            busy = cr.correct(*cr.parse(base + ".out"), dis, a.vdso_clock_instr, need_sha, errors)
            idle = cr.correct(*cr.parse(base + ".idle.out"), dis, a.vdso_clock_instr, False, errors)
            res[case].append({
                "raw": (busy["raw"] - idle["raw"]) / n,
                "corrected": (busy["corrected"] - idle["corrected"]) / n,
                "idle_raw": idle["raw"] / n,
            })

    def mean(case, key):
        return statistics.mean(x[key] for x in res[case])

    print(f"\ndownstream service ({a.alg}): instructions per request (callgrind, {n} keep-alive "
          f"requests per route and run, {a.runs} runs; idle rate subtracted)\n")
    fmt = "%-8s | %12s | %12s | %11s"
    print(fmt % ("route", "raw Ir/req", "corr Ir/req", "idle Ir/req"))
    for case in CASES:
        print(fmt % (f"/{case}", f"{mean(case, 'raw'):,.0f}",
                     f"{mean(case, 'corrected'):,.0f}" if not errors else "refused",
                     f"{mean(case, 'idle_raw'):,.1f}"))
    out = {"requests": n, "runs": a.runs, "alg": a.alg, "results": res, "errors": sorted(errors)}
    raw_runs = [g["raw"] / o["raw"] for g, o in zip(res["guarded"], res["open"])]
    line = (f"\nguarded/open (the verifier's cost on top of the same route; issue 18's goal: <= 1.10)\n"
            f"  raw {mean('guarded', 'raw') / mean('open', 'raw'):.3f} (runs {', '.join(f'{x:.3f}' for x in raw_runs)})")
    out["ratio"] = {"raw": mean("guarded", "raw") / mean("open", "raw"), "raw_runs": raw_runs}
    if not errors:
        cor_runs = [g["corrected"] / o["corrected"] for g, o in zip(res["guarded"], res["open"])]
        cor = mean("guarded", "corrected") / mean("open", "corrected")
        line += f"   corrected {cor:.3f} (runs {', '.join(f'{x:.3f}' for x in cor_runs)})"
        out["ratio"].update({"corrected": cor, "corrected_runs": cor_runs})
    print(line)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
    if errors:
        print("\nREFUSED: no corrected figures, a correction could not be applied:", file=sys.stderr)
        for e in sorted(errors):
            print("  " + e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
