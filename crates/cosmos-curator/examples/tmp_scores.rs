use cosmos_curator::ContentDetector;
use cosmos_curator::analysis::analyse_video;
use cosmos_curator::clips::ClipContext;
use cosmos_curator::filters::{FilterConfig, HeuristicTypeClassifier, evaluate};
fn main() {
    for path in std::env::args().skip(1) {
        let t = std::time::Instant::now();
        let a = analyse_video(path.as_ref(), &mut ContentDetector::default(), &mut |_| {}).unwrap();
        println!(
            "{path}: {} frames {:?} in {:.2}s",
            a.frames.len(),
            a.frame_size,
            t.elapsed().as_secs_f64()
        );
        for s in &a.shots {
            let clip = ClipContext {
                key: "k",
                start_frame: s.start_frame,
                end_frame: s.end_frame,
                analysis: &a,
            };
            let o = evaluate(
                &clip,
                &FilterConfig::default(),
                None,
                &mut HeuristicTypeClassifier,
            )
            .unwrap();
            let f = clip.frames();
            let n = f.len() as f32;
            let flat = f.iter().map(|x| x.flat_fraction).sum::<f32>() / n;
            let pal = f.iter().map(|x| x.palette_coverage).sum::<f32>() / n;
            let sat = f.iter().map(|x| x.saturation).sum::<f32>() / n;
            let ch = f.iter().map(|x| x.change).sum::<f32>() / n;
            println!(
                "  [{},{}) {:?} tags {:?} type {} failed {:?}\n     flat {flat:.3} pal {pal:.3} sat {sat:.1} change {ch:.2}",
                s.start_frame, s.end_frame, o.scores, o.tags, o.video_type, o.failed
            );
        }
    }
}
