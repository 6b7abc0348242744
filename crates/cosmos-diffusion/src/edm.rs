//! EDM preconditioning and noise schedules (Karras et al. 2022, "Elucidating the Design Space
//! of Diffusion-Based Generative Models", Table 1 and Eq. 5).
//!
//! The denoiser is `D(x; σ) = c_skip(σ)·x + c_out(σ)·F(c_in(σ)·x; c_noise(σ))` with
//! `c_skip = σd²/(σ²+σd²)`, `c_out = σ·σd/√(σ²+σd²)`, `c_in = 1/√(σ²+σd²)` and, as Cosmos uses
//! it, `c_noise = 0.25·ln σ`; `σd = 0.5`.

use burn::tensor::Tensor;

/// σ_data of the Cosmos latents.
pub const SIGMA_DATA: f64 = 0.5;

/// The four EDM coefficients at one noise level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EdmCoefficients {
    /// Weight of the noisy input in the denoised estimate.
    pub c_skip: f64,
    /// Weight of the network output in the denoised estimate.
    pub c_out: f64,
    /// Scale of the network input.
    pub c_in: f64,
    /// The network's time input, `0.25·ln σ`.
    pub c_noise: f64,
}

/// EDM preconditioning with a given σ_data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EdmPreconditioner {
    /// σ_data (0.5 for Cosmos).
    pub sigma_data: f64,
}

impl Default for EdmPreconditioner {
    fn default() -> Self {
        Self {
            sigma_data: SIGMA_DATA,
        }
    }
}

impl EdmPreconditioner {
    /// The coefficients at `sigma`.
    ///
    /// The reference evaluates them in float32 from a float32 σ; they are rounded to f32 here so
    /// that sampling loops match it closely.
    pub fn coefficients(&self, sigma: f64) -> EdmCoefficients {
        let s = sigma as f32 as f64;
        let d2 = self.sigma_data * self.sigma_data;
        let r = |v: f64| v as f32 as f64;
        EdmCoefficients {
            c_skip: r(d2 / (s * s + d2)),
            c_out: r(s * self.sigma_data / (s * s + d2).sqrt()),
            c_in: r(1.0 / (s * s + d2).sqrt()),
            c_noise: c_noise(sigma),
        }
    }

    /// `c_in(σ)·x`, the network input.
    pub fn scale_input<const D: usize>(&self, x: Tensor<D>, sigma: f64) -> Tensor<D> {
        x * self.coefficients(sigma).c_in
    }

    /// The denoised estimate `c_skip·x + c_out·output`.
    pub fn denoised<const D: usize>(
        &self,
        x: Tensor<D>,
        output: Tensor<D>,
        sigma: f64,
    ) -> Tensor<D> {
        let c = self.coefficients(sigma);
        x * c.c_skip + output * c.c_out
    }

    /// The network output that would give the denoised estimate `x0` at `x`:
    /// `(x0 − c_skip·x) / c_out`.
    pub fn output_for_denoised<const D: usize>(
        &self,
        x: Tensor<D>,
        x0: Tensor<D>,
        sigma: f64,
    ) -> Tensor<D> {
        let c = self.coefficients(sigma);
        (x0 - x * c.c_skip) / c.c_out
    }
}

/// `0.25·ln σ`, evaluated in f32 from an f32 σ as the reference does.
pub fn c_noise(sigma: f64) -> f64 {
    (0.25f32 * (sigma as f32).ln()) as f64
}

/// The Karras schedule `(σmax^(1/ρ) + r·(σmin^(1/ρ) − σmax^(1/ρ)))^ρ` at `n` ramp points
/// `r = i/(n−1)`, from σ_max down to σ_min (`n ≥ 2`; `n = 1` gives `[σ_max]`).
pub fn karras_sigmas(n: usize, sigma_min: f64, sigma_max: f64, rho: f64) -> Vec<f64> {
    let lo = sigma_min.powf(1.0 / rho);
    let hi = sigma_max.powf(1.0 / rho);
    (0..n)
        .map(|i| {
            let r = if n > 1 {
                i as f64 / (n - 1) as f64
            } else {
                0.0
            };
            (hi + r * (lo - hi)).powf(rho)
        })
        .collect()
}

/// The last σ of a scheduler's list, after the schedule proper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalSigma {
    /// End at σ = 0 (cosmos-predict1 inference: the last step lands on the clean sample).
    Zero,
    /// Repeat σ_min (diffusers' Cosmos pipelines: the last step is a no-op).
    SigmaMin,
}

/// diffusers' `EDMEulerScheduler` σ list: `steps` Karras values followed by the final σ, each
/// rounded to f32 (`steps + 1` values).
pub fn euler_scheduler_sigmas(
    steps: usize,
    sigma_min: f64,
    sigma_max: f64,
    rho: f64,
    last: FinalSigma,
) -> Vec<f64> {
    let mut s: Vec<f64> = karras_sigmas(steps, sigma_min, sigma_max, rho)
        .into_iter()
        .map(|v| v as f32 as f64)
        .collect();
    let final_sigma = match last {
        FinalSigma::Zero => 0.0,
        FinalSigma::SigmaMin => s.last().copied().unwrap_or(sigma_min),
    };
    s.push(final_sigma);
    s
}

/// One Euler step of the probability-flow ODE from `sigma` to `sigma_next` given the denoised
/// estimate: `x + (x − x0)/σ · (σ_next − σ)`.
pub fn euler_step<const D: usize>(
    x: Tensor<D>,
    x0: Tensor<D>,
    sigma: f64,
    sigma_next: f64,
) -> Tensor<D> {
    let s = sigma as f32 as f64;
    let dt = (sigma_next as f32 - sigma as f32) as f64;
    let derivative = (x.clone() - x0) / s;
    x + derivative * dt
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coefficients_satisfy_edm_identities() {
        let p = EdmPreconditioner::default();
        for sigma in [0.002, 0.5, 3.7, 80.0] {
            let c = p.coefficients(sigma);
            // c_skip + c_out²/σd² ... = 1 and c_in·σd = c_out/σ
            assert!((c.c_skip + (c.c_out * c.c_out) / 0.25 - 1.0).abs() < 1e-6);
            assert!((c.c_in * 0.5 - c.c_out / sigma).abs() < 1e-6);
            assert!((c.c_noise - 0.25 * f64::ln(sigma)).abs() < 1e-6);
        }
    }

    #[test]
    fn karras_schedule_endpoints_and_monotone() {
        let s = karras_sigmas(35, 0.002, 80.0, 7.0);
        assert_eq!(s.len(), 35);
        assert!((s[0] - 80.0).abs() < 1e-9 && (s[34] - 0.002).abs() < 1e-12);
        assert!(s.windows(2).all(|w| w[0] > w[1]));
        let e = euler_scheduler_sigmas(12, 0.0002, 80.0, 7.0, FinalSigma::Zero);
        assert_eq!(e.len(), 13);
        assert_eq!(e[12], 0.0);
        let e = euler_scheduler_sigmas(4, 0.002, 80.0, 7.0, FinalSigma::SigmaMin);
        assert_eq!(e[3], e[4]);
    }
}
