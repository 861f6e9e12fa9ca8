//! The NVPTX pieces cubecl-cuda reads even when it compiles with NVRTC.

pub mod ptx_version;
