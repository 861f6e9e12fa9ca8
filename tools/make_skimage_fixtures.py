#!/usr/bin/env python3
"""Independent reference values from scikit-image for the Rust metrics and edge weights.

Writes two small JSON fixtures that the Rust tests compare against (CI needs no Python):
  crates/metrics/tests/fixtures/ssim_skimage.json   structural_similarity (spec 9.5 settings)
  crates/attacks/tests/fixtures/sobel_skimage.json  filters.sobel on the channel-mean gray image

Regenerate (from the repository root):
  python3 -m venv /tmp/v && /tmp/v/bin/pip install scikit-image numpy pillow
  /tmp/v/bin/python tools/make_skimage_fixtures.py
Inputs are real CIFAR-10 test images (stored in the fixture as uint8, so JPEG decoders don't matter).
"""
import json, os, sys
import numpy as np
from PIL import Image
import skimage
from skimage.filters import sobel
from skimage.metrics import structural_similarity

root = os.environ.get("ADVEDGE_DATA") or next(
    (p for p in ["data", "../shared/data"] if os.path.isdir(os.path.join(p, "cifar10"))), None)
if root is None:
    sys.exit("CIFAR-10 not found: set ADVEDGE_DATA or put it in data/ or ../shared/data")
test = os.path.join(root, "cifar10", "test")
files = [os.path.join(test, c, sorted(os.listdir(os.path.join(test, c)))[0]) for c in ["airplane", "cat", "ship", "truck"]]
imgs = [np.asarray(Image.open(f).convert("RGB"), dtype=np.uint8).transpose(2, 0, 1) for f in files]  # CHW

sob = []
for f, u8 in zip(files, imgs):
    x = u8.astype(np.float64) / 255.0
    g = x.mean(axis=0)
    sob.append({"file": os.path.relpath(f, root), "image_u8": u8.flatten().tolist(),
                "sobel": sobel(g).flatten().tolist()})
json.dump({"skimage": skimage.__version__, "h": 32, "w": 32, "cases": sob},
          open("crates/attacks/tests/fixtures/sobel_skimage.json", "w"))

rng = np.random.default_rng(0)
ss = []
for f, u8, eps in zip(files[:3], imgs[:3], [2 / 255, 8 / 255, 0.1]):
    x = (u8.astype(np.float64) / 255.0).astype(np.float32)
    y = np.clip(x + rng.uniform(-eps, eps, x.shape), 0, 1).astype(np.float32)
    s = structural_similarity(x.astype(np.float64), y.astype(np.float64), channel_axis=0, data_range=1.0,
                              win_size=7, gaussian_weights=False, use_sample_covariance=True, K1=0.01, K2=0.03)
    ss.append({"file": os.path.relpath(f, root), "x_u8": u8.flatten().tolist(),
               "y": [float(v) for v in y.flatten()], "ssim": float(s)})
json.dump({"skimage": skimage.__version__, "c": 3, "h": 32, "w": 32, "cases": ss},
          open("crates/metrics/tests/fixtures/ssim_skimage.json", "w"))
print("wrote fixtures with skimage", skimage.__version__)
