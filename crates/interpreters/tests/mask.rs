//! MASK building blocks against closed forms (torch / cv2 semantics), and a batched smoke run.
use advedge_interpreters::mask::*;
use advedge_models::{tensor_io, ArchConfig};
use burn::module::Module;
use burn::tensor::{Device, Distribution, Tensor, TensorData};

#[test]
fn gaussian_kernel_is_normalised_symmetric_and_uses_the_cv2_default_sigma() {
    let k = gaussian_kernel(5, 1.5);
    assert!((k.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    assert!((k[0] - k[4]).abs() < 1e-15 && (k[1] - k[3]).abs() < 1e-15);
    // sigma <= 0 -> 0.3((21-1)/2 - 1) + 0.8 = 3.5 (spec 2.4)
    let d = gaussian_kernel(21, 0.0);
    let e = gaussian_kernel(21, 3.5);
    assert!(d.iter().zip(&e).all(|(a, b)| (a - b).abs() < 1e-15));
}

#[test]
fn upsampling_matches_torch_align_corners_false() {
    // torch.nn.functional.interpolate(tensor([[[[0., 1.]]]]), size=(1, 4), mode='bilinear',
    // align_corners=False) along the width gives [0, 0.25, 0.75, 1]
    let u = upsample_matrix(4, 2);
    let v: Vec<f64> = (0..4).map(|o| u[o * 2 + 1]).collect();
    assert_eq!(v, vec![0.0, 0.25, 0.75, 1.0]);
    let dev = Device::flex();
    let m = Tensor::<4>::from_data(TensorData::new(vec![0.0f32, 1.0, 0.0, 1.0], [1, 1, 2, 2]), &dev);
    let up = tensor_io::to_vec(upsample(m, 4));
    assert_eq!(&up[0..4], &[0.0, 0.25, 0.75, 1.0]);
}

#[test]
fn blur_matrix_reflects_without_repeating_the_edge() {
    // reflect-101: index -1 -> 1, so row 0 of a 3-tap blur is w0*x1 + w1*x0 + w2*x1
    let b = blur_matrix(4, 3, 1.0);
    let w = gaussian_kernel(3, 1.0);
    assert!((b[0] - w[1]).abs() < 1e-15 && (b[1] - (w[0] + w[2])).abs() < 1e-15);
    assert!((0..4).all(|i| ((0..4).map(|j| b[i * 4 + j]).sum::<f64>() - 1.0).abs() < 1e-12));
}

#[test]
fn tv_uses_the_transposed_pairing() {
    let vals: Vec<f32> = vec![0.0, 0.3, 0.9, 0.2, 0.5, 0.1, 0.7, 0.4, 0.8];
    let m = |r: usize, c: usize| vals[r * 3 + c] as f64;
    let mut want = 0.0;
    for a in 0..2 {
        for b in 0..3 {
            let dh = m(b, a + 1) - m(b, a);
            let dv = m(a + 1, b) - m(a, b);
            want += (dh * dh + dv * dv + 1e-8).powf(1.5);
        }
    }
    let got = tensor_io::to_vec(tv(Tensor::<4>::from_data(TensorData::new(vals, [1, 1, 3, 3]), &Device::flex()), 3.0))[0] as f64;
    assert!((got - want).abs() < 1e-6, "{got} vs {want}");
}

#[test]
fn batched_mask_optimisation_runs_and_stays_in_range() {
    let ad = Device::flex().autodiff();
    ad.seed(2);
    let m = ArchConfig::Resnet { depth: 8, width: 4, num_classes: 10 }.init(&ad);
    let _ = m.forward(Tensor::<4>::random([8, 3, 32, 32], Distribution::Uniform(0.0, 1.0), &ad));
    let m = m.valid();
    let dev = Device::flex();
    let x = Tensor::<4>::random([3, 3, 32, 32], Distribution::Uniform(0.0, 1.0), &dev);
    let cfg = MaskConfig { iters: 5, ..MaskConfig::v1_cifar() };
    let masks = tensor_io::to_vec(optimise(&m, x, tensor_io::labels(&[1, 2, 3], &dev), &cfg));
    assert_eq!(masks.len(), 3 * 64);
    assert!(masks.iter().all(|v| (0.0..=1.0).contains(v)));
    assert!(masks.iter().any(|v| (*v - 0.5).abs() > 1e-3), "Adam must move the mask");
    let x2 = Tensor::<4>::random([3, 3, 32, 32], Distribution::Uniform(0.0, 1.0), &dev);
    let v2 = MaskConfig { iters: 5, ..MaskConfig::v2_cifar() };
    let a = tensor_io::to_vec(optimise(&m, x2.clone(), tensor_io::labels(&[1, 2, 3], &dev), &v2));
    let b = tensor_io::to_vec(optimise(&m, x2, tensor_io::labels(&[1, 2, 3], &dev), &v2));
    assert_eq!(a, b, "v2's jitter is seeded");
    assert!(a.iter().all(|v| (0.0..=1.0).contains(v)));
}

#[test]
fn resize_keeps_constant_images_constant() {
    let dev = Device::flex();
    let x = Tensor::<4>::ones([1, 3, 32, 32], &dev) * 0.25;
    let r = tensor_io::to_vec(resize(x, 33));
    assert_eq!(r.len(), 3 * 33 * 33);
    assert!(r.iter().all(|v| (v - 0.25).abs() < 1e-6));
}


#[test]
fn explicit_mask_gradient_matches_autodiff() {
    use burn::tensor::Int;
    let dev = Device::flex();
    let ad = dev.clone().autodiff();
    ad.seed(11);
    let m0 = ArchConfig::Resnet { depth: 8, width: 4, num_classes: 10 }.init(&ad);
    let _ = m0.forward(Tensor::<4>::random([4, 3, 32, 32], Distribution::Uniform(0.0, 1.0), &ad));
    let model = m0.valid();
    let cfg = MaskConfig::v1_cifar();
    let x = Tensor::<4>::random([2, 3, 32, 32], Distribution::Uniform(0.0, 1.0), &dev);
    let m = Tensor::<4>::random([2, 1, 8, 8], Distribution::Uniform(0.1, 0.9), &dev);
    let c = Tensor::<1, Int>::from_data(TensorData::new(vec![3i64, 7], [2]), &dev);
    // Reference: autodiff of the objective with respect to m.
    let mad = model.clone().to_device(&ad).freeze();
    let mt = m.clone().autodiff().require_grad();
    let xa = x.clone().autodiff();
    let xb = blur(xa.clone(), cfg.blur_ksize, cfg.blur_sigma);
    let loss = objective(&mad, mt.clone(), xa, xb, c.clone().to_device(&ad), &cfg).sum();
    let want = tensor_io::to_vec(mt.grad(&loss.backward()).unwrap());
    let reg = regulariser_grad(m.clone(), &cfg);
    let (got, _) = mask_grad_explicit(&model, m.clone(), x.clone(), c.clone(), &cfg, reg.clone(), (0, 0));
    let got = tensor_io::to_vec(got);
    let scale = want.iter().fold(0f32, |a, v| a.max(v.abs()));
    let err = want.iter().zip(&got).fold(0f32, |a, (p, q)| a.max((p - q).abs()));
    assert!(scale > 1e-6 && err <= 1e-4 * scale, "v1 explicit vs autodiff: err {err}, scale {scale}");
    // v2: resized, jittered, blurred mask; same check at a non-zero jitter.
    let cfg2 = MaskConfig::v2_cifar();
    let mt = m.clone().autodiff().require_grad();
    let (xc, xbc) = mask_views(x.clone().autodiff(), &cfg2, (1, 0));
    let loss = objective(&mad, mt.clone(), xc, xbc, c.clone().to_device(&ad), &cfg2).sum();
    let want = tensor_io::to_vec(mt.grad(&loss.backward()).unwrap());
    let reg2 = regulariser_grad(m.clone(), &cfg2);
    let got = tensor_io::to_vec(mask_grad_explicit(&model, m.clone(), x.clone(), c.clone(), &cfg2, reg2, (1, 0)).0);
    let scale = want.iter().fold(0f32, |a, v| a.max(v.abs()));
    let err = want.iter().zip(&got).fold(0f32, |a, (p, q)| a.max((p - q).abs()));
    assert!(scale > 1e-6 && err <= 1e-4 * scale, "v2 explicit vs autodiff: err {err}, scale {scale}");
}
