//! Metrics of the paper (spec section 9), on plain `f32` slices so they are independent of any
//! tensor library and easy to check against reference implementations.

mod interval;
mod maps;
mod paired;
mod ssim;
mod summary;

pub use interval::{bootstrap_mean, wilson, BOOTSTRAP_REPS, Z95};
pub use paired::{holm, sign_flip_p, EXACT_MAX, SIGN_FLIP_REPS};
pub use maps::{iou_topk, iou_topk_mean, kendall_tau_b, l1_mean, topk_mask, DEFAULT_IOU_KS};
pub use ssim::{ssim, SsimConfig};
pub use summary::{mean_std, Summary};
