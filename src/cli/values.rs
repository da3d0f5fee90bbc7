//! The command line's names for the library's domain enums. clap parses them here, so the library
//! needs no clap; each CLI enum maps onto its library twin in one place, and a test checks that
//! the names agree with the ones configs use (serde).

use clap::builder::{EnumValueParser, TypedValueParser};

use snnlab::backend::Device;
use snnlab::evaluate::TaskName;
use snnlab::model::Kind;

/// `--device`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum DeviceName {
    /// A hardware GPU when there is one, else the CPU implementation.
    Auto,
    /// The CPU implementation.
    Cpu,
    /// The wgpu engine on the best adapter (a software Vulkan adapter where there is no GPU).
    Gpu,
}

impl From<DeviceName> for Device {
    fn from(d: DeviceName) -> Self {
        match d {
            DeviceName::Auto => Device::Auto,
            DeviceName::Cpu => Device::Cpu,
            DeviceName::Gpu => Device::Gpu,
        }
    }
}

/// `--devices` of the benches: a named device (a row must say which one it timed).
#[derive(Clone, Copy, clap::ValueEnum)]
enum BenchDevice {
    Cpu,
    Gpu,
}

impl From<BenchDevice> for Device {
    fn from(d: BenchDevice) -> Self {
        match d {
            BenchDevice::Cpu => Device::Cpu,
            BenchDevice::Gpu => Device::Gpu,
        }
    }
}

/// `--kinds` of `bench-spiking`: the spiking kinds of network.
#[derive(Clone, Copy, clap::ValueEnum)]
enum SpikingKind {
    Lif,
    Alif,
}

impl From<SpikingKind> for Kind {
    fn from(k: SpikingKind) -> Self {
        match k {
            SpikingKind::Lif => Kind::Lif,
            SpikingKind::Alif => Kind::Alif,
        }
    }
}

/// `--task`: the built-in tasks (a file task is named by `--config`).
#[derive(Clone, Copy, clap::ValueEnum)]
enum BuiltinTask {
    Reach,
    Mante,
    /// Bellec et al.'s evidence accumulation: the analysis trials are the training's fixed
    /// evaluation batch, every step compared.
    Cue,
}

impl From<BuiltinTask> for TaskName {
    fn from(t: BuiltinTask) -> Self {
        match t {
            BuiltinTask::Reach => TaskName::Reach,
            BuiltinTask::Mante => TaskName::Mante,
            BuiltinTask::Cue => TaskName::Cue,
        }
    }
}

/// The parser of `--device` flags.
pub(crate) fn device() -> impl TypedValueParser<Value = Device> {
    EnumValueParser::<DeviceName>::new().map(Device::from)
}

/// The parser of the benches' `--devices`.
pub(crate) fn bench_device() -> impl TypedValueParser<Value = Device> {
    EnumValueParser::<BenchDevice>::new().map(Device::from)
}

/// The parser of `--kinds`.
pub(crate) fn spiking_kind() -> impl TypedValueParser<Value = Kind> {
    EnumValueParser::<SpikingKind>::new().map(Kind::from)
}

/// The parser of `--task` flags.
pub(crate) fn task_name() -> impl TypedValueParser<Value = TaskName> {
    EnumValueParser::<BuiltinTask>::new().map(TaskName::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    /// The name a CLI value is given on the command line.
    fn flag_name<E: ValueEnum>(v: &E) -> String {
        v.to_possible_value().unwrap().get_name().to_string()
    }

    /// The device a config names with the flag's name of `v`.
    fn config_device<E: ValueEnum>(v: &E) -> Device {
        serde_json::from_str(&format!("\"{}\"", flag_name(v))).unwrap()
    }

    #[test]
    fn device_names_are_the_config_names() {
        for v in DeviceName::value_variants() {
            assert_eq!(config_device(v), Device::from(*v));
        }
        assert_eq!(DeviceName::value_variants().len(), 3);
    }

    #[test]
    fn task_names_are_the_config_names() {
        for v in BuiltinTask::value_variants() {
            let name = serde_json::to_string(&TaskName::from(*v)).unwrap();
            assert_eq!(name, format!("\"{}\"", flag_name(v)));
        }
        assert_eq!(BuiltinTask::value_variants().len(), 3);
    }

    #[test]
    fn bench_device_and_kind_names_are_the_config_names() {
        for v in BenchDevice::value_variants() {
            assert_eq!(config_device(v), Device::from(*v));
        }
        for v in SpikingKind::value_variants() {
            assert_eq!(flag_name(v).parse::<Kind>().unwrap(), Kind::from(*v));
            assert!(Kind::from(*v).is_spiking());
        }
    }
}
