//! Adam on flat per-image parameter buffers (torch semantics, optional AMSGrad). Kept outside the
//! tensor library so each image's state is independent of batching and easy to inspect. Used by
//! the MASK interpreter and the C&W / StAdv attacks.

#[derive(Clone, Debug)]
pub struct Adam {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub amsgrad: bool,
    m: Vec<f32>,
    v: Vec<f32>,
    vmax: Vec<f32>,
    t: i32,
}

/// Adam's moment buffers and step counter, for mid-run snapshots (`advedge_attacks::snapshot`).
#[derive(Clone, Debug, PartialEq)]
pub struct AdamState {
    pub m: Vec<f32>,
    pub v: Vec<f32>,
    pub vmax: Vec<f32>,
    pub t: i32,
}

impl Adam {
    pub fn state(&self) -> AdamState {
        AdamState { m: self.m.clone(), v: self.v.clone(), vmax: self.vmax.clone(), t: self.t }
    }
    /// Continue from a saved state (buffers of this optimiser's length).
    pub fn set_state(&mut self, s: AdamState) {
        assert_eq!(s.m.len(), self.m.len(), "Adam state of another length");
        (self.m, self.v, self.vmax, self.t) = (s.m, s.v, s.vmax, s.t);
    }
    pub fn new(len: usize, lr: f32, amsgrad: bool) -> Self {
        Self { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, amsgrad, m: vec![0.0; len], v: vec![0.0; len], vmax: vec![0.0; len], t: 0 }
    }
    /// One step on `p` with gradient `g`; entries where `mask` is false are left alone
    /// (`mask` has one entry per `chunk` consecutive parameters, i.e. per image).
    pub fn step(&mut self, p: &mut [f32], g: &[f32], mask: &[bool], chunk: usize) {
        self.t += 1;
        let bc1 = 1.0 - self.beta1.powi(self.t);
        let bc2 = (1.0 - self.beta2.powi(self.t)).sqrt();
        for i in 0..p.len() {
            if !mask[i / chunk] {
                continue;
            }
            self.m[i] = self.beta1 * self.m[i] + (1.0 - self.beta1) * g[i];
            self.v[i] = self.beta2 * self.v[i] + (1.0 - self.beta2) * g[i] * g[i];
            let v = if self.amsgrad {
                self.vmax[i] = self.vmax[i].max(self.v[i]);
                self.vmax[i]
            } else {
                self.v[i]
            };
            let denom = v.sqrt() / bc2 + self.eps;
            p[i] -= self.lr / bc1 * self.m[i] / denom;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn first_step_moves_by_lr_times_sign() {
        // With bias correction, Adam's first step is lr * g/|g| (up to eps).
        let mut a = Adam::new(3, 0.01, true);
        let mut p = vec![1.0, 1.0, 1.0];
        a.step(&mut p, &[2.0, -0.5, 0.0], &[true], 3);
        assert!((p[0] - 0.99).abs() < 1e-6 && (p[1] - 1.01).abs() < 1e-6 && p[2] == 1.0);
    }
    #[test]
    fn minimises_a_quadratic() {
        let mut a = Adam::new(1, 0.1, true);
        let mut p = vec![3.0];
        for _ in 0..500 {
            let g = vec![2.0 * (p[0] - 1.0)];
            a.step(&mut p, &g, &[true], 1);
        }
        assert!((p[0] - 1.0).abs() < 1e-2, "{}", p[0]);
    }
}
