//! `cosmos curate` with inputs and output in an S3 bucket, against a local S3-compatible server
//! (moto's, from PyPI) that this test starts on 127.0.0.1: never a real cloud.
//!
//! Raw videos (with a caption sidecar, an unreadable file and a hidden file) are uploaded to a
//! bucket; `cosmos curate s3://... --out s3://...` must leave shards, manifest and summary in the
//! bucket, byte for byte what the same inputs curated into a local folder give, and the same
//! clips as a fully local run. Then a run is killed with SIGKILL mid-run (twice, at different
//! points) and rerun, each time with an empty scratch folder (a fresh node): the bucket alone
//! must be enough to resume, and the result is again the same bytes.
//!
//! moto is installed by `.ci/run`. With `CI=true` a server that cannot be started fails the
//! test; elsewhere the test says so loudly and returns.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

mod common;
use common::snapshot;

const IN_BUCKET: &str = "raw-videos";
const OUT_BUCKET: &str = "curated";

fn media(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/media")
        .join(name)
}

/// The moto server, stopped when dropped.
struct Moto {
    child: Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// Starts moto's S3 server; `Err` says why it could not.
fn start_moto() -> Result<Moto, String> {
    let mut problems = Vec::new();
    let port = free_port();
    let port_text = port.to_string();
    let candidates: [(&str, Vec<&str>); 2] = [
        ("moto_server", vec!["-H", "127.0.0.1", "-p", &port_text]),
        (
            "python3",
            vec!["-m", "moto.server", "-H", "127.0.0.1", "-p", &port_text],
        ),
    ];
    for (program, args) in candidates {
        let child = Command::new(program)
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match child {
            Ok(child) => child,
            Err(error) => {
                problems.push(format!("{program}: {error}"));
                continue;
            }
        };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            if let Ok(Some(status)) = child.try_wait() {
                problems.push(format!("{program} exited with {status}"));
                break;
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(Moto { child, port });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = child.kill();
        let _ = child.wait();
        problems.push(format!("{program} did not listen on port {port}"));
    }
    Err(problems.join("; "))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A client of one bucket on the local server.
fn bucket(moto: &Moto, name: &str) -> Arc<dyn ObjectStore> {
    Arc::new(
        AmazonS3Builder::new()
            .with_endpoint(format!("http://127.0.0.1:{}", moto.port))
            .with_allow_http(true)
            .with_bucket_name(name)
            .with_region("us-east-1")
            .with_access_key_id("testing")
            .with_secret_access_key("testing")
            .build()
            .unwrap(),
    )
}

/// Creates a bucket (moto takes an unsigned path-style PUT).
fn create_bucket(moto: &Moto, name: &str) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", moto.port)).unwrap();
    write!(
        stream,
        "PUT /{name} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        moto.port
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "creating bucket {name}: {response}"
    );
}

/// Every object under `prefix/`, by its path below the prefix.
fn objects(store: &Arc<dyn ObjectStore>, prefix: &str) -> BTreeMap<String, Vec<u8>> {
    runtime().block_on(async {
        let metas: Vec<_> = store
            .list(Some(&Key::from(prefix)))
            .try_collect()
            .await
            .unwrap();
        let mut found = BTreeMap::new();
        for meta in metas {
            let bytes = store
                .get(&meta.location)
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            let name = meta.location.as_ref()[prefix.len()..]
                .trim_start_matches('/')
                .to_string();
            found.insert(name, bytes.to_vec());
        }
        found
    })
}

/// Shards, manifest and summary (the worker's state folder is left out).
/// The run's results: shards, manifest and summary (not the resumable state, nor the page a
/// local output folder also gets: report.html is written for local outputs only).
fn results(mut all: BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    all.retain(|name, _| {
        !name.starts_with(".curate/") && name != "report.html" && !name.starts_with("report/")
    });
    all
}

fn cosmos(moto: &Moto, scratch: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cosmos"));
    command
        .env(
            "AWS_ENDPOINT_URL",
            format!("http://127.0.0.1:{}", moto.port),
        )
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("TMPDIR", scratch);
    command
}

fn curate_args(inputs: &str, out: &str) -> Vec<String> {
    [
        "curate",
        inputs,
        "--out",
        out,
        "--captions",
        "sidecar",
        "--preset",
        "ultrafast",
        "--quiet",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn curate(moto: &Moto, inputs: &str, out: &str) -> String {
    let scratch = tempfile::tempdir().unwrap();
    let output = cosmos(moto, scratch.path())
        .args(curate_args(inputs, out))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // Every input set holds one file that is not a video: exit 1, the rest curated.
    assert_eq!(
        output.status.code(),
        Some(1),
        "cosmos curate {inputs} --out {out}:\n{text}"
    );
    text
}

/// Manifest records with the source and the names derived from it (key, dedup group) replaced
/// by the source's file name and the clip's frames, to compare runs over differently named
/// copies of the same videos.
fn neutral_records(manifest: &[u8]) -> Vec<serde_json::Value> {
    let text = std::str::from_utf8(manifest).unwrap();
    let mut keys = BTreeMap::new();
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    for record in &records {
        let name = record["source"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap();
        let neutral = format!("{name}:{}-{}", record["start_frame"], record["end_frame"]);
        keys.insert(record["key"].as_str().unwrap().to_string(), neutral);
    }
    records
        .into_iter()
        .map(|mut record| {
            let name = record["source"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string();
            record["source"] = name.into();
            let key = keys[record["key"].as_str().unwrap()].clone();
            record["key"] = key.into();
            if let Some(group) = record["dedup_group"].as_str() {
                record["dedup_group"] = keys[group].clone().into();
            }
            record
        })
        .collect()
}

/// The video members of every shard, in order.
fn shard_videos(results: &BTreeMap<String, Vec<u8>>) -> Vec<(String, Vec<Vec<u8>>)> {
    results
        .iter()
        .filter(|(name, _)| name.ends_with(".tar"))
        .map(|(name, bytes)| {
            let mut archive = tar::Archive::new(&bytes[..]);
            let videos = archive
                .entries()
                .unwrap()
                .filter_map(|entry| {
                    let mut entry = entry.unwrap();
                    let member = entry.path().unwrap().to_string_lossy().into_owned();
                    member.ends_with(".mp4").then(|| {
                        let mut data = Vec::new();
                        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
                        data
                    })
                })
                .collect();
            (name.clone(), videos)
        })
        .collect()
}

/// Keys of the objects under `prefix` in `bucket` on the server (unsigned list, as moto allows).
fn keys_now(moto: &Moto, bucket: &str, prefix: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", moto.port)) else {
        return String::new();
    };
    let _ = write!(
        stream,
        "GET /{bucket}?list-type=2&prefix={prefix} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
        moto.port
    );
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
}

/// Runs curate and kills it (SIGKILL) once an object whose key contains `marker` is in the
/// output; returns whether it was killed before it finished.
fn curate_killed_at(moto: &Moto, inputs: &str, out_prefix: &str, marker: &str) -> bool {
    let scratch = tempfile::tempdir().unwrap();
    let out = format!("s3://{OUT_BUCKET}/{out_prefix}");
    let mut child = cosmos(moto, scratch.path())
        .args(curate_args(inputs, &out))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "curate failed before the kill: {status}");
            eprintln!("the run finished before '{marker}' was seen");
            return false;
        }
        let listing = keys_now(moto, OUT_BUCKET, out_prefix);
        if listing.contains(marker) {
            child.kill().unwrap();
            child.wait().unwrap();
            let finished = keys_now(moto, OUT_BUCKET, out_prefix)
                .contains(&format!("{out_prefix}/.curate/0-of-1/summary.json"));
            eprintln!(
                "killed at '{marker}' after {:.1} s (finished: {finished})",
                started.elapsed().as_secs_f64()
            );
            return !finished;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "'{marker}' never appeared"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn curate_reads_and_writes_an_s3_bucket_and_resumes_after_a_kill() {
    let moto = match start_moto() {
        Ok(moto) => moto,
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI: the local S3 server (moto) could not be started: {why}")
        }
        Err(why) => {
            eprintln!(
                "\n!!!!! SKIPPED: the local S3 server (moto) could not be started ({why});\n\
                 !!!!! install it with: pip install --break-system-packages 'moto[server]'\n"
            );
            return;
        }
    };
    create_bucket(&moto, IN_BUCKET);
    create_bucket(&moto, OUT_BUCKET);

    // The raw videos, in a local folder and in the bucket.
    let local_in = tempfile::tempdir().unwrap();
    let srt = "1\n00:00:03,100 --> 00:00:05,400\nA car drives past a lamp post.\n\n";
    let mut raw: Vec<(&str, Vec<u8>)> = vec![
        (
            "street/bikes.mp4",
            std::fs::read(media("bikes.mp4")).unwrap(),
        ),
        ("street/bikes.srt", srt.as_bytes().to_vec()),
        (
            "carphone.mp4",
            std::fs::read(media("carphone_pristine.mp4")).unwrap(),
        ),
        ("notes.mp4", b"not a video at all".to_vec()),
    ];
    raw.push((".hidden/skipped.mp4", raw[0].1.clone()));
    let input = bucket(&moto, IN_BUCKET);
    runtime().block_on(async {
        for (name, bytes) in &raw {
            let local = local_in.path().join(name);
            std::fs::create_dir_all(local.parent().unwrap()).unwrap();
            std::fs::write(&local, bytes).unwrap();
            input
                .put(
                    &Key::from(format!("raw/{name}")),
                    PutPayload::from(bytes.clone()),
                )
                .await
                .unwrap();
        }
    });
    let inputs = format!("s3://{IN_BUCKET}/raw");
    let output = bucket(&moto, OUT_BUCKET);

    // Bucket to bucket.
    let printed = curate(&moto, &inputs, &format!("s3://{OUT_BUCKET}/run"));
    assert!(
        printed.contains("unreadable: s3://raw-videos/raw/notes.mp4"),
        "{printed}"
    );
    let in_bucket = objects(&output, "run");
    assert!(
        in_bucket
            .keys()
            .all(|k| !k.starts_with(".curate/0-of-1/clips/")),
        "the encoded-clip cache is left in the bucket: {:?}",
        in_bucket.keys().collect::<Vec<_>>()
    );
    let remote = results(in_bucket);
    let shards = remote.keys().filter(|k| k.ends_with(".tar")).count();
    assert!(shards >= 1, "no shard in the bucket: {:?}", remote.keys());
    assert!(remote.contains_key("manifest.jsonl") && remote.contains_key("summary.json"));
    let manifest = std::str::from_utf8(&remote["manifest.jsonl"]).unwrap();
    assert!(manifest.contains("\"source\":\"s3://raw-videos/raw/street/bikes.mp4\""));
    assert!(
        manifest.contains("A car drives past a lamp post."),
        "caption sidecar not read"
    );
    assert!(!manifest.contains("skipped"), "a hidden object was curated");

    // Bucket to a local folder: the same bytes.
    let local_out = tempfile::tempdir().unwrap();
    curate(&moto, &inputs, &local_out.path().to_string_lossy());
    let local = results(snapshot(local_out.path()));
    assert_eq!(
        local.keys().collect::<Vec<_>>(),
        remote.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &local {
        assert!(
            remote[name] == *bytes,
            "{name} differs between bucket and local output"
        );
    }

    // Local folder to local folder: the same clips (sources are named differently).
    let plain_out = tempfile::tempdir().unwrap();
    curate(
        &moto,
        &local_in.path().to_string_lossy(),
        &plain_out.path().to_string_lossy(),
    );
    let plain = results(snapshot(plain_out.path()));
    assert_eq!(shard_videos(&plain), shard_videos(&remote));
    assert_eq!(
        neutral_records(&plain["manifest.jsonl"]),
        neutral_records(&remote["manifest.jsonl"])
    );

    // Killed twice (after the first analysed video; after the first encoded clip), each time
    // restarted on an empty scratch folder: the same bytes as the uninterrupted run.
    let mut killed = 0;
    killed += usize::from(curate_killed_at(&moto, &inputs, "resumed", "/videos/"));
    killed += usize::from(curate_killed_at(&moto, &inputs, "resumed", "/clips/"));
    assert!(killed >= 1, "no run was killed before it finished");
    let printed = curate(&moto, &inputs, &format!("s3://{OUT_BUCKET}/resumed"));
    assert!(printed.contains("resuming worker 0/1"), "{printed}");
    let resumed = results(objects(&output, "resumed"));
    assert_eq!(
        resumed.keys().collect::<Vec<_>>(),
        remote.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &resumed {
        assert!(remote[name] == *bytes, "{name} differs after the kills");
    }

    // A finished output is left as it is.
    let printed = curate(&moto, &inputs, &format!("s3://{OUT_BUCKET}/run"));
    assert!(printed.contains("already finished"), "{printed}");
}
