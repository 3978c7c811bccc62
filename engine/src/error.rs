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
    /// Docker's wording, so scripts that grep for it keep working.
    #[error("No such image: {0}")]
    NoSuchImage(String),
    /// Docker's wording: the name is here, but for another platform than `--platform`.
    #[error("image with reference {name} was found but does not match the specified platform: wanted {wanted}, actual: {actual}")]
    WrongPlatform {
        name: String,
        wanted: String,
        actual: String,
    },
    #[error(transparent)]
    Image(Box<burrow_image::Error>),
    #[error("conflict: unable to {action} {image} ({reason})")]
    ImageConflict {
        action: &'static str,
        image: String,
        reason: String,
    },
    #[error(transparent)]
    Volume(#[from] crate::volumes::VolumeError),
    #[error(transparent)]
    Mount(#[from] crate::mounts::MountError),
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

impl From<burrow_image::Error> for EngineError {
    /// A missing image becomes [`EngineError::NoSuchImage`], whichever layer noticed.
    fn from(error: burrow_image::Error) -> EngineError {
        use burrow_image::archive::ArchiveError;
        use burrow_image::registry::RegistryError;
        use burrow_image::store::StoreError;
        let missing = match &error {
            burrow_image::Error::Store(StoreError::NoSuchImage(name))
            | burrow_image::Error::Archive(ArchiveError::Store(StoreError::NoSuchImage(name)))
            | burrow_image::Error::Registry(RegistryError::Store(StoreError::NoSuchImage(name))) => {
                Some(name.clone())
            }
            _ => None,
        };
        match missing {
            Some(name) => EngineError::NoSuchImage(name),
            None => EngineError::Image(Box::new(error)),
        }
    }
}

macro_rules! from_image_error {
    ($($module:ident::$error:ident),*) => {$(
        impl From<burrow_image::$module::$error> for EngineError {
            fn from(error: burrow_image::$module::$error) -> EngineError {
                burrow_image::Error::from(error).into()
            }
        }
    )*};
}

from_image_error!(
    store::StoreError,
    archive::ArchiveError,
    registry::RegistryError,
    reference::ReferenceError,
    manifest::ManifestError
);

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
