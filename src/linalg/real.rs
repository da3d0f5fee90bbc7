//! The scalar type the CPU implementation is generic over.

use super::PackedB;

/// Scalar type the CPU implementation is generic over (f32 for speed, f64 for gradient checks).
pub trait Real:
    num_traits::Float
    + num_traits::FromPrimitive
    + ndarray::LinalgScalar
    + ndarray::ScalarOperand
    + std::fmt::Debug
    + std::fmt::Display
    + std::iter::Sum
    + std::ops::AddAssign
    + std::ops::SubAssign
    + std::ops::MulAssign
    + Send
    + Sync
    + 'static
{
    fn c(x: f64) -> Self {
        Self::from_f64(x).unwrap()
    }
    /// tanh as the activations use it: exact in f64 (gradient checks), a fast rational
    /// approximation in f32 (libm's tanhf was a third of a CPU training update).
    #[inline(always)]
    fn tanh_act(self) -> Self {
        self.tanh()
    }
    /// A matrix prepared for the per-step products of a sequence, `c += alpha · a · b` with `b`
    /// fixed over the sequence: SIMD panels in f32 ([`PackedB`]), as it is in f64
    /// (the exact oracle, through `general_mat_mul`).
    type StepMatrix: Send + Sync;
    fn step_matrix(b: ndarray::ArrayView2<Self>) -> Self::StepMatrix;
    /// Prepare another `b` in the storage of `m`.
    fn step_repack(m: &mut Self::StepMatrix, b: ndarray::ArrayView2<Self>);
    fn step_mul_add(
        b: &Self::StepMatrix,
        alpha: Self,
        a: &ndarray::ArrayView2<Self>,
        c: &mut ndarray::ArrayViewMut2<Self>,
    );
}
impl Real for f32 {
    type StepMatrix = PackedB;
    fn step_matrix(b: ndarray::ArrayView2<f32>) -> Self::StepMatrix {
        PackedB::new(b)
    }
    fn step_repack(m: &mut Self::StepMatrix, b: ndarray::ArrayView2<f32>) {
        m.repack(b)
    }
    fn step_mul_add(
        b: &Self::StepMatrix,
        alpha: f32,
        a: &ndarray::ArrayView2<f32>,
        c: &mut ndarray::ArrayViewMut2<f32>,
    ) {
        b.mul_add(alpha, a, c)
    }

    /// Rational (13/6) minimax approximation of tanh on [-7.9, 7.9] (Eigen's float tanh),
    /// absolute error below 1e-6 (tested); saturates to ±1 beyond.
    #[inline(always)]
    fn tanh_act(self) -> f32 {
        const A: [f32; 7] = [
            4.893_524_6e-3,
            6.372_619_3e-4,
            1.485_722_4e-5,
            5.122_297e-8,
            -8.604_672e-11,
            2.000_188e-13,
            -2.760_768_5e-16,
        ];
        const B: [f32; 4] = [4.893_525e-3, 2.268_434_6e-3, 1.185_347e-4, 1.198_258_4e-6];
        if self.abs() < 4e-4 {
            return self;
        }
        let x = self.clamp(-7.905_311, 7.905_311);
        let x2 = x * x;
        let p = x
            * (A[0]
                + x2 * (A[1] + x2 * (A[2] + x2 * (A[3] + x2 * (A[4] + x2 * (A[5] + x2 * A[6]))))));
        let q = B[0] + x2 * (B[1] + x2 * (B[2] + x2 * B[3]));
        p / q
    }
}
impl Real for f64 {
    type StepMatrix = ndarray::Array2<f64>;
    fn step_matrix(b: ndarray::ArrayView2<f64>) -> Self::StepMatrix {
        b.to_owned()
    }
    fn step_repack(m: &mut Self::StepMatrix, b: ndarray::ArrayView2<f64>) {
        *m = b.to_owned();
    }
    fn step_mul_add(
        b: &Self::StepMatrix,
        alpha: f64,
        a: &ndarray::ArrayView2<f64>,
        c: &mut ndarray::ArrayViewMut2<f64>,
    ) {
        ndarray::linalg::general_mat_mul(alpha, a, b, 1.0, c)
    }
}
