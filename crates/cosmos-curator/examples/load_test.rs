//! Curation at scale under kills: many generated short videos, several worker processes at once
//! on one output folder, random SIGKILLs and restarts, and at the end a byte-for-byte comparison
//! with an undisturbed run of the same workers.
//!
//! ```text
//! cargo run --release -p cosmos-curator --example load_test -- \
//!     [--videos 1000] [--workers 4] [--kills 25] [--busy 0] [--seed 7] [--dir DIR]
//! ```
//!
//! Steps: writes `--videos` five-second 128×96 videos (two shots each, a hard cut in the middle,
//! a random scene and motion per shot) to `DIR/inputs` (kept for the next run); curates them
//! with `--workers` processes started together (`DIR/reference`), timing the run and reading
//! each worker's peak resident memory; curates them again (`DIR/killed`) while the parent kills
//! a random running worker with SIGKILL every 0.3–2.5 s and starts it again, `--kills` times, with
//! `--busy` spinning threads loading the machine; then requires the same manifest and the same
//! shard files, byte for byte, every clip once. Exit status 0 when everything matched, 1 when
//! not. Each worker is this same program started with `--worker I`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cosmos_curator::manifest::read_manifest;
use cosmos_curator::{CurateConfig, Curator, ShardSpec};
use cosmos_media::{Video, WriteOptions, write_video};
use ndarray::Array4;

type BoxError = Box<dyn std::error::Error>;

struct Args {
    videos: usize,
    workers: usize,
    kills: usize,
    busy: usize,
    seed: u64,
    dir: PathBuf,
    worker: Option<usize>,
}

fn parse() -> Result<Args, BoxError> {
    let mut args = Args {
        videos: 1000,
        workers: 4,
        kills: 25,
        busy: 0,
        seed: 7,
        dir: std::env::temp_dir().join("cosmos-curator-load-test"),
        worker: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--videos" => args.videos = value()?.parse()?,
            "--workers" => args.workers = value()?.parse()?,
            "--kills" => args.kills = value()?.parse()?,
            "--busy" => args.busy = value()?.parse()?,
            "--seed" => args.seed = value()?.parse()?,
            "--dir" => args.dir = PathBuf::from(value()?),
            "--worker" => args.worker = Some(value()?.parse()?),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if args.videos == 0 || args.workers == 0 {
        return Err("--videos and --workers must be positive".into());
    }
    Ok(args)
}

/// SplitMix64: a few random numbers for scenes and kill times, reproducible from `--seed`.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

const FPS: f64 = 25.0;
const FRAMES: usize = 125;
const WIDTH: usize = 128;
const HEIGHT: usize = 96;

/// Two shots of `FRAMES / 2` frames: a gradient scene with a square moving across it.
fn scene_video(random: &mut Random) -> Array4<u8> {
    let mut frames = Array4::<u8>::zeros((FRAMES, HEIGHT, WIDTH, 3));
    let cut = FRAMES / 2;
    for shot in 0..2 {
        let base: [f64; 3] =
            [random.unit(), random.unit(), random.unit()].map(|v| 40.0 + 170.0 * v);
        let ink: [f64; 3] = [random.unit(), random.unit(), random.unit()].map(|v| 255.0 * v);
        let (mut x, mut y) = (random.unit() * 96.0, random.unit() * 64.0);
        let (dx, dy) = (random.unit() * 3.0 - 1.5, random.unit() * 2.0 - 1.0);
        let slope = random.unit() * 2.0 - 1.0;
        let range = if shot == 0 { 0..cut } else { cut..FRAMES };
        for t in range {
            for row in 0..HEIGHT {
                for col in 0..WIDTH {
                    let inside = (col as f64 - x).abs() < 12.0 && (row as f64 - y).abs() < 12.0;
                    for c in 0..3 {
                        let value = if inside {
                            ink[c]
                        } else {
                            base[c] + slope * (col as f64 - 64.0) * 0.6 + (row as f64 - 48.0) * 0.3
                        };
                        frames[[t, row, col, c]] = value.clamp(0.0, 255.0) as u8;
                    }
                }
            }
            x = (x + dx).rem_euclid(WIDTH as f64);
            y = (y + dy).rem_euclid(HEIGHT as f64);
        }
    }
    frames
}

fn write_inputs(dir: &Path, count: usize, seed: u64) -> Result<(), BoxError> {
    std::fs::create_dir_all(dir)?;
    let have = std::fs::read_dir(dir)?.count();
    if have == count {
        return Ok(());
    }
    if have != 0 {
        return Err(format!(
            "{} holds {have} files, not {count}: remove it or use another --dir",
            dir.display()
        )
        .into());
    }
    let mut random = Random(seed);
    let options = WriteOptions {
        preset: "ultrafast".into(),
        crf: 16,
        ..WriteOptions::default()
    };
    let started = Instant::now();
    for index in 0..count {
        let video = Video::new(scene_video(&mut random), FPS)?;
        write_video(dir.join(format!("video_{index:05}.mp4")), &video, &options)?;
    }
    eprintln!(
        "wrote {count} input videos in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn worker_command(args: &Args, index: usize, inputs: &Path, out: &Path) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("own path"));
    command
        .args(["--worker", &index.to_string()])
        .args(["--workers", &args.workers.to_string()])
        .arg("--dir")
        .arg(&args.dir)
        .env("LOAD_TEST_INPUTS", inputs)
        .env("LOAD_TEST_OUT", out)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    command
}

/// The worker side: curate share `index` of `workers`, then print the peak resident memory.
fn run_worker(args: &Args, index: usize) -> Result<(), BoxError> {
    let inputs = PathBuf::from(std::env::var_os("LOAD_TEST_INPUTS").ok_or("no inputs")?);
    let out = PathBuf::from(std::env::var_os("LOAD_TEST_OUT").ok_or("no output")?);
    Curator::new(CurateConfig::default())?.run(
        &[inputs],
        &out,
        ShardSpec::new(index, args.workers)?,
    )?;
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .map_or("unknown".to_string(), |v| v.trim().to_string());
    println!("peak {peak}");
    Ok(())
}

fn peak_of(child: Child) -> Result<String, BoxError> {
    let output = child.wait_with_output()?;
    if !output.status.success() {
        return Err(format!("a worker failed: {}", output.status).into());
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("peak "))
        .unwrap_or("unknown")
        .to_string())
}

/// Manifest bytes and every shard's (path, bytes) under `out`.
fn outputs(out: &Path) -> Result<(Vec<u8>, Vec<(String, Vec<u8>)>), BoxError> {
    fn walk(folder: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(folder)? {
            let path = entry?.path();
            if path.is_dir() {
                walk(&path, found)?;
            } else if path.extension().is_some_and(|e| e == "tar") {
                found.push(path);
            }
        }
        Ok(())
    }
    let manifest = std::fs::read(out.join("manifest.jsonl"))?;
    let mut files = Vec::new();
    walk(&out.join("shards"), &mut files)?;
    files.sort();
    let shards = files
        .into_iter()
        .map(|path| {
            let name = path
                .strip_prefix(out)
                .unwrap_or(&path)
                .display()
                .to_string();
            std::fs::read(&path).map(|bytes| (name, bytes))
        })
        .collect::<std::io::Result<_>>()?;
    Ok((manifest, shards))
}

fn main() -> Result<(), BoxError> {
    let args = parse()?;
    if let Some(index) = args.worker {
        return run_worker(&args, index);
    }
    let inputs = args.dir.join("inputs");
    write_inputs(&inputs, args.videos, args.seed)?;
    for run in ["reference", "killed"] {
        let out = args.dir.join(run);
        if out.exists() {
            std::fs::remove_dir_all(&out)?;
        }
    }

    // Undisturbed: every worker at once.
    let reference = args.dir.join("reference");
    let started = Instant::now();
    let children = (0..args.workers)
        .map(|i| worker_command(&args, i, &inputs, &reference).spawn())
        .collect::<std::io::Result<Vec<_>>>()?;
    let peaks = children
        .into_iter()
        .map(peak_of)
        .collect::<Result<Vec<_>, _>>()?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "undisturbed: {} videos, {} workers, {seconds:.1} s, {:.2} videos/s; peak memory per worker: {}",
        args.videos,
        args.workers,
        args.videos as f64 / seconds,
        peaks.join(", ")
    );

    // Killed and restarted, with the machine loaded.
    let stop = Arc::new(AtomicBool::new(false));
    let busy: Vec<_> = (0..args.busy)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut x = 1u64;
                while !stop.load(Ordering::Relaxed) {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                }
                x
            })
        })
        .collect();
    let killed = args.dir.join("killed");
    let mut random = Random(args.seed ^ 0x5eed);
    let mut children: Vec<Option<Child>> = (0..args.workers)
        .map(|i| worker_command(&args, i, &inputs, &killed).spawn().map(Some))
        .collect::<std::io::Result<_>>()?;
    let started = Instant::now();
    let mut kills = 0;
    while kills < args.kills {
        std::thread::sleep(Duration::from_secs_f64(0.3 + 2.2 * random.unit()));
        let running: Vec<usize> = (0..args.workers)
            .filter(|&i| {
                children[i]
                    .as_mut()
                    .is_some_and(|child| child.try_wait().ok().flatten().is_none())
            })
            .collect();
        if running.is_empty() {
            break;
        }
        let victim = running[random.next() as usize % running.len()];
        if let Some(mut child) = children[victim].take() {
            child.kill()?;
            child.wait()?;
        }
        kills += 1;
        children[victim] = Some(worker_command(&args, victim, &inputs, &killed).spawn()?);
    }
    for child in children.into_iter().flatten() {
        peak_of(child)?;
    }
    stop.store(true, Ordering::Relaxed);
    for thread in busy {
        let _ = thread.join();
    }
    println!(
        "killed run: {kills} SIGKILLs and restarts, {} busy threads, {:.1} s",
        args.busy,
        started.elapsed().as_secs_f64()
    );

    let expected = outputs(&reference)?;
    let got = outputs(&killed)?;
    let records = read_manifest(&reference.join("manifest.jsonl"))?;
    let keys: BTreeSet<&str> = records.iter().map(|r| r.key.as_str()).collect();
    let kept = records.iter().filter(|r| r.kept).count();
    let sources: BTreeSet<&str> = records.iter().map(|r| r.source.as_str()).collect();
    println!(
        "manifest: {} clip records ({kept} kept) from {} videos, {} distinct keys; {} shard files, {:.1} MB",
        records.len(),
        sources.len(),
        keys.len(),
        expected.1.len(),
        expected.1.iter().map(|(_, b)| b.len()).sum::<usize>() as f64 / 1e6
    );
    let once = keys.len() == records.len();
    let same = expected == got;
    if same && once {
        println!("identical: manifest and every shard byte for byte; every clip once");
        Ok(())
    } else {
        println!(
            "DIFFERENT: manifest equal {}, shards equal {}, every clip once {once}",
            expected.0 == got.0,
            expected.1 == got.1
        );
        std::process::exit(1);
    }
}
