//! One error type for the whole crate. `Input` is the user's fault (exit status 2: bad file,
//! wrong shape, NaN, unknown flag or key); `Runtime` is ours or the machine's (exit status 1).
//! Messages are one line and name the culprit (file, array, flag).

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Input(String),
    #[error("{0}")]
    Runtime(String),
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input(_) => 2,
            Error::Runtime(_) => 1,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// `bad_input!("fmt", args..)` → `Err(Error::Input(..))` converted into the caller's error type.
#[macro_export]
macro_rules! bad_input {
    ($($arg:tt)*) => { return Err($crate::error::Error::Input(format!($($arg)*)).into()) };
}

/// Attach a file path to I/O and parse failures of user-supplied files (exit 2).
pub fn input_err(path: &std::path::Path, what: impl std::fmt::Display) -> Error {
    Error::Input(format!("{}: {}", path.display(), what))
}

pub fn runtime_err(what: impl std::fmt::Display) -> Error {
    Error::Runtime(what.to_string())
}
