//! The video-continuation pipeline with a transparent stand-in tokenizer: which frames become
//! the prompt, how the clip is padded, what is generated, and which decoder runs.

use std::cell::RefCell;

use cosmos_ar::{
    ArConfig, DiffusionDecoder, Error, Result, SamplingConfig, Video2World, VideoTokenizer,
    WorldInput,
};
use cosmos_nn::burn::tensor::{Device, Int, Tensor, TensorData};

/// A "tokenizer" whose index of a latent cell is the first pixel value of its time group
/// (frame `1 + (t−1)·k` for latent `t ≥ 1`, frame 0 for latent 0) scaled to an integer, so a
/// test can read which input frames ended up in the prompt. Decoding paints each cell with
/// its index.
struct StandIn {
    k: usize,
    s: usize,
    encoded_frames: RefCell<Vec<usize>>,
}

impl StandIn {
    /// `k`× temporal and `s`× spatial compression.
    fn new(k: usize, s: usize) -> Self {
        Self {
            k,
            s,
            encoded_frames: RefCell::new(Vec::new()),
        }
    }
}

impl VideoTokenizer for StandIn {
    fn encode(&self, video: Tensor<5>) -> Result<Tensor<4, Int>> {
        let [b, _, t, h, w] = video.dims();
        self.encoded_frames.borrow_mut().push(t);
        let lt = 1 + (t - 1) / self.k;
        let (lh, lw) = (h / self.s, w / self.s);
        let v: Vec<f32> = video.into_data().convert::<f32>().try_into_vec().unwrap();
        let mut out = Vec::new();
        for bi in 0..b {
            for ti in 0..lt {
                let frame = if ti == 0 { 0 } else { 1 + (ti - 1) * self.k };
                for _ in 0..lh * lw {
                    // Channel 0, pixel (0, 0) of the frame.
                    let x = v[((bi * 3) * t + frame) * h * w];
                    out.push(((x + 1.0) * 50.0).round() as i64);
                }
            }
        }
        Ok(Tensor::from_data(
            TensorData::new(out, [b, lt, lh, lw]),
            &Device::flex(),
        ))
    }

    fn decode(&self, indices: Tensor<4, Int>) -> Result<Tensor<5>> {
        let [b, t, h, w] = indices.dims();
        let frames = 1 + (t - 1) * self.k;
        Ok(Tensor::zeros(
            [b, 3, frames, h * self.s, w * self.s],
            &Device::flex(),
        ))
    }

    fn temporal_compression(&self) -> usize {
        self.k
    }

    fn spatial_compression(&self) -> usize {
        self.s
    }
}

struct MarkingDiffusion;

impl DiffusionDecoder for MarkingDiffusion {
    fn latents_from_tokens(
        &self,
        indices: Tensor<4, Int>,
        context: Option<&Tensor<3>>,
    ) -> Result<Tensor<5>> {
        assert!(
            context.is_some(),
            "the text context reaches the diffusion decoder"
        );
        let [b, t, h, w] = indices.dims();
        Ok(Tensor::ones([b, 16, t, h, w], &Device::flex()))
    }

    fn decode_latents(&self, latents: Tensor<5>) -> Result<Tensor<5>> {
        let [b, _, t, h, w] = latents.dims();
        Ok(Tensor::ones([b, 3, 1 + (t - 1) * 4, h * 8, w * 8], &Device::flex()) * 0.5)
    }
}

fn config() -> ArConfig {
    ArConfig {
        dim: 24,
        n_layers: 2,
        n_heads: 2,
        n_kv_heads: Some(1),
        vocab_size: 101,
        ffn_hidden_size: 32,
        max_seq_len: 64,
        use_qk_normalization: true,
        rope_dim: "3D".into(),
        video_latent_shape: Some(vec![3, 2, 2]),
        apply_abs_pos_emb: true,
        insert_cross_attn: true,
        context_dim: 8,
        training_type: Some("text_to_video".into()),
        ..ArConfig::default()
    }
}

/// Input video [1, 3, frames, 16, 16] whose frame `f` is filled with `f / 50 − 1` (index `f`).
fn input(frames: usize) -> Tensor<5> {
    let mut v = Vec::new();
    for _c in 0..3 {
        for f in 0..frames {
            v.extend(std::iter::repeat_n(f as f32 / 50.0 - 1.0, 16 * 16));
        }
    }
    Tensor::from_data(TensorData::new(v, [1, 3, frames, 16, 16]), &Device::flex())
}

fn indices(t: &Tensor<4, Int>) -> Vec<i64> {
    t.clone()
        .into_data()
        .convert::<i64>()
        .try_into_vec()
        .unwrap()
}

#[test]
fn prompt_comes_from_the_last_frames_and_the_rest_is_generated() {
    let device = Device::flex();
    let model = config().init(&device).unwrap();
    let tokenizer = StandIn::new(4, 8);
    let pipeline = Video2World {
        model: &model,
        tokenizer: &tokenizer,
        diffusion_decoder: None,
    };
    let context = Tensor::<3>::ones([1, 3, 8], &device);
    // 12 input frames, the last 5 condition: frames 7..11 → 2 latent frames (1 + 4/4).
    let world = WorldInput {
        video: input(12),
        num_input_frames: 5,
        context: Some(context.clone()),
        context_mask: None,
        embedding_offsets: None,
    };
    let mut steps = 0;
    let out = pipeline
        .generate(&world, &SamplingConfig::greedy(), &mut |_| steps += 1)
        .unwrap();
    // The clip is padded to 1 + (3 − 1)·4 = 9 frames before tokenizing.
    assert_eq!(*tokenizer.encoded_frames.borrow(), vec![9]);
    // One latent frame (2×2 tokens) is left to generate.
    assert_eq!(
        out.generation.tokens,
        vec![out.generation.tokens[0].clone()]
    );
    assert_eq!(out.generation.tokens[0].len(), 4);
    assert_eq!(steps, 4);
    let grid = indices(&out.indices);
    assert_eq!(out.indices.dims(), [1, 3, 2, 2]);
    // Latent 0 ← input frame 7, latent 1 ← input frame 8 (clip frame 1).
    assert_eq!(&grid[..8], &[7, 7, 7, 7, 8, 8, 8, 8]);
    assert_eq!(
        &grid[8..],
        out.generation.tokens[0]
            .iter()
            .map(|&t| t as i64)
            .collect::<Vec<_>>()
            .as_slice()
    );
    assert!(
        grid[8..].iter().all(|&t| (0..101).contains(&t)),
        "no <bov> in the output"
    );
    assert_eq!(out.video.dims(), [1, 3, 9, 16, 16]);

    // The same with the diffusion decoder hook: its video is returned.
    let with_dd = Video2World {
        model: &model,
        tokenizer: &tokenizer,
        diffusion_decoder: Some(&MarkingDiffusion),
    };
    let out2 = with_dd
        .generate(&world, &SamplingConfig::greedy(), &mut |_| {})
        .unwrap();
    assert_eq!(
        indices(&out2.indices),
        grid,
        "greedy decoding is deterministic"
    );
    let v: Vec<f32> = out2
        .video
        .into_data()
        .convert::<f32>()
        .try_into_vec()
        .unwrap();
    assert!(v.iter().all(|&x| x == 0.5));
}

#[test]
fn bad_pipeline_input_is_rejected() {
    let device = Device::flex();
    let model = config().init(&device).unwrap();
    let tokenizer = StandIn::new(4, 8);
    let pipeline = Video2World {
        model: &model,
        tokenizer: &tokenizer,
        diffusion_decoder: None,
    };
    let context = Some(Tensor::<3>::ones([1, 3, 8], &device));
    let run = |video: Tensor<5>, n: usize, context: Option<Tensor<3>>| {
        pipeline.generate(
            &WorldInput {
                video,
                num_input_frames: n,
                context,
                context_mask: None,
                embedding_offsets: None,
            },
            &SamplingConfig::greedy(),
            &mut |_| {},
        )
    };
    // Wrong resolution.
    let small = Tensor::<5>::zeros([1, 3, 9, 8, 16], &device);
    assert!(matches!(
        run(small, 1, context.clone()),
        Err(Error::Shape { .. })
    ));
    // 3 is not 1 + m·4; 13 exceeds the 12 frames; 9 frames leave nothing to generate.
    assert!(matches!(
        run(input(12), 3, context.clone()),
        Err(Error::Argument(_))
    ));
    assert!(matches!(
        run(input(12), 13, context.clone()),
        Err(Error::Argument(_))
    ));
    assert!(matches!(
        run(input(12), 9, context.clone()),
        Err(Error::Argument(_))
    ));
    // A Video2World model needs its text context.
    assert!(matches!(run(input(12), 1, None), Err(Error::Argument(_))));
    assert!(
        run(input(1), 1, context).is_ok(),
        "a single image conditions one latent frame"
    );
}
