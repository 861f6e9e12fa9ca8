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

  /path/to/venv/bin/python tools/bench_torch_step.py --threads 2 --rust-md results/bench/interpreters-resnet50.md
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--rust-md")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = torchvision.models.resnet50(weights=None).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    soft = soft_twin(model)
    ours = rust_rows(a.rust_md) if a.rust_md else {}
    lines = []
    for b in (1, 10):
        x = torch.rand(b, 3, 224, 224)
        cls = torch.full((b,), 3, dtype=torch.long)
        for name, f in (("PGD x CAM", lambda: cam_step(model, x, cls)), ("PGD x Grad", lambda: grad_step(soft, x, cls))):
            ms = timeit(f, a.reps) * 1e3
            r = ours.get((name, b))
            lines.append(f"| {name} | {b} | {r:.1f} | {ms:.1f} | {r / ms:.2f} |" if r else f"| {name} | {b} | - | {ms:.1f} | - |")
            print(lines[-1], flush=True)
    if a.rust_md:
        out = "results/bench/step_resnet50_vs_torch.md"
        cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown CPU")
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
