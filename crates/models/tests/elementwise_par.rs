//! The patched CPU backend's element-wise loops split over the rayon pool (patches/burn-flex,
//! `ops::elementwise_par` and the zip nests) against the same loops on one thread, bit for bit,
//! and against plain Rust loops. The tensors are above the split threshold (64K elements) with
//! an outer size that does not divide evenly, and cover each path: unary and scalar ops in place
//! and allocating (a shared operand), same-shape binary ops in place (both orientations) and
//! allocating, broadcast binary ops written into either operand or into a new buffer, and a
//! broadcast comparison.
use burn::tensor::{Device, Tensor, TensorData};

const SHAPE: [usize; 4] = [7, 13, 31, 29]; // 81,809 elements

fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn bits<const D: usize>(t: Tensor<D>) -> Vec<u32> {
    t.into_data().try_to_vec::<f32>().unwrap().iter().map(|v| v.to_bits()).collect()
}

fn t4(v: &[f32], shape: [usize; 4]) -> Tensor<4> {
    Tensor::from_data(TensorData::new(v.to_vec(), shape), &Device::flex())
}

/// Every path's result, as bits.
fn all_ops(x: &[f32], y: &[f32], b: &[f32]) -> Vec<Vec<u32>> {
    let x4 = || t4(x, SHAPE);
    let y4 = || t4(y, SHAPE);
    let b4 = || t4(b, [1, SHAPE[1], 1, 1]);
    let mut out = Vec::new();
    // Unary: in place (unique) and allocating (shared).
    out.push(bits(burn::tensor::activation::relu(x4())));
    let shared = x4();
    out.push(bits(shared.clone().exp()));
    drop(shared);
    // Scalar: in place and allocating.
    out.push(bits(x4().mul_scalar(0.37)));
    let shared = x4();
    out.push(bits(shared.clone().add_scalar(-0.11)));
    drop(shared);
    // Same-shape binary: into lhs, into rhs (lhs shared), allocating (both shared).
    out.push(bits(x4() * y4()));
    let shared = x4();
    out.push(bits(shared.clone() - y4()));
    out.push(bits(shared.clone().div(y4().add_scalar(2.0))));
    let shared_y = y4();
    out.push(bits(shared.clone() + shared_y.clone()));
    drop((shared, shared_y));
    // Broadcast binary: into the dense lhs, into the dense rhs, and allocating.
    out.push(bits(x4() + b4()));
    out.push(bits(b4() - x4()));
    let shared = x4();
    out.push(bits(shared.clone() * b4()));
    drop(shared);
    // A broadcast over a permuted view (strided nest) and a broadcast comparison.
    out.push(bits(x4().swap_dims(1, 2) * t4(b, [1, 1, SHAPE[1], 1])));
    let mask = x4().greater(b4());
    out.push(bits(x4().mask_fill(mask, 0.5)));
    out
}

#[test]
fn split_loops_equal_one_thread_and_plain_rust() {
    let n: usize = SHAPE.iter().product();
    let (x, y, b) = (values(n, 1), values(n, 2), values(SHAPE[1], 3));
    let on = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| all_ops(&x, &y, &b))
    };
    let one = on(1);
    let three = on(3);
    for (i, (a, c)) in one.iter().zip(&three).enumerate() {
        assert_eq!(a.len(), c.len(), "op {i}: lengths");
        assert!(a == c, "op {i}: 3 threads differ from 1");
    }
    // Independent checks of a few paths with plain loops (index = ((n*C + c)*H + h)*W + w).
    let hw = SHAPE[2] * SHAPE[3];
    let chan = |i: usize| (i / hw) % SHAPE[1];
    let want = |f: &dyn Fn(usize) -> f32| (0..n).map(|i| f(i).to_bits()).collect::<Vec<_>>();
    assert!(three[0] == want(&|i| x[i].max(0.0)), "relu");
    assert!(three[4] == want(&|i| x[i] * y[i]), "x * y");
    assert!(three[5] == want(&|i| x[i] - y[i]), "x - y");
    assert!(three[8] == want(&|i| x[i] + b[chan(i)]), "x + b");
    assert!(three[9] == want(&|i| b[chan(i)] - x[i]), "b - x");
    assert!(three[10] == want(&|i| x[i] * b[chan(i)]), "x * b");
    assert!(three[12] == want(&|i| if x[i] > b[chan(i)] { 0.5 } else { x[i] }), "mask_fill");
}
