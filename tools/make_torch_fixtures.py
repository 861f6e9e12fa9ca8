#!/usr/bin/env python3
"""Independent PyTorch + captum reference for the Grad and CAM interpreters.

Loads the exact weights the Rust tests use (burn safetensors: fc.weight is [in, out]), rebuilds
each CIFAR architecture functionally in PyTorch (eval-mode batch norm), and writes
crates/interpreters/tests/fixtures/torch_<name>.json with the inputs (uint8), logits, Grad maps
(captum Saliency of log p_c, |.|, max over channels, 2x2 average pool, min-max with floor 1e-8)
and CAM maps (sum_k w_ck A_k, min-max) for a few real CIFAR-10 test images.

Regenerate (from the repository root; torch from PyPI is the 3 GB CUDA build, it runs on CPU):
  cargo xtask train --model tiny --limit-train 2000 --limit-test 500 --out-dir crates/interpreters/tests/fixtures --run-dir /tmp/r1
  cargo xtask train --model tiny-densenet --limit-train 2000 --limit-test 500 --out-dir crates/interpreters/tests/fixtures --run-dir /tmp/r2
  python3 -m venv /tmp/v && /tmp/v/bin/pip install torch captum safetensors pillow numpy
  /tmp/v/bin/python tools/make_torch_fixtures.py
"""
import json, os, sys
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file
from captum.attr import Saliency
import captum

FIX = "crates/interpreters/tests/fixtures"
MEAN = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
STD = torch.tensor([0.2470, 0.2435, 0.2616]).view(1, 3, 1, 1)


def bn(w, p, x):
    return F.batch_norm(x, w[p + ".running_mean"], w[p + ".running_var"], w[p + ".gamma"], w[p + ".beta"], False, 0.0, 1e-5)


def conv(w, p, x, stride=1):
    k = w[p + ".weight"]
    return F.conv2d(x, k, None, stride, k.shape[-1] // 2)


def resnet(w, x):
    h = F.relu(bn(w, "net.Resnet.bn1", conv(w, "net.Resnet.conv1", x)))
    s = 0
    while f"net.Resnet.stages.{s}.0.conv1.weight" in w:
        b = 0
        while f"net.Resnet.stages.{s}.{b}.conv1.weight" in w:
            p = f"net.Resnet.stages.{s}.{b}"
            stride = 2 if (s > 0 and b == 0) else 1
            out = F.relu(bn(w, p + ".bn1", conv(w, p + ".conv1", h, stride)))
            out = bn(w, p + ".bn2", conv(w, p + ".conv2", out))
            short = bn(w, p + ".downsample.bn", conv(w, p + ".downsample.conv", h, stride)) if p + ".downsample.conv.weight" in w else h
            h = F.relu(out + short)
            b += 1
        s += 1
    return h, "net.Resnet.fc"


def densenet(w, x):
    h = conv(w, "net.Densenet.conv1", x)
    bi = 0
    while f"net.Densenet.blocks.{bi}.0.conv1.weight" in w:
        li = 0
        while f"net.Densenet.blocks.{bi}.{li}.conv1.weight" in w:
            p = f"net.Densenet.blocks.{bi}.{li}"
            y = conv(w, p + ".conv1", F.relu(bn(w, p + ".bn1", h)))
            y = conv(w, p + ".conv2", F.relu(bn(w, p + ".bn2", y)))
            h = torch.cat([h, y], 1)
            li += 1
        if f"net.Densenet.transitions.{bi}.conv.weight" in w:
            p = f"net.Densenet.transitions.{bi}"
            h = F.avg_pool2d(conv(w, p + ".conv", F.relu(bn(w, p + ".bn", h))), 2)
        bi += 1
    return F.relu(bn(w, "net.Densenet.bn_final", h)), "net.Densenet.fc"


def make(name, arch):
    w = {k: v.double() for k, v in load_file(os.path.join(FIX, name + ".safetensors")).items()}

    def features(x):
        return (resnet if arch == "resnet" else densenet)(w, (x - MEAN.double()) / STD.double())

    def logits(x):
        last, fc = features(x)
        return last.mean((2, 3)) @ w[fc + ".weight"] + w[fc + ".bias"]

    root = os.environ.get("ADVEDGE_DATA") or next(p for p in ["data", "../shared/data"] if os.path.isdir(os.path.join(p, "cifar10")))
    test = os.path.join(root, "cifar10", "test")
    classes = sorted(os.listdir(test))
    picks = [("cat", 0), ("ship", 3), ("frog", 7), ("truck", 11)]
    u8 = np.stack([np.asarray(Image.open(os.path.join(test, c, sorted(os.listdir(os.path.join(test, c)))[i])).convert("RGB"), dtype=np.uint8).transpose(2, 0, 1) for c, i in picks])
    x = torch.tensor(u8, dtype=torch.float64) / 255.0
    z = logits(x)
    explain = [int(v) for v in z.argmax(1)]  # explain the predicted class
    explain[1] = (explain[1] + 3) % 10      # and one non-predicted class
    sal = Saliency(lambda inp: F.log_softmax(logits(inp), 1))
    g = sal.attribute(x.clone().requires_grad_(True), target=explain, abs=True)
    a = g.max(1, keepdim=True).values
    a = F.avg_pool2d(a, 2)
    a = a.flatten(1)
    a = a - a.min(1, keepdim=True).values
    grad = a / a.max(1, keepdim=True).values.clamp_min(1e-8)
    last, fc = features(x)
    wc = w[fc + ".weight"].t()[explain]  # [B, K]
    cam = (last * wc[:, :, None, None]).sum(1).flatten(1)
    cam = cam - cam.min(1, keepdim=True).values
    cam = cam / cam.max(1, keepdim=True).values.clamp_min(1e-12)
    out = {"torch": torch.__version__, "captum": captum.__version__, "weights": name + ".safetensors",
           "images_u8": u8.flatten().tolist(), "classes": explain,
           "logits": z.flatten().tolist(), "grad": grad.flatten().tolist(), "cam": cam.flatten().tolist()}
    json.dump(out, open(os.path.join(FIX, f"torch_{name}.json"), "w"))
    print("wrote", f"torch_{name}.json", "torch", torch.__version__, "captum", captum.__version__)


make("tiny", "resnet")
make("tiny-densenet", "densenet")
