//! Offline stand-in for `cubecl-llvm` 0.11.3, used by advedge's `cuda` build through
//! `[patch.crates-io]` in the workspace `Cargo.toml`.
//!
//! Why: cubecl-cuda 0.11.3 (burn 0.22.1's CUDA runtime) always depends on cubecl-llvm, whose
//! build script downloads a prebuilt LLVM 23 from github.com; no machine of this project can
//! reach it, so `--features cuda` could not build. cubecl-cuda compiles two kernel backends,
//! CUDA C++ through NVRTC and LLVM/NVPTX, and its `cpp` feature makes NVRTC the default (the
//! runner's `cuda` feature turns it on). This crate keeps the API cubecl-cuda names: the pure-Rust
//! parts (`PtxVersion`, `restrict_features`) are copied unchanged from cubecl-llvm 0.11.3 (MIT or
//! Apache-2.0, licences beside this crate); the compiler answers every kernel with a
//! `CompilationError` saying that this build has no LLVM backend.

pub mod nvptx;
pub mod shared;
pub mod target;

pub use shared::{NvptxModule, PlironArtifact, PlironCompiler, PlironOptions};
pub use target::LlvmTarget;
