# Thin wrappers over `cargo xtask`; see `cargo xtask --help`.
.PHONY: test train eval bench reproduce
test:
	cargo test --release --workspace
train:
	cargo xtask train --model resnet20
	cargo xtask train --model densenet22
eval:
	cargo xtask eval --model resnet20
	cargo xtask eval --model densenet22
bench:
	cargo xtask bench-model --model resnet20
	cargo xtask bench-model --model densenet22
reproduce:
	cargo xtask reproduce all --profile smoke
