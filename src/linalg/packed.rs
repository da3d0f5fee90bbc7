//! The per-step products of a sequence, `c += alpha · a · b` with `b` the recurrent weight (the
//! same at every step: packed once per sequence into column panels) or one step's activity (for
//! `dE/dw_rec`, repacked per step into the same storage); each product is a register-blocked
//! SIMD kernel over the panels (the narrow products are in [`super::narrow`]).
//!
//! Why not BLAS: a per-step product of the paper's reach update is small (50 × 200 · 200 × 200) and
//! OpenBLAS packs both operands on every call, a fifth of a CPU BPTT update (measured with perf).
//! Here `b` is packed once and `a` is read in place (its rows broadcast one element at a time).
//! AVX-512 and AVX2+FMA kernels are picked at run time; other CPUs (and f64) use
//! `general_mat_mul`.

use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2, ArrayViewMut2};

/// Rows of `c` per kernel call: 6 rows × 2 panels = 12 accumulators, with the two `b` vectors and
/// the broadcast in registers too (16 with AVX2).
const MR: usize = 6;

/// Which SIMD kernel this CPU runs (detected once).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Simd {
    Avx512,
    Avx2,
    None,
}

/// Set by [`disable_simd`].
static SIMD_OFF: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Use the plain `general_mat_mul` path whatever the CPU (the CLI does when `$SNNLAB_NO_SIMD`
/// is set), from the next [`PackedB`] on.
pub fn disable_simd() {
    SIMD_OFF.store(true, std::sync::atomic::Ordering::Relaxed);
}

fn simd() -> Simd {
    if SIMD_OFF.load(std::sync::atomic::Ordering::Relaxed) {
        return Simd::None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        static FOUND: std::sync::OnceLock<Simd> = std::sync::OnceLock::new();
        *FOUND.get_or_init(|| {
            if is_x86_feature_detected!("avx512f") {
                Simd::Avx512
            } else if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                Simd::Avx2
            } else {
                Simd::None
            }
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    Simd::None
}

/// A `k × n` matrix for repeated `c += alpha a · b`: packed into panels of `width` columns (16
/// for AVX-512, 8 for AVX2; the last zero-padded), `k` rows each, or kept as it is where no SIMD
/// kernel runs.
#[derive(Clone, Debug)]
pub struct PackedB {
    k: usize,
    n: usize,
    width: usize,
    simd: Simd,
    /// Panel `q` holds `b[p, q·width + j]` at `(q·k + p)·width + j`.
    panels: Vec<f32>,
    plain: Option<Array2<f32>>,
}

impl PackedB {
    pub fn new(b: ArrayView2<f32>) -> Self {
        Self::for_kernel(b, simd())
    }

    fn for_kernel(b: ArrayView2<f32>, simd: Simd) -> Self {
        let mut p = Self {
            k: 0,
            n: 0,
            width: 0,
            simd,
            panels: Vec::new(),
            plain: None,
        };
        p.repack(b);
        p
    }

    /// Pack another matrix into the same storage (per-step operands reuse one allocation).
    pub fn repack(&mut self, b: ArrayView2<f32>) {
        let (k, n) = b.dim();
        (self.k, self.n) = (k, n);
        self.width = match self.simd {
            Simd::Avx512 => 16,
            Simd::Avx2 => 8,
            Simd::None => {
                self.plain = Some(b.to_owned());
                return;
            }
        };
        let w = self.width;
        let n_panels = n.div_ceil(w);
        self.panels.clear();
        self.panels.resize(n_panels * k * w, 0.0);
        for (p, row) in b.rows().into_iter().enumerate() {
            match row.as_slice() {
                // Contiguous rows (every per-step operand): slice copies.
                Some(row) => {
                    for (q, src) in row.chunks(w).enumerate() {
                        self.panels[(q * k + p) * w..][..src.len()].copy_from_slice(src);
                    }
                }
                None => {
                    for (j, &v) in row.iter().enumerate() {
                        self.panels[((j / w) * k + p) * w + j % w] = v;
                    }
                }
            }
        }
    }

    /// `c += alpha · a · b` for `a` of `m × k` and `c` of `m × n`.
    pub fn mul_add(&self, alpha: f32, a: &ArrayView2<f32>, c: &mut ArrayViewMut2<f32>) {
        let (m, k) = a.dim();
        assert_eq!((k, c.dim()), (self.k, (m, self.n)), "packed product shapes");
        // The kernels address `a` by its strides (any non-negative ones) and write rows of `c`
        // in place (unit column stride).
        let rows_ok =
            c.strides()[1] == 1 && a.strides().iter().chain(&c.strides()[..1]).all(|&s| s >= 0);
        if let Some(b) = &self.plain {
            general_mat_mul(alpha, a, &b.view(), 1.0, c);
            return;
        }
        if !rows_ok {
            general_mat_mul(alpha, a, &self.unpacked().view(), 1.0, c);
            return;
        }
        if m == 0 || k == 0 || self.n == 0 {
            return;
        }
        let (ars, acs, ldc) = (
            a.strides()[0] as usize,
            a.strides()[1] as usize,
            c.strides()[0] as usize,
        );
        let (ap, cp) = (a.as_ptr(), c.as_mut_ptr());
        // SAFETY: the shapes were checked above; every row index is < m, every column < k or n,
        // strides are those of the views; the kernel matches the features detected in `simd()`.
        unsafe {
            #[cfg(target_arch = "x86_64")]
            match self.simd {
                Simd::Avx512 => x86::run_512(self, alpha, m, ap, (ars, acs), cp, ldc),
                Simd::Avx2 => x86::run_256(self, alpha, m, ap, (ars, acs), cp, ldc),
                Simd::None => unreachable!("no packed panels without SIMD"),
            }
        }
    }

    /// `b` back from the panels (for views the kernels cannot address).
    fn unpacked(&self) -> Array2<f32> {
        Array2::from_shape_fn((self.k, self.n), |(p, j)| {
            let (q, jj) = (j / self.width, j % self.width);
            self.panels[(q * self.k + p) * self.width + jj]
        })
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{MR, PackedB};
    use std::arch::x86_64::*;

    /// Column blocks of two panels (then one), row blocks of MR (then the rest, one const size each).
    macro_rules! drive {
        ($kern:ident, $p:expr, $alpha:expr, $m:expr, $a:expr, $a_strides:expr, $c:expr, $ldc:expr) => {{
            let (p, w) = ($p, $p.width);
            let n_panels = p.n.div_ceil(w);
            let mut q = 0;
            while q < n_panels {
                let two = q + 1 < n_panels;
                let cols = p.n - q * w;
                let b = p.panels.as_ptr().add(q * p.k * w);
                let mut r = 0;
                while r < $m {
                    let (a, c) = ($a.add(r * $a_strides.0), $c.add(r * $ldc + q * w));
                    match ($m - r).min(MR) {
                        6 => $kern::<6>(p.k, $alpha, a, $a_strides, b, two, cols, c, $ldc),
                        5 => $kern::<5>(p.k, $alpha, a, $a_strides, b, two, cols, c, $ldc),
                        4 => $kern::<4>(p.k, $alpha, a, $a_strides, b, two, cols, c, $ldc),
                        3 => $kern::<3>(p.k, $alpha, a, $a_strides, b, two, cols, c, $ldc),
                        2 => $kern::<2>(p.k, $alpha, a, $a_strides, b, two, cols, c, $ldc),
                        _ => $kern::<1>(p.k, $alpha, a, $a_strides, b, two, cols, c, $ldc),
                    }
                    r += MR;
                }
                q += if two { 2 } else { 1 };
            }
        }};
    }

    /// One instruction set's entry point `$run` and kernel `$kern` over panels of `$w` lanes:
    /// the loops are written once, expanded in place so that the set's `target_feature` applies
    /// to them; `$store` adds the accumulators to `c` (the sets differ in how tail columns go).
    macro_rules! kernel {
        ($run:ident, $kern:ident, $store:ident, $feature:literal, $w:literal,
         $zero:ident, $load:ident, $set1:ident, $fmadd:ident) => {
            #[target_feature(enable = $feature)]
            pub(super) unsafe fn $run(
                p: &PackedB,
                alpha: f32,
                m: usize,
                a: *const f32,
                a_strides: (usize, usize),
                c: *mut f32,
                ldc: usize,
            ) {
                unsafe { drive!($kern, p, alpha, m, a, a_strides, c, ldc) }
            }

            /// `R` rows × one or two panels; `cols` valid columns from the first panel's start.
            #[target_feature(enable = $feature)]
            #[allow(clippy::too_many_arguments)]
            // Register accumulators indexed by row: the index form is what vectorises.
            #[allow(clippy::needless_range_loop)]
            unsafe fn $kern<const R: usize>(
                k: usize,
                alpha: f32,
                a: *const f32,
                (rs, cs): (usize, usize),
                b: *const f32,
                two: bool,
                cols: usize,
                c: *mut f32,
                ldc: usize,
            ) {
                unsafe {
                    let mut acc0 = [$zero(); R];
                    let mut acc1 = [$zero(); R];
                    let b1 = b.add(k * $w);
                    if two {
                        for kk in 0..k {
                            let (v0, v1) = ($load(b.add(kk * $w)), $load(b1.add(kk * $w)));
                            for r in 0..R {
                                let x = $set1(*a.add(r * rs + kk * cs));
                                acc0[r] = $fmadd(x, v0, acc0[r]);
                                acc1[r] = $fmadd(x, v1, acc1[r]);
                            }
                        }
                    } else {
                        for kk in 0..k {
                            let v0 = $load(b.add(kk * $w));
                            for r in 0..R {
                                acc0[r] = $fmadd($set1(*a.add(r * rs + kk * cs)), v0, acc0[r]);
                            }
                        }
                    }
                    $store(
                        &acc0,
                        &acc1,
                        Tile {
                            c,
                            ldc,
                            cols,
                            two,
                            alpha,
                        },
                    );
                }
            }
        };
    }

    kernel! {
        run_512, kern_512, store_512, "avx512f", 16,
        _mm512_setzero_ps, _mm512_loadu_ps, _mm512_set1_ps, _mm512_fmadd_ps
    }
    kernel! {
        run_256, kern_256, store_256, "avx2,fma", 8,
        _mm256_setzero_ps, _mm256_loadu_ps, _mm256_set1_ps, _mm256_fmadd_ps
    }

    /// Where a kernel's accumulators go: `c += alpha · acc`, `cols` valid columns from `c`, over
    /// one panel or `two`.
    #[derive(Clone, Copy)]
    struct Tile {
        c: *mut f32,
        ldc: usize,
        cols: usize,
        two: bool,
        alpha: f32,
    }

    /// `c[r, ..] += alpha · acc[r]` for 16-lane accumulators: masked loads and stores at the tail.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn store_512<const R: usize>(acc0: &[__m512; R], acc1: &[__m512; R], to: Tile) {
        unsafe {
            let al = _mm512_set1_ps(to.alpha);
            let mask = |from: usize| -> __mmask16 {
                let n = to.cols.saturating_sub(from).min(16);
                if n == 16 {
                    0xffff
                } else {
                    ((1u32 << n) - 1) as __mmask16
                }
            };
            let (m0, m1) = (mask(0), if to.two { mask(16) } else { 0 });
            for r in 0..R {
                let cr = to.c.add(r * to.ldc);
                let old = _mm512_maskz_loadu_ps(m0, cr);
                _mm512_mask_storeu_ps(cr, m0, _mm512_fmadd_ps(al, acc0[r], old));
                if m1 != 0 {
                    let old = _mm512_maskz_loadu_ps(m1, cr.add(16));
                    _mm512_mask_storeu_ps(cr.add(16), m1, _mm512_fmadd_ps(al, acc1[r], old));
                }
            }
        }
    }

    /// `c[r, ..] += alpha · acc[r]` for 8-lane accumulators: the tail columns go through a small
    /// buffer.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn store_256<const R: usize>(acc0: &[__m256; R], acc1: &[__m256; R], to: Tile) {
        unsafe {
            let al = _mm256_set1_ps(to.alpha);
            let put = |dst: *mut f32, v: __m256, n: usize| {
                if n >= 8 {
                    _mm256_storeu_ps(dst, _mm256_fmadd_ps(al, v, _mm256_loadu_ps(dst)));
                } else {
                    let mut tmp = [0.0f32; 8];
                    _mm256_storeu_ps(tmp.as_mut_ptr(), v);
                    for (j, t) in tmp.iter().enumerate().take(n) {
                        *dst.add(j) += to.alpha * t;
                    }
                }
            };
            for r in 0..R {
                let cr = to.c.add(r * to.ldc);
                put(cr, acc0[r], to.cols.min(8));
                if to.two {
                    put(cr.add(8), acc1[r], to.cols.saturating_sub(8).min(8));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::s;

    fn mat(r: usize, c: usize, seed: u32) -> Array2<f32> {
        Array2::from_shape_fn((r, c), |(i, j)| {
            (((i * 31 + j * 17 + seed as usize * 7) % 23) as f32 - 11.0) / 7.0
        })
    }

    /// The kernels this CPU can run (the plain path always).
    fn kernels() -> Vec<Simd> {
        let mut v = vec![Simd::None];
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                v.push(Simd::Avx2);
            }
            if is_x86_feature_detected!("avx512f") {
                v.push(Simd::Avx512);
            }
        }
        v
    }

    /// Every row/column remainder of every kernel this CPU has, against a plain triple loop.
    #[test]
    fn packed_product_matches_plain_loops() {
        for simd in kernels() {
            for &(m, k, n) in &[
                (1, 1, 1),
                (50, 200, 200),
                (7, 13, 33),
                (13, 5, 16),
                (6, 40, 17),
                (5, 9, 8),
                (11, 64, 48),
                (3, 0, 5),
            ] {
                let (at, b, c0) = (mat(k, m, 1), mat(k, n, 2), mat(m, n, 3));
                // `a` transposed, as the w_rec gradient uses it; its rows are strided.
                let a = at.t();
                let mut c = c0.clone();
                PackedB::for_kernel(b.view(), simd).mul_add(0.5, &a, &mut c.view_mut());
                let mut c2 = c0.clone();
                let a_rows = a.to_owned();
                let mut p = PackedB::for_kernel(mat(3, 4, 9).view(), simd);
                p.repack(b.view());
                p.mul_add(0.5, &a_rows.view(), &mut c2.view_mut());
                assert!(
                    c.iter()
                        .zip(&c2)
                        .all(|(x, y)| (x - y).abs() <= 1e-5 * (1.0 + y.abs())),
                    "{simd:?}: strided and contiguous a, fresh and repacked b"
                );
                for i in 0..m {
                    for j in 0..n {
                        let want = c0[[i, j]] as f64
                            + 0.5
                                * (0..k)
                                    .map(|p| a[[i, p]] as f64 * b[[p, j]] as f64)
                                    .sum::<f64>();
                        assert!(
                            (c[[i, j]] as f64 - want).abs() <= 1e-4 * (1.0 + want.abs()),
                            "{simd:?} m={m} k={k} n={n} [{i},{j}]: {} vs {want}",
                            c[[i, j]]
                        );
                    }
                }
            }
        }
    }

    /// A strided `c` and a transposed `b` go through the plain path with the same result.
    #[test]
    fn strided_views_fall_back() {
        let (a, b) = (mat(9, 12, 4), mat(20, 12, 5));
        let bt = b.t();
        for simd in kernels() {
            let packed = PackedB::for_kernel(bt, simd);
            let mut c = Array2::<f32>::zeros((9, 40));
            let mut cs = c.slice_mut(s![.., ..;2]);
            packed.mul_add(1.0, &a.view(), &mut cs);
            let want = a.dot(&bt);
            for ((i, j), w) in want.indexed_iter() {
                assert!((c[[i, 2 * j]] - w).abs() < 1e-4, "{simd:?}");
                assert_eq!(c[[i, 2 * j + 1]], 0.0);
            }
        }
    }
}
