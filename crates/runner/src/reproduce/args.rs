//! The command-line arguments of `reproduce` and `collect` (also built by tests and by the Slurm
//! script generator).
use std::path::PathBuf;

#[derive(clap::Args, Clone)]
pub struct ReproduceArgs {
    /// Table or figure to reproduce (table1, table2, table3), a grid name, or the path of a grid
    /// file (`.toml`) kept outside experiments/.
    pub target: String,
    /// Profile of the grid: smoke, cifar, paper.
    #[arg(long, default_value = "cifar")]
    pub profile: String,
    /// Rerun cells even if their results exist.
    #[arg(long)]
    pub force: bool,
    /// Print the cells and their status (done / pending / failed) without running anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Run only the first N images of each cell (results are stamped "subset").
    #[arg(long)]
    pub limit: Option<usize>,
    /// Only cells whose id (model/framework/interpreter/variant) contains this text; a trailing `$`
    /// anchors it at the end (`cw/cam/advedge$` leaves out `cw/cam/advedge+`).
    #[arg(long)]
    pub filter: Option<String>,
    /// Cells run in parallel.
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Stop at the first failed cell.
    #[arg(long)]
    pub fail_fast: bool,
    /// Results folder (default results/).
    #[arg(long)]
    pub results: Option<PathBuf>,
    /// Submit the grid to Slurm as a job array instead of running it here.
    #[arg(long)]
    pub slurm: bool,
    /// With --slurm: write the sbatch script but do not submit it.
    #[arg(long)]
    pub no_submit: bool,
    #[arg(long)]
    pub partition: Option<String>,
    #[arg(long)]
    pub gpus_per_task: Option<u32>,
    #[arg(long)]
    pub cpus_per_task: Option<u32>,
    /// Slurm time limit per array task, e.g. 02:00:00.
    #[arg(long)]
    pub time: Option<String>,
    /// Cells per array task.
    #[arg(long, default_value_t = 1)]
    pub cells_per_task: usize,
    /// Run only the cells of array task N (set by the sbatch script).
    #[arg(long)]
    pub task_index: Option<usize>,
    /// Do not render tables/figures after running (array tasks).
    #[arg(long)]
    pub no_render: bool,
    /// cpu, cuda, cuda:N or a list `cuda:0,cuda:1` (one worker per device; needs the `cuda`
    /// feature). Default: the profile's `device`, else cpu.
    #[arg(long)]
    pub device: Option<String>,
    /// Attack the first images whatever the classifier predicts, with the prediction as label:
    /// for smoke runs of random-weight models (e.g. the `paper` profile without real weights).
    #[arg(long)]
    pub any_images: bool,
    /// Re-run the first N images of every done cell and compare them with the stored rows (every
    /// column but the seconds); writes `verify-<grid>.md` and fails on any drift. Runs no cell.
    #[arg(long, value_name = "N")]
    pub verify: Option<usize>,
}

impl ReproduceArgs {
    /// The command-line defaults for `target` and `profile`, results in `results` (for tests and
    /// programmatic use).
    pub fn new(target: &str, profile: &str, results: PathBuf) -> Self {
        ReproduceArgs {
            target: target.into(),
            profile: profile.into(),
            force: false,
            dry_run: false,
            limit: None,
            filter: None,
            jobs: 1,
            fail_fast: true,
            results: Some(results),
            slurm: false,
            no_submit: false,
            partition: None,
            gpus_per_task: None,
            cpus_per_task: None,
            time: None,
            cells_per_task: 1,
            task_index: None,
            no_render: false,
            device: None,
            any_images: false,
            verify: None,
        }
    }
}

#[derive(clap::Args, Clone)]
pub struct CollectArgs {
    pub target: String,
    #[arg(long, default_value = "cifar")]
    pub profile: String,
    /// Only cells whose id contains this text (a trailing `$` anchors it), as for `reproduce`.
    #[arg(long)]
    pub filter: Option<String>,
    #[arg(long)]
    pub limit: Option<usize>,
    #[arg(long)]
    pub results: Option<PathBuf>,
    /// The cells were run with `reproduce --any-images`.
    #[arg(long)]
    pub any_images: bool,
    /// Render the tables from the done cells even when some are missing (a grid under way); the
    /// index and the claims page then say how many cells they cover. Without it, a grid with
    /// missing cells is not rendered: the existing tables stay as they are.
    #[arg(long)]
    pub partial: bool,
}

