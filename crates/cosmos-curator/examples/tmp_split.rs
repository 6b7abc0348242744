use cosmos_curator::shot::{analysis_read_options, content_frame_size};
use std::time::Instant;
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let path = a[1].clone();
    let k: u64 = a[2].parse().unwrap();
    let info = cosmos_media::probe(&path).unwrap();
    let n = info.frames.unwrap();
    let size = content_frame_size(info.width, info.height, 256);
    let (mut best_split, mut best_single) = (f64::MAX, f64::MAX);
    for _ in 0..15 {
        let t = Instant::now();
        std::thread::scope(|s| {
            let p = &path;
            let h1 = s.spawn(move || {
                let mut o = analysis_read_options(size).range(0, k as usize + 1);
                o.threads = 1;
                cosmos_media::FrameReader::open(p, &o).unwrap().count()
            });
            let h2 = s.spawn(move || {
                let mut o = analysis_read_options(size).range(k, (n - k) as usize);
                o.threads = 1;
                cosmos_media::FrameReader::open(p, &o).unwrap().count()
            });
            let (c1, c2) = (h1.join().unwrap(), h2.join().unwrap());
            assert_eq!(c1 + c2, n as usize + 1, "{c1} {c2}");
        });
        best_split = best_split.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        cosmos_media::FrameReader::open(&path, &analysis_read_options(size))
            .unwrap()
            .count();
        best_single = best_single.min(t.elapsed().as_secs_f64());
    }
    println!(
        "split at {k}: {:.1} ms; frame-threaded single: {:.1} ms",
        best_split * 1e3,
        best_single * 1e3
    );
}
