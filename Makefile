# Thin wrappers over `cargo xtask`; see `cargo xtask --help`.
.PHONY: test train eval bench reproduce table7 paper-smoke parity
test:
	cargo test --release --workspace
train:
	cargo xtask train --model resnet20
	cargo xtask train --model densenet38 --run-dir data/checkpoints/densenet38
eval:
	cargo xtask eval --model resnet20
	cargo xtask eval --model densenet38
bench:
	cargo xtask bench-model --model resnet20
	cargo xtask bench-model --model densenet38
reproduce:
	cargo xtask reproduce all --profile smoke
table7:
	cargo xtask reproduce table7 --profile cifar
# The paper-scale code path on random weights (no torchvision weights needed), on the CPU;
# the RTS networks are smoke-trained on the sample images (not an ImageNet training set).
paper-smoke:
	cargo xtask init-weights --model resnet50 --out-dir runs/random-weights
	cargo xtask init-weights --model densenet169 --out-dir runs/random-weights
	cargo xtask train-rts --model resnet50 --weights-dir runs/random-weights --train-data ../shared/data/imagenet-samples --steps-a 2 --steps-b 2 --batch 2 --quality-images 10
	cargo xtask train-rts --model densenet169 --weights-dir runs/random-weights --train-data ../shared/data/imagenet-samples --steps-a 2 --steps-b 2 --batch 2 --quality-images 10
	ADVEDGE_WEIGHTS=runs/random-weights cargo xtask reproduce main --profile paper-smoke --any-images --results runs/paper-smoke
# torchvision parity (needs a Python with torch + torchvision + safetensors: PY=/path/to/python).
PY ?= python3
parity:
	$(PY) tools/make_torchvision_fixtures.py
	cargo test --release -p advedge-models --test torchvision -- --nocapture
