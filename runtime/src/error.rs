//! The crate's error type: every variant names the object and the failed action.

use std::path::PathBuf;

/// Exit status Docker and runc use when the program cannot be found.
pub const EXIT_NOT_FOUND: i32 = 127;
/// Exit status Docker and runc use when the program exists but cannot be run.
pub const EXIT_CANNOT_INVOKE: i32 = 126;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("{context}: {error}")]
    Io {
        context: String,
        error: std::io::Error,
    },
    #[error("{context}: {errno}")]
    Sys { context: String, errno: nix::Error },
    #[error("invalid config {path}: {reason}")]
    Config { path: PathBuf, reason: String },
    #[error("container {0:?} does not exist")]
    NotFound(String),
    #[error("container {0:?} already exists")]
    AlreadyExists(String),
    #[error("invalid container id {0:?}: use letters, digits, '_', '-' and '.'")]
    InvalidId(String),
    #[error("container {id:?} is {status}: {action}")]
    WrongStatus {
        id: String,
        status: String,
        action: String,
    },
    /// The container's init reported a failure before the user process started.
    #[error("{message}")]
    Init { message: String, exit_code: i32 },
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
    #[error("{0}")]
    Other(String),
}

impl RuntimeError {
    /// The exit status a CLI should use for this error (125 unless the
    /// container's process could not be found or invoked).
    pub fn exit_code(&self) -> i32 {
        match self {
            RuntimeError::Init { exit_code, .. } => *exit_code,
            _ => 125,
        }
    }
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// Adds an action description to io and nix errors.
pub trait Context<T> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, std::io::Error> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|error| RuntimeError::Io {
            context: context(),
            error,
        })
    }
}

impl<T> Context<T> for std::result::Result<T, nix::Error> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|errno| RuntimeError::Sys {
            context: context(),
            errno,
        })
    }
}
