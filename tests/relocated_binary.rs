//! The `cosmos` binary needs nothing of the tree it was built in: a copy in a temporary folder,
//! run from another temporary folder with a clean environment (no `CARGO_*` variables, `HOME`
//! a fresh folder), still runs its main commands; and no absolute path of the checkout is
//! compiled into it outside its debug information.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use object::{Object, ObjectSection};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The relocated binary and the folder it runs in.
struct Relocated {
    _dir: tempfile::TempDir,
    binary: PathBuf,
    work: PathBuf,
    home: PathBuf,
}

fn relocate() -> Relocated {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    let work = dir.path().join("work");
    let home = dir.path().join("home");
    for d in [&bin, &work, &home] {
        std::fs::create_dir_all(d).unwrap();
    }
    let binary = bin.join("cosmos");
    std::fs::copy(env!("CARGO_BIN_EXE_cosmos"), &binary).unwrap();
    // Inputs are copied next to it: the source tree is not where the run looks.
    for media in ["carphone_pristine.mp4", "astronaut.png"] {
        std::fs::copy(
            Path::new(ROOT).join("testdata/media").join(media),
            work.join(media),
        )
        .unwrap();
    }
    Relocated {
        _dir: dir,
        binary,
        work,
        home,
    }
}

impl Relocated {
    /// Runs the copy in `work` with only `PATH` (and the dynamic loader's path, where set) of
    /// the caller's environment.
    fn run(&self, args: &[&str]) -> Output {
        let mut command = Command::new(&self.binary);
        command
            .args(args)
            .current_dir(&self.work)
            .env_clear()
            .env("HOME", &self.home);
        for keep in ["PATH", "LD_LIBRARY_PATH"] {
            if let Some(v) = std::env::var_os(keep) {
                command.env(keep, v);
            }
        }
        let out = command.output().expect("the relocated binary runs");
        assert!(
            out.status.success(),
            "{args:?}: exit {:?}\nstdout:\n{}\nstderr:\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn nonempty(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.len() > 100)
}

#[test]
fn the_relocated_binary_runs_its_main_commands() {
    let r = relocate();

    let version = r.run(&["--version"]);
    assert!(
        stdout(&version).contains(env!("CARGO_PKG_VERSION")),
        "{}",
        stdout(&version)
    );

    // The embedded world model.
    r.run(&["demo", "--out", "demo"]);
    assert!(nonempty(&r.work.join("demo/demo.mp4")));
    assert!(nonempty(&r.work.join("demo/demo.gif")));

    // The face detector's weights are compiled in.
    let guard = r.run(&[
        "guard",
        "video",
        "carphone_pristine.mp4",
        "--out",
        "pixelated.mp4",
        "--faces-json",
        "faces.json",
    ]);
    assert!(nonempty(&r.work.join("pixelated.mp4")));
    let faces: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(r.work.join("faces.json")).unwrap()).unwrap();
    let with_faces = faces["frames"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| !f["boxes"].as_array().unwrap().is_empty())
        .count();
    assert!(
        with_faces >= 100,
        "the face is found in most of the 120 frames, found in {with_faces}\n{}",
        stdout(&guard)
    );

    // The built-in world, and the shipped world tokenizer exported and run on it.
    r.run(&[
        "world", "episodes", "--count", "1", "--frames", "9", "--out", "episodes",
    ]);
    assert!(nonempty(&r.work.join("episodes/episode_0.mp4")));
    assert!(r.work.join("episodes/episode_0.actions.json").is_file());
    r.run(&["world", "model", "--out", "world_model"]);
    let tokenized = r.run(&[
        "tokenize",
        "episodes/episode_0.mp4",
        "--model",
        "world_model/tokenizer",
        "--out",
        "reconstruction.mp4",
    ]);
    assert!(nonempty(&r.work.join("reconstruction.mp4")));
    let psnr: f64 = stdout(&tokenized)
        .lines()
        .find_map(|l| l.strip_prefix("PSNR "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("a PSNR line\n{}", stdout(&tokenized)));
    // The shipped tokenizer reconstructs its own world well; random weights would be < 15 dB.
    assert!(psnr > 25.0, "PSNR {psnr} dB");
}

/// Absolute paths of the checkout in the binary, outside the debug sections (which name the
/// source files for backtraces and debuggers and are never read by the program).
#[test]
fn no_checkout_path_is_compiled_into_the_binary() {
    let bytes = std::fs::read(env!("CARGO_BIN_EXE_cosmos")).unwrap();
    let file = object::File::parse(&*bytes).unwrap();
    let needle = ROOT.as_bytes();
    let mut found = Vec::new();
    for section in file.sections() {
        let name = section.name().unwrap_or("?").to_string();
        if name.starts_with(".debug") || name.starts_with(".zdebug") {
            continue;
        }
        let Ok(data) = section.data() else { continue };
        let mut at = 0;
        while let Some(i) = data[at..].windows(needle.len()).position(|w| w == needle) {
            let start = at + i;
            let end = data[start..]
                .iter()
                .position(|&b| b == 0 || b == b'"' || b == b'\n')
                .map_or(data.len(), |e| start + e)
                .min(start + 200);
            found.push(format!(
                "{name}: {}",
                String::from_utf8_lossy(&data[start..end])
            ));
            at = start + needle.len();
        }
    }
    assert!(
        found.is_empty(),
        "the binary holds {} absolute path(s) of the checkout {ROOT}:\n{}",
        found.len(),
        found.join("\n")
    );
}
