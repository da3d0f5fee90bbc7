//! Parameter sets: the trained tensors of one network kind (also its gradients and Adam moments).
//! [`ParamSet`] is what Adam, the finiteness check and checkpoint I/O need of any kind;
//! [`param_set!`] declares a kind's struct and derives every operation from
//! its one list of tensors.

use crate::linalg::Real;

/// One tensor of a parameter set as checkpoints see it: (name, shape, values).
pub type NamedTensor<'a, F> = (&'static str, Vec<usize>, &'a [F]);

/// The trained tensors of one network kind (also its gradients and Adam moments), in the
/// kind's fixed order: what Adam, the finiteness check and checkpoint I/O need of them.
pub trait ParamSet: Clone + Send + Sync {
    type Scalar: Real;
    type Config;
    /// All tensors zero, shaped for `cfg`.
    fn zeros(cfg: &Self::Config) -> Self;
    /// Tensor names, in the set's order (as in model files).
    fn names(&self) -> &'static [&'static str];
    /// (shape, values) of each tensor, in the set's order.
    fn tensors(&self) -> Vec<(&[usize], &[Self::Scalar])>;
    fn tensors_mut(&mut self) -> Vec<&mut [Self::Scalar]>;

    /// All tensors one after the other (the flat layout of the GPU engines).
    fn to_flat(&self) -> Vec<Self::Scalar> {
        let ts: Vec<&[Self::Scalar]> = self.tensors().into_iter().map(|(_, t)| t).collect();
        tensors::flatten(&ts)
    }
    /// Fill the tensors from the flat layout (which must hold exactly their number of values).
    fn fill_flat(&mut self, flat: &[Self::Scalar]) -> std::result::Result<(), String> {
        let want: usize = self.tensors().iter().map(|(_, t)| t.len()).sum();
        if flat.len() != want {
            return Err(format!("{} values, expected {want}", flat.len()));
        }
        tensors::fill(self.tensors_mut(), flat);
        Ok(())
    }
    /// Name of the first tensor holding a NaN or an infinity.
    fn first_non_finite(&self) -> Option<&'static str> {
        let ts: Vec<&[Self::Scalar]> = self.tensors().into_iter().map(|(_, t)| t).collect();
        tensors::first_non_finite(self.names(), &ts)
    }
    /// Checkpoint output: (name, shape, values) of each tensor.
    fn named(&self) -> Vec<NamedTensor<'_, Self::Scalar>> {
        self.names()
            .iter()
            .zip(self.tensors())
            .map(|(n, (s, t))| (*n, s.to_vec(), t))
            .collect()
    }
    /// Checkpoint input: every tensor from `get(name)`, which gives (shape, values); a missing
    /// tensor or a wrong shape is an error naming the tensor.
    fn fill_named(
        &mut self,
        mut get: impl FnMut(&str) -> Option<(Vec<usize>, Vec<Self::Scalar>)>,
    ) -> std::result::Result<(), String> {
        let names = self.names();
        let shapes: Vec<Vec<usize>> = self.tensors().iter().map(|(s, _)| s.to_vec()).collect();
        for ((name, shape), dst) in names.iter().zip(shapes).zip(self.tensors_mut()) {
            let (s, v) = get(name).ok_or_else(|| format!("tensor {name} is missing"))?;
            if s != shape || v.len() != dst.len() {
                return Err(format!("tensor {name} has shape {s:?}, expected {shape:?}"));
            }
            dst.copy_from_slice(&v);
        }
        Ok(())
    }
}

/// What every parameter set does with its tensors, given them as slices in the set's order.
pub(crate) mod tensors {
    use super::Real;

    /// All tensors, one after the other (the flat layout of the GPU engines).
    pub fn flatten<F: Real>(ts: &[&[F]]) -> Vec<F> {
        ts.iter().flat_map(|s| s.iter().copied()).collect()
    }
    /// Fill the tensors from the flat layout.
    pub fn fill<'a, F: Real>(ts: impl IntoIterator<Item = &'a mut [F]>, flat: &[F]) {
        let mut at = 0;
        for s in ts {
            s.copy_from_slice(&flat[at..at + s.len()]);
            at += s.len();
        }
    }
    /// `a += b`, tensor by tensor.
    pub fn add<'a, F: Real>(a: impl IntoIterator<Item = &'a mut [F]>, b: &[&[F]]) {
        for (x, y) in a.into_iter().zip(b) {
            x.iter_mut().zip(y.iter()).for_each(|(x, y)| *x += *y);
        }
    }
    /// Name of the first tensor holding a NaN or infinity.
    pub fn first_non_finite<F: Real>(names: &[&'static str], ts: &[&[F]]) -> Option<&'static str> {
        names
            .iter()
            .zip(ts)
            .find(|(_, s)| s.iter().any(|x| !x.is_finite()))
            .map(|(n, _)| *n)
    }
    /// Start of each tensor in the flat layout.
    pub fn offsets<const K: usize>(shapes: &[Vec<usize>; K]) -> [usize; K] {
        let mut o = [0; K];
        let mut acc = 0;
        for (i, s) in shapes.iter().enumerate() {
            o[i] = acc;
            acc += s.iter().product::<usize>();
        }
        o
    }
}

/// The number of tensors in a [`param_set!`] list.
macro_rules! count_tensors {
    () => { 0 };
    ($head:ident $($rest:ident)*) => { 1 + $crate::params::count_tensors!($($rest)*) };
}
pub(crate) use count_tensors;

/// Declares a parameter set `$name<F>` for config `$cfg` from its list of tensors, each an
/// `ArrayN` shaped by fields of the config (`w_in: Array2[n_rec, n_in]`), and the constant
/// `$names` of their names. Generates the flat layout (`shapes`, `len`, `offsets`, `flatten`,
/// `from_flat`), `slices`, `cast`, `add_assign`, `first_non_finite` and [`ParamSet`], so a kind
/// states its tensors once.
macro_rules! param_set {
    (
        $(#[$meta:meta])*
        pub struct $name:ident for $cfg:ty, names $names:ident {
            $($field:ident : $arr:ident [$($dim:ident),+]),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq)]
        pub struct $name<F> {
            $(pub $field: ndarray::$arr<F>,)+
        }

        /// Tensor names, in the set's order (as in model files and the flat layout).
        pub const $names: [&str; $crate::params::count_tensors!($($field)+)] = [$(stringify!($field)),+];

        impl<F: $crate::linalg::Real> $name<F> {
            pub fn zeros(c: &$cfg) -> Self {
                Self {
                    $($field: ndarray::$arr::zeros([$(c.$dim),+]),)+
                }
            }
            /// Shapes in the set's order.
            pub fn shapes(c: &$cfg) -> [Vec<usize>; $crate::params::count_tensors!($($field)+)] {
                [$(vec![$(c.$dim),+]),+]
            }
            /// Number of scalars per network (the length of the flat layout used on the GPU).
            pub fn len(c: &$cfg) -> usize {
                Self::shapes(c)
                    .iter()
                    .map(|s| s.iter().product::<usize>())
                    .sum()
            }
            /// Offsets of each tensor in the flat layout, in the set's order.
            pub fn offsets(c: &$cfg) -> [usize; $crate::params::count_tensors!($($field)+)] {
                $crate::params::tensors::offsets(&Self::shapes(c))
            }
            pub fn slices(&self) -> [&[F]; $crate::params::count_tensors!($($field)+)] {
                [$(self.$field.as_slice().unwrap()),+]
            }
            pub fn slices_mut(&mut self) -> [&mut [F]; $crate::params::count_tensors!($($field)+)] {
                [$(self.$field.as_slice_mut().unwrap()),+]
            }
            pub fn flatten(&self) -> Vec<F> {
                $crate::params::tensors::flatten(&self.slices())
            }
            pub fn from_flat(c: &$cfg, flat: &[F]) -> Self {
                let mut p = Self::zeros(c);
                $crate::params::tensors::fill(p.slices_mut(), flat);
                p
            }
            pub fn cast<G: $crate::linalg::Real>(&self) -> $name<G> {
                let f = |x: &F| G::from_f64(x.to_f64().unwrap()).unwrap();
                $name {
                    $($field: self.$field.map(f),)+
                }
            }
            /// `self += other`, tensor by tensor (summing gradients of trial chunks).
            pub fn add_assign(&mut self, other: &Self) {
                $crate::params::tensors::add(self.slices_mut(), &other.slices());
            }
            /// Name of the first tensor holding a NaN or infinity, if any.
            pub fn first_non_finite(&self) -> Option<&'static str> {
                $crate::params::tensors::first_non_finite(&$names, &self.slices())
            }
        }

        impl<F: $crate::linalg::Real> $crate::params::ParamSet for $name<F> {
            type Scalar = F;
            type Config = $cfg;
            fn zeros(cfg: &$cfg) -> Self {
                $name::zeros(cfg)
            }
            fn names(&self) -> &'static [&'static str] {
                &$names
            }
            fn tensors(&self) -> Vec<(&[usize], &[F])> {
                vec![$((self.$field.shape(), self.$field.as_slice().unwrap())),+]
            }
            fn tensors_mut(&mut self) -> Vec<&mut [F]> {
                self.slices_mut().into()
            }
        }
    };
}
pub(crate) use param_set;
