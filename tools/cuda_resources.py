#!/usr/bin/env python3
"""Static resource audit of the CUDA kernels (compile time only: no GPU runs).

Compiles every csrc/cuda/*.cu with nvcc for sm_80 and sm_90 with the CUDA target's flags
(CMakeLists.txt: -std=c++17, Release -O3 -DNDEBUG, -I csrc, NABI_WITH_CUDA=1, NABI_X86=1), reads
what ptxas reports per kernel (registers per thread, spill stores / loads, stack frame, static
shared memory), demangles the names with c++filt and works out the theoretical occupancy at the
block size the launcher uses (parsed from the <<<grid, block, ...>>> launches and the file's
constexpr ints, else __launch_bounds__, else BLOCK_OVERRIDES below). Writes a Markdown and a
JSON table.

    python3 tools/cuda_resources.py                      # all files, 2 nvcc jobs
    python3 tools/cuda_resources.py --only gemm.cu       # recompile some files, merge the rest
    python3 tools/cuda_resources.py --sass gemm_tiled_kernel<float --sass-arch sm_90

--sass compiles the file of the named kernel to a cubin, disassembles it with cuobjdump
(CUOBJDUMP=path or on PATH; the CUDA toolkit here has none: the wheels nvidia-cuda-cuobjdump and
nvidia-cuda-nvdisasm ship both, and nvdisasm is looked for beside cuobjdump) and prints the
instruction mix of the kernel and of its hottest loop (the backward branch whose body holds
most FFMA/DFMA), and where it touches local memory (STL/LDL) and makes calls.
"""
from __future__ import annotations

import argparse
import collections
import concurrent.futures as cf
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CUDA_DIR = ROOT / "csrc" / "cuda"
CACHE = ROOT / "build" / "cuda_resources"
OUT_MD = ROOT / "bench" / "results" / "cuda_resources.md"
OUT_JSON = ROOT / "bench" / "results" / "cuda_resources.json"
ARCHS = ("sm_80", "sm_90")
NVCC_FLAGS = ["-std=c++17", "-O3", "-DNDEBUG", "-Xptxas", "-v", "--resource-usage",
              "-I", "csrc", "-DNABI_WITH_CUDA=1", "-DNABI_X86=1"]

# Per-SM limits (CUDA occupancy calculator, compute capability 8.0 and 9.0).
LIMITS = {
    "sm_80": dict(regs=65536, threads=2048, blocks=32, warps=64, smem=167936, smem_resv=1024),
    "sm_90": dict(regs=65536, threads=2048, blocks=32, warps=64, smem=233472, smem_resv=1024),
}
REG_UNIT = 256  # registers are allocated per warp in units of 256

# Block sizes the launch parser cannot evaluate (a runtime variable): kernel -> threads (the
# largest the launcher uses).
BLOCK_OVERRIDES: dict[str, int] = {}


# What the remaining flags mostly are (checked in the SASS with --sass); printed in the report.
NOTES = [
    "- A stack frame of 32 (float) or 40 (double) bytes with no spills in a kernel that calls "
    "sin/cos/sincos/tan (complex.cu, elementwise_nd.cu, special.cu's J/Y Bessel, gamma "
    "sampling): the math library's Payne-Hanek reduction for huge arguments keeps its table "
    "of partial products in a local array; it runs only for |x| > 105615 (float) / 2^31 "
    "(double).",
    "- Spills of 4-88 bytes at 32-64 registers in kernels with int64 division or double "
    "division (index.cu take, rnn.cu gru_bwd_step_r, ctc.cu, morphology.cu, linalg_*.cu, "
    "nadam_multi, betainc): ptxas keeps a few values in local memory across the CALLs to the "
    "division's slow-path subroutine (gru_bwd_step_r_kernel<double>, sm_90: 4 STL/LDL, none "
    "in its loop; betainc float sm_90: 8, at the head and tail of the per-element loop; checked "
    "with --sass). The cost there is the int64 / double division itself, not the spill.",
    "- Occupancy 25-38% in the register-blocked GEMM / implicit-GEMM kernels (gemm.cu, "
    "conv2d.cu igemm): by design (8 x 8 or 4 x 4 accumulators per thread); the latency is "
    "hidden by instruction-level parallelism, not by warps.",
    "- hash_ints_kernel (preprocess_lookup.cu): the decimal string it hashes is a byte array "
    "indexed by its runtime length (48-byte stack), as the algorithm needs.",
]


# ---- compiling and parsing ptxas ------------------------------------------------------------

def nvcc_cmd(cu: Path, out: Path, archs=ARCHS, extra=()) -> list[str]:
    cmd = [os.environ.get("NVCC", "nvcc"), *NVCC_FLAGS, *extra]
    for a in archs:
        cmd += ["-gencode", f"arch=compute_{a[3:]},code={a}"]
    return cmd + ["-c", str(cu.relative_to(ROOT)), "-o", str(out)]


def includes(path: Path, seen: set | None = None) -> set:
    """The file and the csrc/ headers it includes, transitively."""
    seen = set() if seen is None else seen
    if path in seen or not path.exists():
        return seen
    seen.add(path)
    for inc in re.findall(r'#include\s+"([^"]+)"', path.read_text()):
        includes(ROOT / "csrc" / inc, seen)
    return seen


def source_hash(cu: Path) -> str:
    h = hashlib.sha256(" ".join(NVCC_FLAGS).encode())
    for p in sorted(includes(cu)):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def compile_log(cu: Path, reuse: bool) -> str:
    CACHE.mkdir(parents=True, exist_ok=True)
    log = CACHE / (cu.name + ".log")
    key = source_hash(cu)
    if reuse and log.exists() and log.read_text().startswith(f"# {key}\n"):
        return log.read_text()
    with tempfile.TemporaryDirectory() as td:
        r = subprocess.run(nvcc_cmd(cu, Path(td) / "x.o"), cwd=ROOT, capture_output=True,
                           text=True)
    text = f"# {key}\n" + r.stdout + r.stderr
    if r.returncode != 0:
        raise RuntimeError(f"nvcc failed on {cu.name}:\n{text[-4000:]}")
    log.write_text(text)
    return text


RE_ENTRY = re.compile(r"Compiling entry function '([^']+)' for '(sm_\d+)'")
RE_FUNC = re.compile(r"Function properties for (\S+)")
RE_PROPS = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
RE_USED = re.compile(r"Used (\d+) registers")
RE_SMEM = re.compile(r"(\d+) bytes smem")
RE_ARCH = re.compile(r"for '(sm_\d+)'")


def parse_ptxas(text: str) -> tuple[list[dict], list[dict]]:
    """-> (entries, called functions), each a dict per (mangled name, arch)."""
    entries: dict[tuple, dict] = {}
    funcs: dict[tuple, dict] = {}
    arch = None
    entry = None
    pending = None  # the name of the last "Function properties for"
    for line in text.splitlines():
        m = RE_ENTRY.search(line)
        if m:
            entry, arch = m.group(1), m.group(2)
            entries[(entry, arch)] = dict(mangled=entry, arch=arch, regs=0, stack=0,
                                          spill_st=0, spill_ld=0, smem=0)
            continue
        m = RE_ARCH.search(line)
        if m and "Compiling" in line:  # a non-entry function compiled separately
            arch = m.group(1)
            entry = None
        m = RE_FUNC.search(line)
        if m:
            pending = m.group(1)
            continue
        m = RE_PROPS.search(line)
        if m and pending is not None:
            st, ss, sl = map(int, m.groups())
            if entry is not None and pending == entry:
                e = entries[(entry, arch)]
                e.update(stack=st, spill_st=ss, spill_ld=sl)
            else:
                funcs[(pending, arch)] = dict(mangled=pending, arch=arch, stack=st, spill_st=ss,
                                              spill_ld=sl)
            pending = None
            continue
        m = RE_USED.search(line)
        if m and entry is not None and (entry, arch) in entries:
            e = entries[(entry, arch)]
            e["regs"] = int(m.group(1))
            s = RE_SMEM.search(line)
            e["smem"] = int(s.group(1)) if s else 0
    return list(entries.values()), list(funcs.values())


def demangle(names: list[str]) -> dict[str, str]:
    if not names:
        return {}
    filt = shutil.which("cu++filt") or shutil.which("c++filt")
    if filt is None:
        return {n: n for n in names}
    r = subprocess.run([filt], input="\n".join(names), capture_output=True, text=True)
    return dict(zip(names, r.stdout.splitlines()))


def short_name(demangled: str) -> str:
    """void nabi::cuda::(anonymous namespace)::k<float, 1>(long, ...) -> k<float, 1>"""
    s = demangled
    if s.startswith("void "):
        s = s[5:]
    # cut the parameter list: the last top-level '(' ... ')'
    depth = 0
    for i, ch in enumerate(s):
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif ch == "(" and depth == 0 and not s.startswith("(anonymous", i):
            s = s[:i]
            break
    s = s.replace("(anonymous namespace)::", "")
    s = re.sub(r"\bnabi::cuda::", "", s)
    s = re.sub(r"\bnabi::", "", s)
    return s


def base_name(short: str) -> str:
    s = short.split("<", 1)[0]
    return s.rsplit("::", 1)[-1]


# ---- block sizes from the launches ----------------------------------------------------------

def strip_comments(src: str) -> str:
    src = re.sub(r"/\*.*?\*/", " ", src, flags=re.S)
    return re.sub(r"//[^\n]*", "", src)


def constexpr_ints(src: str) -> dict[str, str]:
    out = {}
    for m in re.finditer(r"constexpr\s+(?:unsigned\s+|int64_t\s+|int\s+|long\s+|size_t\s+)+"
                         r"([^;]+);", src):
        for part in split_top(m.group(1)):
            kv = part.split("=", 1)
            if len(kv) == 2 and re.fullmatch(r"\s*\w+\s*", kv[0]):
                out[kv[0].strip()] = kv[1].strip()
    return out


def split_top(s: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch in "(<[{":
            depth += 1
        elif ch in ")>]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def eval_int(expr: str, consts: dict[str, str], depth: int = 0):
    if depth > 8:
        return None
    e = expr.strip()
    m = re.fullmatch(r"dim3\((.*)\)", e, flags=re.S)
    if m:
        prod = 1
        for p in split_top(m.group(1)):
            v = eval_int(p, consts, depth + 1)
            if v is None:
                return None
            prod *= v
        return prod
    e = re.sub(r"static_cast<\w+>", "", e)
    e = re.sub(r"\b(\d+)[uUlL]+\b", r"\1", e)

    def sub(m):
        name = m.group(0)
        if name in consts:
            v = eval_int(consts[name], consts, depth + 1)
            if v is None:
                raise ValueError(name)
            return str(v)
        raise ValueError(name)

    try:
        e = re.sub(r"\b[A-Za-z_]\w*\b", sub, e)
        if not re.fullmatch(r"[\d\s+\-*/()%]+", e):
            return None
        return int(eval(e.replace("/", "//")))  # noqa: S307 (digits and operators only)
    except (ValueError, SyntaxError, ZeroDivisionError):
        return None


def launch_blocks(cu: Path) -> tuple[dict[str, set], dict[str, int]]:
    """-> ({kernel base name: {block sizes or expressions}}, {kernel: __launch_bounds__})."""
    src = strip_comments(cu.read_text())
    headers = ""
    for inc in re.findall(r'#include\s+"cuda/([^"]+)"', src):
        p = CUDA_DIR / inc
        if p.exists():
            headers += strip_comments(p.read_text())
    consts = constexpr_ints(headers)
    consts.update(constexpr_ints(src))
    for m in re.finditer(r"\bdim3\s+(\w+)\s*\(([^;]*)\)\s*;", src):  # dim3 block(kX, kY);
        consts.setdefault(m.group(1), f"dim3({m.group(2)})")
    blocks: dict[str, set] = collections.defaultdict(set)
    for m in re.finditer(r"<<<(.*?)>>>", src, flags=re.S):
        # the kernel's name: walk back over template arguments
        i = m.start() - 1
        while i >= 0 and src[i].isspace():
            i -= 1
        if i >= 0 and src[i] == ">":
            depth = 0
            while i >= 0:
                if src[i] == ">":
                    depth += 1
                elif src[i] == "<":
                    depth -= 1
                    if depth == 0:
                        i -= 1
                        break
                i -= 1
        j = i
        while j >= 0 and (src[j].isalnum() or src[j] == "_"):
            j -= 1
        name = src[j + 1:i + 1]
        args = split_top(m.group(1))
        if len(args) < 2 or not name:
            continue
        v = eval_int(args[1], consts)
        blocks[name].add(v if v is not None else " ".join(args[1].split()))
    bounds = {}
    for m in re.finditer(r"__launch_bounds__\(([^)]*)\)\s*(?:\w+\s+)*?(\w+)\s*\(", src):
        v = eval_int(split_top(m.group(1))[0], consts)
        if v is not None:
            bounds[m.group(2)] = v
    return blocks, bounds


# ---- occupancy ------------------------------------------------------------------------------

def occupancy(arch: str, threads: int, regs: int, smem: int) -> tuple[float, str]:
    L = LIMITS[arch]
    warps = -(-threads // 32)
    by_threads = min(L["blocks"], L["warps"] // warps)
    per_warp = -(-max(regs, 1) * 32 // REG_UNIT) * REG_UNIT
    by_regs = (L["regs"] // per_warp) // warps
    by_smem = L["smem"] // (smem + L["smem_resv"])
    blocks = min(by_threads, by_regs, by_smem)
    limiter = min((by_threads, "threads"), (by_regs, "regs"), (by_smem, "smem"))[1]
    return blocks * warps / L["warps"], limiter


# ---- report ---------------------------------------------------------------------------------

def audit(files: list[Path], reuse: bool, jobs: int) -> list[dict]:
    rows = []
    with cf.ThreadPoolExecutor(max_workers=jobs) as ex:
        logs = dict(zip(files, ex.map(lambda f: compile_log(f, reuse), files)))
    for cu in files:
        entries, funcs = parse_ptxas(logs[cu])
        names = demangle([e["mangled"] for e in entries] + [f["mangled"] for f in funcs])
        blocks, bounds = launch_blocks(cu)
        callees = collections.defaultdict(list)
        for f in funcs:
            if f["stack"] or f["spill_st"] or f["spill_ld"]:
                callees[f["arch"]].append(f"{short_name(names[f['mangled']])} "
                                          f"(stack {f['stack']}, spill {f['spill_st']}/"
                                          f"{f['spill_ld']})")
        for e in entries:
            short = short_name(names[e["mangled"]])
            base = base_name(short)
            cand = blocks.get(base, set())
            nums = sorted(v for v in cand if isinstance(v, int))
            if base in BLOCK_OVERRIDES:
                threads, src = BLOCK_OVERRIDES[base], "table"
            elif nums:
                threads, src = max(nums), "launch"
            elif base in bounds:
                threads, src = bounds[base], "launch_bounds"
            else:
                threads, src = None, "unknown"
            row = dict(file=cu.name, kernel=short, arch=e["arch"], regs=e["regs"],
                       spill_stores=e["spill_st"], spill_loads=e["spill_ld"],
                       stack=e["stack"], smem=e["smem"], block=threads, block_source=src,
                       launch_bounds=bounds.get(base))
            if cand - set(nums):
                row["block_expr"] = sorted(str(v) for v in cand - set(nums))
            if threads:
                occ, lim = occupancy(e["arch"], threads, e["regs"], e["smem"])
                row.update(occupancy=round(occ, 3), limiter=lim)
            else:
                row.update(occupancy=None, limiter=None)
            rows.append(row)
        for arch, lst in callees.items():
            for c in lst:
                rows.append(dict(file=cu.name, kernel="(callee) " + c, arch=arch, callee=True))
    return rows


def problems(r: dict) -> list[str]:
    if r.get("callee"):
        return []
    p = []
    if r["spill_stores"] or r["spill_loads"]:
        p.append("spill")
    if r["stack"]:
        p.append("stack")
    if r["occupancy"] is not None and r["occupancy"] < 0.5:
        p.append(f"occ<50% ({r['limiter']})")
    return p


def write_report(rows: list[dict], cmd: str) -> None:
    kern = [r for r in rows if not r.get("callee")]
    by_arch = collections.Counter(r["arch"] for r in kern)
    spill = [r for r in kern if r["spill_stores"] or r["spill_loads"]]
    stack = [r for r in kern if r["stack"]]
    low = [r for r in kern if r["occupancy"] is not None and r["occupancy"] < 0.5]
    unknown = [r for r in kern if r["block"] is None]
    OUT_JSON.write_text(json.dumps(dict(
        note="compile-time report (nvcc/ptxas resource usage); no kernel was run on a GPU",
        command=cmd, nvcc=nvcc_version(), flags=NVCC_FLAGS, limits=LIMITS, rows=rows),
        indent=1) + "\n")

    def fmt(r):
        occ = "?" if r["occupancy"] is None else f"{r['occupancy'] * 100:.0f}% ({r['limiter']})"
        blk = "?" if r["block"] is None else f"{r['block']}" + (
            "" if r["block_source"] == "launch" else f" ({r['block_source']})")
        return (f"| {r['file']} | `{r['kernel']}` | {r['arch']} | {r['regs']} | "
                f"{r['spill_stores']}/{r['spill_loads']} | {r['stack']} | {r['smem']} | {blk} | "
                f"{occ} |")

    head = ("| file | kernel | arch | regs | spill st/ld (B) | stack (B) | smem (B) | block | "
            "occupancy (limiter) |\n|---|---|---|---|---|---|---|---|---|")
    flag_head = head.replace("occupancy (limiter) |\n", "occupancy (limiter) | flags |\n") + "---|"
    out = [
        "# CUDA kernel resources (compile-time report)",
        "",
        "What ptxas reports per kernel instance for sm_80 and sm_90 with the CUDA target's flags; "
        "**a compile-time report, not a GPU run** (no GPU is lent to this project). "
        "Occupancy is theoretical: from registers, static shared memory and the block size the "
        "launcher uses (parsed from its `<<<grid, block>>>`, else `__launch_bounds__`), with "
        "the per-SM limits of compute capability 8.0 / 9.0; dynamic shared memory is not "
        "counted.",
        "",
        f"Command: `{cmd}`  ",
        f"nvcc: {nvcc_version()}; flags: `{' '.join(NVCC_FLAGS)}`",
        "",
        "## Summary",
        "",
        f"- kernel instances: {by_arch.get('sm_80', 0)} (sm_80), {by_arch.get('sm_90', 0)} "
        f"(sm_90), in {len({r['file'] for r in kern})} files",
        f"- spilling (spill stores or loads > 0): {len(spill)} rows",
        f"- stack frame > 0: {len(stack)} rows",
        f"- theoretical occupancy < 50%: {len(low)} rows",
        f"- block size unknown: {len(unknown)} rows",
        "- largest spills: " + "; ".join(
            f"{r['file']} `{r['kernel']}` {r['arch']} {r['spill_stores']}/{r['spill_loads']} B"
            for r in sorted(spill, key=lambda r: -(r["spill_stores"] + r["spill_loads"]))[:5]),
        "- largest stack frames: " + "; ".join(
            f"{r['file']} `{r['kernel']}` {r['arch']} {r['stack']} B"
            for r in sorted(stack, key=lambda r: -r["stack"])[:5]),
        "",
        "## Rows with a flag (spill, stack frame, occupancy < 50%)",
        "",
        flag_head,
    ]
    flagged = sorted((r for r in kern if problems(r)),
                     key=lambda r: (r["file"], r["kernel"], r["arch"]))
    out += [fmt(r) + " " + ", ".join(problems(r)) + " |" for r in flagged]
    out += ["", "## Reading the flags", "", *NOTES]
    callees = [r for r in rows if r.get("callee")]
    if callees:
        out += ["", "## Called (non-inlined) device functions with a stack frame or spills", ""]
        out += [f"- {r['file']} {r['arch']}: {r['kernel'][9:]}" for r in callees]
    out += ["", "## All kernels", "", head]
    out += [fmt(r) for r in sorted(kern, key=lambda r: (r["file"], r["kernel"], r["arch"]))]
    OUT_MD.write_text("\n".join(out) + "\n")


def nvcc_version() -> str:
    r = subprocess.run([os.environ.get("NVCC", "nvcc"), "--version"], capture_output=True,
                       text=True)
    m = re.search(r"release ([\d.]+), (V[\d.]+)", r.stdout)
    return m.group(2) if m else "?"


# ---- SASS instruction mix -------------------------------------------------------------------

def sass_mix(kernel: str, arch: str) -> None:
    cuobjdump = os.environ.get("CUOBJDUMP") or shutil.which("cuobjdump")
    if not cuobjdump:
        sys.exit("--sass needs cuobjdump (CUOBJDUMP=path; pip install nvidia-cuda-cuobjdump)")
    key = kernel.split("<", 1)[0].rsplit("::", 1)[-1]
    cu = next((p for p in sorted(CUDA_DIR.glob("*.cu")) if re.search(rf"\b{key}\b",
               p.read_text())), None)
    if cu is None:
        sys.exit(f"no .cu defines {key}")
    with tempfile.TemporaryDirectory() as td:
        cubin = Path(td) / "k.cubin"
        cmd = nvcc_cmd(cu, cubin, archs=(arch,))
        cmd[cmd.index("-c")] = "-cubin"
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
        env = dict(os.environ)  # cuobjdump runs nvdisasm: look beside it too
        env["PATH"] = str(Path(cuobjdump).resolve().parent) + os.pathsep + env.get("PATH", "")
        sass = subprocess.run([cuobjdump, "-sass", str(cubin)], capture_output=True, text=True,
                              check=True, env=env).stdout
    funcs = re.split(r"\n\s*Function : ", sass)[1:]
    names = demangle([f.split("\n", 1)[0].strip() for f in funcs])
    for f in funcs:
        mangled = f.split("\n", 1)[0].strip()
        short = short_name(names[mangled])
        if not short.startswith(kernel):
            continue
        ins = []  # (address, opcode, text)
        for m in re.finditer(r"/\*([0-9a-f]{4,})\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_.]*)([^;]*);",
                             f):
            ins.append((int(m.group(1), 16), m.group(2), m.group(3)))
        print(f"== {short} ({arch}, {cu.name}): {len(ins)} instructions")
        show_mix("whole kernel", [op for _, op, _ in ins])
        best = None
        for idx, (addr, op, rest) in enumerate(ins):
            t = re.search(r"\b0x([0-9a-f]+)", rest)
            if op.startswith("BRA") and t and int(t.group(1), 16) <= addr:
                body = [o for a, o, _ in ins if int(t.group(1), 16) <= a <= addr]
                n = sum(o.startswith(("FFMA", "DFMA")) for o in body)
                if best is None or n > best[0]:
                    best = (n, int(t.group(1), 16), addr, body)
        if best:
            show_mix(f"hottest loop 0x{best[1]:x}..0x{best[2]:x}", best[3])
        local = [(a, op) for a, op, _ in ins if op.startswith(("STL", "LDL"))]
        calls = [(a, op, rest.strip()) for a, op, rest in ins if op.startswith("CALL")]
        if local or calls:
            print(f"  local memory: {len(local)} STL/LDL at "
                  + ", ".join(f"0x{a:x} {op}" for a, op in local[:16]))
            print(f"  calls: {len(calls)}: "
                  + ", ".join(f"0x{a:x} {op} {t}" for a, op, t in calls[:8]))
            if best:
                inside = [a for a, _ in local if best[1] <= a <= best[2]]
                print(f"  STL/LDL inside the hottest loop: {len(inside)}")


def show_mix(label: str, ops: list[str]) -> None:
    c = collections.Counter(o.split(".")[0] for o in ops)
    full = collections.Counter(ops)
    n = len(ops)
    fma = c["FFMA"] + c["DFMA"]
    print(f"  {label}: {n} instructions, FFMA/DFMA {fma} ({100 * fma / max(n, 1):.1f}%)")
    print("    " + ", ".join(f"{k} {v}" for k, v in full.most_common(14)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="*", help="recompile these .cu files, keep the other rows")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--no-reuse", action="store_true", help="ignore cached ptxas logs")
    ap.add_argument("--sass", help="print the SASS instruction mix of kernels starting so")
    ap.add_argument("--sass-arch", default="sm_90")
    a = ap.parse_args()
    if a.sass:
        sass_mix(a.sass, a.sass_arch)
        return
    files = sorted(CUDA_DIR.glob("*.cu"))
    old = []
    if a.only:
        want = {Path(f).name for f in a.only}
        files = [f for f in files if f.name in want]
        if OUT_JSON.exists():
            old = [r for r in json.loads(OUT_JSON.read_text())["rows"] if r["file"] not in want]
    rows = audit(files, reuse=not a.no_reuse, jobs=min(a.jobs, 2))
    rows = sorted(old + rows, key=lambda r: (r["file"], r.get("callee", False)))
    write_report(rows, "python3 tools/cuda_resources.py")
    kern = [r for r in rows if not r.get("callee")]
    print(f"{len(kern)} kernel rows; flagged {sum(bool(problems(r)) for r in kern)}; "
          f"wrote {OUT_MD.relative_to(ROOT)} and {OUT_JSON.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
