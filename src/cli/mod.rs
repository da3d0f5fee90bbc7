//! The command line's command bodies; `main.rs` parses, dispatches and maps errors to exit codes.

mod commands;

pub(crate) use commands::{GradOpts, cmd_forward, cmd_grad, devices};
