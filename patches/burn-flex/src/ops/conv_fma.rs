//! advedge patch: direct FMA kernels (AVX-512 or AVX2) for 2D stride-1 "same" convolutions (f32) and their
//! input gradients (`conv_transpose` with the same geometry), giving the same bits as the
//! im2col / col2im + gemm paths they replace.
//!
//! Why: at ResNet-20's shapes (16-64 channels, 8x8 to 32x32) the GEMM paths spend most of their
//! time moving data (im2col, packing, col2im) and reach 30-130 GFLOP/s. These kernels read the
//! NCHW input in place and keep a block of output positions x channels in registers (AVX-512:
//! 2 x 16 positions x up to 12 channels), so that each loaded value feeds several FMAs.
//!
//! Why the bits are the same: gemm 0.19's f32 kernels (the `fma` dispatch, the one used without
//! the `x86-v4` feature) accumulate each output element in its own register as a sequential
//! FMA chain over the depth, starting from +0, in blocks of `kc` (see `gemm_kc`); a block's sum
//! is written (first block) or added to the stored value (later blocks). The kernels here do
//! exactly these operations in the same order:
//! - forward: depth order (kh, kw, c_in) as `conv3d_impl`'s im2col, the same output tiles
//!   (512 positions) and so the same `kc`; padding positions are loaded as zeros, as im2col
//!   writes them, and go through the FMA like any other term;
//! - input gradient: each kernel tap is one FMA chain over the channels (one block: the kernels
//!   apply only up to 512 channels), and the taps are added to a +0 start in ascending (kh, kw)
//!   order, only where the tap is inside the input, as col2im does.
//!
//! The width of a vector does not change any result (each lane is an IEEE FMA): the kernels use
//! 16 lanes with AVX-512 and 8 with AVX2 (both with FMA), chosen at run time. Every case they do
//! not cover exactly (other strides, groups, dilation, 3D, tiles that gemm sends to its
//! horizontal or gemv kernels, more than 512 channels in the gradient, CPUs without AVX2 + FMA)
//! keeps the GEMM path.
//! `set_enabled(false)` turns them off, for tests and benchmarks that compare the two paths.

use burn_backend::ops::{ConvOptions, ConvTransposeOptions};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static ENABLED: AtomicBool = AtomicBool::new(true);
static EIGHT_LANES: AtomicBool = AtomicBool::new(false);
static DIRECT_CALLS: AtomicUsize = AtomicUsize::new(0);

/// Uses the 8-lane (AVX2) kernels even where AVX-512 exists (process-wide), so that tests on
/// an AVX-512 machine check both.
pub fn set_eight_lanes(on: bool) {
    EIGHT_LANES.store(on, Ordering::SeqCst);
}

/// How many convolutions the direct kernels have computed in this process (lets tests check
/// which path a shape took).
pub fn direct_calls() -> usize {
    DIRECT_CALLS.load(Ordering::SeqCst)
}

#[cfg(feature = "std")]
std::thread_local! {
    static DIRECT_HERE: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

fn count_direct() {
    DIRECT_CALLS.fetch_add(1, Ordering::Relaxed);
    #[cfg(feature = "std")]
    DIRECT_HERE.with(|c| c.set(c.get() + 1));
}

/// How many convolutions the direct kernels have computed for calls made on this thread (0
/// without `std`).
pub(crate) fn direct_calls_here() -> usize {
    #[cfg(feature = "std")]
    return DIRECT_HERE.with(|c| c.get());
    #[cfg(not(feature = "std"))]
    0
}

/// Turns the direct kernels on or off (process-wide; on by default).
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::SeqCst);
}

/// Whether the direct kernels are on and this CPU can run them. The environment variable
/// `ADVEDGE_DIRECT_CONV=0` turns them off for the whole process (to time or check the GEMM path
/// in a full run; `set_enabled(true)` does not override it).
pub fn active() -> bool {
    ENABLED.load(Ordering::Relaxed) && imp::cpu_ok() && env_allows()
}

#[cfg(feature = "std")]
fn env_allows() -> bool {
    static ALLOWS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ALLOWS.get_or_init(|| std::env::var("ADVEDGE_DIRECT_CONV").map_or(true, |v| v.trim() != "0"))
}

#[cfg(not(feature = "std"))]
fn env_allows() -> bool {
    true
}

/// Output positions per im2col tile in `conv3d_impl` (its `TILE_SIZE`).
pub(crate) const FORWARD_TILE: usize = 512;

/// gemm 0.19's depth block for an f32 product of `m x k` by `k x n` on the `fma` dispatch
/// (`gemm_common::gemm::gemm_basic_generic`: `k.min(512)` for `m, n <= 64`, else
/// `kernel_params` with the fma kernels' MR = 16, NR = 6).
fn gemm_kc(m: usize, n: usize, k: usize) -> usize {
    if m <= 64 && n <= 64 {
        k.min(512)
    } else {
        gemm_common::cache::kernel_params(m, n, k, 16, 6, core::mem::size_of::<f32>()).kc
    }
}

/// Whether gemm sends an `m x k x n` f32 product with `conv3d_impl`'s operand strides
/// (lhs column stride 1, rhs row stride 1) to its main blocked kernels.
fn forward_gemm_is_blocked(m: usize, n: usize, k: usize) -> bool {
    k > 2 && m > 1 && n > 1 && m * n > 16 * 16
}

/// Geometry of a 2D stride-1 "same" convolution: input and output `h x w`, odd kernel.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Same2d {
    pub batch: usize,
    pub c_in: usize,
    pub c_out: usize,
    pub h: usize,
    pub w: usize,
    pub kh: usize,
    pub kw: usize,
    pub ph: usize,
    pub pw: usize,
}

impl Same2d {
    /// The geometry of `conv3d_impl`'s convolution of `x` by `weight` (`[c_out, c_in, kd, kh,
    /// kw]`), where it is a 2D stride-1 "same" one: stride and dilation 1, one group, no depth,
    /// the output the input's size (`padding_begin` as `conv3d_impl` uses it).
    pub fn conv(x: &[usize], w: &[usize], o: &ConvOptions<3>) -> Option<Self> {
        Self::new(x, w[0], [w[2], w[3], w[4]], o.padding_begin(), o.stride, o.dilation, o.groups)
    }

    /// The same for `conv_transpose3d_impl` (`weight`: `[c_in, c_out, kd, kh, kw]`, no output
    /// padding): the input gradient of such a convolution.
    pub fn conv_transpose(x: &[usize], w: &[usize], o: &ConvTransposeOptions<3>) -> Option<Self> {
        if o.padding_out != [0, 0, 0] {
            return None;
        }
        Self::new(x, w[1] * o.groups, [w[2], w[3], w[4]], o.padding, o.stride, o.dilation, o.groups)
    }

    fn new(x: &[usize], c_out: usize, k: [usize; 3], pad: [usize; 3], stride: [usize; 3], dilation: [usize; 3], groups: usize) -> Option<Self> {
        let g = Same2d { batch: x[0], c_in: x[1], c_out, h: x[3], w: x[4], kh: k[1], kw: k[2], ph: pad[1], pw: pad[2] };
        // Stride and dilation 1 with kernel 2p + 1 give an output of the input's size, in both
        // `calculate_conv_output_size` and `calculate_conv_transpose_output_size`.
        let ok = groups == 1
            && stride == [1, 1, 1]
            && dilation == [1, 1, 1]
            && k[0] == 1
            && x[2] == 1
            && pad[0] == 0
            && g.kh == 2 * g.ph + 1
            && g.kw == 2 * g.pw + 1
            && g.batch > 0
            && g.c_in > 0
            && g.c_out > 0
            && g.h * g.w > 0;
        ok.then_some(g)
    }

    fn hw(&self) -> usize {
        self.h * self.w
    }

    fn taps(&self) -> usize {
        self.kh * self.kw
    }
}

/// Forward convolution (`[batch, c_out, h, w]`, bias not added), or `None` where the GEMM path
/// must run.
pub(crate) fn conv2d(g: &Same2d, x: &[f32], w: &[f32]) -> Option<Vec<f32>> {
    if !active() {
        return None;
    }
    let hw = g.hw();
    let k = g.c_in * g.taps();
    // Every tile must go through gemm's blocked kernels (the last one may be short).
    let last = hw - (hw - 1) / FORWARD_TILE * FORWARD_TILE;
    if !forward_gemm_is_blocked(g.c_out, last, k) || !forward_gemm_is_blocked(g.c_out, hw.min(FORWARD_TILE), k) {
        return None;
    }
    count_direct();
    // SAFETY: `cpu_ok` checked the instruction sets; lengths follow from the shapes.
    Some(unsafe { written(g.batch * g.c_out * hw, |out| imp::conv2d(g, x, w, out)) })
}

/// Input gradient: `out[b, c_out, p] = sum over taps of sum over c_in of
/// w[c_in, c_out, tap] * x[b, c_in, p - tap]`, with `conv_transpose3d_impl`'s tiling rules, or
/// `None` where the GEMM path must run.
pub(crate) fn conv_transpose2d(g: &Same2d, x: &[f32], w: &[f32], tile_len: usize) -> Option<Vec<f32>> {
    if !active() {
        return None;
    }
    let hw = g.hw();
    let col_ch = g.c_out * g.taps();
    let last = hw - (hw - 1) / tile_len * tile_len;
    // gemm's gevv (depth <= 2) and gemv (a side of 1) paths, and more than one depth block.
    if g.c_in <= 2 || g.c_in > 512 || col_ch <= 1 || last <= 1 || tile_len.min(hw) <= 1 {
        return None;
    }
    debug_assert!(gemm_kc(col_ch, tile_len.min(hw), g.c_in) == g.c_in);
    count_direct();
    // SAFETY: as in `conv2d`.
    Some(unsafe { written(g.batch * g.c_out * hw, |out| imp::conv_transpose2d(g, x, w, out)) })
}

/// A vector of `n` values that `fill` writes, every one of them, through the pointer it gets
/// (the kernels store each output once, so zeroing it first would be a wasted pass).
///
/// # Safety
/// `fill` must write all `n` values before it returns, through the raw pointer only.
unsafe fn written(n: usize, fill: impl FnOnce(*mut f32)) -> Vec<f32> {
    let mut v: Vec<f32> = Vec::with_capacity(n);
    fill(v.as_mut_ptr());
    // SAFETY: the caller's contract; f32 has no invalid bit patterns.
    unsafe { v.set_len(n) };
    v
}

#[cfg(all(target_arch = "x86_64", feature = "std"))]
mod imp {
    use super::{FORWARD_TILE, Same2d, gemm_kc};
    use core::arch::x86_64::*;

    /// AVX2 + FMA: the minimum (gemm's `fma` dispatch needs FMA; the kernels need AVX2's masks).
    pub fn cpu_ok() -> bool {
        static OK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *OK.get_or_init(|| std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma"))
    }

    fn avx512() -> bool {
        static OK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *OK.get_or_init(|| std::arch::is_x86_feature_detected!("avx512f")) && !super::EIGHT_LANES.load(core::sync::atomic::Ordering::Relaxed)
    }

    /// One instruction set's register blocks. `fwd`: `nv` chunks of `LANES` positions x `cb`
    /// output channels x one depth block `[k0, k1)` (`wt` at `wt[k0 * c_out + co]`, depth-major
    /// weights); `bwd`: one chunk x `cb` channels of the input gradient over all taps (`wt` at
    /// `wt[co]`, weights `[tap][c_in][c_out]`), also over `nv` chunks. `taps[t]`: the chunk's input offset for tap `t`
    /// and its lanes inside the image; `store`: the lanes that exist.
    trait Isa {
        const LANES: usize;
        /// Chunks side by side in `fwd` (where a tile has that many left) and its channel block.
        const FWD_NV: usize;
        const FWD_CB: usize;
        const BWD_NV: usize;
        const BWD_CB: usize;
        #[allow(clippy::too_many_arguments)]
        unsafe fn fwd(nv: usize, cb: usize, out: *mut f32, hw: usize, xb: *const f32, wt: *const f32, c_out: usize, c_in: usize, taps: &[(isize, u16)], k0: usize, k1: usize, store: [u16; 2], first: bool);
        #[allow(clippy::too_many_arguments)]
        unsafe fn bwd(nv: usize, cb: usize, out: *mut f32, hw: usize, xb: *const f32, wt: *const f32, c_out: usize, c_in: usize, taps: &[(isize, u16)], store: [u16; 2]);
    }

    /// Calls `$f::<CB>` (or `$f::<NV, CB>`) for a runtime block width `CB`.
    macro_rules! by_width {
        ($cb:expr, $f:ident, $args:tt, [$($n:literal)*]) => {
            match $cb {
                $($n => $f::<$n> $args,)*
                _ => unreachable!(),
            }
        };
        ($cb:expr, $f:ident, $nv:literal; $args:tt, [$($n:literal)*]) => {
            match $cb {
                $($n => $f::<$nv, $n> $args,)*
                _ => unreachable!(),
            }
        };
    }

    /// 16 lanes; FMA with the weight broadcast from memory, masked loads and stores.
    struct Avx512;

    /// For tap `t` of `NV` chunks side by side (their tap entries one after the other in
    /// `taps`): each chunk's input pointer (moved by `extra` elements) and lane mask.
    fn chunk_taps<const NV: usize>(taps: &[(isize, u16)], t: usize, xb: *const f32, extra: isize) -> ([*const f32; NV], [u16; NV]) {
        let nt = taps.len() / NV;
        let (mut xp, mut m) = ([xb; NV], [0u16; NV]);
        for v in 0..NV {
            let (off, mv) = taps[v * nt + t];
            (xp[v], m[v]) = (xb.wrapping_offset(off + extra), mv);
        }
        (xp, m)
    }

    /// `steps` depth steps of `NV` x `CB` FMAs: per step one masked load per chunk (then on to
    /// the next channel plane) and one broadcast weight per channel (then the next weight row),
    /// each accumulator taking its terms in depth order.
    #[target_feature(enable = "avx512f,fma")]
    #[inline]
    #[allow(clippy::too_many_arguments)]
    unsafe fn fma_steps512<const NV: usize, const CB: usize>(acc: &mut [[__m512; CB]; NV], xp: &mut [*const f32; NV], m: &[u16; NV], wp: &mut *const f32, steps: usize, hw: usize, c_out: usize) {
        unsafe {
            for _ in 0..steps {
                let mut x = [_mm512_setzero_ps(); NV];
                for v in 0..NV {
                    x[v] = _mm512_maskz_loadu_ps(m[v], xp[v]);
                    xp[v] = xp[v].wrapping_add(hw);
                }
                for j in 0..CB {
                    let w = _mm512_set1_ps(*wp.add(j));
                    for v in 0..NV {
                        acc[v][j] = _mm512_fmadd_ps(w, x[v], acc[v][j]);
                    }
                }
                *wp = wp.add(c_out);
            }
        }
    }

    /// `NV` chunks side by side (their tap entries one after the other in `taps`), so that each
    /// weight broadcast feeds `NV` FMAs; each accumulator still gets its depth terms in order.
    #[target_feature(enable = "avx512f,fma")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn fwd512<const NV: usize, const CB: usize>(out: *mut f32, hw: usize, xb: *const f32, wt: *const f32, c_out: usize, c_in: usize, taps: &[(isize, u16)], k0: usize, k1: usize, store: [u16; 2], first: bool) {
        unsafe {
            let mut acc = [[_mm512_setzero_ps(); CB]; NV];
            let (mut k, mut wp) = (k0, wt);
            while k < k1 {
                let (t, ci0) = (k / c_in, k % c_in);
                let run = (c_in - ci0).min(k1 - k);
                let (mut xp, m) = chunk_taps::<NV>(taps, t, xb, (ci0 * hw) as isize);
                fma_steps512(&mut acc, &mut xp, &m, &mut wp, run, hw, c_out);
                k += run;
            }
            for v in 0..NV {
                for (j, a) in acc[v].iter().enumerate() {
                    let o = out.add(j * hw + v * 16);
                    let r = if first { *a } else { _mm512_add_ps(_mm512_maskz_loadu_ps(store[v], o), *a) };
                    _mm512_mask_storeu_ps(o, store[v], r);
                }
            }
        }
    }

    /// `NV` chunks side by side, as in `fwd512`.
    #[target_feature(enable = "avx512f,fma")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn bwd512<const NV: usize, const CB: usize>(out: *mut f32, hw: usize, xb: *const f32, wt: *const f32, c_out: usize, c_in: usize, taps: &[(isize, u16)], store: [u16; 2]) {
        unsafe {
            let mut sum = [[_mm512_setzero_ps(); CB]; NV];
            for t in 0..taps.len() / NV {
                let (mut xp, m) = chunk_taps::<NV>(taps, t, xb, 0);
                if m.iter().all(|&m| m == 0) {
                    continue; // no lane has this tap: col2im adds nothing
                }
                let mut tap = [[_mm512_setzero_ps(); CB]; NV];
                let mut wp = wt.add(t * c_in * c_out);
                fma_steps512(&mut tap, &mut xp, &m, &mut wp, c_in, hw, c_out);
                for v in 0..NV {
                    for j in 0..CB {
                        sum[v][j] = _mm512_mask_add_ps(sum[v][j], m[v], sum[v][j], tap[v][j]);
                    }
                }
            }
            for v in 0..NV {
                for (j, s) in sum[v].iter().enumerate() {
                    _mm512_mask_storeu_ps(out.add(j * hw + v * 16), store[v], *s);
                }
            }
        }
    }

    impl Isa for Avx512 {
        const LANES: usize = 16;
        const FWD_NV: usize = 2;
        const FWD_CB: usize = 12;
        const BWD_NV: usize = 2;
        const BWD_CB: usize = 7;
        unsafe fn fwd(nv: usize, cb: usize, out: *mut f32, hw: usize, xb: *const f32, wt: *const f32, c_out: usize, c_in: usize, taps: &[(isize, u16)], k0: usize, k1: usize, store: [u16; 2], first: bool) {
            unsafe {
                match nv {
                    1 => by_width!(cb, fwd512, 1; (out, hw, xb, wt, c_out, c_in, taps, k0, k1, store, first), [1 2 3 4 5 6 7 8 9 10 11 12]),
                    _ => by_width!(cb, fwd512, 2; (out, hw, xb, wt, c_out, c_in, taps, k0, k1, store, first), [1 2 3 4 5 6 7 8 9 10 11 12]),
                }
            }
        }
        unsafe fn bwd(nv: usize, cb: usize, out: *mut f32, hw: usize, xb: *const f32, wt: *const f32, c_out: usize, c_in: usize, taps: &[(isize, u16)], store: [u16; 2]) {
            unsafe {
                match nv {
                    1 => by_width!(cb, bwd512, 1; (out, hw, xb, wt, c_out, c_in, taps, store), [1 2 3 4 5 6 7]),
                    _ => by_width!(cb, bwd512, 2; (out, hw, xb, wt, c_out, c_in, taps, store), [1 2 3 4 5 6 7]),
                }
            }
        }
    }

    /// 8 lanes; 16 registers, so smaller channel blocks; lane masks as vectors for
    /// `maskload` / `maskstore` (which, like AVX-512's, never touch memory of masked lanes).
    struct Avx2;

    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn lanes8(m: u16) -> __m256i {
        let bits = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
        _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(m as i32), bits), bits)
    }

    /// `fma_steps512` with one 8-lane chunk.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    #[allow(clippy::too_many_arguments)]
    unsafe fn fma_steps256<const CB: usize>(acc: &mut [__m256; CB], mut xp: *const f32, m: __m256i, wp: &mut *const f32, steps: usize, hw: usize, c_out: usize) {
        unsafe {
            for _ in 0..steps {
                let v = _mm256_maskload_ps(xp, m);
                for (j, a) in acc.iter_mut().enumerate() {
                    *a = _mm256_fmadd_ps(_mm256_set1_ps(*wp.add(j)), v, *a);
                }
                xp = xp.wrapping_add(hw);
                *wp = wp.add(c_out);
            }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn fwd256<const CB: usize>(out: *mut f32, hw: usize, xb: *const f32, wt: *const f32, c_out: usize, c_in: usize, taps: &[(isize, u16)], k0: usize, k1: usize, store: [u16; 2], first: bool) {
        unsafe {
            let mut acc = [_mm256_setzero_ps(); CB];
            let (mut k, mut wp) = (k0, wt);
            while k < k1 {
                let (t, ci0) = (k / c_in, k % c_in);
                let run = (c_in - ci0).min(k1 - k);
                let (off, m) = taps[t];
                fma_steps256(&mut acc, xb.wrapping_offset(off + (ci0 * hw) as isize), lanes8(m), &mut wp, run, hw, c_out);
                k += run;
            }
            let store = lanes8(store[0]);
            for (j, a) in acc.iter().enumerate() {
                let o = out.add(j * hw);
                let v = if first { *a } else { _mm256_add_ps(_mm256_maskload_ps(o, store), *a) };
                _mm256_maskstore_ps(o, store, v);
            }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn bwd256<const CB: usize>(out: *mut f32, hw: usize, xb: *const f32, wt: *const f32, c_out: usize, c_in: usize, taps: &[(isize, u16)], store: [u16; 2]) {
        unsafe {
            let mut sum = [_mm256_setzero_ps(); CB];
            for (t, &(off, m)) in taps.iter().enumerate() {
                if m == 0 {
                    continue;
                }
                let mv = lanes8(m);
                let mut tap = [_mm256_setzero_ps(); CB];
                fma_steps256(&mut tap, xb.wrapping_offset(off), mv, &mut wt.add(t * c_in * c_out), c_in, hw, c_out);
                let keep = _mm256_castsi256_ps(mv);
                for j in 0..CB {
                    sum[j] = _mm256_blendv_ps(sum[j], _mm256_add_ps(sum[j], tap[j]), keep);
                }
            }
            let store = lanes8(store[0]);
            for (j, s) in sum.iter().enumerate() {
                _mm256_maskstore_ps(out.add(j * hw), store, *s);
            }
        }
    }

    impl Isa for Avx2 {
        const LANES: usize = 8;
        const FWD_NV: usize = 1;
        const FWD_CB: usize = 12;
        const BWD_NV: usize = 1;
        const BWD_CB: usize = 6;
        unsafe fn fwd(nv: usize, cb: usize, out: *mut f32, hw: usize, xb: *const f32, wt: *const f32, c_out: usize, c_in: usize, taps: &[(isize, u16)], k0: usize, k1: usize, store: [u16; 2], first: bool) {
            debug_assert_eq!(nv, 1);
            unsafe { by_width!(cb, fwd256, (out, hw, xb, wt, c_out, c_in, taps, k0, k1, store, first), [1 2 3 4 5 6 7 8 9 10 11 12]) }
        }
        unsafe fn bwd(nv: usize, cb: usize, out: *mut f32, hw: usize, xb: *const f32, wt: *const f32, c_out: usize, c_in: usize, taps: &[(isize, u16)], store: [u16; 2]) {
            debug_assert_eq!(nv, 1);
            unsafe { by_width!(cb, bwd256, (out, hw, xb, wt, c_out, c_in, taps, store), [1 2 3 4 5 6]) }
        }
    }

    /// For each chunk of `lanes` positions (`lanes * c ..`) and each tap: the offset of the
    /// chunk's input run and the lanes whose input position is inside the image (`sign` = +1:
    /// input = output + tap offset, forward; -1: input = output - tap offset). Once per call.
    /// `tap_masks`, kept per geometry (per thread): it depends on no data, and an attack runs the
    /// same few convolutions thousands of times.
    fn cached_tap_masks(g: &Same2d, lanes: usize, sign: isize) -> std::sync::Arc<Vec<(isize, u16)>> {
        use std::collections::HashMap;
        type Cache = HashMap<[usize; 8], std::sync::Arc<Vec<(isize, u16)>>>;
        std::thread_local! {
            static CACHE: core::cell::RefCell<Cache> = core::cell::RefCell::new(HashMap::new());
        }
        let key = [g.h, g.w, g.kh, g.kw, g.ph, g.pw, lanes, (sign > 0) as usize];
        CACHE.with(|c| {
            let mut c = c.borrow_mut();
            if c.len() > 64 {
                c.clear();
            }
            c.entry(key).or_insert_with(|| std::sync::Arc::new(tap_masks(g, lanes, sign))).clone()
        })
    }

    fn tap_masks(g: &Same2d, lanes: usize, sign: isize) -> Vec<(isize, u16)> {
        let (hw, h, w) = (g.hw(), g.h as isize, g.w as isize);
        let mut masks = Vec::with_capacity(hw.div_ceil(lanes) * g.taps());
        for p0 in (0..hw).step_by(lanes) {
            let n = (hw - p0).min(lanes);
            for kh in 0..g.kh {
                for kw in 0..g.kw {
                    let dy = sign * (kh as isize - g.ph as isize);
                    let dx = sign * (kw as isize - g.pw as isize);
                    let mut m = 0u16;
                    for l in 0..n {
                        let p = (p0 + l) as isize;
                        let (y, x) = (p / w + dy, p % w + dx);
                        if y >= 0 && y < h && x >= 0 && x < w {
                            m |= 1 << l;
                        }
                    }
                    masks.push((p0 as isize + dy * w + dx, m));
                }
            }
        }
        masks
    }

    /// `n` channels in blocks of at most `most`, as even as possible (16 in 8 + 8, not 12 + 4):
    /// (first channel, width) of each.
    fn blocks(n: usize, most: usize) -> impl Iterator<Item = (usize, usize)> {
        let count = n.div_ceil(most);
        (0..count).map(move |i| (i * n / count, (i + 1) * n / count - i * n / count))
    }

    fn lane_mask(n: usize) -> u16 {
        if n >= 16 { u16::MAX } else { (1u16 << n) - 1 }
    }

    /// The output of one batch item, shared by the tasks that write its disjoint position tiles.
    #[derive(Clone, Copy)]
    struct Out(*mut f32);
    // SAFETY: each task writes only the positions of its own tile (all channels), so no two
    // tasks write the same element, and the slice outlives the tasks.
    unsafe impl Send for Out {}
    unsafe impl Sync for Out {}

    /// Runs `f(b, t0, t1, out_b)` for every batch item `b` and tile `[t0, t1)` of `FORWARD_TILE`
    /// positions, in parallel (so that a batch of one still uses every thread). `out_b` points
    /// at item `b`'s output, `[c_out][hw]`.
    fn for_each_tile(g: &Same2d, out: *mut f32, f: impl Fn(usize, usize, usize, *mut f32) + Sync + Send) {
        let (hw, per) = (g.hw(), g.c_out * g.hw());
        let (tiles, base) = (hw.div_ceil(FORWARD_TILE), Out(out));
        let task = |i: usize| {
            let (b, t0) = (i / tiles, i % tiles * FORWARD_TILE);
            let base = base;
            f(b, t0, (t0 + FORWARD_TILE).min(hw), base.0.wrapping_add(b * per));
        };
        #[cfg(feature = "rayon")]
        {
            use rayon::prelude::*;
            (0..g.batch * tiles).into_par_iter().for_each(task);
        }
        #[cfg(not(feature = "rayon"))]
        (0..g.batch * tiles).for_each(task);
    }

    /// [`tap_major`] of `w`, kept per thread for the weights it was last asked for: an attack
    /// convolves by the same weights at every step. A hit needs the cached copy of the weights
    /// to equal `w` bit for bit (the pointer alone could be reused by other weights), and the
    /// cache is emptied once it holds more than `TAP_MAJOR_CACHE_FLOATS`.
    pub(super) fn cached_tap_major(g: &Same2d, w: &[f32], forward: bool) -> std::sync::Arc<Vec<f32>> {
        use std::collections::HashMap;
        use std::sync::Arc;
        type Cache = (usize, HashMap<(usize, usize, bool, usize, usize), (Vec<u32>, Arc<Vec<f32>>)>);
        const TAP_MAJOR_CACHE_FLOATS: usize = 16 << 20;
        std::thread_local! {
            static CACHE: core::cell::RefCell<Cache> = core::cell::RefCell::new((0, HashMap::new()));
        }
        let bits: &[u32] = bytemuck::cast_slice(w);
        let key = (w.as_ptr() as usize, w.len(), forward, g.c_in, g.taps());
        CACHE.with(|c| {
            let mut c = c.borrow_mut();
            if let Some((orig, packed)) = c.1.get(&key)
                && orig.as_slice() == bits
            {
                return packed.clone();
            }
            let packed = Arc::new(tap_major(g, w, forward));
            if c.0 + 2 * w.len() > TAP_MAJOR_CACHE_FLOATS {
                *c = (0, HashMap::new());
            }
            if let Some((old, _)) = c.1.insert(key, (bits.to_vec(), packed.clone())) {
                c.0 -= 2 * old.len();
            }
            c.0 += 2 * w.len();
            packed
        })
    }

    /// `w` rearranged to `[tap][c_in][c_out]`, from `[c_out][c_in][tap]` (`forward`) or
    /// `[c_in][c_out][tap]`.
    pub(super) fn tap_major(g: &Same2d, w: &[f32], forward: bool) -> Vec<f32> {
        let taps = g.taps();
        let mut wt = vec![0f32; taps * g.c_in * g.c_out];
        for ci in 0..g.c_in {
            for co in 0..g.c_out {
                let src = if forward { (co * g.c_in + ci) * taps } else { (ci * g.c_out + co) * taps };
                for t in 0..taps {
                    wt[(t * g.c_in + ci) * g.c_out + co] = w[src + t];
                }
            }
        }
        wt
    }

    /// # Safety
    /// AVX2 and FMA present; `x`, `w` sized for `g`, `out` valid for `batch * c_out * hw`
    /// writes (each element is written once).
    pub unsafe fn conv2d(g: &Same2d, x: &[f32], w: &[f32], out: *mut f32) {
        if avx512() { forward::<Avx512>(g, x, w, out) } else { forward::<Avx2>(g, x, w, out) }
    }

    /// # Safety
    /// As `conv2d`; `w` is `[c_in, c_out, kh, kw]`.
    pub unsafe fn conv_transpose2d(g: &Same2d, x: &[f32], w: &[f32], out: *mut f32) {
        if avx512() { gradient::<Avx512>(g, x, w, out) } else { gradient::<Avx2>(g, x, w, out) }
    }

    fn forward<I: Isa>(g: &Same2d, x: &[f32], w: &[f32], out: *mut f32) {
        let (hw, taps, l) = (g.hw(), g.taps(), I::LANES);
        let k = g.c_in * taps;
        // Depth order (tap, c_in): wt[k * c_out + co].
        let (wt, table) = (&*cached_tap_major(g, w, true), &*cached_tap_masks(g, l, 1));
        for_each_tile(g, out, |b, t0, t1, ob| {
            let xb = x[b * g.c_in * hw..].as_ptr();
            // The GEMM path's tiles, so the same depth blocks.
            let kc = gemm_kc(g.c_out, t1 - t0, k);
            // Tiles start at multiples of 512, so their chunks are the table's.
            let mut p0 = t0;
            while p0 < t1 {
                let nv = I::FWD_NV.min((t1 - p0).div_ceil(l));
                let masks = &table[p0 / l * taps..][..nv * taps];
                let store = [lane_mask((t1 - p0).min(l)), lane_mask((t1 - p0).saturating_sub(l).min(l))];
                for (co, cb) in blocks(g.c_out, I::FWD_CB) {
                    for k0 in (0..k).step_by(kc) {
                        let o = ob.wrapping_add(co * hw + p0);
                        let wp = wt[k0 * g.c_out + co..].as_ptr();
                        // SAFETY: the caller checked the instruction set; every load and store
                        // is masked to positions inside `x` and this tile of `out`.
                        unsafe { I::fwd(nv, cb, o, hw, xb, wp, g.c_out, g.c_in, masks, k0, (k0 + kc).min(k), store, k0 == 0) }
                    }
                }
                p0 += nv * l;
            }
        });
    }

    fn gradient<I: Isa>(g: &Same2d, x: &[f32], w: &[f32], out: *mut f32) {
        let (hw, taps, l) = (g.hw(), g.taps(), I::LANES);
        let (wt, table) = (&*cached_tap_major(g, w, false), &*cached_tap_masks(g, l, -1));
        // Each output element is computed on its own, so any tiling gives the same values.
        for_each_tile(g, out, |b, t0, t1, ob| {
            let xb = x[b * g.c_in * hw..].as_ptr();
            let mut p0 = t0;
            while p0 < t1 {
                let nv = I::BWD_NV.min((t1 - p0).div_ceil(l));
                let masks = &table[p0 / l * taps..][..nv * taps];
                let store = [lane_mask((t1 - p0).min(l)), lane_mask((t1 - p0).saturating_sub(l).min(l))];
                for (co, cb) in blocks(g.c_out, I::BWD_CB) {
                    // SAFETY: as in `forward`.
                    unsafe { I::bwd(nv, cb, ob.wrapping_add(co * hw + p0), hw, xb, wt[co..].as_ptr(), g.c_out, g.c_in, masks, store) }
                }
                p0 += nv * l;
            }
        });
    }
}

#[cfg(not(all(target_arch = "x86_64", feature = "std")))]
mod imp {
    use super::Same2d;
    pub fn cpu_ok() -> bool {
        false
    }
    pub unsafe fn conv2d(_: &Same2d, _: &[f32], _: &[f32], _: *mut f32) {
        unreachable!()
    }
    pub unsafe fn conv_transpose2d(_: &Same2d, _: &[f32], _: &[f32], _: *mut f32) {
        unreachable!()
    }
}


/// Check of the packed-weight cache for tests outside this crate (a patched dependency's own
/// tests cannot run from the workspace): the same buffer changed in place, here only in the sign
/// of a zero, which `==` on floats would not see, must be packed again. `Err` says what differed.
#[doc(hidden)]
pub fn check_weight_cache() -> Result<(), String> {
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    {
        let g = Same2d { batch: 1, c_in: 2, c_out: 3, h: 4, w: 4, kh: 3, kw: 3, ph: 1, pw: 1 };
        let mut w: Vec<f32> = (0..g.c_in * g.c_out * 9).map(|i| i as f32).collect();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for forward in [true, false] {
            for zero in [0.0f32, -0.0, 0.0] {
                w[0] = zero;
                let (cached, fresh) = (imp::cached_tap_major(&g, &w, forward), imp::tap_major(&g, &w, forward));
                if bits(&cached) != bits(&fresh) {
                    return Err(format!("forward {forward}, w[0] = {zero:?}: cached packing differs from a fresh one"));
                }
            }
        }
    }
    Ok(())
}
