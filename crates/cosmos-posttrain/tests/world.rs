//! The physics world: determinism, gravity, walls, collisions, pushes, and replaying actions.

use cosmos_posttrain::metrics::ball_positions;
use cosmos_posttrain::world::{
    Action, Ball, Direction, TRAIN_SEEDS, VALIDATION_SEEDS, World, WorldConfig, episode,
    episode_with_actions, random_actions,
};

fn still(position: [f32; 2]) -> Ball {
    Ball {
        position,
        velocity: [0.0, 0.0],
    }
}

#[test]
fn episodes_are_deterministic_by_seed() {
    let config = WorldConfig::default();
    let a = episode(&config, 42, 17);
    let b = episode(&config, 42, 17);
    assert_eq!(a, b);
    assert_eq!(a.frames.shape(), &[17, 64, 64, 3]);
    assert_eq!(a.actions.len(), 17);
    assert_eq!(a.positions.len(), 17);
    let c = episode(&config, 43, 17);
    assert_ne!(a.frames, c.frames);
    // Frames really move: consecutive frames differ.
    assert_ne!(
        a.frames.index_axis(ndarray::Axis(0), 0),
        a.frames.index_axis(ndarray::Axis(0), 8)
    );
}

#[test]
fn seed_ranges_are_disjoint() {
    const {
        assert!(TRAIN_SEEDS.end <= VALIDATION_SEEDS.start);
    }
    assert!(!VALIDATION_SEEDS.is_empty() && !TRAIN_SEEDS.is_empty());
    // Held-out episodes are not training episodes.
    let config = WorldConfig::default();
    assert_ne!(
        episode(&config, VALIDATION_SEEDS.start, 2).frames,
        episode(&config, TRAIN_SEEDS.start, 2).frames
    );
}

#[test]
fn gravity_accelerates_downwards() {
    let config = WorldConfig {
        balls: 1,
        ..Default::default()
    };
    let mut world = World::with_balls(&config, vec![still([32.0, 10.0])]);
    let mut ys = vec![world.positions()[0][1]];
    for _ in 0..6 {
        world.step(&Action::none());
        ys.push(world.positions()[0][1]);
    }
    let steps: Vec<f32> = ys.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(steps.iter().all(|&d| d > 0.0), "falls: {steps:?}");
    assert!(
        steps.windows(2).all(|w| w[1] > w[0]),
        "accelerates: {steps:?}"
    );
    // One frame of free fall gains `gravity` px/frame.
    assert!((world.balls()[0].velocity[1] - 6.0 * config.gravity).abs() < 1e-4);
    assert_eq!(world.positions()[0][0], 32.0, "no sideways drift");
}

#[test]
fn balls_stay_inside_the_box() {
    let config = WorldConfig::default();
    for seed in 0..20 {
        let mut world = World::new(&config, seed);
        let actions = random_actions(
            &WorldConfig {
                push_probability: 0.5,
                ..config.clone()
            },
            seed,
            200,
        );
        for action in &actions {
            world.step(action);
            for [x, y] in world.positions() {
                let r = config.radius;
                let s = config.size as f32;
                assert!(
                    x >= r - 1e-3 && x <= s - r + 1e-3 && y >= r - 1e-3 && y <= s - r + 1e-3,
                    "seed {seed}: ball at ({x}, {y})"
                );
            }
        }
    }
}

#[test]
fn collisions_conserve_momentum_roughly() {
    let config = WorldConfig {
        balls: 2,
        gravity: 0.0,
        restitution: 0.9,
        ..Default::default()
    };
    let mut world = World::with_balls(
        &config,
        vec![
            Ball {
                position: [20.0, 32.0],
                velocity: [2.0, 0.3],
            },
            Ball {
                position: [44.0, 33.0],
                velocity: [-1.0, 0.0],
            },
        ],
    );
    let momentum = |w: &World| {
        w.balls().iter().fold([0.0f32; 2], |m, b| {
            [m[0] + b.velocity[0], m[1] + b.velocity[1]]
        })
    };
    let before = momentum(&world);
    let v0 = world.balls()[0].velocity[0];
    for _ in 0..10 {
        world.step(&Action::none());
    }
    let after = momentum(&world);
    // They met: ball 0 now moves left (or slower), ball 1 right.
    assert!(
        world.balls()[0].velocity[0] < v0 - 1.0,
        "{:?}",
        world.balls()
    );
    assert!(world.balls()[1].velocity[0] > 0.0, "{:?}", world.balls());
    assert!(
        (before[0] - after[0]).abs() < 1e-3 && (before[1] - after[1]).abs() < 1e-3,
        "momentum {before:?} → {after:?}"
    );
    let [a, b] = [world.positions()[0], world.positions()[1]];
    let gap = ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
    assert!(gap >= 2.0 * config.radius - 1e-3, "balls overlap: {gap}");
}

#[test]
fn pushes_move_the_ball_their_way() {
    let config = WorldConfig::default();
    let seed = VALIDATION_SEEDS.start + 3;
    let mut base = vec![Action::none(); 12];
    let none = episode_with_actions(&config, seed, &base);
    for (direction, sign) in [(Direction::Left, -1.0f32), (Direction::Right, 1.0)] {
        base[4] = Action::push(1, direction, config.push);
        let pushed = episode_with_actions(&config, seed, &base);
        // Identical up to and including frame 4, then ball 1 drifts the push's way.
        for t in 0..=4 {
            assert_eq!(pushed.positions[t], none.positions[t]);
        }
        let dx = pushed.positions[8][1][0] - none.positions[8][1][0];
        assert!(dx * sign > 3.0, "{direction:?}: dx {dx}");
        // The renderer agrees with the simulator.
        let seen = ball_positions(pushed.frames.index_axis(ndarray::Axis(0), 8), &config)[1]
            .expect("ball 1 visible");
        let truth = pushed.positions[8][1];
        assert!((seen[0] - truth[0]).abs() < 0.5 && (seen[1] - truth[1]).abs() < 0.5);
    }
}

#[test]
fn episode_with_actions_replays_an_episode() {
    let config = WorldConfig::default();
    for seed in [7, VALIDATION_SEEDS.start] {
        let ep = episode(&config, seed, 17);
        assert!(
            ep.actions.iter().any(Action::is_push) || seed == 7,
            "validation episode has pushes"
        );
        let replay = episode_with_actions(&config, seed, &ep.actions);
        assert_eq!(replay, ep);
    }
}

#[test]
fn motion_is_visible_and_bounded() {
    // Over many episodes, balls move a few pixels per frame on average, never more than the
    // speed limit allows.
    let config = WorldConfig::default();
    let mut total = 0.0f32;
    let mut count = 0;
    for seed in 0..30 {
        let ep = episode(&config, seed, 17);
        for t in 1..17 {
            for b in 0..config.balls {
                let [x0, y0] = ep.positions[t - 1][b];
                let [x1, y1] = ep.positions[t][b];
                let d = ((x1 - x0).powi(2) + (y1 - y0).powi(2)).sqrt();
                assert!(d <= 8.0, "seed {seed} frame {t}: {d} px");
                total += d;
                count += 1;
            }
        }
    }
    let mean = total / count as f32;
    assert!((0.8..5.0).contains(&mean), "mean speed {mean} px/frame");
}

#[test]
fn camera_pan_moves_the_view() {
    let config = WorldConfig {
        camera_pan: true,
        gravity: 0.0,
        balls: 1,
        ..Default::default()
    };
    let mut world = World::with_balls(&config, vec![still([40.0, 30.0])]);
    let x0 = world.positions()[0][0];
    world.step(&Action::none());
    let x1 = world.positions()[0][0];
    assert!(
        (x1 - x0).abs() > 0.5,
        "a still ball appears to move: {x0} → {x1}"
    );
    assert_eq!(world.render().shape(), &[64, 64, 3]);
}
