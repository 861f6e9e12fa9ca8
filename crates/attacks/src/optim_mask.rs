//! C&W × MASK and StAdv × MASK (spec 6, 7): the bi-level loop of `pgd_mask` in the optimiser
//! frameworks. MASK v2 maps; phase 1 on the edge view (C&W: L2 + 1e-4·Σf; StAdv: Σ max(μ, −5)
//! + τ·L_flow); phase 2 for K₂ outer iterations: a refresh every `refresh_every` (v2 MASK on the
//! current unquantised image, success on its logits, the quantised image stored), 4 inner mask
//! steps without and 4 with graph (custom Adam, lr 0.01), then one AMSGrad step (lr 0.005) on
//! w or F of 500·ℓ_int + Σ max(μ, −5) + L2 (C&W) or + 0.004·Σ L_flow (StAdv). No step search.
//! Output: the stored best.
use crate::interp_loss::Best;
use crate::inner_mask::{store_best, InnerMask};
use crate::optim_attack::{checked_step, cw_f, edge_view_factor, flow_loss, init_params, tanh_image, warp, Kind, MaskOptim, OptimConfig};
use crate::progress::Ticker;
use crate::snapshot::{begin, bits, load_best, save_best, unbits, Checkpoint, State};
use crate::{AttackBatch, ImageOutcome, Variant};
use advedge_interpreters::mask::{self, MaskConfig};
use advedge_interpreters::Interpreter;
use advedge_models::adam::Adam;
use advedge_models::{tensor_io, Classifier};
use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};

/// Σ_b max(μ_b, floor), μ = max_{j≠t} z_j − z_t.
fn margin_floor_sum(logits: Tensor<2>, t: Tensor<1, Int>, floor: f64) -> Tensor<1> {
    let k = logits.dims()[1];
    let onehot = t.one_hot(k).float();
    let zt = (logits.clone() * onehot.clone()).sum_dim(1);
    let other = (logits * (onehot.clone().neg() + 1.0) + onehot * -100000.0).max_dim(1);
    (other - zt).clamp_min(floor).sum()
}

/// Run C&W or StAdv × MASK (v2 interpreter) on `batch`. With a checkpoint the loop state is
/// saved as it goes and a matching saved state is continued (`snapshot`). Phases in snapshots:
/// 1 warm-up, 2 the plain control, 3 the bi-level loop.
pub fn run(model: &Classifier, interp: &Interpreter, variant: Variant, cfg: &OptimConfig, batch: &AttackBatch, ck: Option<&Checkpoint>) -> Vec<ImageOutcome> {
    let Interpreter::Mask(mcfg) = interp else { panic!("optim_mask::run needs Interpreter::Mask") };
    let mo = cfg.mask.clone().unwrap_or_else(MaskOptim::paper);
    let (mut saver, resume, t0) = begin(ck, format!("optim-mask|{variant:?}|{cfg:?}|{mcfg:?}"), model, batch);
    let dev: Device = model.fc_weight().device();
    let ad = dev.clone().autodiff();
    let mad = model.clone().to_device(&ad).freeze();
    let (b, h, w) = (batch.len(), batch.height, batch.width);
    let k = model.fc_weight().dims()[1] as u32;
    let targets: Vec<u32> = batch.targets(cfg.seed, k);
    let (t_ad, t_plain) = (tensor_io::labels(&targets, &ad), tensor_io::labels(&targets, &dev));
    let x0 = batch.images.clone();
    let x0_ad = tensor_io::images(x0.clone(), b, h, w, &ad);
    let s = mcfg.mask_size;
    let m0v = match &resume {
        Some(st) => unbits(&st.m0),
        None => {
            let m0 = tensor_io::to_vec(mask::optimise(model, tensor_io::images(x0.clone(), b, h, w, &dev), tensor_io::labels(&batch.labels, &dev), mcfg));
            tracing::info!(target: "advedge::progress", "benign MASK map ({} iterations): {:.1} s", mcfg.iters, t0.elapsed().as_secs_f64());
            m0
        }
    };
    let m0 = Tensor::<4>::from_data(TensorData::new(m0v.clone(), [b, 1, s, s]), &dev);
    let m0_ad = Tensor::<4>::from_data(TensorData::new(m0v.clone(), [b, 1, s, s]), &ad);
    let e_ad = edge_view_factor(variant, cfg.edge_threshold, batch, &ad);
    let (pshape, mut p) = init_params(cfg.kind, batch, cfg.seed);
    let chunk = p.len() / b;
    let render = |pt: Tensor<4>| match cfg.kind {
        Kind::Cw => tanh_image(pt),
        Kind::Stadv => warp(x0_ad.clone(), pt),
    };
    let param = |p: &[f32]| Tensor::<4>::from_data(TensorData::new(p.to_vec(), pshape), &ad).require_grad();
    let mut alive = vec![true; b];
    let mut failure: Vec<Option<String>> = vec![None; b];
    let mut iters = 0;
    if let Some(st) = &resume {
        (p, iters, alive, failure) = (unbits(&st.x), st.iters, st.alive.clone(), st.failure.clone());
    }
    // Where a run starts in `phase`, and the optimiser it continues with.
    let start = |phase: u8, len: usize, adam: &mut Adam| match &resume {
        Some(st) if st.phase == phase => {
            adam.set_state(st.adam.as_ref().expect("an optimiser-phase snapshot holds Adam").into());
            st.next
        }
        Some(st) if st.phase > phase => len,
        _ => 0,
    };
    // The loop state at a save point (the bi-level parts filled in by the caller).
    let state = |key, seconds, phase, next, p: &[f32], iters, adam: &Adam, alive: &[bool], failure: &[Option<String>]| State {
        key, phase, next, iters, seconds, m0: bits(&m0v), x: bits(p), best: vec![], failure: failure.to_vec(), alive: alive.to_vec(),
        adam: Some(adam.state().into()), inner: None, rngs: vec![],
    };
    // Phase 1 on the edge view (the plain control: on the raw image).
    let mut adam = Adam::new(p.len(), cfg.lr, true);
    let start1 = start(1, cfg.warmup_iters, &mut adam);
    let mut tick = Ticker::resumed("x MASK phase 1 (edge view)", cfg.warmup_iters, start1);
    for i in start1..cfg.warmup_iters {
        let pt = param(&p);
        let img = render(pt.clone());
        let view = if variant == Variant::Plain { img } else { x0_ad.clone() + e_ad.clone() * (img - x0_ad.clone()) };
        let logits = mad.forward(view.clone());
        let loss = match cfg.kind {
            Kind::Cw => (view - x0_ad.clone()).powf_scalar(2.0).sum() + cw_f(logits, t_ad.clone()).sum() * cfg.cw_f_weight,
            Kind::Stadv => margin_floor_sum(logits, t_ad.clone(), mo.margin_floor) + flow_loss(pt.clone()).sum() * cfg.flow_tau,
        };
        checked_step(&mut p, &mut adam, loss, &pt, chunk, format!("warm-up step {i}"), &mut alive, &mut failure);
        iters += 1;
        tick.tick(i + 1);
        saver.maybe_save(|key, secs| state(key, secs, 1, i + 1, &p, iters, &adam, &alive, &failure));
    }
    let current = |p: &[f32]| tensor_io::to_vec(render(Tensor::<4>::from_data(TensorData::new(p.to_vec(), pshape), &ad)).inner());
    // Phase 2's distance term: L2 to x (C&W) or the flow smoothness (StAdv).
    let penalty = |img: Tensor<4>, pt: Tensor<4>| match cfg.kind {
        Kind::Cw => (img - x0_ad.clone()).powf_scalar(2.0).sum(),
        Kind::Stadv => flow_loss(pt).sum() * mo.flow_weight,
    };
    let mut best: Vec<Best> = vec![None; b];
    if variant == Variant::Plain {
        // The plain control (ours, not in the paper): phase 2 without the map term, hence
        // without the inner mask steps; the final iterate, quantised, is the output. (Phase 1
        // for all steps would never reach the target: its C&W loss is almost only L2, with the
        // classification term at 1e-4.)
        let mut adam = Adam::new(p.len(), mo.outer_lr, true);
        let start2 = start(2, mo.outer_iters, &mut adam);
        let mut tick = Ticker::resumed("x MASK plain control (classification)", mo.outer_iters, start2);
        for i in start2..mo.outer_iters {
            let pt = param(&p);
            let img = render(pt.clone());
            let loss = margin_floor_sum(mad.forward(img.clone()), t_ad.clone(), mo.margin_floor) + penalty(img, pt.clone());
            checked_step(&mut p, &mut adam, loss, &pt, chunk, format!("outer step {i}"), &mut alive, &mut failure);
            iters += 1;
            tick.tick(i + 1);
            saver.maybe_save(|key, secs| state(key, secs, 2, i + 1, &p, iters, &adam, &alive, &failure));
        }
        let x = current(&p);
        let xq: Vec<f32> = x.iter().map(|v| (v * 255.0).floor() / 255.0).collect();
        let m_q = tensor_io::to_vec(mask::optimise(model, tensor_io::images(xq.clone(), b, h, w, &dev), t_plain.clone(), mcfg));
        let logits = model.forward(tensor_io::images(xq.clone(), b, h, w, &dev));
        store_best(&mut best, &xq, &m_q, &m0v, &crate::losses::target_probs(logits.clone(), &targets), &crate::losses::argmax(logits), &targets);
        return crate::outcome::finish(model, interp, variant, batch, x, &targets, m0.neg().add_scalar(1.0), false, &best, &failure, iters, t0);
    }
    // Phase 2: bi-level, a fresh AMSGrad on the parameters.
    let refresh_cfg = MaskConfig { iters: mo.refresh_iters, ..mcfg.clone() };
    let mut inner = InnerMask::new(mcfg, mo.inner_lr, b, cfg.seed);
    let mut adam = Adam::new(p.len(), mo.outer_lr, true);
    let start3 = start(3, mo.outer_iters, &mut adam);
    if let Some(st) = resume.as_ref().filter(|st| st.phase == 3) {
        best = load_best(&st.best);
        inner.restore(st.inner.as_ref().expect("a bi-level snapshot holds the inner mask"));
    }
    let mut tick = Ticker::resumed("x MASK phase 2 (bi-level, refreshes included)", mo.outer_iters, start3);
    for i in start3..mo.outer_iters {
        if i % mo.refresh_every == mo.refresh_every - 1 {
            let x = current(&p);
            let xt = tensor_io::images(x.clone(), b, h, w, &dev);
            let m_now = tensor_io::to_vec(mask::optimise(model, xt.clone(), t_plain.clone(), &refresh_cfg));
            let logits = model.forward(xt);
            let xq: Vec<f32> = x.iter().map(|v| (v * 255.0).floor() / 255.0).collect();
            // success and map judged on the unquantised iterate; the stored image is quantised
            store_best(&mut best, &xq, &m_now, &m0v, &crate::losses::target_probs(logits.clone(), &targets), &crate::losses::argmax(logits), &targets);
            inner.reset(m_now);
        }
        let x_now = tensor_io::images(current(&p), b, h, w, &dev);
        inner.plain_steps(model, &x_now, &t_plain, mo.inner_plain);
        let pt = param(&p);
        let img = render(pt.clone());
        let lint = inner.graph_steps(&mad, &img, &t_ad, &m0_ad, mo.inner_graph);
        let cls = margin_floor_sum(mad.forward(img.clone()), t_ad.clone(), mo.margin_floor);
        let loss = lint * mo.int_weight + cls + penalty(img, pt.clone());
        checked_step(&mut p, &mut adam, loss, &pt, chunk, format!("outer step {i}"), &mut alive, &mut failure);
        iters += 1;
        tick.tick(i + 1);
        saver.maybe_save(|key, secs| State { best: save_best(&best), inner: Some(inner.saved()), ..state(key, secs, 3, i + 1, &p, iters, &adam, &alive, &failure) });
    }
    let x = current(&p);
    crate::outcome::finish(model, interp, variant, batch, x, &targets, m0.neg().add_scalar(1.0), false, &best, &failure, iters, t0)
}
