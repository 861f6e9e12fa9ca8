//! The compiler types cubecl-cuda names, with a compiler that refuses every kernel.

pub mod lowered_features;

use crate::{LlvmTarget, nvptx::ptx_version::PtxVersion};
use cubecl_core::{
    Compiler,
    ir::{amd::GfxArch, nvidia::SmArch},
    prelude::KernelDefinition,
};
use cubecl_runtime::{compiler::CompilationError, kernel::BufferIOAttr};

/// What this stand-in answers for any kernel.
pub const NO_LLVM: &str = "this build has no LLVM backend: advedge's offline cuda build replaces \
cubecl-llvm with a stand-in (patches/cubecl-llvm) and compiles kernels with NVRTC (cubecl-cuda's \
`cpp` feature); build without the patch (online) for the LLVM backend";

#[derive(Clone, Debug, Default)]
pub struct PlironCompiler {
    pub target: LlvmTarget,
}

/// The options cubecl-cuda fills in for the LLVM backend (the fields it names).
#[derive(Clone, Debug, Default)]
pub struct PlironOptions {
    pub cpu_buffer_alignment: Option<u32>,
    pub arch: Option<GfxArch>,
    pub sm_arch: Option<SmArch>,
    pub ptx_version: Option<PtxVersion>,
    pub grid_constants: bool,
}

/// Compiled PTX module (never produced here; the type exists for cubecl-cuda's enum).
#[derive(Clone, Debug)]
pub struct NvptxModule {
    pub ptx: Vec<core::ffi::c_char>,
    pub entrypoint: String,
    pub ir: String,
    pub shared_memory_size: usize,
    pub io: Vec<BufferIOAttr>,
}

#[derive(Clone, Debug)]
pub enum PlironArtifact {
    NvptxCode(NvptxModule),
}

impl core::fmt::Display for PlironArtifact {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PlironArtifact::NvptxCode(module) => write!(f, "{}", module.ir),
        }
    }
}

impl Compiler for PlironCompiler {
    type Representation = PlironArtifact;
    type CompilationOptions = PlironOptions;

    fn buffer_io(repr: &Self::Representation) -> Option<Vec<BufferIOAttr>> {
        match repr {
            PlironArtifact::NvptxCode(module) => Some(module.io.clone()),
        }
    }

    fn compile(
        &mut self,
        _kernel: KernelDefinition,
        _options: &Self::CompilationOptions,
    ) -> Result<Self::Representation, CompilationError> {
        Err(CompilationError::Generic {
            reason: NO_LLVM.to_string(),
            backtrace: cubecl_environment::backtrace::BackTrace::capture(),
        })
    }

    fn extension(&self) -> &'static str {
        "ll"
    }

    fn lang_tag(&self) -> &'static str {
        "llvm"
    }
}
