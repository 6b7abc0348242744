//! Small configurations for tests that need a whole tokenizer but not a published one.
#![allow(dead_code)]

use burn::tensor::Device;
use cosmos_tokenizer::{Tokenizer, TokenizerConfig};

/// A small tokenizer of the family `kind` (CI, DI, CV, DV) with random weights: channels 8
/// (32 for images), patch 2, spatial compression 8, temporal compression 8 for video (two
/// temporal downsamplings, so four levels: the decoder's upsampling rule then mirrors the
/// encoder), attention at the two finest levels.
pub fn small(kind: &str, seed: u64) -> Tokenizer {
    let device = Device::flex();
    device.seed(seed);
    Tokenizer::random(small_config(kind), &device).expect("valid small config")
}

pub fn small_config(kind: &str) -> TokenizerConfig {
    let video = kind.starts_with(['C', 'D']) && kind.ends_with('V');
    let preset = if video {
        format!("{kind}8x8x8")
    } else {
        format!("{kind}8x8")
    };
    let mut config = TokenizerConfig::preset(&preset).unwrap();
    config.channels = if video { 8 } else { 32 };
    config.channels_mult = if video {
        vec![1, 1, 1, 1]
    } else {
        vec![1, 1, 1]
    };
    config.num_res_blocks = 1;
    config.resolution = 16;
    config.attn_resolutions = vec![8, 4];
    config.patch_size = 2;
    config.z_channels = if config.kind().unwrap().is_discrete() && !video {
        32
    } else {
        8
    };
    config
}
