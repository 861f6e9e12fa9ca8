//! advedge patch: optional timing of every 2D convolution and transposed convolution (the input
//! gradient of a convolution goes through `conv_transpose2d`), with its geometry and whether the
//! direct kernels of `conv_fma` computed it. `cargo xtask bench-interpreters --conv-profile`
//! uses it to show which convolutions bound an attack step. Off by default: one relaxed atomic
//! load per call; it never changes a result.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

/// One recorded call. Shapes are as the backend received them (after asymmetric padding).
#[derive(Clone, Debug, PartialEq)]
pub struct ConvCall {
    /// `conv_transpose2d` (true) or `conv2d`.
    pub transpose: bool,
    /// Input [N, C, H, W].
    pub x: [usize; 4],
    /// Weight: [C_out, C_in / groups, kh, kw] for a convolution, [C_in, C_out / groups, kh, kw]
    /// for a transposed one.
    pub w: [usize; 4],
    /// Output [N, C, H, W].
    pub out: [usize; 4],
    pub stride: [usize; 2],
    pub groups: usize,
    /// Whether the direct FMA kernels computed it (else the im2col / col2im + GEMM path).
    pub direct: bool,
    pub seconds: f64,
}

impl ConvCall {
    /// Multiply-adds x 2: each output of a convolution sums C_in/groups x kh x kw products; a
    /// transposed convolution scatters each input value to C_out/groups x kh x kw outputs.
    pub fn flops(&self) -> f64 {
        let taps = (self.w[1] * self.w[2] * self.w[3]) as f64;
        if self.transpose {
            2.0 * (self.x[0] * self.x[1] * self.x[2] * self.x[3]) as f64 * taps
        } else {
            2.0 * (self.out[0] * self.out[1] * self.out[2] * self.out[3]) as f64 * taps
        }
    }
}

static ON: AtomicBool = AtomicBool::new(false);

#[cfg(feature = "std")]
static CALLS: std::sync::Mutex<Vec<ConvCall>> = std::sync::Mutex::new(Vec::new());
/// The thread that asked to record: only the convolutions it calls are recorded (their work may
/// still run on the whole thread pool), so other threads' work does not mix in.
#[cfg(feature = "std")]
static OWNER: std::sync::Mutex<Option<std::thread::ThreadId>> = std::sync::Mutex::new(None);

/// Starts (clearing earlier records) or stops recording the convolutions this thread calls.
pub fn set_recording(on: bool) {
    #[cfg(feature = "std")]
    {
        if on {
            CALLS.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
        *OWNER.lock().unwrap_or_else(|e| e.into_inner()) = on.then(|| std::thread::current().id());
    }
    ON.store(on, Ordering::SeqCst);
}

/// The calls recorded since `set_recording(true)`, in call order (empty without `std`).
pub fn take() -> Vec<ConvCall> {
    #[cfg(feature = "std")]
    {
        core::mem::take(&mut *CALLS.lock().unwrap_or_else(|e| e.into_inner()))
    }
    #[cfg(not(feature = "std"))]
    Vec::new()
}

fn dims4(s: &[usize]) -> [usize; 4] {
    let mut d = [1; 4];
    for (o, v) in d.iter_mut().zip(s) {
        *o = *v;
    }
    d
}

/// The input's and the weight's dimensions, for [`timed`].
pub(crate) fn dims(x: &crate::FlexTensor, w: &crate::FlexTensor) -> ([usize; 4], [usize; 4]) {
    (dims4(x.layout().shape()), dims4(w.layout().shape()))
}

/// Runs `f` (one convolution with input and weight dimensions `dims`) and records it while
/// recording is on.
pub(crate) fn timed(transpose: bool, (xd, wd): ([usize; 4], [usize; 4]), stride: [usize; 2], groups: usize, f: impl FnOnce() -> crate::FlexTensor) -> crate::FlexTensor {
    #[cfg(feature = "std")]
    if ON.load(Ordering::Relaxed) && *OWNER.lock().unwrap_or_else(|e| e.into_inner()) == Some(std::thread::current().id()) {
        let before = super::conv_fma::direct_calls_here();
        let t = std::time::Instant::now();
        let out = f();
        let seconds = t.elapsed().as_secs_f64();
        let direct = super::conv_fma::direct_calls_here() > before;
        let call = ConvCall { transpose, x: xd, w: wd, out: dims4(out.layout().shape()), stride, groups, direct, seconds };
        CALLS.lock().unwrap_or_else(|e| e.into_inner()).push(call);
        return out;
    }
    #[cfg(not(feature = "std"))]
    let _ = (transpose, xd, wd, stride, groups);
    f()
}
