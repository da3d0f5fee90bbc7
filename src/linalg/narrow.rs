//! The narrow products (inputs, readout), done row by row: BLAS would pack a whole `c`-sized
//! operand for a handful of products.

use ndarray::{Array2, ArrayView2, ArrayViewMut2};

use super::Real;

/// `c += alpha · a · b` for `a` of few columns (inputs, readout errors): one axpy over a row of
/// `b` per element of `a`. BLAS would pack a whole `c`-sized operand for a handful of products.
pub fn add_narrow_product<F: Real>(
    c: &mut ArrayViewMut2<F>,
    alpha: F,
    a: &ArrayView2<F>,
    b: &ArrayView2<F>,
) {
    for (mut cr, ar) in c.rows_mut().into_iter().zip(a.rows()) {
        for (&av, br) in ar.iter().zip(b.rows()) {
            cr.scaled_add(alpha * av, &br);
        }
    }
}

/// `c += a^T · b` for `a` of few columns: `c[i, :] += a[r, i] b[r, :]` row by row, so that `b`
/// (a step of the trajectory) is read once while it is in cache.
pub fn add_narrow_outer<F: Real>(c: &mut Array2<F>, a: &ArrayView2<F>, b: &ArrayView2<F>) {
    for (ar, br) in a.rows().into_iter().zip(b.rows()) {
        for (&av, mut cr) in ar.iter().zip(c.rows_mut()) {
            cr.scaled_add(av, &br);
        }
    }
}

/// `c[r, o] = bias[o] + a[r, :] · b[o, :]` for `b` of few rows (the readout).
pub fn narrow_readout<F: Real>(
    c: &mut ArrayViewMut2<F>,
    a: &ArrayView2<F>,
    b: &ArrayView2<F>,
    bias: &ndarray::ArrayView1<F>,
) {
    for (mut cr, ar) in c.rows_mut().into_iter().zip(a.rows()) {
        for ((cv, br), &bv) in cr.iter_mut().zip(b.rows()).zip(bias) {
            *cv = bv + ar.dot(&br);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mat(r: usize, c: usize, seed: u32) -> Array2<f32> {
        Array2::from_shape_fn((r, c), |(i, j)| {
            (((i * 31 + j * 17 + seed as usize * 7) % 23) as f32 - 11.0) / 7.0
        })
    }

    /// The narrow products against ndarray's own.
    #[test]
    fn narrow_products_match_dot() {
        let (a, b, c0) = (
            mat(9, 3, 6).mapv(f64::from),
            mat(3, 20, 7).mapv(f64::from),
            mat(9, 20, 8).mapv(f64::from),
        );
        let close = |x: &Array2<f64>, y: &Array2<f64>| {
            x.iter()
                .zip(y)
                .all(|(p, q)| (p - q).abs() < 1e-12 * (1.0 + q.abs()))
        };
        let mut c = c0.clone();
        add_narrow_product(&mut c.view_mut(), 0.5, &a.view(), &b.view());
        assert!(close(&c, &(&c0 + &(a.dot(&b) * 0.5))));
        let (r, t) = (mat(9, 20, 9).mapv(f64::from), mat(3, 20, 1).mapv(f64::from));
        let mut o = t.clone();
        add_narrow_outer(&mut o, &a.view(), &r.view());
        assert!(close(&o, &(&t + &a.t().dot(&r))));
        let bias = ndarray::Array1::from_vec(vec![0.1, -0.2, 0.3]);
        let mut y = Array2::<f64>::zeros((9, 3));
        narrow_readout(&mut y.view_mut(), &r.view(), &b.view(), &bias.view());
        assert!(close(&y, &(r.dot(&b.t()) + &bias)));
    }
}
