//! The world-model folder round trip and the closed-loop simulator: exporting and loading the
//! shipped model changes nothing, stepping gives exactly the frames of a whole rollout, a batch
//! of candidate plans gives each plan its lone rollout, and the context stays bounded.

use burn::tensor::Device;
use cosmos_posttrain::Error;
use cosmos_posttrain::world::{Action, Direction, VALIDATION_SEEDS, episode};
use cosmos_posttrain::world_model::{CONTEXT_FRAMES, WorldModel};
use ndarray::{Array4, Axis, s};

fn context(model: &WorldModel, seed: u64) -> Array4<u8> {
    episode(&model.config.world, seed, CONTEXT_FRAMES).frames
}

fn push(model: &WorldModel, ball: usize, d: Direction) -> Vec<f32> {
    let w = &model.config.world;
    Action::push(ball, d, w.push).to_vector(w.balls)
}

#[test]
fn an_exported_world_model_folder_loads_to_the_same_model() {
    let device = Device::flex();
    let shipped = WorldModel::load_shipped(&device).unwrap();
    let dir = tempfile::tempdir().unwrap();
    WorldModel::export_shipped(dir.path()).unwrap();
    assert!(WorldModel::is_world_model_dir(dir.path()));
    assert!(dir.path().join("tokenizer/tokenizer.safetensors").is_file());
    let loaded = WorldModel::load(dir.path(), &device).unwrap();
    assert_eq!(loaded.config, shipped.config);
    let ctx = context(&shipped, VALIDATION_SEEDS.start + 11);
    let plan = vec![push(&shipped, 1, Direction::Right); 4];
    let a = shipped.rollout(ctx.view(), &[], &plan, 0, 1).unwrap();
    let b = loaded.rollout(ctx.view(), &[], &plan, 0, 1).unwrap();
    assert_eq!(a, b);
    assert!(!WorldModel::is_world_model_dir(
        &dir.path().join("tokenizer")
    ));
}

#[test]
fn stepping_the_simulator_equals_one_rollout_and_batches_equal_lone_plans() {
    let device = Device::flex();
    let model = WorldModel::load_shipped(&device).unwrap();
    let ctx = context(&model, VALIDATION_SEEDS.start + 21);
    let none = Action::none().to_vector(model.config.world.balls);
    let left = push(&model, 0, Direction::Left);
    let right = push(&model, 0, Direction::Right);

    let mut sim = model.simulator(ctx.view()).unwrap();
    let per_step = sim.frames_per_step();
    assert_eq!(per_step, 4);
    let plan = vec![left.clone(), none.clone(), none.clone()];
    // The imagined futures of two plans, batched, before any step is taken.
    let imagined = sim
        .imagine(&[
            plan.clone(),
            vec![right.clone(), none.clone(), none.clone()],
        ])
        .unwrap();
    let stepped = sim.rollout(&plan).unwrap();
    assert_eq!(stepped.shape(), &[12, 64, 64, 3]);
    assert_eq!(sim.frames_done(), 12);
    assert_eq!(sim.context().shape(), &[CONTEXT_FRAMES, 64, 64, 3]);
    assert_eq!(sim.context(), stepped.slice(s![7.., .., .., ..]));
    // The same plan as per-frame actions through the whole-rollout API.
    let mut per_frame = vec![none.clone(); 12];
    per_frame[0] = left.clone();
    let whole = model.rollout(ctx.view(), &[], &per_frame, 0, 1).unwrap();
    assert_eq!(stepped, whole, "stepping differs from one rollout");
    assert_eq!(
        imagined[0], whole,
        "a batched plan differs from its lone rollout"
    );
    // Different actions, different futures.
    let diff = imagined[0]
        .iter()
        .zip(imagined[1].iter())
        .filter(|(a, b)| a != b)
        .count();
    assert!(
        diff > 100,
        "a left and a right push gave (nearly) the same frames: {diff} px differ"
    );
}

#[test]
fn observing_real_frames_re_anchors_the_context_and_bad_inputs_are_errors() {
    let device = Device::flex();
    let model = WorldModel::load_shipped(&device).unwrap();
    let e = episode(
        &model.config.world,
        VALIDATION_SEEDS.start + 31,
        CONTEXT_FRAMES + 4,
    );
    let mut sim = model
        .simulator(e.frames.slice(s![..CONTEXT_FRAMES, .., .., ..]))
        .unwrap();
    let dim = model.config.action_dim;
    let observed = e.frames.slice(s![CONTEXT_FRAMES.., .., .., ..]);
    sim.observe(observed, &vec![vec![0.0; dim]; 4]).unwrap();
    assert_eq!(
        sim.context().index_axis(Axis(0), CONTEXT_FRAMES - 1),
        e.frames.index_axis(Axis(0), CONTEXT_FRAMES + 3)
    );
    assert!(matches!(
        sim.step(&vec![0.0; dim + 1]),
        Err(Error::Shape { .. })
    ));
    assert!(matches!(
        sim.step_frames(&[vec![0.0; dim]]),
        Err(Error::Shape { .. })
    ));
    assert!(matches!(
        model.simulator(e.frames.slice(s![..3, .., .., ..])),
        Err(Error::Shape { .. })
    ));
    assert!(matches!(
        model.rollout(
            e.frames.slice(s![..CONTEXT_FRAMES, .., .., ..]),
            &[vec![0.0; dim]],
            &[vec![0.0; dim]],
            0,
            1
        ),
        Err(Error::Shape { .. })
    ));
}
