"""Rewrite a .cu file's kernel launches for the CUDA host simulator (csrc/cuda/sim/).

    python tools/cuda_sim_rewrite.py IN.cu OUT.cpp

Every `kernel<targs><<<grid, block, smem, stream>>>(args)` becomes
`NABI_SIM_LAUNCH("kernel<targs>", grid, block, smem, stream)(
    [](auto&&... a) { kernel<targs>(a...); }, args)`:
the arguments are evaluated once on the host and copied, as a launch does, and the lambda
calls the kernel once per simulated thread with its own copy of the parameters. Nothing else
changes; a #line directive keeps compiler messages pointing at the original file. Only the
simulator build (NABI_CUDA=SIM) runs this.
"""
import re
import sys


def _callee_start(src, end):
    """Index where the launched expression (`ns::name<...>`) ending at src[end] starts."""
    i = end
    while i > 0 and src[i - 1].isspace():
        i -= 1
    if src[i - 1] == ">":  # template arguments: walk back to the matching '<'
        depth = 0
        while True:
            i -= 1
            c = src[i]
            if c == ">":
                depth += 1
            elif c == "<":
                depth -= 1
                if depth == 0:
                    break
    while i > 0 and (src[i - 1].isalnum() or src[i - 1] in "_:"):
        i -= 1
    return i


def rewrite(src):
    out, pos, count = [], 0, 0
    for m in re.finditer(r"<<<", src):
        if m.start() < pos:
            continue
        line_start = src.rfind("\n", 0, m.start()) + 1
        if src[line_start:m.start()].lstrip().startswith("//"):
            continue  # a comment mentioning <<<...>>>
        close = src.index(">>>", m.end())
        cfg = src[m.end():close]
        j = close + 3
        while src[j].isspace():
            j += 1
        if src[j] != "(":
            raise SystemExit(f"cuda_sim_rewrite: no argument list after a launch at offset {j}")
        start = _callee_start(src, m.start())
        callee = src[start:m.start()].strip()
        # A launch with no arguments: no comma before them.
        k = j + 1
        while src[k].isspace():
            k += 1
        sep = "" if src[k] == ")" else ", "
        out.append(src[pos:start])
        name = " ".join(callee.split()).replace("\\", "\\\\").replace('"', '\\"')
        out.append(f"NABI_SIM_LAUNCH(\"{name}\", {cfg})([](auto&&... nabi_a) {{ {callee}(nabi_a...); }}{sep}")
        pos = j + 1
        count += 1
    out.append(src[pos:])
    return "".join(out), count


def main():
    src_path, dst_path = sys.argv[1], sys.argv[2]
    with open(src_path) as f:
        src = f.read()
    text, _ = rewrite(src)
    with open(dst_path, "w") as f:
        f.write(f'#line 1 "{src_path}"\n')
        f.write(text)


if __name__ == "__main__":
    main()
