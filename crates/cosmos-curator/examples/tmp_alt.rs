use cosmos_curator::shot::{analysis_read_options, content_frame_size};
use cosmos_curator::{ContentDetector, detect_shots};
use std::time::Instant;
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let path = &a[1];
    let info = cosmos_media::probe(path).unwrap();
    let size = content_frame_size(info.width, info.height, 256);
    let (mut best_d, mut best_c, mut best_t1) = (f64::MAX, f64::MAX, f64::MAX);
    for _ in 0..15 {
        let t = Instant::now();
        let n = cosmos_media::FrameReader::open(path, &analysis_read_options(size))
            .unwrap()
            .count();
        best_d = best_d.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let mut o = analysis_read_options(size);
        o.threads = 1;
        let _ = cosmos_media::FrameReader::open(path, &o).unwrap().count();
        best_t1 = best_t1.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let l = detect_shots(path, &mut ContentDetector::default()).unwrap();
        best_c = best_c.min(t.elapsed().as_secs_f64());
        assert_eq!(l.frame_count as usize, n);
    }
    println!(
        "{path}: decode-only {:.1} ms (1 thread {:.1}), content {:.1} ms",
        best_d * 1e3,
        best_t1 * 1e3,
        best_c * 1e3
    );
}
