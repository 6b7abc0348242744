//! Progress reporting: the pipeline tells a [`Progress`] observer how far each stage is, so a
//! front end can draw bars (the `cosmos curate` command uses indicatif) without the library
//! depending on one.

/// The pipeline's stages, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    /// Decoding, shot detection, per-frame statistics (one unit per input video).
    Analyse,
    /// Filters, captions and embeddings (one unit per clip).
    Filter,
    /// Semantic deduplication (one unit per clip).
    Dedup,
    /// Re-encoding kept clips (one unit per clip).
    Encode,
    /// Writing shards (one unit per clip).
    Shard,
}

impl Stage {
    /// Every stage, in order.
    pub const ALL: [Stage; 5] = [
        Stage::Analyse,
        Stage::Filter,
        Stage::Dedup,
        Stage::Encode,
        Stage::Shard,
    ];

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Analyse => "analyse",
            Stage::Filter => "filter",
            Stage::Dedup => "dedup",
            Stage::Encode => "encode",
            Stage::Shard => "shard",
        }
    }
}

/// Receives progress events. Every method has an empty default.
pub trait Progress {
    /// `stage` now has `total` units of work (may be called again as the total grows).
    fn set_total(&self, _stage: Stage, _total: u64) {}
    /// `units` more units of `stage` are done.
    fn advance(&self, _stage: Stage, _units: u64) {}
    /// `stage` is finished.
    fn finish(&self, _stage: Stage) {}
    /// Something worth telling the user (an unreadable input that is skipped, a resumed run).
    fn message(&self, _text: &str) {}
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}
