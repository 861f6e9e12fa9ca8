//! The CPU backend's convolution and its input gradient (`conv_transpose2d`) against a direct f64
//! sum, on the paths the patched burn-flex (patches/burn-flex) changed: the im2col path at
//! channel counts with a fixed-size copy (3, 16, 32, 64) and without (5, 12), stride 1 and 2,
//! padding 0 and 1, batch 1 and several, and tiles of 512 output positions (a 24x24 output
//! has two, the second partial). The reference is the definition of the operations:
//! conv: y[b,o,i,j] = sum_{c,u,v} w[o,c,u,v] x[b,c,i*s+u-p, j*s+v-p];
//! conv_transpose (input gradient of that conv): x̃[b,c,h,w] = sum_{o,u,v} w[o,c,u,v] g[b,o,i,j]
//! over every (i,j,u,v) with i*s+u-p = h and j*s+v-p = w.
use advedge_models::tensor_io;
use burn::tensor::module::{conv2d, conv_transpose2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Device, Tensor, TensorData};

fn values(n: usize, seed: u64) -> Vec<f32> {
    // A small LCG: deterministic inputs in [-1, 1) without a dependency.
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

struct Case {
    b: usize,
    c: usize,
    o: usize,
    hw: usize,
    k: usize,
    s: usize,
    p: usize,
}

fn check(case: &Case) {
    let Case { b, c, o, hw, k, s, p } = *case;
    let dev = Device::flex();
    let x = values(b * c * hw * hw, 1);
    let w = values(o * c * k * k, 2);
    let out = (hw + 2 * p - k) / s + 1;
    let xt = Tensor::<4>::from_data(TensorData::new(x.clone(), [b, c, hw, hw]), &dev);
    let wt = Tensor::<4>::from_data(TensorData::new(w.clone(), [o, c, k, k]), &dev);
    let y = tensor_io::to_vec(conv2d(xt, wt.clone(), None, ConvOptions::new([s, s], [p, p], [1, 1], 1)));
    let g = values(b * o * out * out, 3);
    let gt = Tensor::<4>::from_data(TensorData::new(g.clone(), [b, o, out, out]), &dev);
    // padding_out makes the transposed output the conv's input size again (stride 2 drops a row).
    let pad_out = hw + 2 * p - k - (out - 1) * s;
    let xg = conv_transpose2d(gt, wt, None, ConvTransposeOptions::new([s, s], [p, p], [pad_out, pad_out], [1, 1], 1));
    assert_eq!(xg.dims(), [b, c, hw, hw]);
    let xg = tensor_io::to_vec(xg);
    let mut y_ref = vec![0f64; b * o * out * out];
    let mut xg_ref = vec![0f64; b * c * hw * hw];
    for bi in 0..b {
        for oi in 0..o {
            for i in 0..out {
                for j in 0..out {
                    let yi = ((bi * o + oi) * out + i) * out + j;
                    for ci in 0..c {
                        for u in 0..k {
                            for v in 0..k {
                                let (h, ww) = ((i * s + u) as isize - p as isize, (j * s + v) as isize - p as isize);
                                if h < 0 || ww < 0 || h >= hw as isize || ww >= hw as isize {
                                    continue;
                                }
                                let xi = ((bi * c + ci) * hw + h as usize) * hw + ww as usize;
                                let wv = w[((oi * c + ci) * k + u) * k + v] as f64;
                                y_ref[yi] += wv * x[xi] as f64;
                                xg_ref[xi] += wv * g[yi] as f64;
                            }
                        }
                    }
                }
            }
        }
    }
    // f32 sums of up to c*k*k products of values below 1: 1e-4 relative to the term count.
    let tol = 1e-5 * (c * k * k) as f64;
    for (name, got, want) in [("conv2d", &y, &y_ref), ("conv_transpose2d", &xg, &xg_ref)] {
        let worst = got.iter().zip(want.iter()).map(|(a, b)| (*a as f64 - b).abs()).fold(0.0, f64::max);
        assert!(worst < tol, "{name} b={b} c={c} o={o} {hw}x{hw} k={k} s={s} p={p}: max error {worst} > {tol}");
    }
}

#[test]
fn convolutions_match_the_direct_sum() {
    for case in [
        Case { b: 1, c: 3, o: 16, hw: 32, k: 3, s: 1, p: 1 },
        Case { b: 3, c: 16, o: 16, hw: 24, k: 3, s: 1, p: 1 },
        Case { b: 2, c: 16, o: 32, hw: 16, k: 3, s: 2, p: 1 },
        Case { b: 2, c: 32, o: 32, hw: 8, k: 3, s: 1, p: 1 },
        Case { b: 2, c: 64, o: 8, hw: 6, k: 3, s: 1, p: 1 },
        Case { b: 2, c: 5, o: 7, hw: 9, k: 3, s: 2, p: 0 },
        Case { b: 1, c: 12, o: 6, hw: 7, k: 5, s: 1, p: 2 },
    ] {
        check(&case);
    }
}
