//! GPU time per compute pass from timestamp queries (`wgpu::Features::TIMESTAMP_QUERY`): the
//! device's own clock at the start and end of each pass, so the bench can split an update into
//! forward, gradient and optimiser time without host round trips between them.

use std::cell::Cell;

use crate::error::Result;
use crate::gpu::GpuContext;

/// Bytes between the resolved pairs of two passes (`wgpu::QUERY_RESOLVE_BUFFER_ALIGNMENT`).
const SLOT: u64 = wgpu::QUERY_RESOLVE_BUFFER_ALIGNMENT;

/// Timestamps for up to `names.len()` named passes per submission.
pub struct PassTimer {
    names: Vec<&'static str>,
    queries: wgpu::QuerySet,
    resolved: wgpu::Buffer,
    staging: wgpu::Buffer,
    /// Which passes wrote their timestamps in the submission being recorded.
    used: Vec<Cell<bool>>,
}

impl PassTimer {
    /// None when the device was opened without timestamp queries (the bench then reports no
    /// per-pass times rather than host-side guesses).
    pub fn new(ctx: &GpuContext, names: &[&'static str]) -> Option<Self> {
        if !ctx.features.contains(wgpu::Features::TIMESTAMP_QUERY) {
            return None;
        }
        let count = 2 * names.len() as u32;
        let queries = ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("pass timestamps"),
            ty: wgpu::QueryType::Timestamp,
            count,
        });
        // Each pass resolves into its own aligned slot.
        let bytes = names.len() as u64 * SLOT;
        let resolved = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("pass timestamps resolved"),
            size: bytes,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let staging = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("pass timestamps staging"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Some(Self {
            names: names.to_vec(),
            queries,
            resolved,
            staging,
            used: vec![Cell::new(false); names.len()],
        })
    }

    /// The timestamp writes for pass `name` (marks it used in this submission).
    pub fn writes(&self, name: &str) -> Option<wgpu::ComputePassTimestampWrites<'_>> {
        let i = self.names.iter().position(|n| *n == name)?;
        self.used[i].set(true);
        Some(wgpu::ComputePassTimestampWrites {
            query_set: &self.queries,
            beginning_of_pass_write_index: Some(2 * i as u32),
            end_of_pass_write_index: Some(2 * i as u32 + 1),
        })
    }

    /// Resolve the used queries into the staging buffer (record after the last timed pass).
    pub fn resolve(&self, enc: &mut wgpu::CommandEncoder) {
        for (i, _) in self.used.iter().enumerate().filter(|(_, u)| u.get()) {
            let q = 2 * i as u32;
            enc.resolve_query_set(&self.queries, q..q + 2, &self.resolved, i as u64 * SLOT);
        }
        enc.copy_buffer_to_buffer(&self.resolved, 0, &self.staging, 0, None);
    }

    /// Seconds of each pass used since the last read (after the submission completed), in the
    /// order of `names`; clears the used marks.
    pub fn read(&self, ctx: &GpuContext) -> Result<Vec<(&'static str, f64)>> {
        let ticks: Vec<u64> = ctx.map_read(&self.staging)?;
        let ns_per_tick = ctx.queue.get_timestamp_period() as f64;
        let out = self
            .names
            .iter()
            .zip(&self.used)
            .enumerate()
            .filter(|(_, (_, u))| u.get())
            .map(|(i, (n, _))| {
                let at = i * (SLOT as usize / 8);
                (
                    *n,
                    ticks[at + 1].saturating_sub(ticks[at]) as f64 * ns_per_tick * 1e-9,
                )
            })
            .collect();
        self.used.iter().for_each(|u| u.set(false));
        Ok(out)
    }
}

/// Add `s` seconds to the entry `name` of a per-phase tally, keeping first-seen order.
pub fn add_seconds(tally: &mut Vec<(&'static str, f64)>, name: &'static str, s: f64) {
    match tally.iter_mut().find(|(n, _)| *n == name) {
        Some(e) => e.1 += s,
        None => tally.push((name, s)),
    }
}
