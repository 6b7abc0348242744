//! Text2World and Video2World end to end at toy size on CPU: random-weight DiT, word-hash text
//! encoder and a toy tokenizer standing in for T5 and the Cosmos tokenizer.

mod common;

use common::{SC, TC, ToyTextEncoder, ToyTokenizer, toy_dit};
use cosmos_diffusion::error::BoxError;
use cosmos_diffusion::{
    Error, GenerationRequest, PromptGuard, PromptVerdict, SamplerConfig, VideoCondition,
    VideoGuard, VideoVerdict, WorldPipeline,
};
use cosmos_nn::burn::tensor::{Device, Tensor};

use cosmos_nn::parity::values;

fn pipeline(video2world: bool, device: &Device) -> WorldPipeline {
    let mut p = WorldPipeline::new(
        toy_dit(video2world, device),
        Box::new(ToyTextEncoder {
            dim: 16,
            max_tokens: 6,
            device: device.clone(),
        }),
        Box::new(ToyTokenizer),
    );
    if video2world {
        p.encoder = Some(Box::new(ToyTokenizer));
    }
    p
}

fn request(prompt: &str) -> GenerationRequest {
    GenerationRequest {
        frames: 1 + 2 * TC,
        height: 4 * SC,
        width: 6 * SC,
        sampler: SamplerConfig::euler(4),
        seed: 11,
        ..GenerationRequest::new(prompt)
    }
}

#[test]
fn text2world_shapes_frame_count_and_determinism() {
    let device = Device::flex();
    let mut p = pipeline(false, &device);
    let mut steps = vec![];
    let a = p
        .generate(&request("a robot arm picks up a cup"), &mut |s| {
            steps.push(s.done)
        })
        .unwrap();
    assert_eq!(a.video.dims(), [1, 3, 9, 32, 48]);
    assert_eq!(a.latent.dims(), [1, 16, 3, 4, 6]);
    assert_eq!(steps, vec![1, 2, 3, 4]);
    assert_eq!(
        a.network_calls, 8,
        "4 Euler steps × (prompt + negative prompt)"
    );
    let va = values(a.video.clone());
    assert!(va.iter().all(|v| v.is_finite() && (-1.0..=1.0).contains(v)));

    let b = p
        .generate(&request("a robot arm picks up a cup"), &mut |_| {})
        .unwrap();
    assert_eq!(va, values(b.video), "same seed, same video");
    let mut other_seed = request("a robot arm picks up a cup");
    other_seed.seed = 12;
    let c = p.generate(&other_seed, &mut |_| {}).unwrap();
    assert_ne!(va, values(c.video));
    let d = p
        .generate(&request("a red car drives at night"), &mut |_| {})
        .unwrap();
    assert_ne!(
        values(a.latent),
        values(d.latent),
        "the prompt changes the sample"
    );
}

#[test]
fn every_sampler_runs_in_the_pipeline() {
    let device = Device::flex();
    let mut p = pipeline(false, &device);
    for (sampler, calls) in [
        (SamplerConfig::res2ab(3), 2 * 4),
        (SamplerConfig::heun(3), 2 * 5),
    ] {
        let mut r = request("waves on a beach");
        r.sampler = sampler;
        let g = p.generate(&r, &mut |_| {}).unwrap();
        assert_eq!(g.network_calls, calls);
        assert!(values(g.video).iter().all(|v| v.is_finite()));
    }
    // No guidance: one network call per denoiser call.
    let mut r = request("waves on a beach");
    r.guidance = 0.0;
    assert_eq!(p.generate(&r, &mut |_| {}).unwrap().network_calls, 4);
}

#[test]
fn video2world_keeps_the_conditioning_frames() {
    let device = Device::flex();
    let mut p = pipeline(true, &device);
    // A conditioning clip of 1 + TC frames: fills the first two latent frames.
    let video = cosmos_diffusion::NoiseGenerator::new(5)
        .tensor([1, 3, 1 + TC, 32, 48], &device)
        .tanh();
    let mut r = request("the camera moves forward");
    r.condition = Some(VideoCondition {
        video: video.clone(),
        frames: 1 + TC,
        augment_sigma: 0.001,
    });
    let g = p.generate(&r, &mut |_| {}).unwrap();
    assert_eq!(g.video.dims(), [1, 3, 9, 32, 48]);

    // The sampled latent's first two frames are the encoded conditioning frames.
    let padded = Tensor::cat(vec![video, Tensor::zeros([1, 3, TC, 32, 48], &device)], 2);
    let expected = cosmos_diffusion::LatentEncoder::encode(&mut ToyTokenizer, padded).unwrap();
    let got = values(g.latent.clone().narrow(2, 0, 2));
    let want = values(expected.clone().narrow(2, 0, 2));
    let max = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(max < 2e-2, "conditioning frames moved by {max}");
    // ... while the generated frame is not (it starts from noise).
    let generated = values(g.latent.narrow(2, 2, 1));
    let enc = values(expected.narrow(2, 2, 1));
    let diff = generated
        .iter()
        .zip(&enc)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(diff > 0.1);
}

#[test]
fn bad_requests_give_typed_errors() {
    let device = Device::flex();
    let mut p = pipeline(false, &device);
    assert!(matches!(
        p.generate(&request("   "), &mut |_| {}),
        Err(Error::Argument(_))
    ));
    let mut r = request("a cat");
    r.frames = 8; // not 1 + k·TC
    assert!(matches!(
        p.generate(&r, &mut |_| {}),
        Err(Error::Shape { .. })
    ));
    let mut r = request("a cat");
    r.height = 20;
    assert!(matches!(
        p.generate(&r, &mut |_| {}),
        Err(Error::Shape { .. })
    ));
    let mut r = request("a cat");
    r.width = 9 * SC * 2; // 18 latent columns > max 8
    assert!(matches!(
        p.generate(&r, &mut |_| {}),
        Err(Error::Shape { .. })
    ));
    let mut r = request("a cat");
    r.sampler = SamplerConfig::euler(0);
    assert!(matches!(
        p.generate(&r, &mut |_| {}),
        Err(Error::Argument(_))
    ));
    // An input video for a Text2World network.
    let mut r = request("a cat");
    r.condition = Some(VideoCondition {
        video: Tensor::zeros([1, 3, 1, 32, 48], &device),
        frames: 1,
        augment_sigma: 0.001,
    });
    assert!(matches!(
        p.generate(&r, &mut |_| {}),
        Err(Error::Argument(_))
    ));
    // A Video2World network without an input video, and with a wrong-sized one.
    let mut v = pipeline(true, &device);
    assert!(matches!(
        v.generate(&request("a cat"), &mut |_| {}),
        Err(Error::Argument(_))
    ));
    let mut r = request("a cat");
    r.condition = Some(VideoCondition {
        video: Tensor::zeros([1, 3, 1, 16, 48], &device),
        frames: 1,
        augment_sigma: 0.001,
    });
    assert!(matches!(
        v.generate(&r, &mut |_| {}),
        Err(Error::Shape { .. })
    ));
}

#[test]
fn over_long_prompt_is_truncated_with_a_warning() {
    let device = Device::flex();
    let mut p = pipeline(false, &device);
    let long = "one two three four five six seven eight nine";
    let g = p.generate(&request(long), &mut |_| {}).unwrap();
    assert_eq!(g.warnings.len(), 1);
    assert!(
        g.warnings[0].contains("truncated to 6 tokens"),
        "{:?}",
        g.warnings
    );
    // Truncation keeps the first 6 words: same sample as the 6-word prompt.
    let short = p
        .generate(&request("one two three four five six"), &mut |_| {})
        .unwrap();
    assert!(short.warnings.is_empty());
    assert_eq!(values(g.latent), values(short.latent));
}

struct Blocklist;
impl PromptGuard for Blocklist {
    fn check_prompt(&mut self, prompt: &str) -> Result<PromptVerdict, BoxError> {
        Ok(if prompt.contains("forbidden") {
            PromptVerdict::Block("blocklisted word".into())
        } else {
            PromptVerdict::Allow
        })
    }
}

struct Darken;
impl VideoGuard for Darken {
    fn check_video(&mut self, video: Tensor<5>) -> Result<VideoVerdict, BoxError> {
        Ok(VideoVerdict::Allow(video.zeros_like() - 1.0))
    }
}

#[test]
fn guardrail_hooks_block_and_alter() {
    let device = Device::flex();
    let mut p = pipeline(false, &device);
    p.prompt_guard = Some(Box::new(Blocklist));
    p.video_guard = Some(Box::new(Darken));
    let err = p
        .generate(&request("a forbidden thing"), &mut |_| {})
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Blocked {
                stage: "prompt",
                ..
            }
        ),
        "{err}"
    );
    let g = p.generate(&request("a fine thing"), &mut |_| {}).unwrap();
    assert!(values(g.video).iter().all(|v| *v == -1.0));
}
