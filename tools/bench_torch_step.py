#!/usr/bin/env python3
"""One PGD attack step at 224x224 on ResNet-50: PyTorch CPU reference for the step benchmark.

The same operations as the rows of `cargo xtask bench-interpreters --model resnet50`:
  * PGD x CAM step: forward with layer4 features, CAM = sum_k w_ck A_k (min-max), loss
    sum(logits) + sum(CAM^2), backward to the input;
  * PGD x Grad step: the saliency map of a straight-through soft-ReLU twin (forward ReLU,
    derivative z/sqrt(z^2+tau) + [z<0], spec 2.1) built with create_graph=True, 4x4 average
    pool, min-max; loss sum(map^2), backward to the input (second order).
torchvision's resnet50(weights=None) in eval mode, random input, batch 1 and 10, mean of --reps
runs after one warm-up, torch.set_num_threads(--threads). With --rust-md it reads the Rust table
and writes results/bench/step_resnet50_vs_torch.md with both and the ratio.
With --profile (the JSON of `cargo xtask bench-interpreters --model resnet50 --conv-profile`) it
also profiles each step with torch.profiler (two warm runs), groups the outermost convolution
events the same way (operation, kernel, stride; `convolution_backward` is the input gradient, as
our `conv_transpose2d`) and writes results/bench/step_resnet50_profile.md: both sides per group.

  /path/to/venv/bin/python tools/bench_torch_step.py --threads 2 --rust-md results/bench/interpreters-resnet50.md \
      --profile results/bench/conv_profile-resnet50.json
"""
import argparse, os, re, time
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

TAU = 1e-4
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


class SoftReLU(nn.Module):
    def forward(self, z):
        f = torch.sqrt(z * z + TAU) + torch.clamp(z, max=0.0)
        return F.relu(z).detach() + f - f.detach()


def soft_twin(model):
    import copy
    twin = copy.deepcopy(model)
    for m in twin.modules():
        for name, child in m.named_children():
            if isinstance(child, nn.ReLU):
                setattr(m, name, SoftReLU())
    return twin.eval()


def features(model, x):
    m = model
    h = m.maxpool(m.relu(m.bn1(m.conv1((x - MEAN) / STD))))
    h = m.layer4(m.layer3(m.layer2(m.layer1(h))))
    return m.fc(h.mean((2, 3))), h


def minmax(a):
    b = a.shape[0]
    f = a.reshape(b, -1)
    f = f - f.min(1, keepdim=True).values
    return (f / f.max(1, keepdim=True).values.clamp_min(1e-12)).reshape(a.shape)


def cam_step(model, x, cls):
    x = x.clone().requires_grad_(True)
    logits, h = features(model, x)
    w = model.fc.weight[cls]  # [B, K]
    cam = minmax((h * w[:, :, None, None]).sum(1, keepdim=True))
    (logits.sum() + (cam ** 2).sum()).backward()
    return x.grad


def grad_step(soft, x, cls):
    x = x.clone().requires_grad_(True)
    logits = soft((x - MEAN) / STD)
    ce = F.cross_entropy(logits, cls, reduction="sum")
    (g,) = torch.autograd.grad(ce, x, create_graph=True)
    s = minmax(F.avg_pool2d(g.abs().amax(1, keepdim=True), 4))
    (s ** 2).sum().backward()
    return x.grad


def timeit(f, reps):
    f()
    t = time.perf_counter()
    for _ in range(reps):
        f()
    return (time.perf_counter() - t) / reps


def rust_rows(path):
    rows = {}
    for line in open(path):
        m = re.match(r"\| (PGD x (?:CAM|Grad)) attack step[^|]*\| (\d+) \| ([\d.]+) \|", line)
        if m:
            rows[(m.group(1), int(m.group(2)))] = float(m.group(3))
    return rows


CONV_EVENTS = {
    # name: (index of the weight among the tensor inputs, index of stride among the arguments, label)
    "aten::conv2d": (1, 3, "conv2d"),
    "aten::convolution": (1, 3, None),  # conv2d, or conv_transpose2d when transposed
    "aten::conv_transpose2d": (1, 3, "conv_transpose2d"),
    "aten::convolution_backward": (2, 4, "conv_transpose2d"),  # input gradient, as ours
    "aten::_convolution_double_backward": (4, 6, "conv double backward"),
}


def conv_groups(events):
    """Outermost convolution events -> {category: [calls, ms, gflop]} (times per event list)."""
    out = {}
    for e in events:
        if e.name not in CONV_EVENTS:
            continue
        p, nested = e.cpu_parent, False
        while p is not None:
            if p.name in CONV_EVENTS:
                nested = True
                break
            p = p.cpu_parent
        if nested:
            continue
        wi, si, label = CONV_EVENTS[e.name]
        shapes, args = e.input_shapes, e.concrete_inputs
        w, stride = shapes[wi], args[si]
        if label is None:
            label = "conv_transpose2d" if args[6] else "conv2d"
        cat = f"{label} {w[2]}x{w[3]} s{stride[0]}" if stride[0] == stride[1] else f"{label} {w[2]}x{w[3]} s{stride[0]}x{stride[1]}"
        flop = None
        if label == "conv2d" and e.name != "aten::convolution_backward":
            x, pad = shapes[0], args[si + 1]
            ho = (x[2] + 2 * pad[0] - w[2]) // stride[0] + 1
            wo = (x[3] + 2 * pad[1] - w[3]) // stride[1] + 1
            flop = 2.0 * x[0] * w[0] * ho * wo * w[1] * w[2] * w[3]
        elif e.name == "aten::convolution_backward":
            go = shapes[0]  # the output gradient [N, C_out, Ho, Wo]
            flop = 2.0 * go[0] * go[1] * go[2] * go[3] * w[1] * w[2] * w[3]
        r = out.setdefault(cat, [0, 0.0, 0.0])
        r[0] += 1
        r[1] += e.cpu_time_total / 1e3
        r[2] = None if (flop is None or r[2] is None) else r[2] + flop / 1e9
    return out


def torch_profile(f, runs=2):
    f()
    with torch.profiler.profile(record_shapes=True) as prof:
        for _ in range(runs):
            f()
    return {k: [c // runs, ms / runs, None if g is None else g / runs] for k, (c, ms, g) in conv_groups(prof.events()).items()}


def profile_md(ours, theirs, torch_step_ms, threads, cpu):
    """The side-by-side page: ours (the Rust JSON) and PyTorch's groups per step and batch."""
    md = [f"# Where a ResNet-50 attack step's time goes at 224x224: advedge vs PyTorch {torch.__version__}, CPU\n",
          f"{threads} threads on {cpu}. Ours: `cargo xtask bench-interpreters --model resnet50 --conv-profile` (each convolution timed "
          "inside the patched burn-flex); PyTorch: `tools/bench_torch_step.py --profile` (torch.profiler, the outermost convolution "
          "events, two warm runs), the same steps, run one after the other on the same machine. Groups: operation, kernel and "
          "stride; `conv_transpose2d` is a convolution's input gradient (PyTorch's `convolution_backward`); in the Grad step, "
          "PyTorch differentiates the saliency graph with `conv double backward`, where ours runs the explicit backward graph's "
          "convolutions, so those groups do not pair. `direct`: calls our direct FMA kernels computed (the others: im2col / col2im + GEMM). "
          "`step` is each side's mean step time without the profiler; `everything else` is what the convolutions leave of it. "
          "Profiler timings carry some overhead of their own.\n"]
    for p in ours:
        key = (p["step"], p["batch"])
        t = theirs.get(key, {})
        ts = torch_step_ms.get(key)
        md.append(f"\n### {p['step']}, batch {p['batch']}\n")
        md.append("| convolutions | calls | direct | ours ms | ours GFLOP/s | PyTorch ms | PyTorch GFLOP/s | ours / PyTorch |")
        md.append("|---|---|---|---|---|---|---|---|")
        ours_rows = {r["category"]: r for r in p["rows"]}
        cats = sorted(set(ours_rows) | set(t), key=lambda c: -max(ours_rows.get(c, {}).get("ms", 0.0), t.get(c, [0, 0.0])[1]))
        def gf(g, ms):
            return f"{g / ms * 1e3:.0f}" if g and ms else "-"
        for c in cats:
            o, q = ours_rows.get(c), t.get(c)
            om, qm = (o["ms"] if o else None), (q[1] if q else None)
            md.append(f"| {c} | {o['calls'] if o else (q[0] if q else '-')} | {o['direct_calls'] if o else '-'} | "
                      f"{f'{om:.1f}' if om is not None else '-'} | {gf(o['gflop'], om) if o else '-'} | "
                      f"{f'{qm:.1f}' if qm is not None else '-'} | {gf(q[2], qm) if q else '-'} | "
                      f"{f'{om / qm:.2f}' if om and qm else '-'} |")
        oc, qc = sum(r["ms"] for r in p["rows"]), sum(v[1] for v in t.values())
        md.append(f"| **all convolutions** | | | {oc:.1f} | | {qc:.1f} | | {oc / qc:.2f} |" if qc else f"| **all convolutions** | | | {oc:.1f} | | - | | - |")
        if ts:
            md.append(f"| everything else | | | {p['step_ms'] - oc:.1f} | | {ts - qc:.1f} | | {(p['step_ms'] - oc) / max(ts - qc, 1e-9):.2f} |")
            md.append(f"| **step** | | | {p['step_ms']:.1f} | | {ts:.1f} | | {p['step_ms'] / ts:.2f} |")
    return "\n".join(md) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--rust-md")
    ap.add_argument("--profile", help="conv_profile-resnet50.json from `cargo xtask bench-interpreters --conv-profile`")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = torchvision.models.resnet50(weights=None).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    soft = soft_twin(model)
    ours = rust_rows(a.rust_md) if a.rust_md else {}
    lines = []
    torch_step_ms, theirs = {}, {}
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown CPU")
    for b in (1, 10):
        x = torch.rand(b, 3, 224, 224)
        cls = torch.full((b,), 3, dtype=torch.long)
        for name, f in (("PGD x CAM", lambda: cam_step(model, x, cls)), ("PGD x Grad", lambda: grad_step(soft, x, cls))):
            ms = timeit(f, a.reps) * 1e3
            torch_step_ms[(name, b)] = ms
            if a.profile:
                theirs[(name, b)] = torch_profile(f)
            r = ours.get((name, b))
            lines.append(f"| {name} | {b} | {r:.1f} | {ms:.1f} | {r / ms:.2f} |" if r else f"| {name} | {b} | - | {ms:.1f} | - |")
            print(lines[-1], flush=True)
    if a.profile:
        import json
        out = "results/bench/step_resnet50_profile.md"
        with open(out, "w") as f:
            f.write(profile_md(json.load(open(a.profile)), theirs, torch_step_ms, a.threads, cpu))
        print("wrote", out)
    if a.rust_md:
        out = "results/bench/step_resnet50_vs_torch.md"
        with open(out, "w") as f:
            f.write(f"# One PGD attack step on ResNet-50 at 224x224: advedge (burn 0.22.1 flex) vs PyTorch {torch.__version__}, CPU\n\n")
            f.write(f"{a.threads} threads on {cpu}. Rust: `cargo xtask bench-interpreters --model resnet50` (random weights from "
                    f"`cargo xtask init-weights`, ADVEDGE_WEIGHTS); PyTorch: `tools/bench_torch_step.py` (torchvision resnet50, random "
                    f"weights), the same operations, mean of {a.reps} runs after a warm-up, run one after the other on the same machine.\n\n")
            f.write("| step | batch | advedge ms | PyTorch ms | ratio (ours / torch) |\n|---|---|---|---|---|\n")
            f.write("\n".join(lines) + "\n")
        print("wrote", out)


if __name__ == "__main__":
    main()
