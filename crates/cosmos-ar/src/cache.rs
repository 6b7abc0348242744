//! The key/value cache of incremental decoding.
//!
//! One preallocated `[batch, kv_heads, capacity, head_dim]` buffer pair per block. A forward
//! pass of `n` new tokens writes their keys and values at positions `len..len+n` and attends
//! over positions `0..len+n` only, so a decoding step costs O(context), not O(capacity).

use burn::tensor::{Device, Tensor};

use crate::{Error, Result};

/// Cached keys and values of one block: `[batch, kv_heads, capacity, head_dim]` each (keys
/// after QK-norm and RoPE). `None` only while a write is in progress.
#[derive(Debug, Clone)]
struct LayerCache {
    keys: Option<Tensor<4>>,
    values: Option<Tensor<4>>,
}

/// Keys and values of every block for positions `0..len()`.
#[derive(Debug, Clone)]
pub struct KvCache {
    layers: Vec<LayerCache>,
    len: usize,
    capacity: usize,
    batch: usize,
}

impl KvCache {
    /// An empty cache for `layers` blocks holding `capacity` positions of `batch` sequences.
    pub fn new(
        layers: usize,
        batch: usize,
        kv_heads: usize,
        capacity: usize,
        head_dim: usize,
        device: &Device,
    ) -> Self {
        let shape = [batch, kv_heads, capacity, head_dim];
        Self {
            layers: (0..layers)
                .map(|_| LayerCache {
                    keys: Some(Tensor::zeros(shape, device)),
                    values: Some(Tensor::zeros(shape, device)),
                })
                .collect(),
            len: 0,
            capacity,
            batch,
        }
    }

    /// Positions filled.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no position is filled.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Positions the cache holds at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Sequences per batch.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Forgets every position (the buffers are kept and overwritten).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Rolls the cache back to its first `len` positions (`len ≤ self.len()`), e.g. to reuse a
    /// prefilled prompt for another sample.
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Checks that `new` more positions fit.
    pub fn check_room(&self, new: usize) -> Result<()> {
        if self.len + new > self.capacity {
            return Err(Error::ContextTooLong {
                needed: self.len + new,
                cached: self.len,
                new,
                capacity: self.capacity,
            });
        }
        Ok(())
    }

    /// Writes `keys`/`values` (`[batch, kv_heads, n, head_dim]`) of block `layer` at
    /// positions `len..len+n` and returns the cached keys and values of positions
    /// `0..len+n`. The position counter moves on with [`KvCache::advance`], once every block
    /// has been written.
    pub(crate) fn append(
        &mut self,
        layer: usize,
        keys: Tensor<4>,
        values: Tensor<4>,
    ) -> (Tensor<4>, Tensor<4>) {
        let [b, h, n, d] = keys.dims();
        let start = self.len;
        let ranges = [0..b, 0..h, start..start + n, 0..d];
        let slot = &mut self.layers[layer];
        // Taken out of the slot, the buffers are uniquely owned and backends write in place.
        let k = slot
            .keys
            .take()
            .expect("cache buffer present between writes");
        let v = slot
            .values
            .take()
            .expect("cache buffer present between writes");
        let k = k.slice_assign(ranges.clone(), keys);
        let v = v.slice_assign(ranges, values);
        let visible = (
            k.clone().narrow(2, 0, start + n),
            v.clone().narrow(2, 0, start + n),
        );
        slot.keys = Some(k);
        slot.values = Some(v);
        visible
    }

    /// Marks `n` more positions as filled.
    pub(crate) fn advance(&mut self, n: usize) {
        self.len += n;
    }
}
