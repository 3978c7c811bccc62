//! The engine's error type.

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{context}: {error}")]
    Io {
        context: String,
        error: std::io::Error,
    },
    #[error("no such container: {0}")]
    NoSuchContainer(String),
    #[error("the container name {0:?} is already in use")]
    NameInUse(String),
    #[error("invalid container name {0:?}: use [a-zA-Z0-9][a-zA-Z0-9_.-]*")]
    InvalidName(String),
    #[error("container {id} is {status}: {action}")]
    WrongStatus {
        id: String,
        status: String,
        action: String,
    },
    /// The container could not be started; `exit_code` as Docker uses it
    /// (127 program not found, 126 not executable, 125 otherwise).
    #[error("{message}")]
    StartFailed { message: String, exit_code: i32 },
    #[error(transparent)]
    Runtime(#[from] burrow_runtime::RuntimeError),
    #[error("{0}")]
    Other(String),
}

impl EngineError {
    /// Docker's exit status for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            EngineError::StartFailed { exit_code, .. } => *exit_code,
            EngineError::Runtime(e) => match e.exit_code() {
                126 | 127 => e.exit_code(),
                _ => 125,
            },
            _ => 125,
        }
    }
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

pub(crate) trait IoContext<T> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::result::Result<T, std::io::Error> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|error| EngineError::Io {
            context: context(),
            error,
        })
    }
}
