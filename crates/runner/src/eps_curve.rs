//! `attack --eps`: success rate and map distance as the PGD budget grows (the curves foolbox and
//! its peers report), and each image's smallest budget that fools the model: the smallest listed
//! epsilon at which the attack succeeded, refined by `--min-eps-steps` bisection steps between it
//! and the largest listed epsilon below it (each step attacks that image alone, which gives the
//! same outcome as in a batch). Everything else of the attack stays the paper's schedule.
use crate::reproduce::figures::{err, register_font, variant_colour, FONT};
use advedge_attacks::{AttackBatch, AttackConfig, CheckedAttack, ImageOutcome, Variant};
use advedge_interpreters::Interpreter;
use advedge_metrics::l1_mean;
use advedge_models::Classifier;
use plotters::prelude::*;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A checked list of budgets, increasing, each in (0, 1] (pixel units).
#[derive(Clone, Debug, PartialEq)]
pub struct EpsList(pub Vec<f32>);

/// Parses `1,2,4,8,16/255` (a trailing `/255` after plain numbers applies to every value),
/// `0.01,0.03`, or values that each carry their own fraction (`4/255,0.05`, `1/255,16/255`);
/// each must lie in (0, 1] and the list must be increasing.
pub fn parse_eps_list(s: &str) -> Result<EpsList, String> {
    let (body, all_255) = match s.strip_suffix("/255") {
        Some(b) if !b.contains('/') => (b, true),
        _ => (s, false),
    };
    let mut out = Vec::new();
    for part in body.split(',') {
        let part = part.trim();
        let v = match part.split_once('/') {
            Some((n, d)) => {
                let n: f32 = n.trim().parse().map_err(|_| format!("`{part}` in --eps is not a number or n/d"))?;
                let d: f32 = d.trim().parse().map_err(|_| format!("`{part}` in --eps is not a number or n/d"))?;
                n / d
            }
            None => part.parse::<f32>().map_err(|_| format!("`{part}` in --eps is not a number"))? / if all_255 { 255.0 } else { 1.0 },
        };
        if !(v.is_finite() && v > 0.0 && v <= 1.0) {
            return Err(format!("--eps value `{part}` gives {v}, outside (0, 1] (pixel units)"));
        }
        if out.last().is_some_and(|&p| v <= p) {
            return Err(format!("--eps values must increase: `{part}` is not above the one before"));
        }
        out.push(v);
    }
    Ok(EpsList(out))
}

/// `cfg` with the L-infinity budget `eps` (PGD only), checked again.
pub fn with_eps(cfg: &CheckedAttack, eps: f32) -> anyhow::Result<CheckedAttack> {
    match cfg.config().clone() {
        AttackConfig::Pgd(mut p) => {
            p.eps = eps;
            Ok(AttackConfig::Pgd(p).check()?)
        }
        AttackConfig::Optim(_) => anyhow::bail!("--eps needs --framework pgd: C&W and StAdv have no L-infinity budget"),
    }
}

/// One image at one budget.
pub struct EpsRow {
    pub variant: Variant,
    pub eps: f32,
    pub image_index: usize,
    pub success: bool,
    pub target_prob: f32,
    /// Per-element L1 between the adversarial map (target) and the benign map.
    pub l1: f64,
}

fn row(variant: Variant, eps: f32, o: &ImageOutcome) -> EpsRow {
    EpsRow { variant, eps, image_index: o.image_index, success: o.success, target_prob: o.target_prob, l1: l1_mean(&o.adversarial_map, &o.benign_map) }
}

fn attack_all(model: &Classifier, interp: &Interpreter, v: Variant, cfg: &CheckedAttack, clean: &AttackBatch, batch: usize) -> Vec<ImageOutcome> {
    let mut out = Vec::new();
    for start in (0..clean.len()).step_by(batch.max(1)) {
        out.extend(advedge_attacks::run(model, interp, v, cfg, &clean.slice(start, (start + batch).min(clean.len())), None));
    }
    out
}

/// Every variant at every budget: one row per (variant, eps, image).
pub fn curves(model: &Classifier, interp: &Interpreter, configs: &[(Variant, CheckedAttack)], clean: &AttackBatch, batch: usize, eps: &[f32]) -> anyhow::Result<Vec<EpsRow>> {
    let mut rows = Vec::new();
    for (v, cfg) in configs {
        for &e in eps {
            let t = std::time::Instant::now();
            let out = attack_all(model, interp, *v, &with_eps(cfg, e)?, clean, batch);
            let ok = out.iter().filter(|o| o.success).count();
            tracing::info!(target: "advedge::progress", "{} eps {:.4} ({:.1}/255): {ok}/{} succeed, {:.1} s", v.name(), e, e * 255.0, out.len(), t.elapsed().as_secs_f64());
            rows.extend(out.iter().map(|o| row(*v, e, o)));
        }
    }
    Ok(rows)
}

/// Per (variant, image): the smallest listed budget that succeeded, refined by `steps` bisection
/// steps below it (`None`: no listed budget succeeded).
pub fn min_eps(model: &Classifier, interp: &Interpreter, configs: &[(Variant, CheckedAttack)], clean: &AttackBatch, rows: &[EpsRow], steps: usize) -> anyhow::Result<Vec<(Variant, usize, Option<f32>)>> {
    let mut out = Vec::new();
    for (v, cfg) in configs {
        for (pos, &idx) in clean.indices.iter().enumerate() {
            let mine: Vec<&EpsRow> = rows.iter().filter(|r| r.variant == *v && r.image_index == idx).collect();
            let Some(first) = mine.iter().find(|r| r.success).map(|r| r.eps) else {
                out.push((*v, idx, None));
                continue;
            };
            let (mut lo, mut hi) = (mine.iter().filter(|r| r.eps < first).map(|r| r.eps).fold(0.0f32, f32::max), first);
            let one = clean.slice(pos, pos + 1);
            for _ in 0..steps {
                let mid = 0.5 * (lo + hi);
                let ok = advedge_attacks::run(model, interp, *v, &with_eps(cfg, mid)?, &one, None)[0].success;
                if ok {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            out.push((*v, idx, Some(hi)));
        }
    }
    Ok(out)
}

/// `eps_curve.csv` (per variant and budget: images, successes, rate, mean map L1 over the
/// successes), `eps_images.csv` (per image), `min_eps.csv` if asked, and `eps_curve.png`.
pub fn write(out: &Path, title: &str, rows: &[EpsRow], min: Option<&[(Variant, usize, Option<f32>)]>) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out)?;
    let mut variants: Vec<Variant> = Vec::new();
    let mut eps: Vec<f32> = Vec::new();
    for r in rows {
        if !variants.contains(&r.variant) {
            variants.push(r.variant);
        }
        if !eps.contains(&r.eps) {
            eps.push(r.eps);
        }
    }
    let mut summary = String::from("variant,eps,eps_255,images,successes,success_rate,l1_mean_successes\n");
    let mut points: Vec<(Variant, Vec<(f64, f64, Option<f64>)>)> = Vec::new();
    for &v in &variants {
        let mut line = Vec::new();
        for &e in &eps {
            let at: Vec<&EpsRow> = rows.iter().filter(|r| r.variant == v && r.eps == e).collect();
            let ok: Vec<&&EpsRow> = at.iter().filter(|r| r.success).collect();
            let rate = ok.len() as f64 / at.len().max(1) as f64;
            let l1 = (!ok.is_empty()).then(|| ok.iter().map(|r| r.l1).sum::<f64>() / ok.len() as f64);
            writeln!(summary, "{},{e},{:.3},{},{},{rate:.4},{}", v.name(), e * 255.0, at.len(), ok.len(), l1.map(|x| format!("{x:.6}")).unwrap_or_default())?;
            line.push((e as f64 * 255.0, rate, l1));
        }
        points.push((v, line));
    }
    let mut per_image = String::from("variant,image_index,eps,success,target_prob,l1\n");
    for r in rows {
        writeln!(per_image, "{},{},{},{},{:.6},{:.6}", r.variant.name(), r.image_index, r.eps, r.success, r.target_prob, r.l1)?;
    }
    let mut written = vec![out.join("eps_curve.csv"), out.join("eps_images.csv")];
    std::fs::write(&written[0], summary)?;
    std::fs::write(&written[1], per_image)?;
    if let Some(min) = min {
        let mut s = String::from("variant,image_index,min_eps,min_eps_255\n");
        for (v, idx, e) in min {
            writeln!(s, "{},{idx},{},{}", v.name(), e.map(|e| e.to_string()).unwrap_or_default(), e.map(|e| format!("{:.3}", e * 255.0)).unwrap_or_default())?;
        }
        let p = out.join("min_eps.csv");
        std::fs::write(&p, s)?;
        written.push(p);
    }
    let png = out.join("eps_curve.png");
    figure(&png, title, &points)?;
    written.push(png);
    Ok(written)
}

/// Two panels: success rate and mean map L1 (successes) against epsilon in 1/255 units.
fn figure(path: &Path, title: &str, points: &[(Variant, Vec<(f64, f64, Option<f64>)>)]) -> anyhow::Result<()> {
    register_font();
    let xmax = points.iter().flat_map(|(_, l)| l.iter().map(|p| p.0)).fold(1.0, f64::max) * 1.05;
    let l1max = points.iter().flat_map(|(_, l)| l.iter().filter_map(|p| p.2)).fold(0.05, f64::max) * 1.15;
    let root = BitMapBackend::new(path, (1100, 460)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let root = root.titled(title, (FONT, 20)).map_err(err)?;
    let panels = root.split_evenly((1, 2));
    for (k, panel) in panels.iter().enumerate() {
        let (ymax, ylabel) = if k == 0 { (1.05, "success rate (8-bit images)") } else { (l1max, "map L1 to the benign map (successes)") };
        let mut chart = ChartBuilder::on(panel)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..xmax, 0f64..ymax)
            .map_err(err)?;
        chart.configure_mesh().x_desc("epsilon (x 1/255)").y_desc(ylabel).label_style((FONT, 14)).draw().map_err(err)?;
        for (v, line) in points {
            let c = variant_colour(v.name());
            let pts: Vec<(f64, f64)> = line.iter().filter_map(|p| if k == 0 { Some((p.0, p.1)) } else { p.2.map(|l| (p.0, l)) }).collect();
            chart.draw_series(LineSeries::new(pts.clone(), c.stroke_width(2))).map_err(err)?.label(v.name()).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
            chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 4, c.filled()))).map_err(err)?;
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).label_font((FONT, 14)).draw().map_err(err)?;
    }
    root.present().map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_eps_list;

    #[test]
    fn eps_lists_parse_and_bad_ones_are_named() {
        let v = parse_eps_list("1,2,4,8,16/255").unwrap().0;
        assert_eq!(v.len(), 5);
        assert!((v[0] - 1.0 / 255.0).abs() < 1e-9 && (v[4] - 16.0 / 255.0).abs() < 1e-9);
        // A trailing /255 applies to the whole list; a value of its own fraction stands alone.
        assert_eq!(parse_eps_list("2, 8/255").unwrap().0, vec![2.0 / 255.0, 8.0 / 255.0]);
        assert_eq!(parse_eps_list("4/255, 0.05").unwrap().0, vec![4.0 / 255.0, 0.05]);
        assert!(parse_eps_list("4,2/255").unwrap_err().contains("increase"));
        assert!(parse_eps_list("0,1/255").unwrap_err().contains("outside"));
        assert!(parse_eps_list("two").unwrap_err().contains("`two`"));
    }
}
