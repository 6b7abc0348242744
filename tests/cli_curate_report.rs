//! `cosmos curate` writes `OUT/report.html`: the page is parsed (with `tl`) and must name
//! every clip of the manifest with its kept/dropped reason, its shard, its caption and a
//! thumbnail file that exists; the unreadable input is named. Where Chromium is installed
//! (`/usr/bin/chromium`, or `COSMOS_CHROMIUM`), a headless screenshot of the page must show the
//! thumbnails (photographic pixels, not only text and borders); without Chromium that check is
//! skipped with a printed line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{media, text};

/// The elements of `dom` (or below `within`) matching a CSS `selector`.
fn select<'a>(
    dom: &'a tl::VDom<'a>,
    within: Option<&'a tl::HTMLTag<'a>>,
    selector: &str,
) -> Vec<&'a tl::HTMLTag<'a>> {
    let parser = dom.parser();
    let handles: Vec<tl::NodeHandle> = match within {
        Some(tag) => tag.query_selector(parser, selector).unwrap().collect(),
        None => dom.query_selector(selector).unwrap().collect(),
    };
    handles
        .into_iter()
        .filter_map(|h| h.get(parser).and_then(|n| n.as_tag()))
        .collect()
}

fn attr(tag: &tl::HTMLTag<'_>, name: &str) -> Option<String> {
    tag.attributes()
        .get(name)
        .flatten()
        .map(|v| v.as_utf8_str().into_owned())
}

#[test]
fn curate_writes_a_report_naming_every_clip_with_its_reason_and_thumbnail() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("in");
    std::fs::create_dir(&inputs).unwrap();
    std::fs::copy(media("bikes.mp4"), inputs.join("bikes.mp4")).unwrap();
    std::fs::copy(media("carphone_pristine.mp4"), inputs.join("carphone.mp4")).unwrap();
    std::fs::write(inputs.join("notes.mp4"), b"not a video at all").unwrap();
    std::fs::write(
        inputs.join("bikes.srt"),
        "1\n00:00:03,100 --> 00:00:05,400\nA car drives past a lamp post.\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let output = Command::new(env!("CARGO_BIN_EXE_cosmos"))
        .arg("curate")
        .arg(&inputs)
        .arg("--out")
        .arg(&out)
        .args(["--captions", "sidecar", "--preset", "ultrafast", "--quiet"])
        .output()
        .expect("cosmos runs");
    // Exit 0 or 1 (one input is unreadable; the exit-code convention may say 1).
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{}",
        text(&output)
    );

    let records = cosmos_curator::manifest::read_manifest(&out.join("manifest.jsonl"))
        .expect("manifest written");
    assert!(records.len() >= 4, "clips of two videos: {}", records.len());
    assert!(records.iter().any(|r| r.kept) && records.iter().any(|r| !r.kept));
    assert!(records.iter().any(|r| r.caption.is_some()));

    let page = std::fs::read_to_string(out.join("report.html")).expect("report.html written");
    let dom = tl::parse(&page, tl::ParserOptions::default()).expect("report.html parses");
    let parser = dom.parser();
    let text_of = |tag: &tl::HTMLTag<'_>| tag.inner_text(parser).into_owned();
    // Self-contained: no script, no external stylesheet, every image a file beside the page.
    assert!(select(&dom, None, "script").is_empty());
    assert!(select(&dom, None, "link").is_empty());
    assert_eq!(select(&dom, None, "style").len(), 1);

    let cards: BTreeMap<String, &tl::HTMLTag<'_>> = select(&dom, None, "figure.clip")
        .into_iter()
        .map(|tag| (attr(tag, "data-key").expect("data-key"), tag))
        .collect();
    assert_eq!(cards.len(), records.len(), "one card per clip");
    for record in &records {
        let card = cards
            .get(&record.key)
            .unwrap_or_else(|| panic!("clip {} missing from the report", record.key));
        let card_text = text_of(card);
        let reason = record.drop_reason.as_ref().map_or("kept", |r| r.as_str());
        assert_eq!(
            attr(card, "data-reason").as_deref(),
            Some(reason),
            "{}",
            record.key
        );
        let status = text_of(select(&dom, Some(card), ".status")[0]);
        if record.kept {
            assert_eq!(status, "kept");
            let shard = record.shard.as_deref().unwrap();
            assert!(card_text.contains(shard), "{}: shard {shard}", record.key);
            assert!(out.join(shard).is_file());
        } else {
            assert_eq!(status, format!("dropped: {reason}"), "{}", record.key);
        }
        if let Some(caption) = &record.caption {
            assert!(
                card_text.contains(caption.as_str()),
                "{}: caption",
                record.key
            );
        }
        if record.scores.is_some() {
            assert!(card_text.contains("sharpness"), "{}: scores", record.key);
        }
        for tag in &record.tags {
            assert!(
                card_text.contains(tag.as_str()),
                "{}: tag {tag}",
                record.key
            );
        }
        let img = select(&dom, Some(card), "img");
        assert_eq!(img.len(), 1, "{}: one thumbnail", record.key);
        let src = attr(img[0], "src").unwrap();
        assert!(
            !src.contains("://") && !src.starts_with('/'),
            "relative: {src}"
        );
        let thumbnail = image::open(out.join(&src)).expect("thumbnail decodes");
        assert_eq!(thumbnail.width(), 160, "{src}");
    }
    // One section per readable video, and the unreadable input named.
    let sections: Vec<String> = select(&dom, None, "section.video")
        .into_iter()
        .map(|tag| attr(tag, "data-source").unwrap())
        .collect();
    assert_eq!(sections.len(), 2, "{sections:?}");
    let problems: Vec<String> = select(&dom, None, ".input-problem")
        .into_iter()
        .map(|tag| attr(tag, "data-source").unwrap())
        .collect();
    assert!(
        problems.iter().any(|p| p.ends_with("notes.mp4")),
        "{problems:?}"
    );

    screenshot(&out.join("report.html"), dir.path());
}

/// A headless Chromium screenshot of the page must show the thumbnails: many distinct
/// colours (the page itself has a handful plus anti-aliasing; photographs have thousands).
fn screenshot(page: &Path, dir: &Path) {
    let chromium = std::env::var_os("COSMOS_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if !chromium.is_file() {
        println!(
            "SKIPPED: headless screenshot of report.html ({} not found; apt-get install chromium)",
            chromium.display()
        );
        return;
    }
    let shot = dir.join("report.png");
    let profile = dir.join("chromium-profile");
    let output = Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=1280,1400",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    assert!(shot.is_file(), "no screenshot: {}", text(&output));
    if let Some(keep) = std::env::var_os("COSMOS_REPORT_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
    let image = image::open(&shot).expect("screenshot decodes").to_rgb8();
    assert_eq!(image.dimensions(), (1280, 1400));
    let colours: std::collections::HashSet<[u8; 3]> = image.pixels().map(|p| p.0).collect();
    println!("screenshot: {} distinct colours", colours.len());
    assert!(
        colours.len() > 3000,
        "the screenshot shows no thumbnails ({} colours)",
        colours.len()
    );
}
