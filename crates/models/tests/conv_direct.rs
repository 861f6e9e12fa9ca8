//! The patched CPU backend's direct convolution kernels (patches/burn-flex, `ops::conv_fma`)
//! against the GEMM paths they replace, bit for bit: each case runs once with the kernels off
//! and once on, through burn's public `conv2d` / `conv_transpose2d`. The shapes cover one and
//! several depth blocks under both of gemm's `kc` rules (`k.min(512)` for small products,
//! `kernel_params` otherwise), partial tiles and 16-lane chunks that cross rows, 1x1 and 5x5
//! kernels, the tiled col2im (columns over 8 MB), inputs with exact zeros (as after a ReLU),
//! and shapes that must keep the GEMM path. Each case also checks which path it took, and runs
//! the kernels with the CPU's widest lanes (16 with AVX-512) and with 8 (AVX2).
use burn::tensor::module::{conv2d, conv_transpose2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Device, Tensor, TensorData};
use burn_flex::ops::conv_fma;

/// Values in [-1, 1) from a 64-bit LCG, a fifth of them exactly zero.
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            if (s >> 20) % 5 == 0 { 0.0 } else { ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0 }
        })
        .collect()
}

fn bits(t: Tensor<4>) -> Vec<u32> {
    t.into_data().try_to_vec::<f32>().unwrap().iter().map(|v| v.to_bits()).collect()
}

static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// `f` with the direct kernels off, then with the widest lanes this CPU has, then with 8 lanes:
/// the three results and the number of direct calls of the last two runs.
fn all_paths(f: impl Fn() -> Vec<u32>) -> (Vec<u32>, [Vec<u32>; 2], usize) {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    conv_fma::set_enabled(false);
    let reference = f();
    conv_fma::set_enabled(true);
    let before = conv_fma::direct_calls();
    let widest = f();
    conv_fma::set_eight_lanes(true);
    let eight = f();
    conv_fma::set_eight_lanes(false);
    (reference, [widest, eight], conv_fma::direct_calls() - before)
}

fn tensor(v: &[f32], shape: [usize; 4]) -> Tensor<4> {
    Tensor::from_data(TensorData::new(v.to_vec(), shape), &Device::flex())
}

/// (batch, c_in, c_out, h, w, kernel, whether the direct kernel applies)
type Case = (usize, usize, usize, usize, usize, usize, bool);

fn run(cases: &[Case], gradient: bool) {
    let _ = Device::flex();
    conv_fma::set_enabled(true);
    let available = conv_fma::active();
    if !available {
        eprintln!("no AVX2 + FMA on this CPU (or ADVEDGE_DIRECT_CONV=0): only the GEMM path is compared");
    }
    for &(b, ci, co, h, w, k, expect) in cases {
        let x = values(b * ci * h * w, 1 + k as u64);
        let wt = values(ci * co * k * k, 2);
        let bias = values(co, 3);
        let (reference, direct, calls) = all_paths(|| {
            let x = tensor(&x, [b, ci, h, w]);
            if gradient {
                let o = ConvTransposeOptions::new([1, 1], [k / 2, k / 2], [0, 0], [1, 1], 1);
                bits(conv_transpose2d(x, tensor(&wt, [ci, co, k, k]), None, o))
            } else {
                let o = ConvOptions::new([1, 1], [k / 2, k / 2], [1, 1], 1);
                let bias = Tensor::from_data(TensorData::new(bias.clone(), [co]), &Device::flex());
                bits(conv2d(x, tensor(&wt, [co, ci, k, k]), Some(bias), o))
            }
        });
        let case = (b, ci, co, h, w, k);
        assert_eq!(calls > 0, expect && available, "direct kernel use for {case:?} (gradient: {gradient})");
        for (lanes, direct) in ["widest", "8"].iter().zip(&direct) {
            let differ = reference.iter().zip(direct).filter(|(a, b)| a != b).count();
            assert!(reference.len() == direct.len() && differ == 0, "{lanes} lanes: {differ} of {} values differ for {case:?} (gradient: {gradient})", reference.len());
        }
    }
}

#[test]
fn forward_equals_gemm_path_bit_for_bit() {
    run(
        &[
            (2, 16, 16, 32, 32, 3, true),   // two full tiles of 512 positions, one depth block
            (2, 32, 32, 16, 16, 3, true),
            (3, 64, 64, 8, 8, 3, true),     // m, n <= 64: kc = 512, blocks 512 + 64
            (2, 64, 64, 16, 16, 3, true),   // kernel_params: two equal blocks
            (2, 128, 128, 16, 16, 3, true), // more output channels than one register block
            (2, 200, 24, 8, 8, 3, true),    // four depth blocks
            (2, 20, 13, 30, 30, 5, true),   // 5x5, a partial tile, chunks across rows
            (1, 7, 17, 9, 11, 3, true),
            (2, 16, 8, 4, 4, 3, false),     // m * n <= 256: gemm's horizontal kernels
        ],
        false,
    );
}

#[test]
fn gradient_equals_gemm_path_bit_for_bit() {
    run(
        &[
            (2, 16, 16, 32, 32, 3, true),
            (2, 32, 32, 16, 16, 3, true),
            (3, 64, 64, 8, 8, 3, true),
            (2, 12, 100, 8, 8, 1, true), // 1x1
            (2, 200, 24, 8, 8, 3, true),
            (2, 20, 13, 30, 30, 5, true),
            (1, 64, 64, 64, 64, 3, true), // columns over 8 MB: the tiled col2im
            (2, 600, 8, 4, 4, 3, false),  // over 512 channels: several depth blocks
            (2, 2, 8, 8, 8, 3, false),    // depth 2: gemm's gevv
        ],
        true,
    );
}

/// The kernels keep each weight tensor's repacked copy per thread; a buffer changed in place
/// (even only a zero's sign) must not be served from that cache.
#[test]
fn weight_cache_checks_the_bits() {
    conv_fma::check_weight_cache().unwrap();
}
