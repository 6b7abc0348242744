//! The causal state of a video network run one chunk at a time.
//!
//! Every layer that looks back in time (temporal convolutions, the temporal downsampling,
//! causal temporal attention) takes the next slot of a [`CausalCache`] in the order it runs.
//! A whole clip runs with [`CausalCache::offline`], which keeps nothing; a stream keeps one
//! cache across chunks, so each layer continues where the previous chunk stopped.

use burn::tensor::Tensor;
use cosmos_nn::causal_conv::CausalConv3d;

/// What one layer carries from one chunk to the next.
// A few dozen slots per network: their size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
enum Slot {
    /// Input frames a temporal convolution still needs.
    Frames(Option<Tensor<5>>),
    /// Keys and values of causal temporal attention, `[b·h·w, 1, t, c]`.
    KeyValue(Option<(Tensor<4>, Tensor<4>)>),
    /// Whether the layer has seen the first chunk.
    Started(bool),
}

/// Per-layer state of a network run chunk by chunk. See the [module docs](self).
#[derive(Debug, Clone, Default)]
pub struct CausalCache {
    slots: Vec<Slot>,
    next: usize,
    streaming: bool,
}

impl CausalCache {
    /// A cache for one call on a whole clip: layers pad as if the clip starts here.
    pub fn offline() -> Self {
        Self::default()
    }

    /// A cache kept across the chunks of a stream.
    pub fn streaming() -> Self {
        Self {
            streaming: true,
            ..Self::default()
        }
    }

    /// Whether the cache carries state between calls.
    pub fn is_streaming(&self) -> bool {
        self.streaming
    }

    /// Whether no chunk has been processed yet.
    pub fn is_fresh(&self) -> bool {
        self.slots.is_empty()
    }

    /// Rewinds to the first layer before a new chunk.
    pub fn rewind(&mut self) {
        self.next = 0;
    }

    fn slot(&mut self, fresh: Slot) -> &mut Slot {
        if self.next == self.slots.len() {
            self.slots.push(fresh);
        }
        self.next += 1;
        &mut self.slots[self.next - 1]
    }

    /// Runs a causal convolution, continuing from the previous chunk when streaming.
    pub fn conv(&mut self, conv: &CausalConv3d, x: Tensor<5>) -> Tensor<5> {
        // Convolutions without a temporal extent carry nothing.
        if !self.streaming || (conv.time_pad == 0 && conv.temporal_span() == 1) {
            return cosmos_nn::kernels::conv::causal_conv(conv, x);
        }
        match self.slot(Slot::Frames(None)) {
            Slot::Frames(cache) => conv.forward_streaming(x, cache),
            _ => unreachable!("layers take slots in a fixed order"),
        }
    }

    /// Whether this is the layer's first chunk (always true offline); marks it started.
    pub fn first_chunk(&mut self) -> bool {
        if !self.streaming {
            return true;
        }
        match self.slot(Slot::Started(false)) {
            Slot::Started(started) => !std::mem::replace(started, true),
            _ => unreachable!("layers take slots in a fixed order"),
        }
    }

    /// Prepends the cached keys and values of earlier chunks to this chunk's and stores the
    /// result for the next chunk (when streaming). Shapes `[n, 1, t, c]`.
    pub fn key_value(&mut self, key: Tensor<4>, value: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        if !self.streaming {
            return (key, value);
        }
        match self.slot(Slot::KeyValue(None)) {
            Slot::KeyValue(cache) => {
                let (key, value) = match cache.take() {
                    None => (key, value),
                    Some((k, v)) => (Tensor::cat(vec![k, key], 2), Tensor::cat(vec![v, value], 2)),
                };
                *cache = Some((key.clone(), value.clone()));
                (key, value)
            }
            _ => unreachable!("layers take slots in a fixed order"),
        }
    }
}
