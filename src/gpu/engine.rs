//! The core every GPU pack shares, rate or spiking: the device context, the buffers of the pack
//! layout both kinds have (uniform `Dims`, step and outer-product tables, Adam step; params,
//! grads, Adam moments, per-network [`NetParams`], the batch, the per-network losses), the
//! batch upload (whole or one chunk of trials), per-network hyperparameters, the Adam step,
//! pass timing, and readback. The rate and spiking engines add only their own state buffers,
//! kernels and passes.

use std::sync::Arc;

use ndarray::{Array3, Array4};
use wgpu::util::DeviceExt;

use super::abi::{AdamStep, NetParams, OuterJob, Prelude};
use super::context::GpuContext;
use super::kernels::{Kernel, StepKernels, align, groups, table_bytes, uniform_table};
use super::timer::{PassTimer, add_seconds};
use crate::batch::{Batch, LossKind};
use crate::error::{Error, Result};
use crate::optim::{Adam, BETA1, BETA2, EPS};
use crate::rules::Rule;

/// The sizes that fix a pack's layout.
#[derive(Clone, Copy, Debug)]
pub struct PackShape {
    /// Networks.
    pub m: usize,
    /// Trials per upload (one chunk when a batch is split).
    pub b: usize,
    /// Steps.
    pub t: usize,
    /// Units the kernels dispatch over (N).
    pub n: usize,
    pub n_in: usize,
    /// Target entries per (step, trial): n_out for mse, 1 for ce.
    pub k_t: usize,
    /// Parameters per network.
    pub p_len: usize,
}

impl PackShape {
    /// The shape of `m` networks of `n` units, `n_in` inputs and `n_out` outputs with `p_len`
    /// parameters each, for uploads of `b` trials × `t` steps under `loss`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        m: usize,
        b: usize,
        t: usize,
        n: usize,
        n_in: usize,
        n_out: usize,
        loss: LossKind,
        p_len: usize,
    ) -> Self {
        let k_t = if loss == LossKind::Mse { n_out } else { 1 };
        Self {
            m,
            b,
            t,
            n,
            n_in,
            k_t,
            p_len,
        }
    }

    /// Refuse a pack that is empty, or whose largest buffer (`largest` bytes; `per_network` for
    /// one network) exceeds one storage binding, or whose dispatch exceeds the adapter's grid.
    pub fn check(
        &self,
        ctx: &GpuContext,
        kind: &str,
        largest: u64,
        per_network: u64,
    ) -> Result<()> {
        let (m, b, t) = (self.m, self.b, self.t);
        if m == 0 || b == 0 || t == 0 {
            return Err(Error::Input(format!(
                "empty pack: M = {m}, B = {b}, T = {t}"
            )));
        }
        let max = ctx.max_binding_bytes();
        if largest > max {
            return Err(Error::Runtime(format!(
                "a {kind} pack of {m} networks needs a {largest}-byte buffer but {} allows {max} bytes per binding; use at most {} networks per pack",
                ctx.info.name,
                max / per_network.max(1)
            )));
        }
        ctx.check_dispatch_dims(m, b, self.n)
    }
}

/// A kernel with its one bind group.
pub struct Bound(Kernel, wgpu::BindGroup);

impl Bound {
    /// Kernel `name` built with the pack's prelude, its buffers bound by binding name.
    pub fn new(pack: &Pack, name: &str, buffers: &[(&str, &wgpu::Buffer)]) -> Self {
        let k = Kernel::new(&pack.ctx, name, pack.prelude);
        let g = k.bind(&pack.ctx, buffers);
        Self(k, g)
    }

    pub fn encode(&self, pass: &mut wgpu::ComputePass, offsets: &[u32], grid: [u32; 3]) {
        self.0.dispatch(pass, &self.1, offsets, grid);
    }
}

/// The buffers and host state both kinds of pack have.
pub struct Pack {
    pub ctx: Arc<GpuContext>,
    pub shape: PackShape,
    pub prelude: Prelude,
    /// Bytes between the records of the step and outer-product tables (dynamic offsets).
    pub step_stride: u64,
    pub job_stride: u64,
    pub dims: wgpu::Buffer,
    pub steps: wgpu::Buffer,
    pub jobs: wgpu::Buffer,
    pub adam: wgpu::Buffer,
    pub params: wgpu::Buffer,
    pub grads: wgpu::Buffer,
    pub adam_m: wgpu::Buffer,
    pub adam_v: wgpu::Buffer,
    pub nets: wgpu::Buffer,
    pub x: wgpu::Buffer,
    pub targets: wgpu::Buffer,
    pub mask: wgpu::Buffer,
    /// (task loss, regulariser) per network.
    pub loss_out: wgpu::Buffer,
    loss_staging: wgpu::Buffer,
    net_params: Vec<NetParams>,
    /// Every network of the pack has a feedback matrix (set with the networks).
    pub has_feedback: bool,
    /// The rule the step table and `Dims` were last set up for.
    rule: Option<Rule>,
    adam_steps: u64,
    /// Bytes of the pack's storage buffers (the device memory it holds, uniforms aside).
    device_bytes: u64,
    /// `outer_grad.wgsl` and `adam.wgsl` built with the pack's prelude, and Adam's bind group.
    outer: Kernel,
    adam_kernel: Kernel,
    adam_group: wgpu::BindGroup,
    /// The passes the engine times, in the order they are reported.
    passes: &'static [&'static str],
    /// Per-pass GPU times of each submission, when timing is on and the device has timestamps.
    timer: Option<PassTimer>,
    /// Seconds per pass summed since the last [`Pack::take_pass_seconds`].
    pass_seconds: Vec<(&'static str, f64)>,
}

impl Pack {
    /// The shared buffers and kernels of a pack: `dims` is the kind's uniform `Dims`, the step
    /// table gets `t` records of `S` (filled by the engine before any pass), `jobs` the
    /// outer-product jobs, `passes` the names of the passes it may time.
    pub fn new<D: bytemuck::Pod, S: bytemuck::Pod + Default>(
        ctx: Arc<GpuContext>,
        shape: PackShape,
        prelude: Prelude,
        dims: &D,
        jobs: &[OuterJob],
        passes: &'static [&'static str],
    ) -> Self {
        let a = ctx.limits.min_uniform_buffer_offset_alignment as u64;
        let step_stride = align(std::mem::size_of::<S>() as u64, a);
        let job_stride = align(std::mem::size_of::<OuterJob>() as u64, a);
        let PackShape {
            m,
            b,
            t,
            n_in,
            k_t,
            p_len,
            ..
        } = shape;
        let dev = &ctx.device;
        let mut device_bytes = 0;
        let mut storage = |label: &str, floats: usize| {
            device_bytes += (floats.max(1) * 4) as u64;
            ctx.storage_buffer(label, floats)
        };
        let params = storage("params", m * p_len);
        let grads = storage("grads", m * p_len);
        let adam_m = storage("adam m", m * p_len);
        let adam_v = storage("adam v", m * p_len);
        let nets = storage("nets", m * 4);
        let x = storage("x", m * t * b * n_in);
        let targets = storage("targets", m * t * b * k_t);
        let mask = storage("mask", m * t * b * k_t);
        let loss_out = storage("loss out", m * 2);
        let dims = dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("dims"),
            contents: bytemuck::bytes_of(dims),
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        });
        let adam = uniform_table(
            &ctx,
            "adam step",
            &[AdamStep::default()],
            std::mem::size_of::<AdamStep>() as u64,
        );
        let adam_kernel = Kernel::new(&ctx, "adam", prelude);
        let adam_group = adam_kernel.bind(
            &ctx,
            &[
                ("dims", &dims),
                ("hyper", &adam),
                ("grads", &grads),
                ("nets", &nets),
                ("params", &params),
                ("mo", &adam_m),
                ("ve", &adam_v),
            ],
        );
        Self {
            steps: uniform_table(&ctx, "steps", &vec![S::default(); t], step_stride),
            jobs: uniform_table(&ctx, "outer jobs", jobs, job_stride),
            outer: Kernel::new(&ctx, "outer_grad", prelude),
            adam_kernel,
            adam_group,
            dims,
            adam,
            params,
            grads,
            adam_m,
            adam_v,
            nets,
            x,
            targets,
            mask,
            loss_out,
            loss_staging: dev.create_buffer(&wgpu::BufferDescriptor {
                label: Some("loss staging"),
                size: (m * 2 * 4) as u64,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
            net_params: vec![NetParams::default(); m],
            has_feedback: false,
            rule: None,
            adam_steps: 0,
            device_bytes,
            passes,
            timer: None,
            pass_seconds: Vec::new(),
            step_stride,
            job_stride,
            shape,
            prelude,
            ctx,
        }
    }

    /// The shared buffers by the binding names the kernels give them (an engine adds its own).
    pub fn named(&self) -> Vec<(&'static str, &wgpu::Buffer)> {
        vec![
            ("dims", &self.dims),
            ("step", &self.steps),
            ("params", &self.params),
            ("grads", &self.grads),
            ("nets", &self.nets),
            ("x", &self.x),
            ("targets", &self.targets),
            ("mask", &self.mask),
            ("loss_out", &self.loss_out),
        ]
    }

    /// A storage buffer of the engine's own, counted in the pack's device memory.
    pub fn storage(&mut self, label: &str, floats: usize) -> wgpu::Buffer {
        self.device_bytes += (floats.max(1) * 4) as u64;
        self.ctx.storage_buffer(label, floats)
    }

    /// Bytes of device memory the pack's storage buffers hold.
    pub fn device_bytes(&self) -> u64 {
        self.device_bytes
    }

    pub fn write<T: bytemuck::Pod>(&self, buf: &wgpu::Buffer, data: &[T]) {
        self.ctx
            .queue
            .write_buffer(buf, 0, bytemuck::cast_slice(data));
    }

    /// Upload the uniform `Dims`.
    pub fn write_dims<D: bytemuck::Pod>(&self, dims: &D) {
        self.ctx
            .queue
            .write_buffer(&self.dims, 0, bytemuck::bytes_of(dims));
    }

    /// Upload the step table of a new rule and the `Dims` that go with it.
    pub fn write_rule<S: bytemuck::Pod, D: bytemuck::Pod>(&self, steps: &[S], dims: &D) {
        self.write_steps(steps);
        self.write_dims(dims);
    }

    /// Workgroups of the step kernels: units × trials (or trial tiles) × networks.
    pub fn step_grid(&self, variant: StepKernels) -> [u32; 3] {
        let PackShape { m, b, n, .. } = self.shape;
        [groups(n as u32), variant.trial_groups(b as u32), m as u32]
    }

    /// Upload the step table (one record per step).
    fn write_steps<S: bytemuck::Pod>(&self, steps: &[S]) {
        self.ctx
            .queue
            .write_buffer(&self.steps, 0, &table_bytes(steps, self.step_stride));
    }

    /// Byte offset of step `t`'s record in the step table.
    pub fn step_offset(&self, t: u32) -> u32 {
        t * self.step_stride as u32
    }

    /// Byte offset of outer-product job `j` in the job table.
    pub fn job_offset(&self, j: usize) -> u32 {
        (j as u64 * self.job_stride) as u32
    }

    /// Refuse a list of `got` networks for a pack of M.
    pub fn check_count(&self, got: usize) -> Result<()> {
        if got != self.shape.m {
            return Err(Error::Runtime(format!(
                "pack holds {} networks, got {got}",
                self.shape.m
            )));
        }
        Ok(())
    }

    /// Switch to `rule`: false when the pack is set up for it already, else the engine rewrites
    /// its step table and `Dims`. Refuses a rule that needs feedback the networks lack.
    pub fn switch_rule(&mut self, rule: Rule) -> Result<bool> {
        if rule.uses_feedback() && !self.has_feedback {
            return Err(Error::Input(format!(
                "rule {} needs the model's feedback matrix",
                rule.name()
            )));
        }
        if self.rule == Some(rule) {
            return Ok(false);
        }
        self.rule = Some(rule);
        Ok(true)
    }

    /// Check M models against the pack and upload their flat parameters (resets the Adam
    /// state). `describe(model)` = (has the pack's configuration, has a feedback matrix, flat
    /// parameters).
    pub fn upload_networks<T>(
        &mut self,
        models: &[&T],
        describe: impl Fn(&T) -> (bool, bool, Vec<f32>),
    ) -> Result<()> {
        self.check_count(models.len())?;
        let described: Vec<_> = models.iter().map(|md| describe(md)).collect();
        if let Some(i) = described.iter().position(|d| !d.0) {
            return Err(Error::Input(format!(
                "network {i} has a different configuration from the pack's"
            )));
        }
        self.has_feedback = described.iter().all(|d| d.1);
        let params: Vec<f32> = described.into_iter().flat_map(|d| d.2).collect();
        self.upload_params(&params);
        Ok(())
    }

    /// Upload the networks' flat parameters (M × P); resets the Adam state.
    fn upload_params(&mut self, params: &[f32]) {
        self.write(&self.params, params);
        let zeros = vec![0f32; params.len()];
        self.write(&self.adam_m, &zeros);
        self.write(&self.adam_v, &zeros);
        self.adam_steps = 0;
    }

    /// Upload trials `first .. first + B` of one batch per network (or of one batch shared by
    /// all); the losses stay normalised by the whole batch (`1 / sum(mask)`). Returns the trials
    /// of the whole batch. `loss_code` is the pack's loss.
    pub fn upload_batch_chunk(
        &mut self,
        batches: &[&Batch],
        first: usize,
        loss_code: u32,
    ) -> Result<usize> {
        let PackShape { m, b, t, .. } = self.shape;
        if batches.len() != m && batches.len() != 1 {
            return Err(Error::Runtime(format!(
                "need 1 or {m} batches, got {}",
                batches.len()
            )));
        }
        let (mut x, mut tg, mut mk) = (Vec::new(), Vec::new(), Vec::new());
        let mut b_total = None;
        for i in 0..m {
            let whole = batches[if batches.len() == 1 { 0 } else { i }];
            if first + b > whole.n_trials()
                || whole.n_steps() != t
                || whole.loss.gpu_code() != loss_code
            {
                return Err(Error::Runtime(format!(
                    "batch {i} has B = {}, T = {} but the pack was built for chunks of B = {b} (from trial {first}), T = {t}",
                    whole.n_trials(),
                    whole.n_steps()
                )));
            }
            if whole.n_trials() != b_total.unwrap_or(whole.n_trials()) {
                return Err(Error::Runtime(
                    "batches of one pack must have the same number of trials".into(),
                ));
            }
            b_total = Some(whole.n_trials());
            let chunk = if whole.n_trials() == b {
                whole.clone()
            } else {
                whole.slice_trials(first, first + b)
            };
            let tm = |a: &Array3<f64>| Batch::time_major(a).into_iter().map(|v| v as f32);
            x.extend(tm(&chunk.inputs));
            tg.extend(tm(&chunk.targets));
            mk.extend(tm(&chunk.mask));
            self.net_params[i].inv_mask_sum = (1.0 / whole.mask.sum()) as f32;
        }
        self.write(&self.x, &x);
        self.write(&self.targets, &tg);
        self.write(&self.mask, &mk);
        self.write(&self.nets, &self.net_params);
        Ok(b_total.unwrap_or(b))
    }

    /// Change the per-network values (`f(network, values)`) and upload them.
    pub fn update_nets(&mut self, mut f: impl FnMut(usize, &mut NetParams)) {
        for (i, p) in self.net_params.iter_mut().enumerate() {
            f(i, p);
        }
        self.write(&self.nets, &self.net_params);
    }

    /// Regulariser weight and learning rate of every network (the last value repeats).
    pub fn set_hyper(&mut self, lambdas: &[f64], lrs: &[f64]) {
        self.update_nets(|i, p| {
            p.lambda = lambdas[i.min(lambdas.len() - 1)] as f32;
            p.lr = lrs[i.min(lrs.len() - 1)] as f32;
        });
    }

    /// Regulariser weight of every network (one value per network; the rest unchanged).
    pub fn set_lambdas(&mut self, lambdas: &[f64]) {
        self.update_nets(|i, p| {
            if let Some(l) = lambdas.get(i) {
                p.lambda = *l as f32;
            }
        });
    }

    /// Advance the Adam step count and upload its bias corrections.
    pub fn next_adam_step(&mut self) {
        self.adam_steps += 1;
        let (bc1, bc2) = Adam::<f32>::bias_corrections(self.adam_steps);
        let h = AdamStep {
            bc1: bc1 as f32,
            sqrt_bc2: bc2.sqrt() as f32,
            beta1: BETA1 as f32,
            beta2: BETA2 as f32,
            eps: EPS as f32,
            ..AdamStep::default()
        };
        self.ctx
            .queue
            .write_buffer(&self.adam, 0, bytemuck::bytes_of(&h));
    }

    pub fn encoder(&self, label: &str) -> wgpu::CommandEncoder {
        self.ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) })
    }

    /// Begin a compute pass, timed as `timed` (one of the engine's passes) when timing is on.
    pub fn begin_pass<'e>(
        &self,
        enc: &'e mut wgpu::CommandEncoder,
        label: &str,
        timed: Option<&str>,
    ) -> wgpu::ComputePass<'e> {
        let timestamp_writes = timed.and_then(|p| self.timer.as_ref().and_then(|t| t.writes(p)));
        enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some(label),
            timestamp_writes,
        })
    }

    /// Record the Adam pass when `adam` (after [`Pack::next_adam_step`]), submit `enc` and read
    /// back (task loss, regulariser) of every network; with timing on, the submission's pass
    /// times are added up.
    pub fn finish<L: From<[f32; 2]>>(
        &mut self,
        mut enc: wgpu::CommandEncoder,
        adam: bool,
    ) -> Result<Vec<L>> {
        if adam {
            self.encode_adam(&mut enc);
        }
        if let Some(t) = &self.timer {
            t.resolve(&mut enc);
        }
        enc.copy_buffer_to_buffer(&self.loss_out, 0, &self.loss_staging, 0, None);
        self.ctx.queue.submit([enc.finish()]);
        let v = self.ctx.map_read_f32(&self.loss_staging)?;
        if let Some(t) = &self.timer {
            for (name, s) in t.read(&self.ctx)? {
                add_seconds(&mut self.pass_seconds, name, s);
            }
        }
        Ok(v.chunks(2).map(|c| L::from([c[0], c[1]])).collect())
    }

    /// Networks in the pack.
    pub fn n_networks(&self) -> usize {
        self.shape.m
    }

    /// Time every pass with timestamp queries from now on; false when the device has none.
    pub fn enable_pass_timing(&mut self) -> bool {
        if self.timer.is_none() {
            self.timer = PassTimer::new(&self.ctx, self.passes);
        }
        self.timer.is_some()
    }

    /// GPU seconds per pass (of the engine's `PASSES`) summed over the submissions since the
    /// last call.
    pub fn take_pass_seconds(&mut self) -> Vec<(&'static str, f64)> {
        std::mem::take(&mut self.pass_seconds)
    }

    /// The bind group of an outer-product job pairing `a` (rows) with `p` (columns).
    pub fn bind_outer(&self, a: &wgpu::Buffer, p: &wgpu::Buffer) -> wgpu::BindGroup {
        self.outer.bind(
            &self.ctx,
            &[
                ("dims", &self.dims),
                ("job", &self.jobs),
                ("a", a),
                ("p", p),
                ("grads", &self.grads),
            ],
        )
    }

    /// Record outer-product job `j` (bound by [`Pack::bind_outer`]).
    pub fn encode_outer(
        &self,
        pass: &mut wgpu::ComputePass,
        bg: &wgpu::BindGroup,
        job: &OuterJob,
        j: usize,
    ) {
        let grid = [groups(job.rows * job.cols), self.shape.m as u32, 1];
        self.outer.dispatch(pass, bg, &[self.job_offset(j)], grid);
    }

    fn encode_adam(&self, enc: &mut wgpu::CommandEncoder) {
        let mut pass = self.begin_pass(enc, "adam", Some("adam"));
        let grid = [groups(self.shape.p_len as u32), self.shape.m as u32, 1];
        self.adam_kernel
            .dispatch(&mut pass, &self.adam_group, &[], grid);
    }

    /// A whole device buffer, read back.
    pub fn read(&self, buf: &wgpu::Buffer) -> Result<Vec<f32>> {
        self.ctx.read_f32(buf)
    }

    /// A device buffer read back as an array of `shape`.
    pub fn read_array(&self, buf: &wgpu::Buffer, shape: [usize; 4]) -> Result<Array4<f32>> {
        Array4::from_shape_vec(shape, self.read(buf)?).map_err(|e| Error::Runtime(e.to_string()))
    }

    /// A flat M × P buffer (params or grads) read back and split into one value per network.
    pub fn read_per_network<P>(
        &self,
        buf: &wgpu::Buffer,
        from_flat: impl Fn(&[f32]) -> P,
    ) -> Result<Vec<P>> {
        Ok(self
            .read(buf)?
            .chunks(self.shape.p_len)
            .map(from_flat)
            .collect())
    }
}

/// An engine is its pack plus its own kernels: the shared operations (pass timing, device
/// memory, lambdas, network count) are the pack's, reached through `Deref`.
macro_rules! derefs_to_pack {
    ($engine:ty) => {
        impl std::ops::Deref for $engine {
            type Target = $crate::gpu::engine::Pack;
            fn deref(&self) -> &Self::Target {
                &self.pack
            }
        }
        impl std::ops::DerefMut for $engine {
            fn deref_mut(&mut self) -> &mut Self::Target {
                &mut self.pack
            }
        }
    };
}
pub(crate) use derefs_to_pack;
