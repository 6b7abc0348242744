use cosmos_curator::shot::{analysis_read_options, content_frame_size};
use cosmos_curator::{ContentDetector, detect_shots};
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let path = &a[1];
    let mode = a[2].as_str();
    let runs: usize = a[3].parse().unwrap();
    let threads: usize = a.get(4).map(|s| s.parse().unwrap()).unwrap_or(0);
    let info = cosmos_media::probe(path).unwrap();
    let size = content_frame_size(info.width, info.height, 256);
    let t = std::time::Instant::now();
    for _ in 0..runs {
        match mode {
            "decode" => {
                let mut o = analysis_read_options(size);
                o.threads = threads;
                cosmos_media::FrameReader::open(path, &o).unwrap().count();
            }
            "content" => {
                detect_shots(path, &mut ContentDetector::default()).unwrap();
            }
            _ => panic!(),
        }
    }
    eprintln!(
        "{mode}: {:.1} ms/run wall",
        t.elapsed().as_secs_f64() * 1e3 / runs as f64
    );
}
