//! Closed-loop rollouts for a robotics stack: a [`WorldSimulator`] holds the recent frames and
//! actions of one episode, takes the next action, and answers with the frames the world model
//! predicts, keeping its context itself.
//!
//! ```no_run
//! # fn main() -> cosmos_posttrain::Result<()> {
//! use cosmos_posttrain::world_model::{WorldModel, CONTEXT_FRAMES};
//! use cosmos_posttrain::world::{episode, Action, Direction, WorldConfig};
//! let device = burn::tensor::Device::flex();
//! let model = WorldModel::load_shipped(&device)?;
//! let observed = episode(&model.config.world, 7, CONTEXT_FRAMES);
//! let mut sim = model.simulator(observed.frames.view())?;
//! let world = &model.config.world;
//! let push = Action::push(0, Direction::Left, world.push).to_vector(world.balls);
//! let next = sim.step(&push)?; // [frames_per_step, 64, 64, 3]
//! # let _ = next; Ok(()) }
//! ```
//!
//! Memory per step is bounded: the simulator keeps the last [`CONTEXT_FRAMES`] frames and the
//! actions between them, whatever the episode's length. Each step is one window of the model
//! ([`WorldModelConfig::keep_frames`](crate::world_model::WorldModelConfig::keep_frames)
//! frames); a step's frames are exactly those [`WorldModel::rollout`] gives for the same
//! actions.

use std::collections::VecDeque;

use ndarray::{Array3, Array4, ArrayView4, Axis};

use crate::world_model::{CONTEXT_FRAMES, WorldModel};
use crate::{Error, Result};

/// A world model rolled forward one step at a time from an observed context.
pub struct WorldSimulator<'a> {
    model: &'a WorldModel,
    /// The last [`CONTEXT_FRAMES`] frames, oldest first.
    frames: VecDeque<Array3<u8>>,
    /// The actions between those frames (`CONTEXT_FRAMES − 1`), oldest first.
    actions: VecDeque<Vec<f32>>,
    seed: u64,
    sampler_steps: usize,
    frames_done: usize,
}

impl WorldModel {
    /// A simulator that starts after `context`, the last [`CONTEXT_FRAMES`] observed frames
    /// (`[5, size, size, 3]`), with no action between them; seed 0 and one sampler step, as
    /// the shipped model is evaluated ([`WorldSimulator::with_seed`],
    /// [`WorldSimulator::with_past_actions`] change that).
    pub fn simulator(&self, context: ArrayView4<u8>) -> Result<WorldSimulator<'_>> {
        let size = self.config.world.size;
        let want = [CONTEXT_FRAMES, size, size, 3];
        if context.shape() != want {
            return Err(Error::Shape {
                what: "simulator context frames".into(),
                expected: format!("{want:?}"),
                found: format!("{:?}", context.shape()),
            });
        }
        Ok(WorldSimulator {
            model: self,
            frames: context.axis_iter(Axis(0)).map(|f| f.to_owned()).collect(),
            actions: vec![vec![0.0; self.config.action_dim]; CONTEXT_FRAMES - 1].into(),
            seed: 0,
            sampler_steps: 1,
            frames_done: 0,
        })
    }
}

impl<'a> WorldSimulator<'a> {
    /// Sets the sampler's seed and number of Euler steps.
    pub fn with_seed(mut self, seed: u64, sampler_steps: usize) -> Self {
        self.seed = seed;
        self.sampler_steps = sampler_steps.max(1);
        self
    }

    /// Sets the actions that were taken between the context frames (`CONTEXT_FRAMES − 1`
    /// vectors), when they are known.
    pub fn with_past_actions(mut self, actions: &[Vec<f32>]) -> Result<Self> {
        self.check_actions(actions, CONTEXT_FRAMES - 1, "past actions")?;
        self.actions = actions.iter().cloned().collect();
        Ok(self)
    }

    /// The model being rolled forward.
    pub fn model(&self) -> &'a WorldModel {
        self.model
    }

    /// Frames one [`step`](Self::step) predicts.
    pub fn frames_per_step(&self) -> usize {
        self.model.config.keep_frames()
    }

    /// Frames predicted so far.
    pub fn frames_done(&self) -> usize {
        self.frames_done
    }

    /// The current context: the last [`CONTEXT_FRAMES`] frames `[5, size, size, 3]`.
    pub fn context(&self) -> Array4<u8> {
        let views: Vec<_> = self.frames.iter().map(|f| f.view()).collect();
        ndarray::stack(Axis(0), &views).expect("frames of one size")
    }

    /// One step with one action: `action` acts at the current frame (between the last frame
    /// and the first predicted one), no action on the step's later frames. Returns the step's
    /// frames `[frames_per_step, size, size, 3]` and moves the context forward.
    pub fn step(&mut self, action: &[f32]) -> Result<Array4<u8>> {
        let mut per_frame = vec![vec![0.0; self.model.config.action_dim]; self.frames_per_step()];
        per_frame[0] = action.to_vec();
        self.step_frames(&per_frame)
    }

    /// One step with an action per predicted frame (`frames_per_step` vectors; vector `k` acts
    /// between predicted frames `k − 1` and `k`).
    pub fn step_frames(&mut self, actions: &[Vec<f32>]) -> Result<Array4<u8>> {
        self.check_actions(actions, self.frames_per_step(), "step actions")?;
        let mut out = self.predict(&[actions.to_vec()])?;
        let frames = out.pop().expect("one plan");
        self.advance(&frames, actions);
        Ok(frames)
    }

    /// Steps through `plan`, one action vector per step ([`step`](Self::step)); returns all
    /// predicted frames `[plan.len() · frames_per_step, size, size, 3]`.
    pub fn rollout(&mut self, plan: &[Vec<f32>]) -> Result<Array4<u8>> {
        let mut parts = Vec::with_capacity(plan.len());
        for action in plan {
            parts.push(self.step(action)?);
        }
        let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
        ndarray::concatenate(Axis(0), &views).map_err(|e| Error::Config(e.to_string()))
    }

    /// Scores candidate plans from the current state without moving it: each plan is a list of
    /// per-step action vectors (all plans of one length), rolled out together in one batch per
    /// window. Plan `i`'s frames equal what [`rollout`](Self::rollout) of it would return.
    pub fn imagine(&self, plans: &[Vec<Vec<f32>>]) -> Result<Vec<Array4<u8>>> {
        let per_step = self.frames_per_step();
        let dim = self.model.config.action_dim;
        let per_frame: Vec<Vec<Vec<f32>>> = plans
            .iter()
            .map(|plan| {
                plan.iter()
                    .flat_map(|a| {
                        let mut step = vec![vec![0.0; dim]; per_step];
                        step[0] = a.clone();
                        step
                    })
                    .collect()
            })
            .collect();
        self.predict(&per_frame)
    }

    /// Feeds frames observed in the real system (and the per-frame actions that led to them)
    /// into the context instead of predictions: a closed loop re-anchors the model on what
    /// actually happened. `frames: [n, size, size, 3]`, `actions`: `n` vectors (vector `k` acts
    /// between the previous frame and frame `k`).
    pub fn observe(&mut self, frames: ArrayView4<u8>, actions: &[Vec<f32>]) -> Result<()> {
        let size = self.model.config.world.size;
        let n = frames.shape()[0];
        if frames.shape()[1..] != [size, size, 3] {
            return Err(Error::Shape {
                what: "observed frames".into(),
                expected: format!("[n, {size}, {size}, 3]"),
                found: format!("{:?}", frames.shape()),
            });
        }
        self.check_actions(actions, n, "observed actions")?;
        self.advance(&frames.to_owned(), actions);
        Ok(())
    }

    fn predict(&self, per_frame_plans: &[Vec<Vec<f32>>]) -> Result<Vec<Array4<u8>>> {
        let past: Vec<Vec<f32>> = self.actions.iter().cloned().collect();
        self.model.rollout_batch(
            self.context().view(),
            &past,
            per_frame_plans,
            self.seed,
            self.sampler_steps,
            self.model.config.keep_frames(),
        )
    }

    fn advance(&mut self, frames: &Array4<u8>, actions: &[Vec<f32>]) {
        for (frame, action) in frames.axis_iter(Axis(0)).zip(actions) {
            self.frames.push_back(frame.to_owned());
            self.frames.pop_front();
            self.actions.push_back(action.clone());
            self.actions.pop_front();
        }
        self.frames_done += frames.shape()[0];
    }

    fn check_actions(&self, actions: &[Vec<f32>], count: usize, what: &str) -> Result<()> {
        if actions.len() != count {
            return Err(Error::Shape {
                what: what.into(),
                expected: format!("{count} action vectors"),
                found: format!("{} vectors", actions.len()),
            });
        }
        let dim = self.model.config.action_dim;
        if let Some((k, a)) = actions.iter().enumerate().find(|(_, a)| a.len() != dim) {
            return Err(Error::Shape {
                what: format!("{what}: action {k}"),
                expected: format!("{dim} values"),
                found: format!("{} values", a.len()),
            });
        }
        Ok(())
    }
}
