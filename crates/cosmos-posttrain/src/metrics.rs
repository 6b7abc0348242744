//! How good a predicted clip is: PSNR against the ground truth, and where the balls are.
//!
//! Balls are found by colour: every pixel is explained as the background blended with one
//! ball colour, `p ≈ bg + α·(c − bg)`; the ball whose colour explains the pixel best (smallest
//! residual) gets weight `α` there, and a ball's position is the weighted centroid of the pixel
//! centres. That reads blurry predictions too, where a ball is a faint smear.

use ndarray::{Array4, ArrayView3, ArrayView4, Axis, s};

use crate::world::{Action, BACKGROUND, WorldConfig, episode_with_actions, random_actions};
use crate::{Error, Result};

/// Peak signal-to-noise ratio of two 8-bit images in dB (peak 255); identical images give
/// 100 dB rather than infinity. Images of different shapes give 0 dB.
pub fn psnr_db(a: ArrayView3<u8>, b: ArrayView3<u8>) -> f64 {
    if a.shape() != b.shape() || a.is_empty() {
        return 0.0;
    }
    let mse = a
        .iter()
        .zip(b.iter())
        .map(|(&x, &y)| {
            let d = x as f64 - y as f64;
            d * d
        })
        .sum::<f64>()
        / a.len() as f64;
    psnr_from_mse(mse)
}

/// PSNR in dB from a mean squared error on the 0–255 scale (100 dB for 0).
pub fn psnr_from_mse(mse: f64) -> f64 {
    if mse <= 1e-10 {
        100.0
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

/// PSNR of every frame of two clips `[T, H, W, 3]` (as many frames as the shorter has).
pub fn psnr_per_frame(a: ArrayView4<u8>, b: ArrayView4<u8>) -> Vec<f64> {
    a.axis_iter(Axis(0))
        .zip(b.axis_iter(Axis(0)))
        .map(|(x, y)| psnr_db(x, y))
        .collect()
}

/// The mean of some values (0 for none).
pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

/// Minimum blended ball weight for a pixel to count.
const MIN_ALPHA: f32 = 0.25;
/// Largest residual (colour distance, 0–255 scale) of a pixel explained by a ball.
const MAX_RESIDUAL: f32 = 60.0;
/// A ball is found when its weights add up to this fraction of its disc area.
const MIN_AREA_FRACTION: f32 = 0.15;

/// The centre `(x, y)` in pixels of every ball of `config` in `frame: [H, W, 3]`, found by
/// colour; `None` for a ball that is not (or hardly) visible.
pub fn ball_positions(frame: ArrayView3<u8>, config: &WorldConfig) -> Vec<Option<[f32; 2]>> {
    let n = config.balls;
    let bg = BACKGROUND.map(|v| v as f32);
    let dirs: Vec<[f32; 3]> = (0..n)
        .map(|i| {
            let c = config.color(i);
            [
                c[0] as f32 - bg[0],
                c[1] as f32 - bg[1],
                c[2] as f32 - bg[2],
            ]
        })
        .collect();
    let mut sums = vec![[0.0f32; 3]; n]; // weight, weight·x, weight·y
    if frame.ndim() != 3 || frame.shape()[2] != 3 {
        return vec![None; n];
    }
    let (h, w) = (frame.shape()[0], frame.shape()[1]);
    for row in 0..h {
        for col in 0..w {
            let p = [
                frame[[row, col, 0]] as f32 - bg[0],
                frame[[row, col, 1]] as f32 - bg[1],
                frame[[row, col, 2]] as f32 - bg[2],
            ];
            if p[0].abs() + p[1].abs() + p[2].abs() < 12.0 {
                continue;
            }
            let mut best: Option<(usize, f32, f32)> = None; // ball, alpha, residual
            for (k, d) in dirs.iter().enumerate() {
                let norm2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
                if norm2 <= 0.0 {
                    continue;
                }
                let alpha = ((p[0] * d[0] + p[1] * d[1] + p[2] * d[2]) / norm2).clamp(0.0, 1.0);
                let residual = ((p[0] - alpha * d[0]).powi(2)
                    + (p[1] - alpha * d[1]).powi(2)
                    + (p[2] - alpha * d[2]).powi(2))
                .sqrt();
                if best.is_none_or(|(_, _, r)| residual < r) {
                    best = Some((k, alpha, residual));
                }
            }
            if let Some((k, alpha, residual)) = best
                && alpha >= MIN_ALPHA
                && residual <= MAX_RESIDUAL
            {
                sums[k][0] += alpha;
                sums[k][1] += alpha * (col as f32 + 0.5);
                sums[k][2] += alpha * (row as f32 + 0.5);
            }
        }
    }
    let area = std::f32::consts::PI * config.radius * config.radius;
    sums.into_iter()
        .map(|[wt, x, y]| (wt >= MIN_AREA_FRACTION * area).then(|| [x / wt, y / wt]))
        .collect()
}

/// Euclidean distance between two points in pixels.
pub fn distance_px(a: [f32; 2], b: [f32; 2]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

/// The action error of a predicted clip: the mean distance in pixels between the pushed
/// ball's position detected in each predicted frame and its true position in the same
/// frame. A frame where the ball is not found counts as `missing_px`. `None` when there are
/// no frames.
pub fn action_error_px(
    predicted: ArrayView4<u8>,
    truth: &[Vec<[f32; 2]>],
    ball: usize,
    config: &WorldConfig,
    missing_px: f32,
) -> Option<f32> {
    let errors: Vec<f32> = predicted
        .axis_iter(Axis(0))
        .zip(truth)
        .map(|(frame, true_positions)| {
            let found = ball_positions(frame, config).get(ball).copied().flatten();
            match (found, true_positions.get(ball)) {
                (Some(p), Some(&t)) => distance_px(p, t),
                _ => missing_px,
            }
        })
        .collect();
    (!errors.is_empty()).then(|| errors.iter().sum::<f32>() / errors.len() as f32)
}

/// A world model as [`evaluate_rollout`] calls it: context frames `[5, H, W, 3]` and the 16
/// per-frame action vectors in, the 12 predicted frames out.
pub type Predictor<'a> = dyn FnMut(ArrayView4<u8>, &[Vec<f32>]) -> Result<Array4<u8>> + 'a;

/// Frames of a rollout clip: 5 context frames, then 12 predicted ones (one tokenizer latent
/// frame of 1 and three of 4 frames).
pub const CLIP_FRAMES: usize = 17;
/// Context frames given to the world model.
pub const CONTEXT_FRAMES: usize = 5;

/// The actions of a rollout of episode `seed`: the episode's own random pushes while the
/// context is recorded (actions 0–3), then `push` between the last context frame and the
/// first predicted one (action 4), then nothing. `CLIP_FRAMES` actions.
pub fn rollout_actions(config: &WorldConfig, seed: u64, push: Action) -> Vec<Action> {
    let mut actions = random_actions(config, seed, CLIP_FRAMES);
    actions[CONTEXT_FRAMES - 1] = push;
    for action in &mut actions[CONTEXT_FRAMES..] {
        *action = Action::none();
    }
    actions
}

/// The first `count` held-out episodes (from `VALIDATION_SEEDS.start`, each with ball
/// `i mod balls`) in which pushing that ball right rather than left after the context
/// ([`rollout_actions`]) leaves it more than `min_separation_px` further right at the last
/// frame: the pushes a world model can be checked on. Looks at no more than `40 · count`
/// episodes, so fewer may come back.
pub fn informative_pushes(
    config: &WorldConfig,
    count: usize,
    min_separation_px: f32,
) -> Vec<(u64, usize)> {
    use crate::world::{Direction, VALIDATION_SEEDS};
    let mut cases = Vec::with_capacity(count);
    for i in 0..40 * count as u64 {
        if cases.len() == count {
            break;
        }
        let seed = VALIDATION_SEEDS.start + i;
        let ball = (i as usize) % config.balls.max(1);
        let end_x = |direction| {
            let push = Action::push(ball, direction, config.push);
            let truth = episode_with_actions(config, seed, &rollout_actions(config, seed, push));
            truth.positions.last().map_or(0.0, |p| p[ball][0])
        };
        if end_x(Direction::Right) - end_x(Direction::Left) > min_separation_px {
            cases.push((seed, ball));
        }
    }
    cases
}

/// A prediction scored against the simulator and against the copy-last-frame baseline.
#[derive(Debug, Clone)]
pub struct RolloutEvaluation {
    /// The actions (`CLIP_FRAMES`, see [`rollout_actions`]).
    pub actions: Vec<Action>,
    /// Ground truth from the simulator with those actions, `[17, H, W, 3]`.
    pub truth: Array4<u8>,
    /// The model's frames 5–16, `[12, H, W, 3]`.
    pub predicted: Array4<u8>,
    /// The baseline: frame 4 repeated, `[12, H, W, 3]`.
    pub copy_last: Array4<u8>,
    /// PSNR of each predicted frame against the truth.
    pub psnr_model_db: Vec<f64>,
    /// PSNR of each copied frame against the truth.
    pub psnr_copy_last_db: Vec<f64>,
    /// The ball whose position is scored (the pushed one).
    pub ball: usize,
    /// Its true centre in each predicted frame.
    pub true_positions: Vec<[f32; 2]>,
    /// Its centre found by colour in each predicted frame.
    pub predicted_positions: Vec<Option<[f32; 2]>>,
    /// Its centre in the last context frame (where copy-last leaves it).
    pub last_context_position: [f32; 2],
    /// Distance between predicted and true centres per frame (a frame where the ball is not
    /// found counts as half the frame size).
    pub position_error_px: Vec<f32>,
}

impl RolloutEvaluation {
    /// Mean model PSNR over the predicted frames.
    pub fn mean_psnr_model_db(&self) -> f64 {
        mean(&self.psnr_model_db)
    }

    /// Mean copy-last PSNR over the predicted frames.
    pub fn mean_psnr_copy_last_db(&self) -> f64 {
        mean(&self.psnr_copy_last_db)
    }

    /// Mean position error of the scored ball over the predicted frames, in pixels.
    pub fn action_error_px(&self) -> f32 {
        self.position_error_px.iter().sum::<f32>() / self.position_error_px.len().max(1) as f32
    }

    /// The same error for the copy-last baseline (the ball left where the context ends).
    pub fn copy_last_error_px(&self) -> f32 {
        let sum: f32 = self
            .true_positions
            .iter()
            .map(|&t| distance_px(t, self.last_context_position))
            .sum();
        sum / self.true_positions.len().max(1) as f32
    }

    /// The scored ball's horizontal displacement from the last context frame to the last
    /// predicted frame: `(predicted, true)`; the predicted one is `None` when the ball is not
    /// found in the last predicted frame.
    pub fn x_displacement(&self) -> (Option<f32>, f32) {
        self.x_displacement_at(self.true_positions.len().saturating_sub(1))
    }

    /// The same displacement up to predicted frame `frame` (0-based among the predicted
    /// frames): `(predicted, true)`, the predicted one `None` when the ball is not found there
    /// (or `frame` is past the end, which gives a true displacement of 0).
    pub fn x_displacement_at(&self, frame: usize) -> (Option<f32>, f32) {
        let x0 = self.last_context_position[0];
        let truth = self.true_positions.get(frame).map_or(0.0, |p| p[0] - x0);
        let predicted = self
            .predicted_positions
            .get(frame)
            .copied()
            .flatten()
            .map(|p| p[0] - x0);
        (predicted, truth)
    }

    /// Predicted frames (0-based) in which the scored ball is found.
    pub fn frames_with_ball(&self) -> Vec<usize> {
        self.predicted_positions
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.map(|_| i))
            .collect()
    }
}

/// Runs `predict` on the context of validation/training episode `seed` with `push` applied
/// after the context ([`rollout_actions`]) and scores it. `predict` gets the 5 context frames
/// `[5, H, W, 3]` and the action vectors of frames 0–15 ([`Action::to_vector`]) and returns the
/// 12 predicted frames.
pub fn evaluate_rollout(
    config: &WorldConfig,
    seed: u64,
    push: Action,
    predict: &mut Predictor<'_>,
) -> Result<RolloutEvaluation> {
    let actions = rollout_actions(config, seed, push);
    let episode = episode_with_actions(config, seed, &actions);
    let vectors: Vec<Vec<f32>> = actions[..CLIP_FRAMES - 1]
        .iter()
        .map(|a| a.to_vector(config.balls))
        .collect();
    let context = episode.frames.slice(s![..CONTEXT_FRAMES, .., .., ..]);
    let predicted = predict(context, &vectors)?;
    let future = CLIP_FRAMES - CONTEXT_FRAMES;
    let expected = [future, config.size, config.size, 3];
    if predicted.shape() != expected {
        return Err(Error::Shape {
            what: "predicted frames".into(),
            expected: format!("{expected:?}"),
            found: format!("{:?}", predicted.shape()),
        });
    }
    let truth_future = episode.frames.slice(s![CONTEXT_FRAMES.., .., .., ..]);
    let last = episode.frames.index_axis(Axis(0), CONTEXT_FRAMES - 1);
    let copy_last = last
        .insert_axis(Axis(0))
        .broadcast(expected)
        .map(|v| v.to_owned())
        .unwrap_or_else(|| Array4::zeros(expected));
    let ball = push.ball.min(config.balls.saturating_sub(1));
    let true_positions: Vec<[f32; 2]> = episode.positions[CONTEXT_FRAMES..]
        .iter()
        .map(|p| p[ball])
        .collect();
    let predicted_positions: Vec<Option<[f32; 2]>> = predicted
        .axis_iter(Axis(0))
        .map(|frame| ball_positions(frame, config)[ball])
        .collect();
    let missing = config.size as f32 / 2.0;
    let position_error_px = predicted_positions
        .iter()
        .zip(&true_positions)
        .map(|(p, t)| p.map_or(missing, |p| distance_px(p, *t)))
        .collect();
    Ok(RolloutEvaluation {
        psnr_model_db: psnr_per_frame(truth_future, predicted.view()),
        psnr_copy_last_db: psnr_per_frame(truth_future, copy_last.view()),
        last_context_position: episode.positions[CONTEXT_FRAMES - 1][ball],
        actions,
        truth: episode.frames,
        predicted,
        copy_last,
        ball,
        true_positions,
        predicted_positions,
        position_error_px,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::{Ball, World};
    use ndarray::{Array3, Array4};

    #[test]
    fn psnr_of_known_errors() {
        let a = Array3::<u8>::zeros((4, 4, 3));
        assert_eq!(psnr_db(a.view(), a.view()), 100.0);
        // Every value off by 1: MSE 1 → 20·log10(255) = 48.13 dB.
        let b = Array3::<u8>::from_elem((4, 4, 3), 1);
        assert!((psnr_db(a.view(), b.view()) - 48.1308).abs() < 1e-3);
        // Off by 10 on a quarter of the values: MSE 25 → 34.15 dB.
        let mut c = a.clone();
        for row in 0..2 {
            for col in 0..2 {
                for ch in 0..3 {
                    c[[row, col, ch]] = 10;
                }
            }
        }
        assert!((psnr_db(a.view(), c.view()) - 34.1514).abs() < 1e-3);
        let clip_a = Array4::<u8>::zeros((2, 4, 4, 3));
        let mut clip_b = clip_a.clone();
        clip_b[[1, 0, 0, 0]] = 255;
        let per_frame = psnr_per_frame(clip_a.view(), clip_b.view());
        assert_eq!(per_frame[0], 100.0);
        // One value of 48 off by 255: MSE 255²/48 → 10·log10(48) = 16.81 dB.
        assert!((per_frame[1] - 16.812).abs() < 1e-3);
        assert_eq!(mean(&[1.0, 3.0]), 2.0);
    }

    #[test]
    fn balls_are_found_where_they_are_drawn() {
        let config = WorldConfig::default();
        let balls = vec![
            Ball {
                position: [12.3, 20.7],
                velocity: [0.0; 2],
            },
            Ball {
                position: [40.0, 50.2],
                velocity: [0.0; 2],
            },
            Ball {
                position: [58.5, 10.0],
                velocity: [0.0; 2],
            },
        ];
        let frame = World::with_balls(&config, balls.clone()).render();
        let found = ball_positions(frame.view(), &config);
        for (ball, f) in balls.iter().zip(&found) {
            let f = f.expect("ball found");
            assert!(
                distance_px(f, ball.position) < 0.3,
                "{f:?} vs {:?}",
                ball.position
            );
        }
        // A hand-made frame: background plus one red 3×3 square, too small for a ball of
        // radius 5, so nothing is found.
        let mut tiny = Array3::<u8>::zeros((16, 16, 3));
        for row in 0..16 {
            for col in 0..16 {
                for c in 0..3 {
                    tiny[[row, col, c]] = BACKGROUND[c];
                }
            }
        }
        let background = tiny.clone();
        for row in 1..4 {
            for col in 4..7 {
                for c in 0..3 {
                    tiny[[row, col, c]] = config.color(0)[c];
                }
            }
        }
        assert_eq!(ball_positions(tiny.view(), &config), vec![None, None, None]);
        // A 9×9 red square is found at its centre; a faint (half-blended) one too.
        let mut square = background;
        for row in 4..13 {
            for col in 2..11 {
                for c in 0..3 {
                    let bg = BACKGROUND[c] as f32;
                    square[[row, col, c]] = (bg + 0.5 * (config.color(0)[c] as f32 - bg)) as u8;
                }
            }
        }
        let found = ball_positions(square.view(), &config);
        let red = found[0].expect("square found");
        assert!(distance_px(red, [6.5, 8.5]) < 0.01, "{red:?}");
        assert_eq!(found[1], None);
    }

    #[test]
    fn action_error_measures_the_pushed_ball() {
        let config = WorldConfig::default();
        let ball = |x: f32| Ball {
            position: [x, 30.0],
            velocity: [0.0; 2],
        };
        let make = |x: f32| World::with_balls(&config, vec![ball(x)]).render();
        let one = WorldConfig {
            balls: 1,
            ..config.clone()
        };
        let mut clip = Array4::<u8>::zeros((2, 64, 64, 3));
        clip.index_axis_mut(Axis(0), 0).assign(&make(20.0));
        clip.index_axis_mut(Axis(0), 1).assign(&make(30.0));
        let truth = vec![vec![[20.0, 30.0]], vec![[33.0, 34.0]]];
        let err = action_error_px(clip.view(), &truth, 0, &one, 64.0).unwrap();
        // Frame 0 exact, frame 1 off by (3, 4) = 5 px: mean 2.5.
        assert!((err - 2.5).abs() < 0.1, "{err}");
        let empty = Array4::<u8>::zeros((1, 64, 64, 3));
        let missing = action_error_px(empty.view(), &truth[..1], 0, &one, 64.0).unwrap();
        assert_eq!(missing, 64.0);
    }

    #[test]
    fn a_perfect_prediction_beats_copy_last_and_has_no_action_error() {
        let config = WorldConfig::default();
        let seed = crate::world::VALIDATION_SEEDS.start + 1;
        let push = Action::push(0, crate::world::Direction::Right, config.push);
        let truth = episode_with_actions(&config, seed, &rollout_actions(&config, seed, push));
        let mut calls = 0;
        let eval = evaluate_rollout(&config, seed, push, &mut |context, vectors| {
            calls += 1;
            assert_eq!(context.shape(), &[5, 64, 64, 3]);
            assert_eq!(vectors.len(), 16);
            assert_eq!(vectors[4], push.to_vector(3));
            assert!(vectors[5..].iter().all(|v| v.iter().all(|&x| x == 0.0)));
            Ok(truth.frames.slice(s![5.., .., .., ..]).to_owned())
        })
        .unwrap();
        assert_eq!(calls, 1);
        assert_eq!(eval.psnr_model_db, vec![100.0; 12]);
        assert!(eval.mean_psnr_copy_last_db() < 40.0);
        assert!(eval.action_error_px() < 0.3, "{}", eval.action_error_px());
        let (predicted_dx, true_dx) = eval.x_displacement();
        assert!(true_dx > 3.0, "pushed right: {true_dx}");
        assert!((predicted_dx.unwrap() - true_dx).abs() < 0.3);
        // Copy-last as the prediction: PSNR equal to the baseline's, the ball left behind.
        let eval_copy = evaluate_rollout(&config, seed, push, &mut |context, _| {
            let last = context.index_axis(Axis(0), 4).to_owned();
            Ok(last
                .insert_axis(Axis(0))
                .broadcast([12, 64, 64, 3])
                .unwrap()
                .to_owned())
        })
        .unwrap();
        assert_eq!(eval_copy.psnr_model_db, eval_copy.psnr_copy_last_db);
        assert!(eval_copy.action_error_px() > 3.0);
        assert!((eval_copy.action_error_px() - eval_copy.copy_last_error_px()).abs() < 0.5);
        assert_eq!(eval.copy_last_error_px(), eval_copy.copy_last_error_px());
        // A wrong shape is refused.
        let err = evaluate_rollout(&config, seed, push, &mut |_, _| {
            Ok(Array4::zeros((11, 64, 64, 3)))
        })
        .unwrap_err();
        assert!(err.to_string().contains("[12, 64, 64, 3]"), "{err}");
    }

    #[test]
    fn informative_pushes_separate_the_pushed_ball() {
        let config = WorldConfig::default();
        let cases = informative_pushes(&config, 3, 8.0);
        assert_eq!(cases.len(), 3);
        for &(seed, ball) in &cases {
            let end_x = |direction| {
                let push = Action::push(ball, direction, config.push);
                episode_with_actions(&config, seed, &rollout_actions(&config, seed, push)).positions
                    [CLIP_FRAMES - 1][ball][0]
            };
            assert!(
                end_x(crate::world::Direction::Right) - end_x(crate::world::Direction::Left) > 8.0
            );
        }
        // Seeds rise, and an impossible separation finds nothing.
        assert!(cases.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(informative_pushes(&config, 2, 1000.0).is_empty());
    }

    #[test]
    fn blurred_balls_are_found_near_their_centre() {
        // Predictions are soft: a ball box-blurred over 5×5 pixels is still found within a
        // fraction of a pixel.
        let config = WorldConfig::default();
        let balls = vec![
            Ball {
                position: [20.4, 30.0],
                velocity: [0.0; 2],
            },
            Ball {
                position: [45.0, 12.6],
                velocity: [0.0; 2],
            },
        ];
        let sharp = World::with_balls(&config, balls.clone()).render();
        let mut blurred = sharp.clone();
        for row in 0..64usize {
            for col in 0..64usize {
                for c in 0..3 {
                    let mut sum = 0u32;
                    let mut n = 0u32;
                    for y in row.saturating_sub(2)..(row + 3).min(64) {
                        for x in col.saturating_sub(2)..(col + 3).min(64) {
                            sum += sharp[[y, x, c]] as u32;
                            n += 1;
                        }
                    }
                    blurred[[row, col, c]] = (sum / n) as u8;
                }
            }
        }
        let found = ball_positions(blurred.view(), &config);
        for (ball, f) in balls.iter().zip(&found) {
            let f = f.expect("blurred ball found");
            assert!(
                distance_px(f, ball.position) < 0.5,
                "{f:?} vs {:?}",
                ball.position
            );
        }
        assert_eq!(found[2], None, "the third ball is not in the frame");
    }
}
