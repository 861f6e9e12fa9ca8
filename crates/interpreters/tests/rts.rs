//! RTS saliency network: shapes, value range, pixel-shuffle semantics (torch's channel order).
use advedge_models::{tensor_io, ArchConfig};
use burn::tensor::{Device, Distribution, Tensor, TensorData};

#[test]
fn rts_network_shapes_and_range() {
    use advedge_interpreters::rts::{pixel_shuffle2, RtsNet};
    let dev = Device::flex();
    // pixel shuffle: channel 4c+2i+j of the input lands at (2h+i, 2w+j)
    let x = Tensor::<4>::from_data(TensorData::new((0..4).map(|v| v as f32).collect::<Vec<_>>(), [1, 4, 1, 1]), &dev);
    assert_eq!(tensor_io::to_vec(pixel_shuffle2(x)), vec![0.0, 1.0, 2.0, 3.0]);
    for arch in [ArchConfig::Resnet { depth: 8, width: 4, num_classes: 10 }, ArchConfig::Densenet { depth: 10, growth: 4, num_classes: 10 }] {
        let m = arch.init(&dev);
        let f = m.features(Tensor::<4>::random([2, 3, 32, 32], Distribution::Uniform(0.0, 1.0), &dev));
        let n = f.scales.len();
        let ch = vec![f.last.dims()[1], f.scales[n - 2].dims()[1], f.scales[n - 3].dims()[1]];
        let net = RtsNet::new(10, &ch, &[16, 8], &dev);
        let (mask, exists) = net.forward(&f, tensor_io::labels(&[3, 4], &dev), 5.0);
        assert_eq!(mask.dims(), [2, 1, 32, 32]);
        assert_eq!(exists.dims(), [2, 2]);
        assert!(tensor_io::to_vec(mask).iter().all(|v| (0.0..=1.0).contains(v)));
    }
}
