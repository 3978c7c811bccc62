//! burrow's overlay filesystem: N read-only lower layers and one writable upper dir
//! merged into one tree, served over FUSE.
//!
//! Theory of operation.
//!
//! *Layers.* Layer 0 is the upper dir (when there is one), then the lowers, top first.
//! Every layer is in OCI layer-diff form: `.wh.NAME` hides NAME of the layers below,
//! `.wh..wh..opq` in a directory hides everything below it; burrow writes its own
//! changes to the upper dir in the same form, so the upper dir *is* the container's
//! layer diff. Kernel-style whiteouts (char device 0:0) in lowers are honoured too.
//!
//! *Lookup.* A directory node remembers the layers merged into it (top first, cut at an
//! opaque dir, a whiteout or a non-directory). A name is looked for in those layers in
//! order; the first layer that has it wins, a whiteout in a layer before that hides it.
//! Paths are walked relative to each layer's root fd, and only through directories
//! already proven to be directories in that layer, so a symlink in a lower layer is
//! never followed on the host (a link to `/etc/passwd` stays a link, resolved by the
//! container inside the merged root).
//!
//! *Inode numbers.* fuser uses `st_ino` as the node id. burrow derives it from the
//! file's inode number in its layer (tagged when layers sit on different filesystems);
//! copy-up stores the old number in `user.burrow.origin` on the upper copy, so numbers
//! are stable for the life of the mount and across remounts, and hard links share one
//! node (see `nodes.rs`).
//!
//! *Copy-up.* Any change to a lower entry (open for write, truncate, chmod, chown,
//! utimens, setxattr, link, rename) first copies it to the upper dir: parents first,
//! then the entry, built under a temporary name in the work dir — data with
//! `copy_file_range` over the data extents only (holes stay holes, reflinks where the
//! filesystem can), xattrs, owner, mode, times — and renamed into place, so a crash
//! leaves either no copy or a whole one. Removing a name that a lower layer has leaves a
//! `.wh.NAME` whiteout (a hard link to one shared empty file in the work dir, so a
//! whiteout costs a directory entry, not an inode); creating a directory where one was
//! whited out makes it opaque.
//!
//! *Renaming directories* from lower layers works (fuse-overlayfs says EXDEV): the
//! directory's merged tree is copied up whole and made opaque, then renamed in the
//! upper dir. That costs a copy of the tree (data is reflinked where possible); the
//! kernel's redirect_dir avoids it, burrow does not do that yet.
//!
//! *Ownership.* When the disk cannot hold an owner (an id outside the user namespace),
//! the owner and mode live in `user.containers.override_stat` (see
//! [`crate::ownership`]), are shown by getattr and updated by chown/chmod. The kernel
//! checks permissions against what getattr shows (`default_permissions`).
//!
//! *Caching and threads.* Every change goes through the overlay, so the kernel may cache
//! entries and attributes for long (a day for lower entries, a second for upper ones),
//! keep page cache across opens and use the writeback cache. Negative lookups are cached
//! too, and so are directory listings (`FOPEN_CACHE_DIR`). OPENDIR is answered ENOSYS,
//! so directories open and close with no round trip (see `listing.rs`: readdir then
//! keeps no per-open state; offsets are keyed hashes of the names). A cold walk (a
//! fresh mount, as a container starts) costs per directory only its READDIRPLUS
//! requests — one with the entries, then one whose empty reply tells the kernel it has
//! reached the end, served from a small cache of recent listings — and no LOOKUP: each
//! entry of a readdirplus costs the server one `fstatat` and one `listxattrat` relative
//! to the layer directory the listing opened. A warm walk sends nothing for a directory
//! whose listing the kernel holds, but one GETATTR the first time a directory read from
//! the server is stat'ed again (the kernel marks its atime stale after such a read).
//! Those lookups are mostly done before the walker asks: a readdirplus reply that
//! names subdirectories hands them to a prefetch thread, which builds their listings
//! and looks up their lower entries on another CPU, walking on depth first like the
//! walker (see `prefetch.rs`; `prefetch=0` turns it off).
//! Where the kernel offers FUSE over io_uring (Linux 6.14+, switched on by root with
//! `fuse.enable_uring=1`), every request but INIT, FORGET and INTERRUPT goes through one
//! ring per CPU, answered by a thread pinned to that CPU (see [`uring`], and `wire/`
//! for the codec): a synchronous request is then answered on the CPU that made it,
//! without waking another (on a VM whose idle vCPUs halt, ~10 instead of ~90 µs per
//! round trip); `io_uring=0` keeps /dev/fuse. Both transports call the same operations
//! (`ops.rs`). Over /dev/fuse,
//! requests are served by several threads, each on its own clone of the /dev/fuse fd;
//! namespace changes take one lock, reads, writes, lookups and listings do not. FLUSH
//! is answered ENOSYS once, so closes cost no round trip (the kernel still writes dirty
//! pages back and reports their errors at close), and a create or mkdir answers from
//! the new entry's own stat.
//!
//! *What the server remembers.* The upper dir changes only through the overlay while
//! it is mounted and the lowers never change, so each node keeps what the server read
//! or wrote of its file (see `nodes.rs`): the ownership record, whether any xattr a
//! program sees is there (a getxattr such as `security.capability` on a file known
//! bare is answered ENODATA without a syscall), and for
//! a directory made by the overlay that it holds no whiteouts (a create there removes
//! none, and in a directory of the upper dir alone the lowers are not searched: the
//! exclusive create fails by itself). A file open for writing is reached through its
//! handle for getattr and setattr (fstat, futimens, fchmod, fchown), so tar's
//! create-write-chown-chmod-utime-close costs no path walk after the create. Xattrs
//! are read relative to the layer's fd (`listxattrat`/`getxattrat`, Linux 6.13; the
//! layer's absolute path before). None of this is kept in a passthrough.
//!
//! *Ids and volumes.* An [`IdShift`] (fuse-overlayfs's `uidmapping=`, `gidmapping=`,
//! `squash_to_*`) changes the owners getattr and readdirplus show and maps the owners
//! of new files and chown back to disk ids; copy-up works on disk ids. Without one
//! nothing is translated. In passthrough mode the single layer is a plain host
//! directory (a volume served with an id shift): no whiteouts, no opaque markers, no
//! kernel page-cache kept across opens.
//!
//! *Mounting.* Inside a user namespace that owns the mount namespace, the server mounts
//! FUSE itself through /dev/fuse (with `allow_other`, so every container uid can use
//! it); outside one, fuser falls back to the setuid `fusermount3`.

mod core;
mod errno;
mod fuse;
mod listing;
mod nodes;
mod ops;
pub mod options;
mod prefetch;
pub mod uring;
mod whiteout;
mod wire;

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rustix::fs::{self as rfs, Mode, OFlags};
use thiserror::Error;

use crate::idmap::IdShift;

pub use self::core::{is_private_xattr, ORIGIN_XATTR};
pub use self::errno::Errno;
pub use self::whiteout::OPAQUE as OPAQUE_MARKER;

/// What the overlay merges and how it is served.
#[derive(Clone, Debug)]
pub struct OverlayConfig {
    /// Read-only layers, top first (the order of `lowerdir=`).
    pub lowers: Vec<PathBuf>,
    /// The writable layer; None for a read-only overlay.
    pub upper: Option<PathBuf>,
    /// Scratch dir on the upper's filesystem for copy-up (required with `upper`).
    pub work: Option<PathBuf>,
    /// Server threads (each with its own /dev/fuse clone). Two by default, like a
    /// container's rootfs: every reader sleeps on the one request queue and the kernel
    /// wakes them in turn, so each extra thread makes a one-request-at-a-time program
    /// (tar, find) pay a context switch per request where one thread often finds the
    /// next request already queued; a second thread keeps requests served while one
    /// waits on a slow fsync or a large read.
    pub threads: usize,
    /// How long the kernel may cache entries and attributes of lower files.
    pub lower_ttl: Duration,
    /// The same for upper files and negative lookups.
    pub upper_ttl: Duration,
    pub writeback_cache: bool,
    /// Let every uid use the mount (default: when inside a user namespace).
    pub allow_other: Option<bool>,
    /// The mount's source name in /proc/mounts.
    pub fsname: String,
    /// How owners are shown and stored (see [`crate::idmap`]); identity by default.
    pub ids: IdShift,
    /// Serve the one layer as a plain directory (a volume): no whiteouts, no opaque
    /// markers, no work dir, short caches (the host may change it underneath).
    pub passthrough: bool,
    /// Serve through the kernel's per-CPU io_uring queues when it offers them
    /// (FUSE_OVER_IO_URING: Linux 6.14+ with `fuse.enable_uring=1`); /dev/fuse otherwise.
    pub io_uring: bool,
    /// Read directories ahead of a walk on another CPU (see `prefetch.rs`).
    pub prefetch: bool,
}

impl Default for OverlayConfig {
    fn default() -> OverlayConfig {
        OverlayConfig {
            lowers: Vec::new(),
            upper: None,
            work: None,
            threads: 2,
            lower_ttl: Duration::from_secs(86400),
            upper_ttl: Duration::from_secs(1),
            writeback_cache: true,
            allow_other: None,
            fsname: "burrow-overlay".into(),
            ids: IdShift::default(),
            passthrough: false,
            io_uring: true,
            prefetch: true,
        }
    }
}

impl OverlayConfig {
    /// A volume: the host directory `dir` served read-write as is, with `ids`.
    pub fn volume(dir: PathBuf, ids: IdShift) -> OverlayConfig {
        OverlayConfig {
            upper: Some(dir),
            threads: 2,
            lower_ttl: Duration::from_secs(1),
            writeback_cache: false,
            fsname: "burrow-volume".into(),
            ids,
            passthrough: true,
            ..OverlayConfig::default()
        }
    }
}

#[derive(Debug, Error)]
pub enum OverlayError {
    #[error("invalid overlay configuration: {0}")]
    Config(String),
    #[error("failed to open layer {path}: {source}")]
    Layer {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("failed to mount the overlay at {mountpoint}: {source}{hint}")]
    Mount {
        mountpoint: PathBuf,
        #[source]
        source: io::Error,
        hint: &'static str,
    },
    #[error("the overlay at {mountpoint} stopped with an error: {source}")]
    Serve {
        mountpoint: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// A configured overlay, ready to mount.
pub struct Overlay {
    /// Shared by fuser's session and the io_uring queues.
    fs: Arc<ops::OverlayFs>,
    config: OverlayConfig,
}

impl Overlay {
    /// Opens the layers and checks the configuration.
    pub fn new(config: OverlayConfig) -> Result<Overlay, OverlayError> {
        if config.lowers.is_empty() && config.upper.is_none() {
            return Err(OverlayError::Config("no layers given".into()));
        }
        if config.passthrough && (!config.lowers.is_empty() || config.upper.is_none()) {
            return Err(OverlayError::Config(
                "a passthrough serves exactly one directory".into(),
            ));
        }
        if !config.passthrough && config.upper.is_some() != config.work.is_some() {
            return Err(OverlayError::Config(
                "upperdir and workdir go together".into(),
            ));
        }
        let mut paths: Vec<PathBuf> = Vec::new();
        paths.extend(config.upper.iter().cloned());
        paths.extend(config.lowers.iter().cloned());
        let mut devices: HashMap<u64, u64> = HashMap::new();
        let mut layers = Vec::new();
        for path in paths {
            let fd = open_dir(&path)?;
            let st = rfs::fstat(&fd).map_err(|e| OverlayError::Layer {
                path: path.clone(),
                source: e.into(),
            })?;
            let next = devices.len() as u64;
            let dev_index = *devices.entry(st.st_dev).or_insert(next);
            let path = std::fs::canonicalize(&path).map_err(|source| OverlayError::Layer {
                path: path.clone(),
                source,
            })?;
            layers.push(core::Layer {
                path,
                fd,
                dev_index,
            });
        }
        if devices.len() > 128 {
            return Err(OverlayError::Config(
                "layers span too many filesystems".into(),
            ));
        }
        let work = match (&config.work, &config.upper) {
            (Some(work), Some(upper)) => Some(prepare_work(work, upper)?),
            _ => None,
        };
        let core = core::Core::new(
            layers,
            config.upper.is_some(),
            work,
            core::Ttls {
                lower: config.lower_ttl,
                upper: config.upper_ttl,
            },
            config.ids.clone(),
            config.passthrough,
        )
        .map_err(|e| OverlayError::Config(format!("cannot read the layers: errno {}", e.0)))?;
        let fs = ops::OverlayFs::new(
            core,
            config.writeback_cache,
            config.passthrough,
            config.prefetch,
        );
        // INIT asks for FUSE over io_uring only when the queues will be started.
        fs.want_io_uring.store(config.io_uring, Ordering::Relaxed);
        Ok(Overlay {
            fs: Arc::new(fs),
            config,
        })
    }

    /// Set once INIT has run: whether the kernel accepted FUSE over io_uring (asked
    /// for per [`OverlayConfig::io_uring`]).
    pub fn io_uring_accepted(&self) -> Arc<std::sync::OnceLock<bool>> {
        Arc::clone(&self.fs.io_uring_accepted)
    }

    /// What answers the requests the io_uring queues deliver.
    pub fn ring_handler(&self) -> Arc<dyn uring::RingHandler> {
        self.fs.clone()
    }

    fn fuser_config(&self) -> fuser::Config {
        let in_user_ns = in_user_namespace();
        let root = rustix::process::geteuid().is_root();
        let mut options = vec![
            fuser::MountOption::FSName(self.config.fsname.clone()),
            fuser::MountOption::Subtype(if self.config.passthrough {
                "burrow-volume".into()
            } else {
                "burrow-overlay".into()
            }),
            fuser::MountOption::DefaultPermissions,
        ];
        if self.config.upper.is_none() {
            options.push(fuser::MountOption::RO);
        }
        if in_user_ns || root {
            // setuid binaries inside the container (su, passwd) keep working; a user
            // namespace confines what they can gain.
            options.push(fuser::MountOption::Suid);
        }
        let mut config = fuser::Config::default();
        config.mount_options = options;
        config.acl = if self.config.allow_other.unwrap_or(in_user_ns || root) {
            fuser::SessionACL::All
        } else {
            fuser::SessionACL::Owner
        };
        config.n_threads = Some(self.config.threads.max(1));
        config.clone_fd = true;
        config
    }

    /// The fuser session, mounted, and the io_uring queues waiting for its INIT.
    fn session(
        self,
        mountpoint: &Path,
    ) -> Result<(Session, Option<uring::RingService>), OverlayError> {
        let config = self.fuser_config();
        let notifier = self.fs.notifier_slot();
        let fs = fuse::FuserFs::new(Arc::clone(&self.fs));
        let session = fuser::Session::new(fs, mountpoint, &config).map_err(|source| {
            let hint = match source.raw_os_error() {
                Some(libc::EACCES) | Some(libc::EPERM) => {
                    " (is /dev/fuse 0666, and fusermount3 installed outside a user namespace?)"
                }
                Some(libc::ENOENT) | Some(libc::ENODEV) => " (is the fuse module loaded?)",
                _ => "",
            };
            OverlayError::Mount {
                mountpoint: mountpoint.to_path_buf(),
                source,
                hint,
            }
        })?;
        let _ = notifier.set(session.notifier());
        let rings = start_rings(&self.fs, &session);
        Ok((session, rings))
    }

    /// Mounts at `mountpoint` and serves from background threads until the handle is
    /// dropped or unmounted.
    pub fn mount(self, mountpoint: &Path) -> Result<MountHandle, OverlayError> {
        let (session, rings) = self.session(mountpoint)?;
        let background = session.spawn().map_err(|source| OverlayError::Mount {
            mountpoint: mountpoint.to_path_buf(),
            source,
            hint: "",
        })?;
        Ok(MountHandle {
            session: Some(background),
            rings,
            mountpoint: mountpoint.to_path_buf(),
        })
    }

    /// Mounts at `mountpoint` and serves until it is unmounted.
    pub fn serve_foreground(self, mountpoint: &Path) -> Result<(), OverlayError> {
        let (session, rings) = self.session(mountpoint)?;
        let served = session.run().map_err(|source| OverlayError::Serve {
            mountpoint: mountpoint.to_path_buf(),
            source,
        });
        if let Some(rings) = rings {
            rings.finish(RING_PATIENCE);
        }
        served
    }
}

type Session = fuser::Session<fuse::FuserFs>;

/// Ring entries per CPU queue: requests of one CPU the kernel can hand over at once.
const RING_DEPTH: usize = 4;

/// How long an unmount waits for the io_uring queues to stop.
const RING_PATIENCE: Duration = Duration::from_secs(5);

/// Starts the io_uring queues on the session's connection: they serve once INIT says
/// the kernel accepted FUSE over io_uring. None when not wanted or when they cannot
/// start; /dev/fuse then serves every request.
fn start_rings(fs: &Arc<ops::OverlayFs>, session: &Session) -> Option<uring::RingService> {
    if !fs.want_io_uring.load(Ordering::Relaxed) {
        return None;
    }
    let started = session.as_fd().try_clone_to_owned().and_then(|dev| {
        let handler: Arc<dyn uring::RingHandler> = fs.clone();
        let config = uring::QueueConfig {
            depth: RING_DEPTH,
            // The kernel refuses entries smaller than its largest request.
            payload_size: ops::MAX_IO as usize,
        };
        let accepted = Arc::clone(&fs.io_uring_accepted);
        uring::RingService::start_when_accepted(dev, handler, accepted, config)
    });
    match started {
        Ok(rings) => Some(rings),
        Err(e) => {
            log::warn!("serving over /dev/fuse only: cannot start the io_uring queues: {e}");
            None
        }
    }
}

/// A mounted overlay; dropping it unmounts and stops the server threads.
pub struct MountHandle {
    session: Option<fuser::BackgroundSession>,
    rings: Option<uring::RingService>,
    mountpoint: PathBuf,
}

impl MountHandle {
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// Serves until the filesystem is unmounted from outside (`umount`,
    /// `fusermount3 -u`).
    pub fn wait(mut self) -> Result<(), OverlayError> {
        let served = match self.session.take() {
            Some(session) => session.join().map_err(|source| OverlayError::Serve {
                mountpoint: self.mountpoint.clone(),
                source,
            }),
            None => Ok(()),
        };
        self.finish_rings();
        served
    }

    /// Unmounts and waits for the server threads.
    pub fn unmount(mut self) -> Result<(), OverlayError> {
        let unmounted = match self.session.take() {
            Some(session) => session
                .umount_and_join()
                .map_err(|source| OverlayError::Serve {
                    mountpoint: self.mountpoint.clone(),
                    source,
                }),
            None => Ok(()),
        };
        self.finish_rings();
        unmounted
    }

    /// After the connection ended: lets the io_uring queues stop.
    fn finish_rings(&mut self) {
        if let Some(rings) = self.rings.take() {
            rings.finish(RING_PATIENCE);
        }
    }
}

impl Drop for MountHandle {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            if let Err(e) = session.umount_and_join() {
                log::warn!("unmounting {}: {e}", self.mountpoint.display());
            }
        }
        self.finish_rings();
    }
}

fn open_dir(path: &Path) -> Result<OwnedFd, OverlayError> {
    rfs::open(
        path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| OverlayError::Layer {
        path: path.to_path_buf(),
        source: e.into(),
    })
}

/// Opens the work dir, checks it shares the upper's filesystem, and removes temporary
/// copies a killed server left behind.
fn prepare_work(work: &Path, upper: &Path) -> Result<OwnedFd, OverlayError> {
    let fd = open_dir(work)?;
    let work_dev = rfs::fstat(&fd).map(|s| s.st_dev).ok();
    let upper_dev = rfs::stat(upper).map(|s| s.st_dev).ok();
    if work_dev != upper_dev {
        return Err(OverlayError::Config(format!(
            "workdir {} must be on the same filesystem as upperdir {}",
            work.display(),
            upper.display()
        )));
    }
    if let Ok(entries) = std::fs::read_dir(work) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with("#burrow-") {
                crate::unpack::remove_tree_forcefully(&entry.path());
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    Ok(fd)
}

/// True when this process is not in the initial user namespace.
pub fn in_user_namespace() -> bool {
    match std::fs::read_to_string("/proc/self/uid_map") {
        Ok(map) => {
            let fields: Vec<&str> = map.split_whitespace().collect();
            fields != ["0", "0", "4294967295"]
        }
        Err(_) => false,
    }
}
