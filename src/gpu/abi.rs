//! The CPU–GPU data contract: every uniform and per-network record the kernels read, as a
//! `#[repr(C)]` struct with its WGSL twin named, and the kernel table (each kernel's bindings by
//! name and its workgroup size; `gpu::kernels` generates the WGSL binding declarations from it).
//! `kernels-tests/shaders_validate.rs` checks all of it against the shaders with naga reflection
//! (field names, offsets, sizes and types; how each kernel uses each binding; workgroup sizes; the
//! tile constant), so none of it is copied by hand unchecked.

/// One field of a GPU struct as the Rust side lays it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub offset: usize,
    pub size: usize,
    /// The Rust type as written (`u32`, `f32`, `[f32; 2]`).
    pub ty: &'static str,
}

/// A Rust struct that mirrors a WGSL struct byte for byte.
pub trait GpuStruct: bytemuck::Pod {
    /// The WGSL struct's name.
    const WGSL: &'static str;
    fn fields() -> Vec<Field>;
}

/// The layout of one GPU struct, for the reflection test.
#[derive(Clone, Debug)]
pub struct StructLayout {
    pub rust: &'static str,
    pub wgsl: &'static str,
    pub size: usize,
    pub fields: Vec<Field>,
}

fn layout<T: GpuStruct>(rust: &'static str) -> StructLayout {
    StructLayout {
        rust,
        wgsl: T::WGSL,
        size: std::mem::size_of::<T>(),
        fields: T::fields(),
    }
}

macro_rules! gpu_struct {
    ($(#[$doc:meta])* $name:ident as $wgsl:literal {
        $($(#[$fdoc:meta])* $field:ident : $ty:ty),* $(,)?
    }) => {
        $(#[$doc])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
        pub struct $name {
            $($(#[$fdoc])* pub $field: $ty),*
        }
        impl GpuStruct for $name {
            const WGSL: &'static str = $wgsl;
            fn fields() -> Vec<Field> {
                vec![$(Field {
                    name: stringify!($field),
                    offset: std::mem::offset_of!($name, $field),
                    size: std::mem::size_of::<$ty>(),
                    ty: stringify!($ty),
                }),*]
            }
        }
    };
}

gpu_struct!(
    /// Uniform `Dims` of `shaders/common/rate.wgsl` (rate packs).
    Dims as "Dims" {
        m: u32, b: u32, t: u32, n: u32,
        n_in: u32, n_out: u32, k_t: u32, act: u32,
        loss: u32, p_len: u32, dale: u32, use_feedback: u32,
        off_w_in: u32, off_b_in: u32, off_w_rec: u32, off_w_out: u32,
        off_b_out: u32, off_ah0: u32, alpha: f32,
        /// Trials in the whole batch (> b when the batch is split into chunks).
        b_total: u32,
        /// 1: add this chunk's weight gradients to grads instead of overwriting them.
        accumulate: u32,
        _pad0: u32, _pad1: u32, _pad2: u32,
    }
);

gpu_struct!(
    /// Uniform `Step` of `shaders/common/rate.wgsl`; one per time step, bound at a dynamic offset.
    Step as "Step" {
        t: u32, cut_self: u32, cut_next: u32, _pad: u32,
        decay: f32, eps_b: f32, _pad2: [f32; 2],
    }
);

gpu_struct!(
    /// Uniform `Dims` of `shaders/common/spike.wgsl` (spiking packs).
    SpikeDims as "Dims" {
        m: u32, b: u32, t: u32, n: u32,
        n_in: u32, n_out: u32, k_t: u32, loss: u32,
        p_len: u32, use_feedback: u32, alif: u32, n_ref: u32,
        off_w_in: u32, off_w_rec: u32, off_w_out: u32, off_b_out: u32,
        a_v: f32, rho: f32, kappa: f32, v_th: f32,
        beta: f32, gamma: f32,
        accumulate: u32,
        /// Time slots of the trajectory buffers: T, or 2 for online e-prop (a ring).
        slots: u32,
        /// Trials of the whole batch (> b when it is split into chunks).
        b_total: u32,
        /// 1: the rates buffer holds the whole batch's firing rates (set before its chunks);
        /// 0: each forward pass computes them from its own spikes.
        fixed_rates: u32,
    }
);

gpu_struct!(
    /// Uniform `Step` of `shaders/common/spike.wgsl`; one per time step.
    SpikeStep as "Step" {
        t: u32, cut_next: u32, parity: u32, _pad: u32,
    }
);

gpu_struct!(
    /// Uniform `OuterJob` of `shaders/shared/outer_grad.wgsl`: one weight matrix's gradient as a sum
    /// of outer products over (step, trial) samples.
    OuterJob as "OuterJob" {
        rows: u32, cols: u32, samples: u32, ones: u32,
        a_net: u32, a_off: u32, a_stride: u32,
        p_net: u32, p_off: u32, p_stride: u32,
        dst: u32, scale: f32,
    }
);

gpu_struct!(
    /// Uniform `AdamStep` of `shaders/shared/adam.wgsl`.
    AdamStep as "AdamStep" {
        bc1: f32, sqrt_bc2: f32, beta1: f32, beta2: f32, eps: f32,
        _pad0: f32, _pad1: f32, _pad2: f32,
    }
);

gpu_struct!(
    /// `NetParams` of both preludes: the values each network of a pack has for itself (bound
    /// as the storage array `nets`).
    NetParams as "NetParams" {
        /// 1 / sum(mask) of the whole batch.
        inv_mask_sum: f32,
        /// Regulariser weight.
        lambda: f32,
        /// Adam learning rate.
        lr: f32,
        /// Target firing rate (spiking packs; rate packs leave it 0).
        rate_target: f32,
    }
);

/// Which prelude a kernel is compiled with: it decides which Rust struct is the twin of the
/// WGSL `Dims` and `Step`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prelude {
    Rate,
    Spike,
}

impl Prelude {
    /// The Rust twins of the structs a kernel built with this prelude may declare.
    pub fn structs(self) -> Vec<StructLayout> {
        let mut v = match self {
            Prelude::Rate => vec![layout::<Dims>("Dims"), layout::<Step>("Step")],
            Prelude::Spike => vec![
                layout::<SpikeDims>("SpikeDims"),
                layout::<SpikeStep>("SpikeStep"),
            ],
        };
        v.extend([
            layout::<OuterJob>("OuterJob"),
            layout::<AdamStep>("AdamStep"),
            layout::<NetParams>("NetParams"),
        ]);
        v
    }
}

/// How a kernel binds one buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// A uniform struct (its WGSL type name).
    Uniform(&'static str),
    /// A uniform struct bound at a dynamic offset (a table of records, one per step or job).
    UniformDyn(&'static str),
    /// `var<storage, read>` array of the named element type.
    Read(&'static str),
    /// `var<storage, read_write>` array of the named element type.
    ReadWrite(&'static str),
}

impl Slot {
    /// How a shader's header comment describes the slot: `uniform Dims`, `uniform Step, dynamic
    /// offset`, `read`, `read_write`, and the element type after those where it is not `f32`
    /// (`read NetParams`, `read_write u32`).
    pub fn header(&self) -> String {
        let storage = |access: &str, ty: &str| match ty {
            "f32" => access.to_string(),
            _ => format!("{access} {ty}"),
        };
        match self {
            Slot::Uniform(ty) => format!("uniform {ty}"),
            Slot::UniformDyn(ty) => format!("uniform {ty}, dynamic offset"),
            Slot::Read(ty) => storage("read", ty),
            Slot::ReadWrite(ty) => storage("read_write", ty),
        }
    }
}

/// One binding: the WGSL variable's name and how it is bound. Its binding number is its place
/// in the kernel's list.
pub type Binding = (&'static str, Slot);

/// A kernel: its WGSL file, prelude, bindings in binding order, and workgroup size.
#[derive(Clone, Copy, Debug)]
pub struct KernelSpec {
    pub name: &'static str,
    pub prelude: Prelude,
    pub bindings: &'static [Binding],
    pub workgroup: [u32; 3],
}

/// Threads per workgroup of every one-dimensional kernel.
pub const WG: u32 = 64;
/// Threads of the per-network reductions of rate packs (`shaders/rate/loss_reduce.wgsl`).
pub const REDUCE_WG: u32 = 256;
/// Trials per workgroup of the tiled step kernels (`const TB` in `shaders/shared/tile.wgsl`).
pub const TILE_TRIALS: u32 = 8;

const W1: [u32; 3] = [WG, 1, 1];

use Slot::{Read, ReadWrite, Uniform, UniformDyn};

const DIMS: Binding = ("dims", Uniform("Dims"));
const STEP: Binding = ("step", UniformDyn("Step"));
const NETS: Binding = ("nets", Read("NetParams"));

const fn r(name: &'static str) -> Binding {
    (name, Read("f32"))
}
const fn rw(name: &'static str) -> Binding {
    (name, ReadWrite("f32"))
}

/// The kernel table, one entry per line: `name, prelude, workgroup size, bindings;`.
macro_rules! kernel_table {
    ($($name:literal, $prelude:ident, $workgroup:expr, $bindings:expr;)*) => {
        &[$(KernelSpec {
            name: $name,
            prelude: $prelude,
            bindings: $bindings,
            workgroup: $workgroup,
        }),*]
    };
}

#[rustfmt::skip]
const RATE_STEP: &[Binding] = &[DIMS, STEP, r("params"), r("w_eff"), r("x"), rw("ah"), rw("h")];
#[rustfmt::skip]
const RATE_BPTT_STEP: &[Binding] = &[
    DIMS, STEP, r("params"), r("w_eff"), r("feedback_t"), r("dy"), r("ah"), r("h"), NETS,
    rw("delta"),
];
#[rustfmt::skip]
const OUTER_GRAD: &[Binding] = &[DIMS, ("job", UniformDyn("OuterJob")), r("a"), r("p"), rw("grads")];
#[rustfmt::skip]
const ADAM: &[Binding] = &[
    DIMS, ("hyper", Uniform("AdamStep")), r("grads"), NETS, rw("params"), rw("mo"), rw("ve"),
];
#[rustfmt::skip]
const SPIKE_STEP: &[Binding] = &[
    DIMS, STEP, r("params"), r("x"), rw("v"), rw("a"), rw("z"), rw("psi"),
    ("refr", ReadWrite("u32")),
];
#[rustfmt::skip]
const SPIKE_BPTT_STEP: &[Binding] = &[
    DIMS, STEP, r("params"), r("feedback"), r("gy"), r("psi"), r("dreg"), rw("dv"), rw("da"),
];

use Prelude::{Rate, Spike};

/// Every kernel, each prelude it is built with (`outer_grad` and `adam` serve both kinds).
#[rustfmt::skip]
pub const KERNELS: &[KernelSpec] = kernel_table! {
    "rec_effective", Rate, W1, &[DIMS, r("params"), r("mask_rec"), rw("w_eff")];
    "rec_grad_chain", Rate, W1, &[DIMS, r("params"), r("mask_rec"), rw("grads")];
    "rate_init", Rate, W1, &[DIMS, r("params"), rw("ah"), rw("h")];
    "rate_step", Rate, W1, RATE_STEP;
    "rate_step_tiled", Rate, W1, RATE_STEP;
    "rate_readout_loss", Rate, W1, &[
        DIMS, r("params"), r("h"), r("targets"), r("mask"), NETS, rw("y"), rw("dy"), rw("part"),
    ];
    "loss_reduce", Rate, [REDUCE_WG, 1, 1], &[DIMS, r("part"), NETS, rw("loss_out")];
    "rate_bptt_step", Rate, W1, RATE_BPTT_STEP;
    "rate_bptt_step_tiled", Rate, W1, RATE_BPTT_STEP;
    "outer_grad", Rate, W1, OUTER_GRAD;
    "ah0_grad", Rate, W1, &[DIMS, STEP, r("params"), r("w_eff"), r("delta"), rw("grads")];
    "eprop_trace", Rate, W1, &[
        DIMS, STEP, r("params"), r("feedback_t"), r("dy"), r("ah"), r("h"), r("x"), NETS,
        rw("eps_h"), rw("eps_x"), rw("post"),
    ];
    "eprop_accum", Rate, W1, &[DIMS, STEP, r("post"), r("eps_h"), r("eps_x"), rw("grads")];
    "adam", Rate, W1, ADAM;
    "spike_step", Spike, W1, SPIKE_STEP;
    "spike_step_tiled", Spike, W1, SPIKE_STEP;
    "spike_readout", Spike, W1, &[DIMS, r("params"), r("z"), rw("y")];
    "spike_loss", Spike, W1, &[
        DIMS, r("targets"), r("mask"), NETS, rw("y"), rw("dy"), rw("gy"), rw("part"),
    ];
    "spike_rates", Spike, W1, &[DIMS, r("z"), NETS, rw("rate"), rw("dreg")];
    "spike_loss_reduce", Spike, W1, &[DIMS, r("part"), r("rate"), NETS, rw("loss_out")];
    "spike_bptt_step", Spike, W1, SPIKE_BPTT_STEP;
    "spike_bptt_step_tiled", Spike, W1, SPIKE_BPTT_STEP;
    "spike_zero_diag", Spike, W1, &[DIMS, rw("grads")];
    "spike_eprop_pre", Spike, W1, &[DIMS, STEP, r("z"), r("x"), rw("eps_v")];
    "spike_eprop_trace", Spike, W1, &[
        DIMS, STEP, r("params"), r("feedback"), r("dy"), r("psi"), rw("esum"), r("eps_v"),
        rw("eps_a"), rw("ebar"), rw("grads"),
    ];
    "spike_online_out", Spike, W1, &[
        DIMS, STEP, r("params"), r("z"), r("targets"), r("mask"), NETS, rw("y"), rw("dy"),
        rw("part"), rw("zbar"), rw("zsum"), rw("cbar"),
    ];
    "spike_online_readout_grad", Spike, W1, &[
        DIMS, STEP, r("dy"), r("zbar"), r("cbar"), rw("grads"),
    ];
    "spike_online_rates", Spike, W1, &[DIMS, r("zsum"), NETS, rw("rate"), rw("dreg")];
    "spike_online_reg_grad", Spike, W1, &[DIMS, r("dreg"), r("esum"), rw("grads")];
    "outer_grad", Spike, W1, OUTER_GRAD;
    "adam", Spike, W1, ADAM;
};

/// The table entry of kernel `name` built with `prelude`.
pub fn kernel_spec(name: &str, prelude: Prelude) -> &'static KernelSpec {
    KERNELS
        .iter()
        .find(|k| k.name == name && k.prelude == prelude)
        .unwrap_or_else(|| panic!("kernel {name} ({prelude:?}) is not in gpu::abi::KERNELS"))
}

/// Bytes of the Rust twin of WGSL struct `wgsl` under `prelude` (the size of one record of a
/// dynamic uniform table).
pub fn struct_size(prelude: Prelude, wgsl: &str) -> usize {
    prelude
        .structs()
        .into_iter()
        .find(|s| s.wgsl == wgsl)
        .unwrap_or_else(|| panic!("no Rust twin of WGSL struct {wgsl} ({prelude:?})"))
        .size
}

impl OuterJob {
    /// grad[dst + r·cols + c] (+)= scale · Σ_s a[s, r] p[s, c] over `samples` samples; each side
    /// is `[per-network stride, offset of sample 0, stride between samples]` in its buffer.
    pub fn product(
        rows: usize,
        cols: usize,
        samples: u32,
        [a_net, a_off, a_stride]: [usize; 3],
        [p_net, p_off, p_stride]: [usize; 3],
        dst: u32,
        scale: f32,
    ) -> Self {
        Self {
            rows: rows as u32,
            cols: cols as u32,
            samples,
            ones: 0,
            a_net: a_net as u32,
            a_off: a_off as u32,
            a_stride: a_stride as u32,
            p_net: p_net as u32,
            p_off: p_off as u32,
            p_stride: p_stride as u32,
            dst,
            scale,
        }
    }

    /// A bias gradient: [`OuterJob::product`] with a column of ones for `p`.
    pub fn bias(rows: usize, samples: u32, a: [usize; 3], dst: u32, scale: f32) -> Self {
        Self {
            ones: 1,
            ..Self::product(rows, 1, samples, a, [0; 3], dst, scale)
        }
    }
}
