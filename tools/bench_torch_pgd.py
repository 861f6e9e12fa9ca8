#!/usr/bin/env python3
"""PyTorch reference timing for the PGD x CAM and PGD x Grad AdvEdge loops.

The same ResNet-20 weights (data/weights/resnet20.safetensors, burn layout: fc.weight is [in,out]),
the same 20 correctly classified CIFAR-10 test images (class-balanced stride through the sorted
test set, as `cargo xtask attack` picks them), the same schedules as the Rust attack (spec 5.1,
5.2): warm-up with Sobel-weighted signed steps, then the label-smoothed phase with the
interpretation term. The Grad phase builds the saliency with a straight-through soft ReLU
(forward = ReLU, derivative = z/sqrt(z^2+tau) + [z<0]) and differentiates it with
create_graph=True, which is what the Rust explicit backward graph computes.
It prints one JSON line per interpreter: {"interpreter", "images", "seconds_per_image", "success"}.

  /path/to/venv/bin/python tools/bench_torch_pgd.py [--images 20] [--threads 2]
(torch, safetensors, scikit-image, pillow, numpy from PyPI). Run by `cargo xtask bench-attack`.
"""
import argparse, json, os, time
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file
from skimage.filters import sobel

MEAN = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
STD = torch.tensor([0.2470, 0.2435, 0.2616]).view(1, 3, 1, 1)
TAU = 1e-4


def soft_relu(z):
    # forward value relu(z); derivative z/sqrt(z^2+tau) + [z<0] (integral: sqrt(z^2+tau) + min(z,0))
    f = torch.sqrt(z * z + TAU) + torch.clamp(z, max=0.0)
    return F.relu(z).detach() + f - f.detach()


def build(w, act):
    def bn(p, x):
        return F.batch_norm(x, w[p + ".running_mean"], w[p + ".running_var"], w[p + ".gamma"], w[p + ".beta"], False, 0.0, 1e-5)

    def conv(p, x, stride=1):
        k = w[p + ".weight"]
        return F.conv2d(x, k, None, stride, k.shape[-1] // 2)

    def features(x):
        h = act(bn("net.Resnet.bn1", conv("net.Resnet.conv1", (x - MEAN) / STD)))
        s = 0
        while f"net.Resnet.stages.{s}.0.conv1.weight" in w:
            b = 0
            while f"net.Resnet.stages.{s}.{b}.conv1.weight" in w:
                p = f"net.Resnet.stages.{s}.{b}"
                stride = 2 if (s > 0 and b == 0) else 1
                out = act(bn(p + ".bn1", conv(p + ".conv1", h, stride)))
                out = bn(p + ".bn2", conv(p + ".conv2", out))
                short = bn(p + ".downsample.bn", conv(p + ".downsample.conv", h, stride)) if p + ".downsample.conv.weight" in w else h
                h = act(out + short)
                b += 1
            s += 1
        return h

    def logits_and_last(x):
        last = features(x)
        return last.mean((2, 3)) @ w["net.Resnet.fc.weight"] + w["net.Resnet.fc.bias"], last

    return logits_and_last


def minmax(a, floor):
    a = a.flatten(1)
    a = a - a.min(1, keepdim=True).values
    return a / a.max(1, keepdim=True).values.clamp_min(floor)


def smoothed_ce(z, t, conf):
    q = torch.full_like(z, 0.0)
    q += ((1 - conf) / 9.0)[:, None]
    q[torch.arange(len(t)), t] = conf
    return -(F.log_softmax(z, 1) * q).sum()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    w = load_file("data/weights/resnet20.safetensors")
    real = build(w, F.relu)
    soft = build(w, soft_relu)
    root = os.environ.get("ADVEDGE_DATA") or next(p for p in ["data", "../shared/data"] if os.path.isdir(os.path.join(p, "cifar10")))
    test = os.path.join(root, "cifar10", "test")
    files = [(os.path.join(test, c, f), k) for k, c in enumerate(sorted(os.listdir(test))) for f in sorted(os.listdir(os.path.join(test, c)))]
    order = [k * len(files) // (a.images * 4) for k in range(a.images * 4)]
    xs, ys = [], []
    for i in order:
        img = torch.tensor(np.asarray(Image.open(files[i][0]).convert("RGB"), dtype=np.float32).transpose(2, 0, 1) / 255.0)
        with torch.no_grad():
            if real(img[None])[0].argmax(1).item() == files[i][1]:
                xs.append(img)
                ys.append(files[i][1])
        if len(xs) == a.images:
            break
    x0, y = torch.stack(xs), torch.tensor(ys)
    g = torch.Generator().manual_seed(0)
    t = (y + torch.randint(1, 10, (len(y),), generator=g)) % 10
    W = torch.tensor(np.stack([sobel(im.mean(0).numpy()) for im in x0]), dtype=torch.float32)[:, None]
    eps, alpha = 0.031, 1 / 255
    for interp in ["cam", "grad"]:
        t0 = time.time()
        with torch.no_grad():
            z, last = real(x0)
        if interp == "cam":
            wc = w["net.Resnet.fc.weight"].t()[y]
            m0 = minmax((last * wc[:, :, None, None]).sum(1), 1e-12)
        x0g = x0.clone().requires_grad_(True)
        if interp == "grad":
            gg, = torch.autograd.grad(-F.log_softmax(real(x0g)[0], 1)[torch.arange(len(y)), y].sum(), x0g)
            m0 = minmax(F.avg_pool2d(gg.abs().max(1, keepdim=True).values, 2), 1e-8)
        x = x0.clone()
        warm = 300
        for _ in range(warm):
            xg = x.clone().requires_grad_(True)
            z, _ = real(xg)
            loss = -z[torch.arange(len(t)), t].sum() if interp == "cam" else F.cross_entropy(z, t, reduction="sum")
            gr, = torch.autograd.grad(loss, xg)
            x = x - alpha * W * gr.sign()
            x = x0 + (x - x0).clamp(-eps, eps)
            if interp == "cam":
                x = x.clamp(0, 1)
        steps = [(5 + 5 * (i + 1) / 500, i, 500) for i in range(500)] if interp == "cam" else \
            [(c, i, n) for c, n in [(0.001, 301), (0.004, 201), (0.01, 101), (0.05, 101), (0.07, 50)] for i in range(n)]
        best = [None] * len(t)
        for c, i, n in steps:
            conf = torch.empty(len(t)).uniform_(0.95 + 0.04 * i / n, 1.0, generator=g)
            xg = x.clone().requires_grad_(True)
            if interp == "cam":
                z, last = real(xg)
                wt = w["net.Resnet.fc.weight"].t()[t]
                lint = ((minmax((last * wt[:, :, None, None]).sum(1), 1e-12) - m0) ** 2).mean(1).sum()
            else:
                z, _ = soft(xg)
                gs, = torch.autograd.grad(-F.log_softmax(z, 1)[torch.arange(len(t)), t].sum(), xg, create_graph=True)
                s = minmax(F.avg_pool2d(gs.abs().max(1, keepdim=True).values, 2), 1e-8)
                lint = ((s - m0) ** 2).sum()
                if i % 10 == 0:  # best-point selection with the real-ReLU map
                    xs_ = x.clone().requires_grad_(True)
                    zr, _ = real(xs_)
                    gr_, = torch.autograd.grad(-F.log_softmax(zr, 1)[torch.arange(len(t)), t].sum(), xs_)
                    d = ((minmax(F.avg_pool2d(gr_.abs().max(1, keepdim=True).values, 2), 1e-8) - m0) ** 2).sum(1)
                    p = F.softmax(zr.detach(), 1)[torch.arange(len(t)), t]
                    for j in range(len(t)):
                        if p[j] > 0.8 and (best[j] is None or d[j] < best[j]):
                            best[j] = float(d[j])
            loss = smoothed_ce(z, t, conf) + c * lint
            gr, = torch.autograd.grad(loss, xg)
            x = (x0 + (x - alpha * gr.sign() - x0).clamp(-eps, eps)).clamp(0, 1).detach()
        with torch.no_grad():
            succ = (real(x)[0].argmax(1) == t).float().mean().item() if interp == "cam" else sum(b is not None for b in best) / len(t)
        dt = time.time() - t0
        print(json.dumps({"interpreter": interp, "images": len(t), "seconds_per_image": dt / len(t), "success": succ, "torch": torch.__version__, "threads": a.threads}), flush=True)


if __name__ == "__main__":
    main()
