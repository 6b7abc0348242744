//! Samplers of the EDM probability-flow ODE behind one trait.
//!
//! - [`EulerSampler`]: cosmos-predict1's inference loop, i.e. diffusers' `EDMEulerScheduler`
//!   (Karras σ list, first-order Euler steps; classifier-free guidance on the raw network output).
//! - [`Res2abSampler`]: the second-order multistep RES sampler ("2ab", Zhang et al. 2023,
//!   "Improved order analysis and design of exponential integrator for diffusion models") that
//!   cosmos-predict1's training/evaluation code and the original Cosmos-1.0 release use: state in
//!   float64, guidance on the denoised estimate, a plain x0-Euler first step, and one final
//!   denoiser call at σ_min that returns the clean sample.
//! - [`HeunSampler`]: EDM's deterministic 2nd-order Heun sampler (Karras et al. 2022, Alg. 1).
//!
//! A sampler only sees a [`Denoiser`]: `D(x; σ)`, the guided denoised estimate.

use burn::tensor::{Device, Tensor, TensorData};

use crate::edm::{FinalSigma, euler_scheduler_sigmas, euler_step, karras_sigmas};
use crate::{Error, Result};

/// Where classifier-free guidance combines the two branches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuidanceSpace {
    /// `F = F_c + g·(F_c − F_u)` on the raw network outputs (cosmos-predict1 inference).
    NetworkOutput,
    /// `x0 = x0_c + g·(x0_c − x0_u)` on the denoised estimates (RES sampler).
    Denoised,
}

/// The guided denoiser a sampler calls.
pub trait Denoiser {
    /// The denoised estimate `D(x; σ)` for `x: [batch, C, T, H, W]` at noise level `sigma`,
    /// with guidance combined in `space`.
    fn denoise(&mut self, x: Tensor<5>, sigma: f64, space: GuidanceSpace) -> Result<Tensor<5>>;
}

/// Progress of a sampling run, reported once per sampler step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplerStep {
    /// Steps done so far (1-based after the step).
    pub done: usize,
    /// Steps in all (including a final clean-up call).
    pub total: usize,
    /// The noise level the step started from.
    pub sigma: f64,
}

/// A sampling algorithm.
pub trait Sampler {
    /// A short name (`euler`, `res2ab`, `heun`).
    fn name(&self) -> &'static str;
    /// The noise levels visited, from the first to the last.
    fn sigmas(&self) -> Vec<f64>;
    /// The standard deviation the initial noise is scaled to.
    fn initial_sigma(&self) -> f64;
    /// Where guidance is applied, as the reference sampler does.
    fn guidance_space(&self) -> GuidanceSpace;
    /// Denoiser calls of a run (each is one or two network calls with guidance).
    fn denoiser_calls(&self) -> usize;
    /// Steps reported to the progress callback.
    fn progress_steps(&self) -> usize;
    /// Runs the sampler from standard normal `noise` (scaled here by
    /// [`initial_sigma`](Self::initial_sigma)) and returns the clean sample.
    fn sample(
        &self,
        denoiser: &mut dyn Denoiser,
        noise: Tensor<5>,
        progress: &mut dyn FnMut(SamplerStep),
    ) -> Result<Tensor<5>>;
}

/// Which sampler [`SamplerConfig::build`] makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SamplerKind {
    /// [`EulerSampler`].
    Euler,
    /// [`Res2abSampler`].
    Res2ab,
    /// [`HeunSampler`].
    Heun,
}

impl std::str::FromStr for SamplerKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "euler" => Ok(Self::Euler),
            "res2ab" | "res" | "2ab" => Ok(Self::Res2ab),
            "heun" => Ok(Self::Heun),
            other => Err(Error::Argument(format!(
                "unknown sampler '{other}' (euler, res2ab or heun)"
            ))),
        }
    }
}

/// A sampler choice with its schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplerConfig {
    /// The algorithm.
    pub kind: SamplerKind,
    /// Sampler steps (35 in the Cosmos releases).
    pub steps: usize,
    /// Smallest σ of the schedule.
    pub sigma_min: f64,
    /// Largest σ of the schedule.
    pub sigma_max: f64,
    /// Karras schedule exponent.
    pub rho: f64,
    /// The Euler scheduler's last σ.
    pub final_sigma: FinalSigma,
}

impl SamplerConfig {
    /// cosmos-predict1 inference: Euler, σ 0.0002..80, ρ 7, ending at σ = 0.
    pub fn euler(steps: usize) -> Self {
        Self {
            kind: SamplerKind::Euler,
            steps,
            sigma_min: 0.0002,
            sigma_max: 80.0,
            rho: 7.0,
            final_sigma: FinalSigma::Zero,
        }
    }

    /// The Cosmos-1.0 release sampler: RES 2ab, σ 0.002..80, ρ 7.
    pub fn res2ab(steps: usize) -> Self {
        Self {
            kind: SamplerKind::Res2ab,
            sigma_min: 0.002,
            ..Self::euler(steps)
        }
    }

    /// EDM's Heun sampler on the Karras schedule σ 0.002..80, ρ 7, ending at σ = 0.
    pub fn heun(steps: usize) -> Self {
        Self {
            kind: SamplerKind::Heun,
            sigma_min: 0.002,
            ..Self::euler(steps)
        }
    }

    /// The default configuration of `kind`.
    pub fn of_kind(kind: SamplerKind, steps: usize) -> Self {
        match kind {
            SamplerKind::Euler => Self::euler(steps),
            SamplerKind::Res2ab => Self::res2ab(steps),
            SamplerKind::Heun => Self::heun(steps),
        }
    }

    /// Checks the values and builds the sampler.
    pub fn build(&self) -> Result<Box<dyn Sampler>> {
        if self.steps == 0 {
            return Err(Error::Argument("sampler steps must be at least 1".into()));
        }
        if !(self.sigma_min > 0.0 && self.sigma_min < self.sigma_max && self.sigma_max.is_finite())
        {
            return Err(Error::Argument(format!(
                "need 0 < sigma_min < sigma_max, found {} and {}",
                self.sigma_min, self.sigma_max
            )));
        }
        if self.rho.is_nan() || self.rho <= 0.0 {
            return Err(Error::Argument(format!(
                "rho must be positive, found {}",
                self.rho
            )));
        }
        Ok(match self.kind {
            SamplerKind::Euler => Box::new(EulerSampler {
                steps: self.steps,
                sigma_min: self.sigma_min,
                sigma_max: self.sigma_max,
                rho: self.rho,
                final_sigma: self.final_sigma,
            }),
            SamplerKind::Res2ab => Box::new(Res2abSampler {
                steps: self.steps,
                sigma_min: self.sigma_min,
                sigma_max: self.sigma_max,
                rho: self.rho,
            }),
            SamplerKind::Heun => Box::new(HeunSampler {
                steps: self.steps,
                sigma_min: self.sigma_min,
                sigma_max: self.sigma_max,
                rho: self.rho,
            }),
        })
    }
}

/// diffusers' `EDMEulerScheduler` loop as cosmos-predict1's inference drives it.
#[derive(Debug, Clone)]
pub struct EulerSampler {
    /// Steps (= denoiser calls).
    pub steps: usize,
    /// σ_min of the Karras schedule.
    pub sigma_min: f64,
    /// σ_max of the Karras schedule.
    pub sigma_max: f64,
    /// ρ of the Karras schedule.
    pub rho: f64,
    /// Where the last step lands.
    pub final_sigma: FinalSigma,
}

impl Sampler for EulerSampler {
    fn name(&self) -> &'static str {
        "euler"
    }

    fn sigmas(&self) -> Vec<f64> {
        euler_scheduler_sigmas(
            self.steps,
            self.sigma_min,
            self.sigma_max,
            self.rho,
            self.final_sigma,
        )
    }

    /// `√(σ_max² + 1)`, diffusers' `init_noise_sigma`.
    fn initial_sigma(&self) -> f64 {
        (self.sigma_max * self.sigma_max + 1.0).sqrt()
    }

    fn guidance_space(&self) -> GuidanceSpace {
        GuidanceSpace::NetworkOutput
    }

    fn denoiser_calls(&self) -> usize {
        self.steps
    }

    fn progress_steps(&self) -> usize {
        self.steps
    }

    fn sample(
        &self,
        denoiser: &mut dyn Denoiser,
        noise: Tensor<5>,
        progress: &mut dyn FnMut(SamplerStep),
    ) -> Result<Tensor<5>> {
        let sigmas = self.sigmas();
        let mut x = noise * (self.initial_sigma() as f32 as f64);
        for i in 0..self.steps {
            let x0 = denoiser.denoise(x.clone(), sigmas[i], self.guidance_space())?;
            x = euler_step(x, x0, sigmas[i], sigmas[i + 1]);
            progress(SamplerStep {
                done: i + 1,
                total: self.steps,
                sigma: sigmas[i],
            });
        }
        Ok(x)
    }
}

/// cosmos-predict1's RES 2nd-order multistep sampler ("2ab").
#[derive(Debug, Clone)]
pub struct Res2abSampler {
    /// Steps (the run makes `steps + 1` denoiser calls).
    pub steps: usize,
    /// σ_min: the last σ of the schedule and of the final clean call.
    pub sigma_min: f64,
    /// σ_max.
    pub sigma_max: f64,
    /// ρ.
    pub rho: f64,
}

/// `(eᵗ − 1)/t` and `(φ₁(t) − 1)/t`, in f64.
fn phi1(t: f64) -> f64 {
    t.exp_m1() / t
}
fn phi2(t: f64) -> f64 {
    (phi1(t) - 1.0) / t
}

impl Sampler for Res2abSampler {
    fn name(&self) -> &'static str {
        "res2ab"
    }

    /// cosmos-predict1's `get_rev_ts`: `steps + 1` Karras values in f64.
    fn sigmas(&self) -> Vec<f64> {
        karras_sigmas(self.steps + 1, self.sigma_min, self.sigma_max, self.rho)
    }

    fn initial_sigma(&self) -> f64 {
        self.sigma_max
    }

    fn guidance_space(&self) -> GuidanceSpace {
        GuidanceSpace::Denoised
    }

    fn denoiser_calls(&self) -> usize {
        self.steps + 1
    }

    fn progress_steps(&self) -> usize {
        self.steps + 1
    }

    fn sample(
        &self,
        denoiser: &mut dyn Denoiser,
        noise: Tensor<5>,
        progress: &mut dyn FnMut(SamplerStep),
    ) -> Result<Tensor<5>> {
        let sigmas = self.sigmas();
        let total = self.progress_steps();
        let shape = noise.dims();
        let device = noise.device();
        let space = self.guidance_space();
        // The reference scales the noise in the network's precision, then integrates in f64.
        let mut x: Vec<f64> = host_f32(noise * (self.initial_sigma() as f32 as f64))?
            .into_iter()
            .map(f64::from)
            .collect();
        let mut previous: Option<(Vec<f64>, f64)> = None;
        for i in 0..self.steps {
            let (s, t) = (sigmas[i], sigmas[i + 1]);
            let x0 = host_f32(denoiser.denoise(to_device(&x, shape, &device), s, space)?)?;
            let x0: Vec<f64> = x0.into_iter().map(f64::from).collect();
            match &previous {
                None => {
                    // x0-Euler: x_t = (s − t)/s · x0 + t/s · x_s
                    let (a, b) = ((s - t) / s, t / s);
                    x.iter_mut()
                        .zip(&x0)
                        .for_each(|(xv, x0v)| *xv = a * x0v + b * *xv);
                }
                Some((x0_prev, s_prev)) => {
                    // Exponential integrator in λ = −ln σ with the previous x0 (Adams–Bashforth).
                    let (ls, lt, lm) = (-s.ln(), -t.ln(), -s_prev.ln());
                    let dt = lt - ls;
                    if dt.abs() <= 1e-6 || (lm - ls).abs() <= 1e-6 {
                        return Err(Error::Argument(format!(
                            "RES step too small between sigma {s_prev}, {s} and {t}"
                        )));
                    }
                    let c2 = (lm - ls) / dt;
                    let (p1, p2) = (phi1(-dt), phi2(-dt));
                    let b1 = p1 - p2 / c2;
                    let b2 = p2 / c2;
                    let decay = (-dt).exp();
                    x.iter_mut()
                        .zip(x0.iter().zip(x0_prev))
                        .for_each(|(xv, (a, p))| *xv = decay * *xv + dt * (b1 * a + b2 * p));
                }
            }
            previous = Some((x0, s));
            progress(SamplerStep {
                done: i + 1,
                total,
                sigma: s,
            });
        }
        let last = *sigmas.last().expect("steps + 1 sigmas");
        let clean = denoiser.denoise(to_device(&x, shape, &device), last, space)?;
        progress(SamplerStep {
            done: total,
            total,
            sigma: last,
        });
        Ok(clean)
    }
}

/// EDM's deterministic Heun sampler (2nd order, one extra call per step except the last).
#[derive(Debug, Clone)]
pub struct HeunSampler {
    /// Steps.
    pub steps: usize,
    /// σ_min.
    pub sigma_min: f64,
    /// σ_max.
    pub sigma_max: f64,
    /// ρ.
    pub rho: f64,
}

impl Sampler for HeunSampler {
    fn name(&self) -> &'static str {
        "heun"
    }

    /// `steps` Karras values followed by 0.
    fn sigmas(&self) -> Vec<f64> {
        let mut s = karras_sigmas(self.steps, self.sigma_min, self.sigma_max, self.rho);
        s.push(0.0);
        s
    }

    fn initial_sigma(&self) -> f64 {
        self.sigma_max
    }

    fn guidance_space(&self) -> GuidanceSpace {
        GuidanceSpace::NetworkOutput
    }

    fn denoiser_calls(&self) -> usize {
        2 * self.steps - 1
    }

    fn progress_steps(&self) -> usize {
        self.steps
    }

    fn sample(
        &self,
        denoiser: &mut dyn Denoiser,
        noise: Tensor<5>,
        progress: &mut dyn FnMut(SamplerStep),
    ) -> Result<Tensor<5>> {
        let sigmas = self.sigmas();
        let space = self.guidance_space();
        let mut x = noise * self.initial_sigma();
        for i in 0..self.steps {
            let (s, t) = (sigmas[i], sigmas[i + 1]);
            let x0 = denoiser.denoise(x.clone(), s, space)?;
            let d = (x.clone() - x0) / s;
            let euler = x.clone() + d.clone() * (t - s);
            x = if t > 0.0 {
                let x0_next = denoiser.denoise(euler.clone(), t, space)?;
                let d_next = (euler - x0_next) / t;
                x + (d + d_next) * (0.5 * (t - s))
            } else {
                euler
            };
            progress(SamplerStep {
                done: i + 1,
                total: self.steps,
                sigma: s,
            });
        }
        Ok(x)
    }
}

fn host_f32(x: Tensor<5>) -> Result<Vec<f32>> {
    x.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| Error::Argument(format!("cannot read sampler state: {e:?}")))
}

fn to_device(x: &[f64], shape: [usize; 5], device: &Device) -> Tensor<5> {
    let v: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    Tensor::from_data(TensorData::new(v, shape), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An exact denoiser for data that is a single point `mu`: `D(x; σ) = mu` for every σ.
    struct PointMass(Tensor<5>, usize);

    impl Denoiser for PointMass {
        fn denoise(&mut self, _x: Tensor<5>, _s: f64, _g: GuidanceSpace) -> Result<Tensor<5>> {
            self.1 += 1;
            Ok(self.0.clone())
        }
    }

    /// The exact denoiser of Gaussian data N(0, σd²): `D(x; σ) = x·σd²/(σ² + σd²)`.
    struct Gaussian;

    impl Denoiser for Gaussian {
        fn denoise(&mut self, x: Tensor<5>, s: f64, _g: GuidanceSpace) -> Result<Tensor<5>> {
            Ok(x * (0.25 / (s * s + 0.25)))
        }
    }

    use cosmos_nn::parity::values;

    #[test]
    fn every_sampler_lands_on_a_point_mass_with_the_stated_call_count() {
        let device = Device::flex();
        let mu = Tensor::<5>::from_data(
            TensorData::new(vec![0.3f32, -0.7, 1.1, 0.0], [1, 1, 1, 2, 2]),
            &device,
        );
        let noise = crate::noise::NoiseGenerator::new(3).tensor([1, 1, 1, 2, 2], &device);
        for kind in [SamplerKind::Euler, SamplerKind::Res2ab, SamplerKind::Heun] {
            let sampler = SamplerConfig::of_kind(kind, 8).build().unwrap();
            let mut d = PointMass(mu.clone(), 0);
            let mut steps = 0;
            let out = sampler
                .sample(&mut d, noise.clone(), &mut |s| {
                    steps += 1;
                    assert_eq!(s.done, steps);
                })
                .unwrap();
            assert_eq!(d.1, sampler.denoiser_calls(), "{kind:?}");
            assert_eq!(steps, sampler.progress_steps());
            for (a, b) in values(out).iter().zip(values(mu.clone())) {
                assert!((a - b).abs() < 1e-3, "{kind:?}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn second_order_samplers_beat_euler_on_gaussian_data() {
        // For N(0, σd²) data the ODE solution from x(σmax) is x·√((σ_min²+σd²)/(σmax²+σd²)) at σ_min.
        let device = Device::flex();
        let noise = Tensor::<5>::ones([1, 1, 1, 1, 1], &device);
        let err = |kind| {
            let cfg = SamplerConfig::of_kind(kind, 24);
            let sampler = cfg.build().unwrap();
            let x_start = sampler.initial_sigma();
            let out = values(
                sampler
                    .sample(&mut Gaussian, noise.clone(), &mut |_| {})
                    .unwrap(),
            )[0];
            let end = match kind {
                // RES returns D(x; σmin) of the state at σmin.
                SamplerKind::Res2ab => {
                    let s = cfg.sigma_min;
                    (s * s + 0.25f64).sqrt() * 0.25 / (s * s + 0.25)
                }
                _ => 0.5,
            };
            let exact = x_start / (cfg.sigma_max.powi(2) + 0.25).sqrt() * end;
            (out as f64 - exact).abs() / exact.abs()
        };
        let (e, r, h) = (
            err(SamplerKind::Euler),
            err(SamplerKind::Res2ab),
            err(SamplerKind::Heun),
        );
        assert!(r < e / 2.0 && h < e / 2.0, "euler {e}, res {r}, heun {h}");
        assert!(r < 0.06 && h < 0.06, "euler {e}, res {r}, heun {h}");
    }

    #[test]
    fn bad_configs_are_rejected() {
        assert!(SamplerConfig::euler(0).build().is_err());
        let mut c = SamplerConfig::res2ab(10);
        c.sigma_min = 100.0;
        assert!(c.build().is_err());
        assert!("dpm".parse::<SamplerKind>().is_err());
        assert_eq!(
            "RES2AB".parse::<SamplerKind>().unwrap(),
            SamplerKind::Res2ab
        );
    }
}
