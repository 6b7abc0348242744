//! The test media the cosmos-media tests read (`testdata/media` at the repository root; its
//! README gives each file's provenance).

// Each test crate uses a different subset.
#![allow(dead_code)]

macro_rules! media {
    ($name:literal) => {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/media/", $name)
    };
}

pub const BIKES: &str = media!("bikes.mp4");
pub const CARPHONE: &str = media!("carphone_pristine.mp4");
pub const ASTRONAUT: &str = media!("astronaut.png");
pub const SQUIRREL: &str = media!("squirrel_cosmos_tokenizer_test_image.png");
