//! A small deterministic 2D physics world to learn from: a few coloured balls fall under
//! gravity, bounce off the walls and off each other, and are pushed now and then. An action is
//! a velocity impulse on one chosen ball. Frames are rendered with anti-aliased discs on a plain
//! dark background, so every ball can be found again by its colour ([`crate::metrics`]).
//!
//! Units are pixels and frames: positions in pixels of the rendered frame (x to the right, y
//! downwards, pixel `(row, col)` covers `[col, col + 1) × [row, row + 1)`), velocities in pixels
//! per frame, gravity in pixels per frame². Each frame is integrated in a few sub-steps so
//! collisions of fast balls are not missed.
//!
//! Everything is a pure function of the configuration, the seed and the actions: the random
//! start state and the random pushes of [`episode`] come from separate ChaCha streams of the
//! seed, so [`episode_with_actions`] replays an episode exactly when given its actions.
//!
//! With `camera_pan`, the arena is wider than the view and the camera drifts sideways at a
//! constant speed, turning at the arena's edges.

use ndarray::{Array3, Array4};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use crate::{Error, Result};

/// Seeds of the training episodes.
pub const TRAIN_SEEDS: std::ops::Range<u64> = 0..1_000_000;
/// Seeds of the held-out validation episodes (disjoint from [`TRAIN_SEEDS`]).
pub const VALIDATION_SEEDS: std::ops::Range<u64> = 1_000_000..1_010_000;

/// The background colour of every frame.
pub const BACKGROUND: [u8; 3] = [16, 18, 28];

/// The ball colours, in ball order (ball `i` has colour `PALETTE[i % PALETTE.len()]`).
/// Saturated and far apart, so a ball is recognisable from any of its pixels.
pub const PALETTE: [[u8; 3]; 4] = [
    [240, 64, 56],  // red
    [64, 224, 80],  // green
    [72, 132, 255], // blue
    [240, 220, 64], // yellow
];

/// Sub-steps of the integration per frame.
const SUBSTEPS: usize = 4;
/// Vertical speed (px/frame) under which a ball bouncing on the floor comes to rest.
const REST_SPEED: f32 = 0.6;
/// The speed limit (px/frame): keeps motion learnable after several pushes.
const MAX_SPEED: f32 = 7.0;
/// Camera speed (px/frame) when panning.
const PAN_SPEED: f32 = 0.75;

/// The world's parameters.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WorldConfig {
    /// Height and width of the rendered frames, in pixels.
    pub size: usize,
    /// Number of balls.
    pub balls: usize,
    /// Ball radius in pixels.
    pub radius: f32,
    /// Downward acceleration in px/frame².
    pub gravity: f32,
    /// Fraction of the normal speed kept in a bounce (walls and balls).
    pub restitution: f32,
    /// Speed change of a push, px/frame.
    pub push: f32,
    /// Probability that a frame of a random episode pushes a ball.
    pub push_probability: f32,
    /// Whether the camera pans over an arena 1.5× wider than the view.
    pub camera_pan: bool,
}

impl Default for WorldConfig {
    fn default() -> Self {
        Self {
            size: 64,
            balls: 3,
            radius: 5.0,
            gravity: 0.25,
            restitution: 0.85,
            push: 3.5,
            push_probability: 0.15,
            camera_pan: false,
        }
    }
}

impl WorldConfig {
    /// Checks that the balls fit and the numbers are physical.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.size < 8 {
            return bad(format!(
                "world size must be at least 8 px, found {}",
                self.size
            ));
        }
        if self.balls == 0 || self.balls > 8 {
            return bad(format!(
                "the world holds 1 to 8 balls, found {}",
                self.balls
            ));
        }
        if !(self.radius >= 1.0 && self.radius * 2.0 * (self.balls as f32) < self.size as f32) {
            return bad(format!(
                "ball radius must be ≥ 1 px and {} balls must fit side by side in {} px, found radius {}",
                self.balls, self.size, self.radius
            ));
        }
        if !(self.gravity.is_finite() && self.push.is_finite() && self.push >= 0.0) {
            return bad(format!(
                "gravity and push must be finite (push ≥ 0), found {} and {}",
                self.gravity, self.push
            ));
        }
        if !(0.0..=1.0).contains(&self.restitution) || !(0.0..=1.0).contains(&self.push_probability)
        {
            return bad(format!(
                "restitution and push_probability must lie in [0, 1], found {} and {}",
                self.restitution, self.push_probability
            ));
        }
        Ok(())
    }

    /// Width of the arena (the view's width, or 1.5× with camera pan).
    pub fn arena_width(&self) -> f32 {
        if self.camera_pan {
            self.size as f32 * 1.5
        } else {
            self.size as f32
        }
    }

    /// The colour of ball `i`.
    pub fn color(&self, i: usize) -> [u8; 3] {
        PALETTE[i % PALETTE.len()]
    }
}

/// A push: a velocity impulse on one ball, between one frame and the next.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Action {
    /// The pushed ball.
    pub ball: usize,
    /// The velocity change `[dx, dy]` in px/frame; `[0, 0]` is no push.
    pub impulse: [f32; 2],
}

/// The four push directions of random episodes and of `cosmos demo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// −x.
    Left,
    /// +x.
    Right,
    /// −y (against gravity).
    Up,
    /// +y.
    Down,
}

impl Direction {
    /// The unit vector `[dx, dy]` (y downwards).
    pub fn unit(self) -> [f32; 2] {
        match self {
            Self::Left => [-1.0, 0.0],
            Self::Right => [1.0, 0.0],
            Self::Up => [0.0, -1.0],
            Self::Down => [0.0, 1.0],
        }
    }
}

impl Action {
    /// No push.
    pub fn none() -> Self {
        Self {
            ball: 0,
            impulse: [0.0, 0.0],
        }
    }

    /// A push of `strength` px/frame on `ball` towards `direction`.
    pub fn push(ball: usize, direction: Direction, strength: f32) -> Self {
        let [ux, uy] = direction.unit();
        Self {
            ball,
            impulse: [ux * strength, uy * strength],
        }
    }

    /// Whether this action pushes anything.
    pub fn is_push(&self) -> bool {
        self.impulse != [0.0, 0.0]
    }

    /// Length of [`to_vector`](Self::to_vector) for `balls` balls.
    pub fn dim(balls: usize) -> usize {
        balls + 2
    }

    /// The conditioning vector: a one-hot of the pushed ball (`balls` entries), then the
    /// impulse `[dx, dy]` in px/frame. No push is all zeros.
    pub fn to_vector(&self, balls: usize) -> Vec<f32> {
        let mut v = vec![0.0; Self::dim(balls)];
        if self.is_push() && self.ball < balls {
            v[self.ball] = 1.0;
            v[balls] = self.impulse[0];
            v[balls + 1] = self.impulse[1];
        }
        v
    }
}

/// One ball's state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ball {
    /// Centre in arena pixels `[x, y]`.
    pub position: [f32; 2],
    /// Velocity in px/frame.
    pub velocity: [f32; 2],
}

/// A rendered episode with its actions and the true ball positions.
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    /// Frames `[T, H, W, 3]`.
    pub frames: Array4<u8>,
    /// One action per frame: action `t` acts between frame `t` and `t + 1` (the last one
    /// would act after the episode).
    pub actions: Vec<Action>,
    /// Ball centres in view pixels `(x, y)`, `[T][ball]`.
    pub positions: Vec<Vec<[f32; 2]>>,
}

/// The simulator: balls, walls, gravity, and the camera.
#[derive(Debug, Clone)]
pub struct World {
    config: WorldConfig,
    balls: Vec<Ball>,
    camera_x: f32,
    camera_speed: f32,
}

/// Uniform float in `[lo, hi)` from a ChaCha stream.
fn uniform(rng: &mut ChaCha8Rng, lo: f32, hi: f32) -> f32 {
    let u = (rng.next_u32() >> 8) as f32 / (1u32 << 24) as f32;
    lo + (hi - lo) * u
}

/// The ChaCha stream of `seed` for one purpose (start state, or pushes).
fn stream(seed: u64, purpose: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(purpose);
    rng
}

impl World {
    /// A world in the random start state of `seed`: balls at non-overlapping random places
    /// in the upper two thirds, moving at up to 2.5 px/frame.
    pub fn new(config: &WorldConfig, seed: u64) -> Self {
        let mut rng = stream(seed, 1);
        let r = config.radius;
        let (w, h) = (config.arena_width(), config.size as f32);
        let mut balls: Vec<Ball> = Vec::with_capacity(config.balls);
        for _ in 0..config.balls {
            let mut position = [w / 2.0, h / 2.0];
            // Rejection sampling; a crowded config falls back to the last draw.
            for _ in 0..100 {
                position = [
                    uniform(&mut rng, r, w - r),
                    uniform(&mut rng, r, (h * 0.67).max(r + 1.0)),
                ];
                if balls
                    .iter()
                    .all(|b| distance(b.position, position) > 2.2 * r)
                {
                    break;
                }
            }
            let velocity = [uniform(&mut rng, -2.5, 2.5), uniform(&mut rng, -1.5, 1.5)];
            balls.push(Ball { position, velocity });
        }
        let camera_x = if config.camera_pan {
            uniform(&mut rng, 0.0, w - h)
        } else {
            0.0
        };
        let camera_speed = if rng.next_u32().is_multiple_of(2) {
            PAN_SPEED
        } else {
            -PAN_SPEED
        };
        Self {
            config: config.clone(),
            balls,
            camera_x,
            camera_speed,
        }
    }

    /// A world with the given balls (the camera at the arena's left edge).
    pub fn with_balls(config: &WorldConfig, balls: Vec<Ball>) -> Self {
        Self {
            config: config.clone(),
            balls,
            camera_x: 0.0,
            camera_speed: PAN_SPEED,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &WorldConfig {
        &self.config
    }

    /// The balls' states (arena coordinates).
    pub fn balls(&self) -> &[Ball] {
        &self.balls
    }

    /// Left edge of the view in arena pixels (0 without camera pan).
    pub fn camera_x(&self) -> f32 {
        self.camera_x
    }

    /// Ball centres in view pixels `(x, y)`.
    pub fn positions(&self) -> Vec<[f32; 2]> {
        self.balls
            .iter()
            .map(|b| [b.position[0] - self.camera_x, b.position[1]])
            .collect()
    }

    /// Applies `action`, then advances the world by one frame.
    pub fn step(&mut self, action: &Action) {
        if action.is_push()
            && let Some(ball) = self.balls.get_mut(action.ball)
        {
            ball.velocity[0] += action.impulse[0];
            ball.velocity[1] += action.impulse[1];
        }
        for ball in &mut self.balls {
            let speed = (ball.velocity[0].powi(2) + ball.velocity[1].powi(2)).sqrt();
            if speed > MAX_SPEED {
                ball.velocity[0] *= MAX_SPEED / speed;
                ball.velocity[1] *= MAX_SPEED / speed;
            }
        }
        let dt = 1.0 / SUBSTEPS as f32;
        for _ in 0..SUBSTEPS {
            for ball in &mut self.balls {
                ball.velocity[1] += self.config.gravity * dt;
                ball.position[0] += ball.velocity[0] * dt;
                ball.position[1] += ball.velocity[1] * dt;
            }
            self.collide_balls();
            self.collide_walls();
        }
        if self.config.camera_pan {
            let max_x = self.config.arena_width() - self.config.size as f32;
            self.camera_x += self.camera_speed;
            if self.camera_x < 0.0 || self.camera_x > max_x {
                self.camera_speed = -self.camera_speed;
                self.camera_x = self.camera_x.clamp(0.0, max_x);
            }
        }
    }

    fn collide_walls(&mut self) {
        let r = self.config.radius;
        let e = self.config.restitution;
        let (w, h) = (self.config.arena_width(), self.config.size as f32);
        for ball in &mut self.balls {
            for axis in 0..2 {
                let hi = if axis == 0 { w - r } else { h - r };
                let p = &mut ball.position[axis];
                let v = &mut ball.velocity[axis];
                if *p < r {
                    *p = r + (r - *p) * e;
                    if *v < 0.0 {
                        *v = -*v * e;
                    }
                } else if *p > hi {
                    *p = hi - (*p - hi) * e;
                    if *v > 0.0 {
                        *v = -*v * e;
                        // A ball bouncing ever lower on the floor comes to rest.
                        if axis == 1 && v.abs() < REST_SPEED {
                            *v = 0.0;
                            *p = hi;
                        }
                    }
                }
                *p = p.clamp(r, hi);
            }
            if ball.position[1] >= h - r - 1e-3 && ball.velocity[1].abs() < 1e-3 {
                // Rolling friction on the floor.
                ball.velocity[0] *= 0.995;
            }
        }
    }

    fn collide_balls(&mut self) {
        let r = self.config.radius;
        let e = self.config.restitution;
        let n = self.balls.len();
        for i in 0..n {
            for j in i + 1..n {
                let (a, b) = (self.balls[i], self.balls[j]);
                let d = [b.position[0] - a.position[0], b.position[1] - a.position[1]];
                let dist = (d[0] * d[0] + d[1] * d[1]).sqrt();
                if dist >= 2.0 * r || dist < 1e-6 {
                    continue;
                }
                let normal = [d[0] / dist, d[1] / dist];
                // Separate the overlap equally.
                let push = (2.0 * r - dist) / 2.0;
                let ap = &mut self.balls[i].position;
                ap[0] -= normal[0] * push;
                ap[1] -= normal[1] * push;
                let bp = &mut self.balls[j].position;
                bp[0] += normal[0] * push;
                bp[1] += normal[1] * push;
                // Equal masses: exchange the normal components, scaled by the restitution.
                let closing = (a.velocity[0] - b.velocity[0]) * normal[0]
                    + (a.velocity[1] - b.velocity[1]) * normal[1];
                if closing > 0.0 {
                    let j_impulse = (1.0 + e) * closing / 2.0;
                    let av = &mut self.balls[i].velocity;
                    av[0] -= j_impulse * normal[0];
                    av[1] -= j_impulse * normal[1];
                    let bv = &mut self.balls[j].velocity;
                    bv[0] += j_impulse * normal[0];
                    bv[1] += j_impulse * normal[1];
                }
            }
        }
    }

    /// Renders the view: `[H, W, 3]` RGB, anti-aliased discs (pixel coverage from the
    /// distance of the pixel centre to the circle) over the background.
    pub fn render(&self) -> Array3<u8> {
        let s = self.config.size;
        let r = self.config.radius;
        let mut image = Array3::<f32>::zeros((s, s, 3));
        for row in 0..s {
            for col in 0..s {
                for c in 0..3 {
                    image[[row, col, c]] = BACKGROUND[c] as f32;
                }
            }
        }
        for (i, [cx, cy]) in self.positions().into_iter().enumerate() {
            let color = self.config.color(i);
            let (x0, x1) = (
                ((cx - r - 1.0).floor().max(0.0)) as usize,
                ((cx + r + 1.0).ceil().clamp(0.0, s as f32)) as usize,
            );
            let (y0, y1) = (
                ((cy - r - 1.0).floor().max(0.0)) as usize,
                ((cy + r + 1.0).ceil().clamp(0.0, s as f32)) as usize,
            );
            for row in y0..y1 {
                for col in x0..x1 {
                    let dx = col as f32 + 0.5 - cx;
                    let dy = row as f32 + 0.5 - cy;
                    let coverage = (r + 0.5 - (dx * dx + dy * dy).sqrt()).clamp(0.0, 1.0);
                    if coverage > 0.0 {
                        for c in 0..3 {
                            let p = &mut image[[row, col, c]];
                            *p += (color[c] as f32 - *p) * coverage;
                        }
                    }
                }
            }
        }
        image.mapv(|v| v.round().clamp(0.0, 255.0) as u8)
    }
}

fn distance(a: [f32; 2], b: [f32; 2]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

/// The random pushes of episode `seed`: each frame pushes a random ball in one of the four
/// directions with probability `push_probability`.
pub fn random_actions(config: &WorldConfig, seed: u64, frames: usize) -> Vec<Action> {
    let mut rng = stream(seed, 2);
    (0..frames)
        .map(|_| {
            let draw = uniform(&mut rng, 0.0, 1.0);
            let ball = (rng.next_u32() as usize) % config.balls.max(1);
            let direction = match rng.next_u32() % 4 {
                0 => Direction::Left,
                1 => Direction::Right,
                2 => Direction::Up,
                _ => Direction::Down,
            };
            if draw < config.push_probability {
                Action::push(ball, direction, config.push)
            } else {
                Action::none()
            }
        })
        .collect()
}

/// An episode of `frames` frames from the start state of `seed`, with random pushes
/// ([`random_actions`]).
pub fn episode(config: &WorldConfig, seed: u64, frames: usize) -> Episode {
    episode_with_actions(config, seed, &random_actions(config, seed, frames))
}

/// An episode from the start state of `seed` driven by `actions`: `actions.len()` frames,
/// frame 0 the start state, frame `t + 1` the state after action `t` and one step.
pub fn episode_with_actions(config: &WorldConfig, seed: u64, actions: &[Action]) -> Episode {
    let mut world = World::new(config, seed);
    let s = config.size;
    let mut frames = Array4::<u8>::zeros((actions.len(), s, s, 3));
    let mut positions = Vec::with_capacity(actions.len());
    for (t, action) in actions.iter().enumerate() {
        frames
            .index_axis_mut(ndarray::Axis(0), t)
            .assign(&world.render());
        positions.push(world.positions());
        if t + 1 < actions.len() {
            world.step(action);
        }
    }
    Episode {
        frames,
        actions: actions.to_vec(),
        positions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_vectors() {
        assert_eq!(Action::none().to_vector(3), vec![0.0; 5]);
        assert_eq!(
            Action::push(1, Direction::Left, 2.0).to_vector(3),
            vec![0.0, 1.0, 0.0, -2.0, 0.0]
        );
        assert_eq!(Action::dim(3), 5);
    }

    #[test]
    fn default_config_is_valid_and_bad_ones_are_refused() {
        WorldConfig::default().validate().unwrap();
        let c = WorldConfig {
            radius: 40.0,
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("radius"));
    }
}
