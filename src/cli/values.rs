//! The command line's names for the library's domain enums. clap parses them here, so the library
//! needs no clap; each CLI enum maps onto its library twin in one place, and a test checks that
//! the names agree with the ones configs use (serde).

use clap::builder::{EnumValueParser, TypedValueParser};

use snnlab::backend::Device;
use snnlab::evaluate::TaskName;

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

    #[test]
    fn device_names_are_the_config_names() {
        for v in DeviceName::value_variants() {
            let from_config: Device =
                serde_json::from_str(&format!("\"{}\"", flag_name(v))).unwrap();
            assert_eq!(from_config, Device::from(*v));
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
}
