//! Attack variants and where their edge weighting applies.
use crate::edges::EdgeMode;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// Ordinary targeted attack, no interpretation term (the paper's Figure 1b control).
    Plain,
    /// ADV2 (Zhang et al. 2020): interpretation term, no edges.
    Adv2,
    /// AdvEdge: warm-up steps weighted by the Sobel magnitude W.
    AdvEdge,
    /// AdvEdge+: warm-up steps confined to W > threshold.
    #[serde(rename = "advedge+", alias = "advedgeplus")]
    AdvEdgePlus,
}

impl Variant {
    pub const ALL: [Variant; 4] = [Variant::Plain, Variant::Adv2, Variant::AdvEdge, Variant::AdvEdgePlus];

    pub fn name(&self) -> &'static str {
        match self {
            Variant::Plain => "Plain",
            Variant::Adv2 => "ADV2",
            Variant::AdvEdge => "AdvEdge",
            Variant::AdvEdgePlus => "AdvEdge+",
        }
    }
    /// Edge mode for a signed-step (PGD) framework: AdvEdge+ is an unweighted binary mask there.
    pub fn pgd_edge_mode(&self, threshold: f32) -> EdgeMode {
        match self {
            Variant::Plain | Variant::Adv2 => EdgeMode::None,
            Variant::AdvEdge => EdgeMode::Weighted,
            Variant::AdvEdgePlus => EdgeMode::Binary { threshold, keep_weight: false },
        }
    }
    pub fn has_interpretation_term(&self) -> bool {
        !matches!(self, Variant::Plain)
    }
}

impl std::fmt::Display for Variant {
    /// The lower-case id of grids, cell ids and the command line (`advedge+`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name().to_lowercase())
    }
}

impl std::str::FromStr for Variant {
    type Err = crate::AttackError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "plain" => Variant::Plain,
            "adv2" => Variant::Adv2,
            "advedge" => Variant::AdvEdge,
            "advedge+" | "advedgeplus" => Variant::AdvEdgePlus,
            _ => return Err(crate::AttackError::UnknownName { what: "variant", name: s.to_string(), known: "plain, adv2, advedge, advedge+" }),
        })
    }
}

/// Which benign map the RTS attacks aim the adversarial map at. The authors' PGD and C&W code aims
/// at the map for the target class, M(x; t) (spec 1.1, ⚠); [A2]'s StAdv-RTS (the source of ours)
/// and the metrics (spec 9) use the map for the true class, M(x; y). Other interpreters always aim
/// at M(x; y). `Target` is the serde default so that configs written before the field existed
/// read back unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RtsReference {
    #[default]
    Target,
    True,
}

impl RtsReference {
    /// The default is left out of serialised configs, so cell keys made before it existed hold.
    pub fn is_default(&self) -> bool {
        *self == RtsReference::Target
    }
    /// Does an attack with interpreter `interp` aim at the benign map for the target class?
    pub fn aims_at_target(&self, interp: &advedge_interpreters::Interpreter) -> bool {
        interp.attack_reference_is_target() && *self == RtsReference::Target
    }
}

/// Where edge weights apply (spec 1.4): the authors' code uses them in the warm-up only; the
/// paper's text says every step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EdgeScope {
    #[default]
    Warmup,
    All,
}
