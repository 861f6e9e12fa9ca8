# Thin wrappers over `cargo xtask`; see `cargo xtask --help`.
.PHONY: test train eval bench reproduce
test:
	cargo test --release --workspace
train:
	cargo xtask train --model resnet20
	cargo xtask train --model densenet40
eval:
	cargo xtask eval --model resnet20
	cargo xtask eval --model densenet40
bench:
	cargo xtask bench-model --model resnet20
	cargo xtask bench-model --model densenet40
reproduce:
	cargo xtask eval --model resnet20
