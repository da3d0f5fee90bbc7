//! The core every GPU pack shares, rate or spiking. [`Pack`]: the device context, the buffers of
//! the pack layout both kinds have (uniform `Dims`, step and outer-product tables, Adam step;
//! params, grads, Adam moments, per-network [`NetParams`], the batch, the per-network losses),
//! the batch upload (whole or one chunk of trials), per-network hyperparameters, the Adam step,
//! pass timing, and readback. [`Engine`]: a pack with one kind's [`Kernels`] on top, and the
//! operations every engine has (networks, batches and chunks in, rule switch, one submission per
//! forward / gradient / update, parameters and gradients out). The rate and spiking engines
//! (`rate_engine.rs`, `spiking_engine.rs`) add only their own state buffers, kernels and passes.

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

/// What a pack is built for: `m` networks, uploads of `b` trials × `t` steps, the loss.
#[derive(Clone, Copy, Debug)]
pub struct PackSize {
    pub m: usize,
    pub b: usize,
    pub t: usize,
    pub loss: LossKind,
}

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
    pub n_out: usize,
    /// Target entries per (step, trial): n_out for mse, 1 for ce.
    pub k_t: usize,
    /// Parameters per network.
    pub p_len: usize,
    pub loss: LossKind,
}

impl PackShape {
    /// The shape of packs of `size` of networks of `[n, n_in, n_out]` units (recurrent, in,
    /// out) with `p_len` parameters each.
    pub fn new(size: PackSize, [n, n_in, n_out]: [usize; 3], p_len: usize) -> Self {
        let PackSize { m, b, t, loss } = size;
        let k_t = if loss == LossKind::Mse { n_out } else { 1 };
        Self {
            m,
            b,
            t,
            n,
            n_in,
            n_out,
            k_t,
            p_len,
            loss,
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
    /// Which implementation of the step kernels the engine's passes use.
    pub variant: StepKernels,
    /// Per-pass GPU times of each submission, when timing is on and the device has timestamps.
    timer: Option<PassTimer>,
    /// Seconds per pass summed since the last [`Pack::take_pass_seconds`].
    pass_seconds: Vec<(&'static str, f64)>,
}

impl Pack {
    /// The shared buffers and kernels of a pack: `dims` is the kind's uniform `Dims`, the step
    /// table gets `t` records of `S` (filled by the engine before any pass), `jobs` the
    /// outer-product jobs, `passes` the names of the passes it may time; the step kernels are
    /// those of `variant`.
    #[allow(clippy::too_many_arguments)]
    pub fn new<D: bytemuck::Pod, S: bytemuck::Pod + Default>(
        ctx: Arc<GpuContext>,
        shape: PackShape,
        prelude: Prelude,
        dims: &D,
        jobs: &[OuterJob],
        passes: &'static [&'static str],
        variant: StepKernels,
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
            variant,
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
    pub fn step_grid(&self) -> [u32; 3] {
        let PackShape { m, b, n, .. } = self.shape;
        [
            groups(n as u32),
            self.variant.trial_groups(b as u32),
            m as u32,
        ]
    }

    /// Record a step kernel once per step, each at its step's record (last step first when
    /// `reverse`: the backward sweeps).
    pub fn encode_steps(&self, pass: &mut wgpu::ComputePass, kernel: &Bound, reverse: bool) {
        let t = self.shape.t as u32;
        let mut record = |s| kernel.encode(pass, &[self.step_offset(s)], self.step_grid());
        if reverse {
            (0..t).rev().for_each(&mut record);
        } else {
            (0..t).for_each(&mut record);
        }
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

    /// Check M models against the pack's configuration `cfg` and upload their flat parameters
    /// (resets the Adam state).
    pub fn upload_networks<T: PackModel>(&mut self, models: &[&T], cfg: &T::Config) -> Result<()> {
        self.check_count(models.len())?;
        if let Some(i) = models.iter().position(|md| md.config() != cfg) {
            return Err(Error::Input(format!(
                "network {i} has a different configuration from the pack's"
            )));
        }
        self.has_feedback = models.iter().all(|md| md.has_feedback());
        let params: Vec<f32> = models.iter().flat_map(|md| md.flat_params()).collect();
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

/// A network as a pack uploads it.
pub trait PackModel {
    type Config: Clone + PartialEq + crate::batch::IoDims;
    /// One network's parameters (and gradients) as read back.
    type Params;
    /// One network's (task loss, regulariser) after a forward pass.
    type Loss: From<[f32; 2]> + Into<[f32; 2]>;
    fn config(&self) -> &Self::Config;
    fn has_feedback(&self) -> bool;
    /// Draw the fixed random feedback matrix unless the model has one (SPEC §4).
    fn ensure_feedback(&mut self, seed: u64);
    /// The parameters in the pack's flat layout.
    fn flat_params(&self) -> Vec<f32>;
    fn params_from_flat(cfg: &Self::Config, flat: &[f32]) -> Self::Params;
}

/// [`PackModel`] for a model with `config`, `feedback` and `params` (flattened by the params'
/// `flatten` and `from_flat`).
macro_rules! pack_model {
    ($model:ty, $config:ty, $params:ty, $loss:ty) => {
        impl $crate::gpu::engine::PackModel for $model {
            type Config = $config;
            type Params = $params;
            type Loss = $loss;
            fn config(&self) -> &$config {
                &self.config
            }
            fn has_feedback(&self) -> bool {
                self.feedback.is_some()
            }
            fn ensure_feedback(&mut self, seed: u64) {
                <$model>::ensure_feedback(self, seed);
            }
            fn flat_params(&self) -> Vec<f32> {
                self.params.flatten()
            }
            fn params_from_flat(cfg: &$config, flat: &[f32]) -> $params {
                <$params>::from_flat(cfg, flat)
            }
        }
    };
}
pub(crate) use pack_model;

/// A kind's uniform `Dims` (what the shared engine sets in it) and the `Step` records of its
/// step table.
pub trait PackDims: bytemuck::Pod {
    type Step: bytemuck::Pod;
    /// The sizes of `shape` set: networks, trials, steps, units, inputs, outputs, target
    /// entries, parameters and the loss.
    fn with_shape(self, shape: &PackShape) -> Self;
    /// The pack's loss as the kernels code it.
    fn loss_code(&self) -> u32;
    fn set_use_feedback(&mut self, on: bool);
    /// Add the weight gradients to grads instead of overwriting them; true when it changed.
    fn set_accumulate(&mut self, on: bool) -> bool;
    /// Trials of the whole batch (more than one upload's when it is split into chunks); true
    /// when it changed.
    fn set_b_total(&mut self, b: u32) -> bool;
}

/// [`PackDims`] for a `Dims` with the fields `loss`, `use_feedback`, `accumulate` and `b_total`,
/// and its `Step`.
macro_rules! pack_dims {
    ($dims:ty, $step:ty) => {
        impl $crate::gpu::engine::PackDims for $dims {
            type Step = $step;
            fn with_shape(self, s: &$crate::gpu::engine::PackShape) -> Self {
                Self {
                    m: s.m as u32,
                    b: s.b as u32,
                    t: s.t as u32,
                    n: s.n as u32,
                    n_in: s.n_in as u32,
                    n_out: s.n_out as u32,
                    k_t: s.k_t as u32,
                    p_len: s.p_len as u32,
                    loss: s.loss.gpu_code(),
                    ..self
                }
            }
            fn loss_code(&self) -> u32 {
                self.loss
            }
            fn set_use_feedback(&mut self, on: bool) {
                self.use_feedback = on as u32;
            }
            fn set_accumulate(&mut self, on: bool) -> bool {
                let changed = self.accumulate != on as u32;
                self.accumulate = on as u32;
                changed
            }
            fn set_b_total(&mut self, b: u32) -> bool {
                let changed = self.b_total != b;
                self.b_total = b;
                changed
            }
        }
    };
}
pub(crate) use pack_dims;

/// The public constructors of an engine kind whose `build(ctx, cfg, size, extras.., variant)`
/// makes the pack: `new` with the step kernels the adapter wants, `with_step_kernels` with
/// chosen ones (tests run both). `$extra` are the kind's own options.
macro_rules! engine_constructors {
    ($config:ty $(, $extra:ident: $extra_ty:ty)*) => {
        $crate::gpu::engine::engine_constructors!(@both [
            ctx: std::sync::Arc<$crate::gpu::GpuContext>,
            cfg: &$config,
            m: usize,
            b: usize,
            t: usize,
            loss: $crate::batch::LossKind,
            $($extra: $extra_ty,)*
        ] [$($extra),*]);
    };
    // The parameter list once, for both constructors (named here: macro hygiene).
    (@both [$ctx:ident: $ctx_ty:ty, $cfg:ident: $cfg_ty:ty, $m:ident: $m_ty:ty,
            $b:ident: $b_ty:ty, $t:ident: $t_ty:ty, $loss:ident: $loss_ty:ty,
            $($p:ident: $ty:ty,)*] [$($extra:ident),*]) => {
        /// A pack of `m` networks for batches of `b` trials × `t` steps under `loss`.
        pub fn new(
            $ctx: $ctx_ty, $cfg: $cfg_ty, $m: $m_ty, $b: $b_ty, $t: $t_ty, $loss: $loss_ty,
            $($p: $ty,)*
        ) -> $crate::error::Result<Self> {
            let variant = $crate::gpu::kernels::StepKernels::for_adapter(&$ctx)?;
            Self::with_step_kernels($ctx, $cfg, $m, $b, $t, $loss, $($p,)* variant)
        }

        /// `new` with a chosen implementation of the step kernels.
        #[allow(clippy::too_many_arguments)]
        pub fn with_step_kernels(
            $ctx: $ctx_ty, $cfg: $cfg_ty, $m: $m_ty, $b: $b_ty, $t: $t_ty, $loss: $loss_ty,
            $($p: $ty,)*
            variant: $crate::gpu::kernels::StepKernels,
        ) -> $crate::error::Result<Self> {
            let size = $crate::gpu::engine::PackSize { m: $m, b: $b, t: $t, loss: $loss };
            Self::build($ctx, $cfg, size, $($extra,)* variant)
        }
    };
}
pub(crate) use engine_constructors;

/// The configuration of the networks of kind `K`.
pub type ConfigOf<K> = <<K as Kernels>::Model as PackModel>::Config;
/// The parameters (and gradients) of one network of kind `K`.
pub type ParamsOf<K> = <<K as Kernels>::Model as PackModel>::Params;
/// The losses of one network of kind `K`.
pub type LossOf<K> = <<K as Kernels>::Model as PackModel>::Loss;
/// The step records of kind `K`.
pub type StepOf<K> = <<K as Kernels>::Dims as PackDims>::Step;

/// What one kind of network adds to the shared [`Pack`]: its own buffers and bound kernels, its
/// step table and the passes of one submission.
pub trait Kernels: Sized {
    type Model: PackModel;
    type Dims: PackDims;
    /// The kind's name in messages ("rate", "spiking").
    const NAME: &'static str;
    /// Upload what the networks fix besides their parameters (masks, feedback matrices).
    fn upload_fixed(&self, pack: &Pack, cfg: &ConfigOf<Self>, models: &[&Self::Model]);
    /// The step table of `rule` over `t` steps.
    fn steps(cfg: &ConfigOf<Self>, rule: Rule, t: usize) -> Vec<StepOf<Self>>;
    /// Record the passes of one submission (the pack adds the Adam pass and the readback).
    fn encode(&mut self, s: Submission<'_, Self::Dims>) -> Result<()>;
    /// Complete the gradient in the grads buffer before it is read back.
    fn complete_grads(&mut self, _pack: &Pack, _dims: &Self::Dims) {}
    /// Before the chunks of split batches: fix what depends on a whole batch (spiking: the
    /// firing rates its regulariser's gradient needs).
    fn begin_chunks(_e: &mut Engine<Self>, _batches: &[&Batch]) -> Result<()> {
        Ok(())
    }
    /// After them: back to what each pass computes itself.
    fn end_chunks(_e: &mut Engine<Self>) {}
}

/// One submission being recorded: what it computes, and into which encoder.
pub struct Submission<'a, D> {
    pub pack: &'a Pack,
    pub dims: &'a D,
    pub enc: &'a mut wgpu::CommandEncoder,
    /// The rule whose gradient it computes; None: the forward pass only, or Adam alone.
    pub rule: Option<Rule>,
    /// An Adam step follows: with no rule, the gradient of earlier chunks is applied.
    pub adam: bool,
    /// `Some(first)`: the gradient of one chunk of a split batch, added to grads unless `first`.
    pub chunk: Option<bool>,
}

/// A pack of M networks of one kind and shape, each with its own weights, batch, regulariser
/// weight and learning rate. One update is one command buffer and one submission; only the M
/// losses are read back. The pack's own operations (pass timing, device memory, lambdas, network
/// count) are reached through `Deref`.
pub struct Engine<K: Kernels> {
    pack: Pack,
    pub cfg: ConfigOf<K>,
    pub dims: K::Dims,
    kernels: K,
}

impl<K: Kernels> std::ops::Deref for Engine<K> {
    type Target = Pack;
    fn deref(&self) -> &Pack {
        &self.pack
    }
}

impl<K: Kernels> std::ops::DerefMut for Engine<K> {
    fn deref_mut(&mut self) -> &mut Pack {
        &mut self.pack
    }
}

impl<K: Kernels> Engine<K> {
    /// The engine of a built pack and kernels, its step table set up for BPTT (the table also
    /// carries t for the forward kernels: it is filled before any pass).
    pub fn assemble(pack: Pack, cfg: ConfigOf<K>, dims: K::Dims, kernels: K) -> Result<Self> {
        let mut eng = Self {
            pack,
            cfg,
            dims,
            kernels,
        };
        eng.set_rule(Rule::Bptt)?;
        Ok(eng)
    }

    /// The kind's own buffers and kernels.
    pub fn kernels(&self) -> &K {
        &self.kernels
    }

    /// Upload the networks' parameters and fixed tensors; resets the Adam state.
    pub fn set_networks(&mut self, models: &[&K::Model]) -> Result<()> {
        self.pack.upload_networks(models, &self.cfg)?;
        self.kernels.upload_fixed(&self.pack, &self.cfg, models);
        Ok(())
    }

    /// One batch per network, or a single batch shared by all. Shapes must match the pack.
    pub fn set_batches(&mut self, batches: &[&Batch]) -> Result<()> {
        self.set_batch_chunk(batches, 0)
    }

    /// Trials `first .. first + B` of each batch (B = the pack's trials) when a batch is larger
    /// than one binding holds: the loss and regulariser stay normalised by the whole batch, so the
    /// gradients of the chunks (see `gradient_chunk` and `gradient_in_chunks`) add up to the
    /// whole batch's.
    pub fn set_batch_chunk(&mut self, batches: &[&Batch], first: usize) -> Result<()> {
        let b_total = self
            .pack
            .upload_batch_chunk(batches, first, self.dims.loss_code())?;
        if self.dims.set_b_total(b_total as u32) {
            self.pack.write_dims(&self.dims);
        }
        Ok(())
    }

    fn set_rule(&mut self, rule: Rule) -> Result<()> {
        if !self.pack.switch_rule(rule)? {
            return Ok(());
        }
        let steps = K::steps(&self.cfg, rule, self.pack.shape.t);
        self.dims.set_use_feedback(rule.uses_feedback());
        self.pack.write_rule(&steps, &self.dims);
        Ok(())
    }

    /// Record and submit: forward (unless this is an Adam step alone), gradient (when a rule is
    /// given), Adam (when `adam`). `chunk = Some(first)`: one chunk of a split batch, its
    /// gradient added to grads unless `first`.
    fn run(
        &mut self,
        rule: Option<Rule>,
        adam: bool,
        chunk: Option<bool>,
    ) -> Result<Vec<LossOf<K>>> {
        if let Some(r) = rule {
            self.set_rule(r)?;
        }
        if self.dims.set_accumulate(chunk == Some(false)) {
            self.pack.write_dims(&self.dims);
        }
        if adam {
            self.pack.next_adam_step();
        }
        let mut enc = self.pack.encoder(&format!("{} update", K::NAME));
        self.kernels.encode(Submission {
            pack: &self.pack,
            dims: &self.dims,
            enc: &mut enc,
            rule,
            adam,
            chunk,
        })?;
        self.pack.finish(enc, adam)
    }

    /// Forward pass only.
    pub fn forward(&mut self) -> Result<Vec<LossOf<K>>> {
        self.run(None, false, None)
    }
    /// Forward and gradient (left in the grads buffer; see `read_grads`).
    pub fn gradient(&mut self, rule: Rule) -> Result<Vec<LossOf<K>>> {
        self.run(Some(rule), false, None)
    }
    /// Gradient of the chunk uploaded by `set_batch_chunk`, added to the grads buffer unless
    /// `first`. The losses returned are this chunk's share of the whole batch's.
    pub fn gradient_chunk(&mut self, rule: Rule, first: bool) -> Result<Vec<LossOf<K>>> {
        self.run(Some(rule), false, Some(first))
    }
    /// The gradient of `rule` on whole batches larger than the pack's B trials, as the sum of the
    /// gradients of their chunks of B trials (left in the grads buffer; see `adam_step`). The
    /// losses are the whole batches' (the chunks' shares added up).
    pub fn gradient_in_chunks(&mut self, rule: Rule, batches: &[&Batch]) -> Result<Vec<LossOf<K>>> {
        K::begin_chunks(self, batches)?;
        let mut sum = vec![[0.0f32; 2]; self.pack.n_networks()];
        let mut chunks = || -> Result<()> {
            for (ci, first) in self.chunk_starts(batches).enumerate() {
                self.set_batch_chunk(batches, first)?;
                for (s, l) in sum.iter_mut().zip(self.gradient_chunk(rule, ci == 0)?) {
                    let l: [f32; 2] = l.into();
                    s[0] += l[0];
                    s[1] += l[1];
                }
            }
            Ok(())
        };
        let done = chunks();
        K::end_chunks(self);
        done?;
        Ok(sum.into_iter().map(LossOf::<K>::from).collect())
    }
    /// The first trial of each chunk of `batches` (all of one size) in uploads of the pack's B
    /// trials.
    pub fn chunk_starts(&self, batches: &[&Batch]) -> std::iter::StepBy<std::ops::Range<usize>> {
        let b = self.pack.shape.b;
        (0..batches.first().map_or(b, |x| x.n_trials())).step_by(b)
    }
    /// One Adam step with the gradients in the grads buffer (after the chunks of a split batch).
    pub fn adam_step(&mut self) -> Result<()> {
        self.run(None, true, Some(false)).map(|_| ())
    }
    /// One training update: forward, gradient, Adam. Returns the losses before the step.
    pub fn update(&mut self, rule: Rule) -> Result<Vec<LossOf<K>>> {
        self.run(Some(rule), true, None)
    }

    pub fn read_params(&self) -> Result<Vec<ParamsOf<K>>> {
        self.read_networks(&self.pack.params)
    }
    /// The gradient in the grads buffer (after the chunks of a split batch: their sum).
    pub fn read_grads(&mut self) -> Result<Vec<ParamsOf<K>>> {
        self.kernels.complete_grads(&self.pack, &self.dims);
        self.read_networks(&self.pack.grads)
    }
    fn read_networks(&self, buf: &wgpu::Buffer) -> Result<Vec<ParamsOf<K>>> {
        self.pack
            .read_per_network(buf, |c| K::Model::params_from_flat(&self.cfg, c))
    }
}

/// A kind's (task loss, regulariser) of one network: read back as two floats, and added up over
/// the chunks of a batch.
macro_rules! loss_pair {
    ($loss:ty, $task:ident, $reg:ident) => {
        impl From<[f32; 2]> for $loss {
            fn from([$task, $reg]: [f32; 2]) -> Self {
                Self { $task, $reg }
            }
        }
        impl From<$loss> for [f32; 2] {
            fn from(l: $loss) -> Self {
                [l.$task, l.$reg]
            }
        }
        impl std::ops::AddAssign for $loss {
            fn add_assign(&mut self, other: Self) {
                self.$task += other.$task;
                self.$reg += other.$reg;
            }
        }
    };
}
pub(crate) use loss_pair;

/// A kind's own device buffers: a struct whose field names are the binding names the kernels
/// give the buffers, and `named`, every buffer of the pack by binding name.
macro_rules! named_buffers {
    ($(#[$doc:meta])* struct $name:ident { $($field:ident),* $(,)? }) => {
        $(#[$doc])*
        struct $name {
            $($field: wgpu::Buffer),*
        }
        impl $name {
            /// The pack's shared buffers and these, by binding name.
            fn named<'a>(
                &'a self,
                pack: &'a $crate::gpu::engine::Pack,
            ) -> Vec<(&'static str, &'a wgpu::Buffer)> {
                let mut v = pack.named();
                v.extend([$((stringify!($field), &self.$field)),*]);
                v
            }
        }
    };
}
pub(crate) use named_buffers;
