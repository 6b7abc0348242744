//! `cosmos verify --kind dit|edm|sample`: the network, the EDM scheduler arithmetic and whole
//! sampling loops against reference fixtures (see `testdata/parity/README.md`).

use burn::tensor::{Device, Tensor, TensorData};
use cosmos_nn::parity::{Comparison, Fixture};
use serde_json::Value;

use crate::config::DitConfig;
use crate::dit::{CosmosDit, DitConditioning};
use crate::edm::{EdmPreconditioner, FinalSigma, c_noise, euler_scheduler_sigmas, euler_step};
use crate::guidance::{DitNetwork, GuidedDenoiser};
use crate::sampler::{SamplerConfig, SamplerKind};
use crate::{Error, Result};

/// What a fixture checks, judged from its contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixtureKind {
    /// One DiT forward (`__x__`, `__timestep__`, `__output__`).
    Dit,
    /// EDM scheduler arithmetic (`__sigmas__`, `__model_output__`).
    Edm,
    /// A whole sampling loop (`__noise__`, `__sample__`, JSON `sampler`).
    Sample,
}

/// Classifies a fixture by the tensors and fields it holds.
pub fn fixture_kind(fixture: &Fixture) -> Result<FixtureKind> {
    if fixture.has("noise") && fixture.has("sample") && fixture.json.get("sampler").is_some() {
        Ok(FixtureKind::Sample)
    } else if fixture.has("model_output") && fixture.has("sigmas") {
        Ok(FixtureKind::Edm)
    } else if fixture.has("x") && fixture.has("output") {
        Ok(FixtureKind::Dit)
    } else {
        Err(fixture_error(
            fixture,
            "holds neither a DiT case (__x__, __output__), an EDM case (__sigmas__, \
             __model_output__) nor a sampling case (__noise__, __sample__, JSON 'sampler')",
        ))
    }
}

/// The tolerance a fixture asks for: the top-level `tolerance`, else `sampler.tolerance`
/// (the whole-loop fixtures keep it there), else the default 1e-4.
pub fn fixture_tolerance(fixture: &Fixture) -> f64 {
    if fixture.json.get("tolerance").is_some() {
        return fixture.tolerance;
    }
    fixture
        .json_field("sampler.tolerance")
        .and_then(Value::as_f64)
        .unwrap_or(fixture.tolerance)
}

/// Runs whatever the fixture holds (DiT forward, EDM arithmetic or a sampling loop) and compares
/// every output it has a reference for.
pub fn verify_fixture(fixture: &Fixture, device: &Device) -> Result<Vec<Comparison>> {
    match fixture_kind(fixture)? {
        FixtureKind::Dit => verify_dit(fixture, device),
        FixtureKind::Edm => verify_edm(fixture, device),
        FixtureKind::Sample => verify_sample(fixture, device),
    }
}

fn fixture_error(fixture: &Fixture, message: impl Into<String>) -> Error {
    Error::Nn(cosmos_nn::Error::Fixture {
        path: fixture.path().display().to_string(),
        message: message.into(),
    })
}

/// The network of a fixture: its config (cosmos-predict1's `GeneralDIT` arguments when the JSON
/// has them, diffusers' otherwise) with its weights loaded under their original names.
pub fn fixture_dit(fixture: &Fixture, device: &Device) -> Result<CosmosDit> {
    let config = match fixture.json.get("cosmos_predict1_config") {
        Some(v) => DitConfig::from_cosmos_predict1(v)?,
        None => {
            let v = fixture
                .json
                .get("config")
                .ok_or_else(|| fixture_error(fixture, "JSON has no 'config'"))?;
            DitConfig::from_diffusers(v)?
        }
    };
    let mut dit = config
        .with_checkpoint_action_dim(&fixture.weights)
        .init(device)?;
    dit.load_checkpoint(&fixture.weights)?;
    Ok(dit)
}

fn fps_of(fixture: &Fixture) -> Option<f64> {
    fixture.json.get("fps").and_then(Value::as_f64)
}

/// The first of `names` the fixture holds (diffusers' and cosmos-predict1's forward arguments
/// are named differently: `timestep` / `timesteps`, `encoder_hidden_states` / `crossattn_emb`).
fn first_present<'a>(fixture: &Fixture, names: &[&'a str]) -> Option<&'a str> {
    names.iter().copied().find(|n| fixture.has(n))
}

/// One DiT forward: `__x__`, the timestep (`__timestep__` or `__timesteps__`), the text
/// embeddings (`__encoder_hidden_states__` or `__crossattn_emb__`), `__padding_mask__`, the
/// optional condition mask (`__condition_mask__` or `__condition_video_input_mask__`) and the
/// action of an action-conditioned network (`__action__` `[B, T−1, dim]`, first row used, as the
/// reference does) → `__output__`, plus `__action_embedding_B_3D__` when the fixture has it.
pub fn verify_dit(fixture: &Fixture, device: &Device) -> Result<Vec<Comparison>> {
    if is_multiview(fixture) {
        return verify_multiview_dit(fixture, device);
    }
    let dit = fixture_dit(fixture, device)?;
    let x = fixture.tensor::<5>("x", device)?;
    let missing = |what: &str| fixture_error(fixture, format!("no {what} input"));
    let timestep_name =
        first_present(fixture, &["timestep", "timesteps"]).ok_or_else(|| missing("timestep"))?;
    let timestep = fixture.tensor::<1>(timestep_name, device)?;
    let context = fixture.tensor::<3>(
        first_present(fixture, &["encoder_hidden_states", "crossattn_emb"])
            .ok_or_else(|| missing("text-embedding"))?,
        device,
    )?;
    let action = if fixture.has("action") {
        let a = fixture.tensor::<3>("action", device)?;
        let [b, _, d] = a.dims();
        Some(a.narrow(1, 0, 1).reshape([b, d]))
    } else {
        None
    };
    let mask_name = first_present(fixture, &["condition_mask", "condition_video_input_mask"]);
    let conditioning = DitConditioning {
        fps: fps_of(fixture),
        condition_mask: match mask_name {
            Some(name) => Some(fixture.tensor::<5>(name, device)?),
            None => None,
        },
        padding_mask: if fixture.has("padding_mask") {
            Some(fixture.tensor::<4>("padding_mask", device)?)
        } else {
            None
        },
        action: action.clone(),
    };
    let mut out = vec![];
    if fixture.has("sigma") {
        // The timestep input is c_noise(σ): check our c_noise against it too.
        let sigma = host(fixture.tensor::<1>("sigma", device)?)?;
        let t: Vec<f32> = sigma.iter().map(|&s| c_noise(s as f64) as f32).collect();
        out.push(fixture.compare(timestep_name, TensorData::new(t.clone(), [t.len()]))?);
    }
    if let (Some(embedder), Some(a), true) = (
        &dit.action_embedder,
        action,
        fixture.has("action_embedding_B_3D"),
    ) {
        let embedding = embedder.forward(a);
        out.push(fixture.compare("action_embedding_B_3D", embedding.into_data())?);
    }
    let y = dit.forward(x, timestep, context, &conditioning)?;
    out.push(fixture.compare("output", y.into_data())?);
    Ok(out)
}

/// Whether the fixture holds cosmos-predict1's multi-view network (`n_views` in its config).
fn is_multiview(fixture: &Fixture) -> bool {
    fixture
        .json
        .get("cosmos_predict1_config")
        .and_then(|c| c.get("n_views"))
        .is_some()
}

/// One forward of the multi-view DiT ([`crate::multiview`]): `__x__` `[B, C, V·T, H, W]`,
/// `__timesteps__`, `__crossattn_emb__` `[B, V·M, D]`, `__padding_mask__`, the optional
/// `__condition_video_input_mask__` (Video2World) and `__frame_repeat__` `[B, V]` →
/// `__output__`.
pub fn verify_multiview_dit(fixture: &Fixture, device: &Device) -> Result<Vec<Comparison>> {
    let json = fixture
        .json
        .get("cosmos_predict1_config")
        .ok_or_else(|| fixture_error(fixture, "JSON has no 'cosmos_predict1_config'"))?;
    let (config, views) = crate::multiview::MultiviewConfig::from_cosmos_predict1(json)?;
    let mut net = views.init(&config, device)?;
    net.load_checkpoint(&fixture.weights)?;
    let missing = |what: &str| fixture_error(fixture, format!("no {what} input"));
    let timestep = fixture.tensor::<1>(
        first_present(fixture, &["timestep", "timesteps"]).ok_or_else(|| missing("timestep"))?,
        device,
    )?;
    let context = fixture.tensor::<3>(
        first_present(fixture, &["encoder_hidden_states", "crossattn_emb"])
            .ok_or_else(|| missing("text-embedding"))?,
        device,
    )?;
    let optional5 = |name: &str| -> Result<Option<Tensor<5>>> {
        Ok(if fixture.has(name) {
            Some(fixture.tensor::<5>(name, device)?)
        } else {
            None
        })
    };
    let conditioning = DitConditioning {
        fps: fps_of(fixture),
        condition_mask: match first_present(
            fixture,
            &["condition_mask", "condition_video_input_mask"],
        ) {
            Some(name) => optional5(name)?,
            None => None,
        },
        padding_mask: if fixture.has("padding_mask") {
            Some(fixture.tensor::<4>("padding_mask", device)?)
        } else {
            None
        },
        action: None,
    };
    let frame_repeat = if fixture.has("frame_repeat") {
        Some(fixture.tensor::<2>("frame_repeat", device)?)
    } else {
        None
    };
    let x = fixture.tensor::<5>("x", device)?;
    let y = net.forward(x, timestep, context, &conditioning, frame_repeat.as_ref())?;
    Ok(vec![fixture.compare("output", y.into_data())?])
}

/// diffusers' `EDMEulerScheduler` arithmetic: the σ list, the timesteps `0.25·ln σ`, the scaled
/// input at step 0, the denoised estimate and the first Euler step.
pub fn verify_edm(fixture: &Fixture, device: &Device) -> Result<Vec<Comparison>> {
    let json = &fixture.json;
    let f = |k: &str, d: f64| {
        json.get("config")
            .and_then(|c| c.get(k))
            .and_then(Value::as_f64)
            .unwrap_or(d)
    };
    let steps = json
        .get("steps")
        .and_then(Value::as_u64)
        .ok_or_else(|| fixture_error(fixture, "JSON has no 'steps'"))? as usize;
    let final_sigma = match json
        .get("config")
        .and_then(|c| c.get("final_sigmas_type"))
        .and_then(Value::as_str)
        .unwrap_or("zero")
    {
        "sigma_min" => FinalSigma::SigmaMin,
        "zero" => FinalSigma::Zero,
        other => {
            return Err(fixture_error(
                fixture,
                format!("final_sigmas_type '{other}'"),
            ));
        }
    };
    let pre = EdmPreconditioner {
        sigma_data: f("sigma_data", 0.5),
    };
    let sigmas = euler_scheduler_sigmas(
        steps,
        f("sigma_min", 0.002),
        f("sigma_max", 80.0),
        f("rho", 7.0),
        final_sigma,
    );
    let mut out = vec![];
    let as_f32 = |v: &[f64]| v.iter().map(|&s| s as f32).collect::<Vec<f32>>();
    out.push(fixture.compare("sigmas", TensorData::new(as_f32(&sigmas), [sigmas.len()]))?);
    if fixture.has("timesteps") {
        let t: Vec<f32> = sigmas[..steps].iter().map(|&s| c_noise(s) as f32).collect();
        out.push(fixture.compare("timesteps", TensorData::new(t, [steps]))?);
    }
    let sample = fixture.tensor::<5>("sample", device)?;
    let model_output = fixture.tensor::<5>("model_output", device)?;
    if fixture.has("scaled_input") {
        let y = pre.scale_input(sample.clone(), sigmas[0]);
        out.push(fixture.compare("scaled_input", y.into_data())?);
    }
    let x0 = pre.denoised(sample.clone(), model_output, sigmas[0]);
    if fixture.has("precondition_outputs") {
        out.push(fixture.compare("precondition_outputs", x0.clone().into_data())?);
    }
    if fixture.has("step0_prev_sample") {
        let y = euler_step(sample, x0, sigmas[0], sigmas[1]);
        out.push(fixture.compare("step0_prev_sample", y.into_data())?);
    }
    Ok(out)
}

/// A whole guided sampling loop with the fixture's network: `__noise__` → `__sample__`.
pub fn verify_sample(fixture: &Fixture, device: &Device) -> Result<Vec<Comparison>> {
    let s = fixture
        .json
        .get("sampler")
        .ok_or_else(|| fixture_error(fixture, "JSON has no 'sampler'"))?;
    let num = |k: &str| {
        s.get(k)
            .and_then(Value::as_f64)
            .ok_or_else(|| fixture_error(fixture, format!("sampler.{k} missing")))
    };
    let kind: SamplerKind = s
        .get("kind")
        .and_then(Value::as_str)
        .ok_or_else(|| fixture_error(fixture, "sampler.kind missing"))?
        .parse()?;
    let mut config = SamplerConfig::of_kind(kind, num("steps")? as usize);
    config.sigma_min = num("sigma_min")?;
    config.sigma_max = num("sigma_max")?;
    config.rho = num("rho")?;
    let sampler = config.build()?;
    if let Some(init) = s.get("init_noise_sigma").and_then(Value::as_f64)
        && (init - sampler.initial_sigma()).abs() > 1e-9 * init
    {
        return Err(fixture_error(
            fixture,
            format!(
                "init_noise_sigma {init} differs from the sampler's {}",
                sampler.initial_sigma()
            ),
        ));
    }
    let dit = fixture_dit(fixture, device)?;
    let context = fixture.tensor::<3>("encoder_hidden_states", device)?;
    let negative = fixture.tensor::<3>("negative_encoder_hidden_states", device)?;
    let padding = if fixture.has("padding_mask") {
        Some(fixture.tensor::<4>("padding_mask", device)?)
    } else {
        None
    };
    let network = DitNetwork::new(&dit, context, Some(negative))
        .with_fps(fps_of(fixture))
        .with_padding_mask(padding);
    let mut denoiser = GuidedDenoiser::new(network, num("guidance")?);
    let mut out = vec![];
    if fixture.has("sigmas") {
        let sig: Vec<f32> = sampler.sigmas().iter().map(|&v| v as f32).collect();
        out.push(fixture.compare("sigmas", TensorData::new(sig.clone(), [sig.len()]))?);
    }
    let noise = fixture.tensor::<5>("noise", device)?;
    let sample = sampler.sample(&mut denoiser, noise, &mut |_| {})?;
    if let Some(calls) = s.get("network_calls").and_then(Value::as_u64)
        && calls as usize != denoiser.network.calls
    {
        return Err(fixture_error(
            fixture,
            format!(
                "the reference made {calls} network calls, we made {}",
                denoiser.network.calls
            ),
        ));
    }
    out.push(fixture.compare("sample", sample.into_data())?);
    Ok(out)
}

fn host(t: Tensor<1>) -> Result<Vec<f32>> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| Error::Argument(format!("{e:?}")))
}

/// The token-conditioned diffusion decoder (`DiffusionDecoderGeneralDIT`) on its fixture: the
/// token condition and the raw network output (see [`crate::diffusion_decoder::verify_fixture`]).
pub fn verify_diffusion_decoder(fixture: &Fixture, device: &Device) -> Result<Vec<Comparison>> {
    crate::diffusion_decoder::verify_fixture(fixture, device)
}
