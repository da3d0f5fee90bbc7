//! Learning rules of SPEC §4 as data: which recurrent steps are cut from the gradient and which
//! matrix carries the readout error back to the units.

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

impl Rule {
    pub fn parse(s: &str) -> Result<Self> {
        let r = match s {
            "bptt" => Rule::Bptt,
            "eprop" => Rule::Eprop,
            "eprop-random" => Rule::EpropRandom,
            "readout-fa" => Rule::ReadoutFa,
            _ => match s.strip_prefix("tbptt:").map(str::parse::<usize>) {
                Some(Ok(k)) if k > 0 => Rule::Tbptt(k),
                _ => {
                    return Err(Error::Input(format!(
                        "--rule: unknown rule '{s}' (expected bptt, eprop, eprop-random, tbptt:K with K > 0, or readout-fa)"
                    )));
                }
            },
        };
        Ok(r)
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
            Rule::Tbptt(k) => (n_steps - t) % k == 0,
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
