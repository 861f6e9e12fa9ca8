//! The detector's feature extractor (`MapNet`, VGG-style: two conv-conv-pool stages and a conv,
//! global average pooling, a linear head for training) and the gradient-boosting head on its
//! pooled features. Seeded: the same samples and config give the same accuracy.
//!
//! Two boosting crates are fitted on the same features in every run, so their accuracies can be
//! compared without a second CNN: `perpetual` (maintained; one `budget` parameter instead of
//! trees / depth / shrinkage) and `gbdt` 0.1.3 (unmaintained since 2024). `booster` chooses the
//! one whose accuracy the tables report; `DetectorResult::boosters` keeps both.
use super::samples::Samples;
use advedge_models::tensor_io;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};
use gbdt::config::Config as GbdtConfig;
use gbdt::decision_tree::{Data, DataVec};
use gbdt::gradient_boost::GBDT;
use perpetual::objective::Objective;
use perpetual::{Matrix, PerpetualBooster};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorConfig {
    /// Common map resolution.
    pub side: usize,
    pub epochs: usize,
    pub batch: usize,
    pub lr: f64,
    /// Channels of the three conv stages.
    pub widths: [usize; 3],
    pub gbdt_trees: usize,
    pub gbdt_depth: u32,
    pub gbdt_shrinkage: f32,
    pub seed: u64,
    /// The head whose test accuracy is reported (`accuracy`); both are fitted.
    #[serde(default)]
    pub booster: Booster,
    /// perpetual's only capacity knob: larger fits harder (its authors suggest 0.5 to start).
    #[serde(default = "default_budget")]
    pub perpetual_budget: f32,
    /// Share of the training split's source images held out from the CNN: the boosting head is
    /// fitted on their features, which the CNN never trained on. 0 (the default) fits the head on
    /// the CNN's own training samples, whose features it has memorised (train accuracy 1.0).
    /// Not k-fold: CNNs trained on different folds have unrelated feature spaces, so one head
    /// cannot be fitted on their pooled out-of-fold features.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub booster_holdout: f64,
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

/// Mixed into the seed of the CNN / boosting-head split of the training samples.
const HOLDOUT_SEED: u64 = 0x686f_6c64;

fn default_budget() -> f32 {
    0.5
}

/// A gradient-boosting implementation for the head.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Booster {
    #[default]
    Gbdt,
    Perpetual,
}

impl Booster {
    pub const ALL: [Booster; 2] = [Booster::Gbdt, Booster::Perpetual];
    pub fn name(self) -> &'static str {
        match self {
            Booster::Gbdt => "gbdt",
            Booster::Perpetual => "perpetual",
        }
    }
}

/// One boosting head's accuracies on the shared CNN features.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BoosterScore {
    pub booster: Booster,
    pub accuracy: f64,
    pub train_accuracy: f64,
    pub seconds: f64,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            side: 32,
            epochs: 30,
            batch: 32,
            lr: 1e-3,
            widths: [16, 32, 64],
            gbdt_trees: 100,
            gbdt_depth: 4,
            gbdt_shrinkage: 0.1,
            seed: 0,
            booster: Booster::Gbdt,
            perpetual_budget: default_budget(),
            booster_holdout: 0.0,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DetectorResult {
    pub train_samples: usize,
    pub test_samples: usize,
    /// Test accuracy of the boosting head on the CNN features (the reported number).
    pub accuracy: f64,
    /// Test accuracy of the CNN's own linear head (for comparison).
    pub cnn_accuracy: f64,
    /// The reported head's accuracy on the samples it was fitted on.
    pub train_accuracy: f64,
    /// Every boosting head on the same features (absent in results made before the comparison).
    #[serde(default)]
    pub boosters: Vec<BoosterScore>,
    /// Per test sample, in the test split's order: its source image and whether the reported
    /// head got it right (for intervals clustered by source image).
    #[serde(default)]
    pub test_sources: Vec<usize>,
    #[serde(default)]
    pub test_correct: Vec<bool>,
}

#[derive(Module, Debug)]
pub struct MapNet {
    c1: Conv2d,
    c2: Conv2d,
    c3: Conv2d,
    c4: Conv2d,
    c5: Conv2d,
    pool: MaxPool2d,
    head: Linear,
}

fn conv(i: usize, o: usize, d: &Device) -> Conv2d {
    Conv2dConfig::new([i, o], [3, 3]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)).init(d)
}

impl MapNet {
    pub fn new(channels: usize, w: [usize; 3], d: &Device) -> Self {
        Self {
            c1: conv(channels, w[0], d),
            c2: conv(w[0], w[0], d),
            c3: conv(w[0], w[1], d),
            c4: conv(w[1], w[1], d),
            c5: conv(w[1], w[2], d),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            head: LinearConfig::new(w[2], 2).init(d),
        }
    }
    /// Pooled features [B, widths[2]].
    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        let h = self.pool.forward(relu(self.c2.forward(relu(self.c1.forward(x)))));
        let h = self.pool.forward(relu(self.c4.forward(relu(self.c3.forward(h)))));
        let h = relu(self.c5.forward(h));
        h.mean_dim(3).mean_dim(2).flatten::<2>(1, 3)
    }
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.head.forward(self.features(x))
    }
}

fn batch(s: &Samples, idx: &[usize], d: &Device) -> Tensor<4> {
    let n = s.sample_len();
    let v: Vec<f32> = idx.iter().flat_map(|&i| s.data[i * n..(i + 1) * n].iter().copied()).collect();
    Tensor::from_data(TensorData::new(v, [idx.len(), s.channels, s.side, s.side]), d)
}

fn feats_and_preds(net: &MapNet, s: &Samples, d: &Device) -> (Vec<Vec<f32>>, Vec<u8>) {
    let (mut f, mut p) = (vec![], vec![]);
    let idx: Vec<usize> = (0..s.len()).collect();
    for chunk in idx.chunks(256) {
        let fe = net.features(batch(s, chunk, d));
        let k = fe.dims()[1];
        let logits = net.head.forward(fe.clone());
        let fv = tensor_io::to_vec(fe);
        f.extend(fv.chunks(k).map(|c| c.to_vec()));
        p.extend(tensor_io::to_vec_int(logits.argmax(1).flatten::<1>(0, 1)).into_iter().map(|v| v as u8));
    }
    (f, p)
}

fn accuracy(pred: &[u8], labels: &[u8]) -> f64 {
    pred.iter().zip(labels).filter(|(a, b)| a == b).count() as f64 / labels.len().max(1) as f64
}

/// Train `MapNet` on `train` (Adam, cross-entropy, shuffled mini-batches), then fit boosting on
/// its features and evaluate both heads on `test`.
pub fn run(train: &Samples, test: &Samples, cfg: &DetectorConfig, device: &Device) -> Result<DetectorResult, crate::CountermeasureError> {
    if train.is_empty() || test.is_empty() {
        return Err(crate::CountermeasureError::EmptySplit { train: train.len(), test: test.len() });
    }
    // The CNN's and the boosting head's training samples (the same unless some are held out).
    let train_samples = train.len();
    let parts;
    let (train, boost) = if cfg.booster_holdout > 0.0 {
        parts = train.split(1.0 - cfg.booster_holdout, cfg.seed ^ HOLDOUT_SEED);
        if parts.0.is_empty() || parts.1.is_empty() {
            return Err(crate::CountermeasureError::EmptySplit { train: parts.0.len(), test: parts.1.len() });
        }
        (&parts.0, &parts.1)
    } else {
        (train, train)
    };
    let ad = device.clone().autodiff();
    ad.seed(cfg.seed);
    let mut net = MapNet::new(train.channels, cfg.widths, &ad);
    let mut opt = AdamConfig::new().init();
    let ce = CrossEntropyLossConfig::new().init(&ad);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut order: Vec<usize> = (0..train.len()).collect();
    for _ in 0..cfg.epochs {
        order.shuffle(&mut rng);
        for chunk in order.chunks(cfg.batch) {
            let x = batch(train, chunk, &ad);
            let y = tensor_io::labels(&chunk.iter().map(|&i| train.labels[i] as u32).collect::<Vec<_>>(), &ad);
            let loss = ce.forward(net.forward(x), y);
            let g = GradientsParams::from_grads(loss.backward(), &net);
            net = opt.step(cfg.lr, net, g);
        }
    }
    let net = net.valid();
    let (ftr, _) = feats_and_preds(&net, boost, device);
    let (fte, pte) = feats_and_preds(&net, test, device);
    let pred = |p: &[f64]| p.iter().map(|&p| (p >= 0.5) as u8).collect::<Vec<u8>>();
    let mut boosters = Vec::new();
    let mut test_correct = Vec::new();
    for b in Booster::ALL {
        let t = std::time::Instant::now();
        let (prob_te, prob_tr) = fit_predict(b, &ftr, &boost.labels, &fte, cfg)?;
        let (pte_b, ptr_b) = (pred(&prob_te), pred(&prob_tr));
        if b == cfg.booster {
            test_correct = pte_b.iter().zip(&test.labels).map(|(a, b)| a == b).collect();
        }
        boosters.push(BoosterScore { booster: b, accuracy: accuracy(&pte_b, &test.labels), train_accuracy: accuracy(&ptr_b, &boost.labels), seconds: t.elapsed().as_secs_f64() });
    }
    let chosen = boosters.iter().find(|s| s.booster == cfg.booster).expect("every booster is scored").clone();
    Ok(DetectorResult {
        train_samples,
        test_samples: test.len(),
        accuracy: chosen.accuracy,
        cnn_accuracy: accuracy(&pte, &test.labels),
        train_accuracy: chosen.train_accuracy,
        boosters,
        test_sources: test.sources.clone(),
        test_correct,
    })
}

/// Fit `booster` on (train features, labels) and return P(adversarial) on the test and the train
/// features.
fn fit_predict(booster: Booster, ftr: &[Vec<f32>], labels: &[u8], fte: &[Vec<f32>], cfg: &DetectorConfig) -> Result<(Vec<f64>, Vec<f64>), crate::CountermeasureError> {
    match booster {
        Booster::Gbdt => {
            let mut gc = GbdtConfig::new();
            gc.set_feature_size(ftr[0].len());
            gc.set_max_depth(cfg.gbdt_depth);
            gc.set_iterations(cfg.gbdt_trees);
            gc.set_shrinkage(cfg.gbdt_shrinkage);
            gc.set_loss("LogLikelyhood");
            // Sampling ratios stay at 1.0: the crate draws from an unseeded thread RNG otherwise.
            let mut gb = GBDT::new(&gc);
            // gbdt wants labels in {-1, 1}; the label argument of prediction data is unused.
            let to_data = |f: &[Vec<f32>], l: Option<&[u8]>| -> DataVec {
                f.iter().enumerate().map(|(i, x)| Data::new_training_data(x.clone(), 1.0, if l.is_some_and(|l| l[i] == 1) { 1.0 } else { -1.0 }, None)).collect()
            };
            gb.fit(&mut to_data(ftr, Some(labels)));
            let p = |f: &[Vec<f32>]| gb.predict(&to_data(f, None)).into_iter().map(f64::from).collect();
            Ok((p(fte), p(ftr)))
        }
        Booster::Perpetual => {
            // perpetual's Matrix is column-major.
            let col_major = |f: &[Vec<f32>]| -> Vec<f64> { (0..f[0].len()).flat_map(|j| f.iter().map(move |row| row[j] as f64)).collect() };
            let (xtr, xte) = (col_major(ftr), col_major(fte));
            let y: Vec<f64> = labels.iter().map(|&l| l as f64).collect();
            // One thread and a fixed seed: the same features give the same trees.
            let mut m = PerpetualBooster::default()
                .set_objective(Objective::LogLoss)
                .set_budget(cfg.perpetual_budget)
                .set_num_threads(Some(1))
                .set_seed(cfg.seed);
            let k = ftr[0].len();
            m.fit(&Matrix::new(&xtr, ftr.len(), k), &y, None, None).map_err(|e| crate::CountermeasureError::Boosting { booster: "perpetual", message: e.to_string() })?;
            Ok((m.predict_proba(&Matrix::new(&xte, fte.len(), k), false, false), m.predict_proba(&Matrix::new(&xtr, ftr.len(), k), false, false)))
        }
    }
}
