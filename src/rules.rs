//! Learning rules of SPEC §4 as data: which recurrent steps are cut from the gradient and which
//! matrix carries the readout error back to the units.

use crate::error::{Error, Result};

/// A learning rule, parsed once where it enters: by clap (`--rule`, through [`FromStr`](std::str::FromStr))
/// or by serde (`rule = "…"` in a config), and written back by its [`name`](Rule::name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Rule {
    /// Exact gradient through the unrolled network.
    Bptt,
    /// Symmetric e-prop: recurrent input cut at every step.
    Eprop,
    /// e-prop with a fixed random feedback matrix in place of `w_out^T`.
    EpropRandom,
    /// Truncated BPTT: cut where `(T - t) mod K == 0`.
    Tbptt(usize),
    /// BPTT whose readout backward pass uses the feedback matrix.
    ReadoutFa,
}

/// A rule name that is none of the rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown rule '{0}' (expected bptt, eprop, eprop-random, tbptt:K with K > 0, or readout-fa)"
)]
pub struct UnknownRule(pub String);

impl std::str::FromStr for Rule {
    type Err = UnknownRule;
    fn from_str(s: &str) -> std::result::Result<Self, UnknownRule> {
        Ok(match s {
            "bptt" => Rule::Bptt,
            "eprop" => Rule::Eprop,
            "eprop-random" => Rule::EpropRandom,
            "readout-fa" => Rule::ReadoutFa,
            _ => match s.strip_prefix("tbptt:").map(str::parse::<usize>) {
                Some(Ok(k)) if k > 0 => Rule::Tbptt(k),
                _ => return Err(UnknownRule(s.to_string())),
            },
        })
    }
}

impl TryFrom<String> for Rule {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        s.parse().map_err(|e| format!("rule: {e}"))
    }
}

impl From<Rule> for String {
    fn from(r: Rule) -> String {
        r.name()
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

impl Rule {
    /// [`FromStr`](std::str::FromStr) as an input error naming `--rule`.
    pub fn parse(s: &str) -> Result<Self> {
        s.parse()
            .map_err(|e: UnknownRule| Error::Input(format!("--rule: {e}")))
    }
    pub fn name(&self) -> String {
        match self {
            Rule::Bptt => "bptt".into(),
            Rule::Eprop => "eprop".into(),
            Rule::EpropRandom => "eprop-random".into(),
            Rule::Tbptt(k) => format!("tbptt:{k}"),
            Rule::ReadoutFa => "readout-fa".into(),
        }
    }
    /// Is the recurrent input of step `t` (`w_rec @ h[t-1]`) cut from the gradient?
    #[inline]
    pub fn cuts(&self, t: usize, n_steps: usize) -> bool {
        match self {
            Rule::Bptt | Rule::ReadoutFa => false,
            Rule::Eprop | Rule::EpropRandom => true,
            Rule::Tbptt(k) => (n_steps - t).is_multiple_of(*k),
        }
    }
    /// Does the readout error travel back through the fixed `feedback` matrix?
    pub fn uses_feedback(&self) -> bool {
        matches!(self, Rule::EpropRandom | Rule::ReadoutFa)
    }
    /// Rules whose gradient is the e-prop form (all recurrent inputs cut).
    pub fn is_eprop(&self) -> bool {
        matches!(self, Rule::Eprop | Rule::EpropRandom)
    }
}
