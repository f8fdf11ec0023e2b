#!/usr/bin/env python3
"""Instructions per request from the callgrind dumps bench/callgrind.sh leaves, with the
corrections for what valgrind hides, made explicit and checked.

  callgrind_report.py --requests N --runs R --dir DIR --bin tessera=PATH --bin bare=PATH
                      [--vdso-clock-instr 72] [--json OUT]

DIR holds SERVER-rRUN-CASE.out (the N requests) and SERVER-rRUN-CASE.idle.out (an idle
interval of the same length) for CASE in healthz, repeated, fresh.

Corrections (see bench/README.md, "Instructions per request"):
  * SHA-256: valgrind does not report the SHA extensions (CPUID), so sha2 runs its software
    compression under valgrind and the SHA-NI one natively.  The software compression of
    every call into `sha2::sha256::soft::*` is taken out and replaced by the SHA-NI cost of
    the same number of calls and blocks.  Both costs are counted from the server binary's
    own machine code (objdump): the instructions of the loop (one 64-byte block) and those
    outside it (once per call).  The number of blocks is recovered from the software
    function's inclusive cost, which is exact because its loop body has no branch; the
    script checks that it comes out whole.
  * clock_gettime: valgrind hides the vDSO, so glibc's clock_gettime makes a system call
    (about 10 instructions counted, the kernel's work not at all); natively it runs the
    vDSO (72 instructions on this kind of machine: glibc's wrapper 11 + the vDSO's
    CLOCK_MONOTONIC/REALTIME path with the TSC clocksource 61, counted from a disassembly of
    the vDSO; --vdso-clock-instr sets another figure).  Every call is re-costed at that.
The corrected figures are refused (exit 2) when the symbols these need are not found.
"""
import argparse
import json
import re
import statistics
import subprocess
import sys

CASES = ["healthz", "repeated", "fresh"]
SOFT = re.compile(r"^sha2::sha256::soft::")
SHANI = re.compile(r"^sha2::sha256::x86_sha::compress$")
CLOCK = re.compile(r"^(__)?clock_gettime(64)?(@.*)?$")
VDSO = re.compile(r"vdso", re.I)


def norm(name):
    return re.sub(r"'\d+$", "", name)


def parse(path):
    """Total Ir, and call edges (caller, callee) -> [calls, inclusive Ir]."""
    names, fn, callee, pending = {}, None, None, None
    total, edges, seen = None, {}, set()

    def resolve(rest):
        m = re.match(r"\((\d+)\)(?: (.*))?$", rest)
        if not m:
            return norm(rest)
        if m.group(2) is not None:
            names[m.group(1)] = norm(m.group(2))
        return names.get(m.group(1), "?")

    with open(path, errors="replace") as f:
        for line in f:
            c = line[:1]
            if c.isdigit() or c in "+-*":
                if pending is not None:
                    parts = line.split()
                    cost = int(parts[1]) if len(parts) > 1 else 0
                    e = edges.setdefault(pending[0], [0, 0])
                    e[0] += pending[1]
                    e[1] += cost
                    pending = None
                continue
            if line.startswith("fn="):
                fn = resolve(line[3:].rstrip("\n"))
                seen.add(fn)
            elif line.startswith("cfn="):
                callee = resolve(line[4:].rstrip("\n"))
                seen.add(callee)
            elif line.startswith("calls="):
                pending = ((fn, callee), int(line[6:].split()[0]))
            elif line.startswith("totals:") or line.startswith("summary:"):
                total = int(line.split()[1])
    if total is None:
        sys.exit(f"{path}: no totals line: not a callgrind dump?")
    return total, edges, seen


def entries(edges, pattern):
    """Per callee matching pattern, [calls, inclusive] of the calls from outside it."""
    out = {}
    for (caller, callee), (calls, incl) in edges.items():
        if pattern.search(callee) and not pattern.search(caller or ""):
            e = out.setdefault(callee, [0, 0])
            e[0] += calls
            e[1] += incl
    return out


class Disasm:
    """Loop body and per-call instruction counts of functions of one binary."""

    def __init__(self, path):
        self.path = path
        self.text = None

    def function(self, name):
        if self.text is None:
            self.text = subprocess.run(["objdump", "-d", "-C", "--no-show-raw-insn", self.path],
                                       check=True, capture_output=True, text=True).stdout
        found = []
        for m in re.finditer(r"^([0-9a-f]+) <" + re.escape(name) + r">:\n(.*?)(?:\n\n|\Z)",
                             self.text, re.S | re.M):
            insns = []
            for line in m.group(2).splitlines():
                p = re.match(r"\s*([0-9a-f]+):\s+(\S+)\s*([0-9a-f]*)", line)
                if p:
                    insns.append((int(p.group(1), 16), p.group(2), p.group(3)))
            found.append(self.loop(insns))
        if not found:
            return None
        if len(set(found)) != 1:
            sys.exit(f"{self.path}: several different functions named {name}: cannot cost them")
        return found[0]

    @staticmethod
    def loop(insns):
        # Alignment nops inside the function are on the fall-through path: they count.
        real = [i for i in insns if i[1] != "int3"]
        addrs = [a for a, _, _ in real]
        back = [(int(t, 16), a) for a, mn, t in real
                if mn.startswith("j") and t and addrs[0] <= int(t, 16) < a]
        if not back:
            return (len(real), 0)
        start, end = min(back)                       # the outermost backward branch
        body = sum(1 for a in addrs if start <= a <= end)
        return (len(real) - body, body)              # (per call, per block)


def correct(total, edges, seen, dis, vdso_instr, need_sha, errors):
    """Corrected total and a dict of what was re-costed."""
    info = {"raw": total}
    shani = entries(edges, SHANI)
    soft = entries(edges, SOFT)
    sha_calls = sum(c for c, _ in soft.values())
    info["sha_calls"] = sha_calls + sum(c for c, _ in shani.values())
    info["sha_blocks"] = 0
    removed = added = 0
    if shani and not soft:
        info["sha_note"] = "SHA-NI ran under valgrind: nothing to re-cost"
    elif soft:
        ni = dis.function("sha2::sha256::x86_sha::compress")
        if ni is None or ni[1] == 0:
            errors.add(f"{dis.path}: sha2::sha256::x86_sha::compress not found: no SHA-NI cost to re-cost with")
        for name, (calls, incl) in soft.items():
            sw = dis.function(name)
            if sw is None or sw[1] == 0:
                errors.add(f"{dis.path}: {name} (profiled) not found in the binary")
                continue
            blocks = (incl - calls * sw[0]) / sw[1]
            if blocks < calls - 0.5 or abs(blocks - round(blocks)) > 0.02 * max(calls, 1):
                errors.add(f"{name}: {incl} Ir over {calls} calls is not a whole number of "
                           f"{sw[1]}-instruction blocks ({blocks:.2f}): per-block cost wrong")
            blocks = round(blocks)
            info["sha_blocks"] += blocks
            removed += incl
            if ni:
                added += calls * ni[0] + blocks * ni[1]
    elif need_sha:
        errors.add("no call into a SHA-256 compression function (sha2::sha256::soft::* or "
                   "x86_sha::compress) in a /protected profile: symbols missing or renamed")
    clock = entries(edges, CLOCK)
    info["clock_calls"] = sum(c for c, _ in clock.values())
    if any(VDSO.search(n) for n in seen):
        info["clock_note"] = "vDSO visible under valgrind: nothing to re-cost"
    elif clock:
        removed += sum(i for _, i in clock.values())
        added += info["clock_calls"] * vdso_instr
    info["corrected"] = total - removed + added
    return info


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, required=True)
    ap.add_argument("--runs", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--bin", action="append", required=True, help="SERVER=PATH")
    ap.add_argument("--vdso-clock-instr", type=int, default=72)
    ap.add_argument("--json")
    a = ap.parse_args()
    n = a.requests
    bins = dict(b.split("=", 1) for b in a.bin)
    servers = [s for s in ("tessera", "bare") if s in bins]
    errors = set()
    res = {}          # res[server][case] = list of per-run dicts
    clock_seen = {s: 0 for s in servers}
    for server in servers:
        dis = Disasm(bins[server])
        for case in CASES:
            for r in range(1, a.runs + 1):
                base = f"{a.dir}/{server}-r{r}-{case}"
                busy = correct(*parse(base + ".out"), dis, a.vdso_clock_instr, case != "healthz", errors)
                idle = correct(*parse(base + ".idle.out"), dis, a.vdso_clock_instr, False, errors)
                clock_seen[server] += busy["clock_calls"]
                res.setdefault(server, {}).setdefault(case, []).append({
                    "raw": (busy["raw"] - idle["raw"]) / n,
                    "corrected": (busy["corrected"] - idle["corrected"]) / n,
                    "idle_raw": idle["raw"] / n,
                    "sha_calls": (busy["sha_calls"] - idle["sha_calls"]) / n,
                    "sha_blocks": (busy["sha_blocks"] - idle["sha_blocks"]) / n,
                    "clock_calls": (busy["clock_calls"] - idle["clock_calls"]) / n,
                })
    for server, calls in clock_seen.items():
        if calls == 0:
            errors.add(f"{server}: no call to clock_gettime in any profile: symbol missing or renamed")

    def mean(server, case, key):
        return statistics.mean(x[key] for x in res[server][case])

    def spread(server, case, key):
        v = [x[key] for x in res[server][case]]
        return (max(v) - min(v)) / statistics.mean(v) * 100 if statistics.mean(v) else 0.0

    print(f"\ninstructions per request (callgrind, {n} keep-alive requests per run, {a.runs} runs; "
          "idle rate subtracted)\n")
    hdr = "%-8s %-9s | %11s %7s | %11s %7s | %9s %9s %8s | %10s"
    print(hdr % ("server", "case", "raw Ir/req", "spread", "corr Ir/req", "spread",
                 "sha calls", "sha blks", "clock", "idle Ir/req"))
    for server in servers:
        for case in CASES:
            print(hdr % (server, case, f"{mean(server, case, 'raw'):,.0f}", f"{spread(server, case, 'raw'):.2f}%",
                         f"{mean(server, case, 'corrected'):,.0f}" if not errors else "refused",
                         f"{spread(server, case, 'corrected'):.2f}%" if not errors else "",
                         f"{mean(server, case, 'sha_calls'):.2f}", f"{mean(server, case, 'sha_blocks'):.2f}",
                         f"{mean(server, case, 'clock_calls'):.2f}", f"{mean(server, case, 'idle_raw'):,.1f}"))
    out = {"requests": n, "runs": a.runs, "vdso_clock_instr": a.vdso_clock_instr, "results": res,
           "ratios": {}, "errors": sorted(errors)}
    if "tessera" in res and "bare" in res:
        print("\nbare/tessera (tessera's speed relative to the bare route; issue 23's goal: >= 0.90)")
        for case in CASES:
            raw = mean("bare", case, "raw") / mean("tessera", case, "raw")
            per_run = [b["raw"] / t["raw"] for b, t in zip(res["bare"][case], res["tessera"][case])]
            line = f"  {case:<9} raw {raw:.3f} (runs {', '.join(f'{x:.3f}' for x in per_run)})"
            out["ratios"][case] = {"raw": raw, "raw_runs": per_run}
            if not errors:
                cor = mean("bare", case, "corrected") / mean("tessera", case, "corrected")
                per_run = [b["corrected"] / t["corrected"] for b, t in zip(res["bare"][case], res["tessera"][case])]
                line += f"   corrected {cor:.3f} (runs {', '.join(f'{x:.3f}' for x in per_run)})"
                out["ratios"][case].update({"corrected": cor, "corrected_runs": per_run})
            print(line)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
    if errors:
        print("\nREFUSED: no corrected figures, a correction could not be applied:", file=sys.stderr)
        for e in sorted(errors):
            print("  " + e, file=sys.stderr)
        return 2
    print(f"\ncorrections: SHA-256 software compression re-costed at SHA-NI (per call and per block "
          f"from each binary's code), clock_gettime at {a.vdso_clock_instr} instructions (vDSO)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
