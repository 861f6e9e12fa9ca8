#!/usr/bin/env python3
"""torchvision reference for the ImageNet architectures.

Writes, with torchvision's own classes (not re-implementations):
  * crates/models/tests/fixtures/torchvision/tiny_resnet.pth    torchvision ResNet with its own
      Bottleneck and _make_layer, stem/width 8, layers [1, 2, 1, 1], 10 classes (torch zip format)
  * crates/models/tests/fixtures/torchvision/tiny_densenet.pth  torchvision.models.DenseNet(growth 4,
      blocks (1, 2, 1, 1), init 8, 10 classes), saved in torch's *legacy* (non-zip) format with the
      pre-0.3 key spelling `norm.1` / `conv.2`, as in densenet169-b2777c0a.pth
  * .../tiny_{resnet,densenet}.io.safetensors: two fixed 64x64 inputs in [0,1], their classes,
      logits (eval mode, ImageNet normalisation in front) and d(CE summed over the batch)/dx
  * .../{resnet50,densenet169}.keys.json: every state-dict key of the full models with its shape
      and dtype (the Rust structural test builds a zero-filled file from it); likewise, compactly,
      for resnet18, resnet34, resnet101, resnet152, densenet121, densenet161 and densenet201, and
      tiny_resnet_basic.{pth,io.safetensors}, the basic-block twin (`--family-keys` writes only
      these)
  * runs/fixtures/torchvision/{resnet50,densenet169}.pth + .io.safetensors (about 100 + 57 MB,
      not committed): randomly initialised full-size models and logits for two 224x224 inputs,
      for the parity test that runs when the files are present.
Batch-norm statistics and affine parameters are randomised so eval-mode BN is really exercised.

Run from the repository root (torch from PyPI is the 3 GB CUDA build; it runs on CPU):
  python3 -m venv /tmp/v && /tmp/v/bin/pip install torch torchvision safetensors numpy
  /tmp/v/bin/python tools/make_torchvision_fixtures.py [--tiny-only]
"""
import json, os, re, sys
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet
from safetensors.torch import save_file

FIX = "crates/models/tests/fixtures/torchvision"
BIG = "runs/fixtures/torchvision"
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


class TinyResNet(ResNet):
    """torchvision's ResNet at a small width: same Bottleneck (or BasicBlock), _make_layer and
    _forward_impl; only the hard-coded 64/128/256/512 are replaced by width * (1, 2, 4, 8)."""

    def __init__(self, layers, width, num_classes, block=Bottleneck):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes, self.dilation, self.groups, self.base_width = width, 1, 1, 64
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(block, width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(block, width * 8, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(width * 8 * block.expansion, num_classes)


def randomise_bn(model, g):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(c, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(c, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(c, generator=g) * 0.1)


def reference(model, x, classes):
    model.eval()
    x = x.clone().requires_grad_(True)
    logits = model((x - MEAN) / STD)
    F.cross_entropy(logits, classes, reduction="sum").backward()
    return {"input": x.detach().contiguous(), "classes": classes.to(torch.int64), "logits": logits.detach().contiguous(),
            "input_grad": x.grad.detach().contiguous()}


def legacy_densenet_keys(sd):
    # Inverse of torchvision's _load_state_dict fix: denselayerN.norm1 -> denselayerN.norm.1.
    return {re.sub(r"(denselayer\d+\.(?:norm|conv))([12])\.", r"\1.\2.", k): v for k, v in sd.items()}


def write(model, name, folder, size, seed, legacy=False):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        randomise_bn(model, g)
    x = torch.rand(2, 3, size, size, generator=g)
    classes = torch.tensor([1, 7])
    ref = reference(model, x, classes)
    sd = model.state_dict()
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name + ".pth")
    if legacy:
        torch.save(legacy_densenet_keys(sd), path, _use_new_zipfile_serialization=False)
    else:
        torch.save(sd, path)
    save_file(ref, os.path.join(folder, name + ".io.safetensors"))
    print(f"{path}: {len(sd)} tensors, logits[0,:3] = {ref['logits'][0, :3].tolist()}")
    return sd


def manifest(sd, name):
    keys = [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in sd.items()]
    with open(os.path.join(FIX, name + ".keys.json"), "w") as f:
        json.dump(keys, f, indent=0)


# The other members of the two families whose architectures the Rust side builds (bottleneck
# ResNets, DenseNets): their key lists only, for the structural tests. Written compactly.
FAMILY = ["resnet18", "resnet34", "resnet101", "resnet152", "densenet121", "densenet161", "densenet201"]


def family_manifests():
    # The basic-block twin (ResNet-18/34's block), for logits and input-gradient parity.
    torch.manual_seed(5)
    write(TinyResNet([1, 2, 1, 1], 8, 10, block=BasicBlock), "tiny_resnet_basic", FIX, 64, 5)
    for name in FAMILY:
        sd = getattr(torchvision.models, name)(weights=None).state_dict()
        keys = [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in sd.items()]
        with open(os.path.join(FIX, name + ".keys.json"), "w") as f:
            json.dump(keys, f, separators=(",", ":"))
        print(f"{name}: {len(keys)} keys")


def main():
    if "--family-keys" in sys.argv:
        family_manifests()
        return
    torch.manual_seed(0)
    write(TinyResNet([1, 2, 1, 1], 8, 10), "tiny_resnet", FIX, 64, 1)
    tiny_dn = torchvision.models.DenseNet(growth_rate=4, block_config=(1, 2, 1, 1), num_init_features=8, num_classes=10)
    write(tiny_dn, "tiny_densenet", FIX, 64, 2, legacy=True)
    r50 = torchvision.models.resnet50(weights=None)
    d169 = torchvision.models.densenet169(weights=None)
    manifest(r50.state_dict(), "resnet50")
    manifest(d169.state_dict(), "densenet169")
    family_manifests()
    if "--tiny-only" not in sys.argv:
        write(r50, "resnet50", BIG, 224, 3)
        write(d169, "densenet169", BIG, 224, 4)


if __name__ == "__main__":
    main()
