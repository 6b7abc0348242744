use cosmos_media::{FrameReader, PixelLayout, ReadOptions};
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let path = &a[1];
    let threads: usize = a[2].parse().unwrap();
    let skip = a[3] == "1";
    let mode = a[4].as_str();
    let runs: usize = a.get(5).map(|s| s.parse().unwrap()).unwrap_or(5);
    let info = cosmos_media::probe(path).unwrap();
    let size = cosmos_curator::shot::content_frame_size(info.width, info.height, 256);
    let mut opts = ReadOptions {
        threads,
        skip_loop_filter: skip,
        ..ReadOptions::default()
    };
    match mode {
        "rgb" => {
            opts = opts.resize(size.0, size.1);
        }
        "luma" => {
            opts = opts.resize(size.0, size.1).pixels(PixelLayout::Luma);
        }
        "full" => {}
        "full_luma" => {
            opts = opts.pixels(PixelLayout::Luma);
        }
        _ => panic!(),
    }
    let mut best = f64::MAX;
    for _ in 0..runs {
        let t = std::time::Instant::now();
        let n = FrameReader::open(path, &opts).unwrap().count();
        best = best.min(t.elapsed().as_secs_f64());
        assert!(n > 0);
    }
    println!(
        "{mode} threads={threads} skip={skip}: best {:.1} ms",
        best * 1e3
    );
}
