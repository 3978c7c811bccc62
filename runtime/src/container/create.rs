//! `create`: fork the container's processes, answer their setup requests,
//! and record the container once its init reports `Ready`.

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::sys::signal::Signal;
use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Pid};
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{Context, Result, RuntimeError};
use crate::idmap::{self, IdKind};
use crate::init::{self, InitContext, StartTrigger};
use crate::namespaces::NamespacePlan;
use crate::spec::Bundle;
use crate::state::{State, StateDir, Status};
use crate::sync::{channel_pair, Channel, Message};
use crate::{hooks, seccomp, sys};

pub struct CreateOptions<'a> {
    pub root: &'a Path,
    pub id: &'a str,
    pub bundle: &'a Path,
    pub console_socket: Option<&'a Path>,
    pub pid_file: Option<&'a Path>,
    pub preserve_fds: u32,
    pub no_pivot: bool,
    /// Keep a reaping, signal-forwarding init as the container's pid 1.
    pub with_init: bool,
    /// Descriptors to become the process's stdin, stdout and stderr
    /// (default: the caller's own). They must stay open until `create` returns.
    pub stdio: Option<[std::os::fd::RawFd; 3]>,
    /// SIGKILL the container when the process that created it dies (a
    /// supervisor that must never leave its container orphaned).
    pub die_with_parent: bool,
    pub trigger: StartTrigger,
}

/// A container whose init is waiting to be started.
pub struct CreatedContainer {
    pub state: State,
    pub state_dir: StateDir,
    pub spec: Spec,
    channel: Channel,
}

impl CreatedContainer {
    /// For `StartTrigger::Channel`: lets the init exec the user process.
    pub fn start_now(&mut self) -> Result<()> {
        self.channel.send(&Message::Proceed {
            pid: self.state.pid,
        })?;
        // The init's end closes at exec; a failure before that comes here.
        while let Some(message) = self.channel.recv()? {
            if let Message::Failed { message, exit_code } = message {
                let _ = waitpid(Pid::from_raw(self.state.pid), None);
                return Err(RuntimeError::Init { message, exit_code });
            }
        }
        self.state.status = Status::Running;
        self.state_dir.save(&self.state)?;
        super::start::run_poststart(&self.state, &self.spec);
        Ok(())
    }
}

pub fn create(opts: &CreateOptions) -> Result<CreatedContainer> {
    let bundle = Bundle::load(opts.bundle)?;
    let plan = NamespacePlan::from_spec(&bundle.spec)?;
    let seccomp = match bundle
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
    {
        Some(profile) => Some(seccomp::compile(profile)?),
        None => None,
    };
    let console_socket = match opts.console_socket {
        Some(path) => Some(OwnedFd::from(UnixStream::connect(path).context(|| {
            format!("cannot connect to console socket {}", path.display())
        })?)),
        None => None,
    };
    let state_dir = StateDir::create(opts.root, opts.id)?;
    match spawn(opts, bundle, plan, seccomp, console_socket, &state_dir) {
        Ok(created) => Ok(created),
        Err(e) => {
            let _ = state_dir.remove();
            Err(e)
        }
    }
}

fn spawn(
    opts: &CreateOptions,
    bundle: Bundle,
    plan: NamespacePlan,
    seccomp: Option<seccomp::SeccompProgram>,
    console_socket: Option<OwnedFd>,
    state_dir: &StateDir,
) -> Result<CreatedContainer> {
    bundle
        .spec
        .save(state_dir.config_path())
        .map_err(|e| RuntimeError::Other(format!("cannot save config: {e}")))?;
    let fifo = match opts.trigger {
        StartTrigger::Fifo => {
            let path = state_dir.fifo();
            nix::unistd::mkfifo(&path, Mode::from_bits_truncate(0o622))
                .context(|| format!("cannot create {}", path.display()))?;
            Some(path)
        }
        StartTrigger::Channel => None,
    };
    let hooks = bundle.spec.hooks().as_ref();
    #[allow(deprecated)]
    let has_create_hooks = hooks.is_some_and(|h| {
        [
            h.prestart(),
            h.create_runtime(),
            h.create_container(),
            h.start_container(),
        ]
        .iter()
        .any(|l| l.as_ref().is_some_and(|l| !l.is_empty()))
    });
    let (parent_end, child_end) = channel_pair(3 + opts.preserve_fds)?;
    let process = bundle.spec.process().clone().unwrap_or_default();
    let ctx = InitContext {
        id: opts.id.to_string(),
        bundle,
        process,
        plan,
        channel: child_end,
        fifo,
        console_socket,
        seccomp,
        preserve_fds: opts.preserve_fds,
        no_pivot: opts.no_pivot,
        has_create_hooks,
        joining: false,
        with_init: opts.with_init,
        stdio: opts.stdio,
        die_with_parent: opts.die_with_parent,
    };
    // SAFETY: the CLI is single-threaded here; the child only runs the
    // runtime's own setup code and then execs or _exits.
    let stage1 = match unsafe { nix::unistd::fork() }.context(|| "cannot fork".into())? {
        ForkResult::Child => {
            drop(parent_end);
            init::stage1(&ctx)
        }
        ForkResult::Parent { child } => child,
    };
    let InitContext {
        bundle,
        channel: child_end,
        ..
    } = ctx;
    drop(child_end);
    let mut setup = Setup {
        channel: parent_end,
        stage1,
        init: None,
        bundle: &bundle,
        id: opts.id,
    };
    let outcome = setup.converse();
    if outcome.is_err() {
        let _ = sys::send_signal(stage1.as_raw(), Signal::SIGKILL as i32);
    }
    let _ = waitpid(stage1, None);
    let init_pid = match outcome {
        Ok(pid) => pid,
        Err(e) => {
            setup.kill_init();
            // The life cycle continues at poststop once the runtime side ran
            // anything (a failing createRuntime hook, say).
            run_poststop_after_failure(&bundle, opts.id);
            return Err(e);
        }
    };
    let (_, start_time) = crate::state::proc_stat(init_pid)
        .ok_or_else(|| RuntimeError::Other("the container init exited during setup".into()))?;
    let state = State {
        oci_version: bundle.spec.version().clone(),
        id: opts.id.to_string(),
        status: Status::Created,
        pid: init_pid,
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: crate::state::rfc3339_now(),
        owner: idmap::whoami(),
        annotations: bundle.spec.annotations().clone().unwrap_or_default(),
        pid_start_time: start_time,
        own_pid_namespace: crate::spec::creates_namespace(&bundle.spec, LinuxNamespaceType::Pid),
        cgroup: crate::cgroups::enter(&bundle.spec, opts.id, init_pid),
    };
    state_dir.save(&state)?;
    if let Some(path) = opts.pid_file {
        write_pid_file(path, init_pid)?;
    }
    Ok(CreatedContainer {
        state,
        state_dir: StateDir {
            path: state_dir.path.clone(),
            id: state_dir.id.clone(),
        },
        spec: bundle.spec.clone(),
        channel: setup.channel,
    })
}

/// The parent's half of the setup conversation.
struct Setup<'a> {
    channel: Channel,
    stage1: Pid,
    init: Option<i32>,
    bundle: &'a Bundle,
    id: &'a str,
}

impl Setup<'_> {
    /// Serves the children's requests until `Ready`; returns the init's pid.
    fn converse(&mut self) -> Result<i32> {
        let mut failure = None;
        while let Some(message) = self.channel.recv()? {
            match message {
                Message::NeedIdMaps => {
                    self.write_id_maps()?;
                    self.channel.send(&Message::Proceed { pid: 0 })?;
                }
                Message::InitPid(pid) => self.init = Some(pid),
                Message::RunCreateRuntimeHooks => {
                    let pid = self.init_pid()?;
                    self.run_create_runtime_hooks(pid)?;
                    self.channel.send(&Message::Proceed { pid })?;
                }
                Message::Ready if failure.is_none() => return self.init_pid(),
                Message::Failed { message, exit_code } => {
                    failure = Some(RuntimeError::Init { message, exit_code })
                }
                other => {
                    return Err(RuntimeError::Other(format!(
                        "setup: unexpected message {other:?}"
                    )))
                }
            }
        }
        Err(failure.unwrap_or_else(|| {
            RuntimeError::Other("the container init exited before it was ready".into())
        }))
    }

    /// The init's pid. Stage 1 reports it and the init may speak first, so
    /// it can still be on its way: the init is then waiting for our answer.
    fn init_pid(&mut self) -> Result<i32> {
        while self.init.is_none() {
            match self.channel.recv()? {
                Some(Message::InitPid(pid)) => self.init = Some(pid),
                other => {
                    return Err(RuntimeError::Other(format!(
                        "setup: expected the init's pid, got {other:?}"
                    )))
                }
            }
        }
        Ok(self.init.unwrap_or_default())
    }

    fn write_id_maps(&self) -> Result<()> {
        let linux = self.bundle.spec.linux().as_ref();
        let uids = idmap::effective_mappings(
            IdKind::User,
            linux.and_then(|l| l.uid_mappings().as_deref()),
        );
        let gids = idmap::effective_mappings(
            IdKind::Group,
            linux.and_then(|l| l.gid_mappings().as_deref()),
        );
        let pid = self.stage1.as_raw();
        idmap::write_map(pid, IdKind::Group, &gids)?;
        idmap::write_map(pid, IdKind::User, &uids)
    }

    #[allow(deprecated)]
    fn run_create_runtime_hooks(&self, pid: i32) -> Result<()> {
        let Some(hooks) = self.bundle.spec.hooks().as_ref() else {
            return Ok(());
        };
        let state = serde_json::json!({
            "ociVersion": self.bundle.spec.version(),
            "id": self.id,
            "status": "creating",
            "pid": pid,
            "bundle": self.bundle.dir,
            "annotations": self.bundle.spec.annotations().clone().unwrap_or_default(),
        })
        .to_string();
        hooks::run_all(
            "prestart",
            hooks.prestart().as_deref().unwrap_or(&[]),
            &state,
        )?;
        hooks::run_all(
            "createRuntime",
            hooks.create_runtime().as_deref().unwrap_or(&[]),
            &state,
        )
    }

    fn kill_init(&self) {
        if let Some(pid) = self.init {
            let _ = sys::send_signal(pid, Signal::SIGKILL as i32);
            let _ = waitpid(Pid::from_raw(pid), None);
        }
    }
}

fn run_poststop_after_failure(bundle: &Bundle, id: &str) {
    let Some(list) = bundle
        .spec
        .hooks()
        .as_ref()
        .and_then(|h| h.poststop().clone())
    else {
        return;
    };
    let state = serde_json::json!({
        "ociVersion": bundle.spec.version(),
        "id": id,
        "status": "stopped",
        "pid": 0,
        "bundle": bundle.dir,
        "annotations": bundle.spec.annotations().clone().unwrap_or_default(),
    })
    .to_string();
    if let Err(e) = hooks::run_all("poststop", &list, &state) {
        eprintln!("burrow: warning: {e}");
    }
}

pub(crate) fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let tmp: PathBuf = {
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(".tmp");
        path.with_file_name(name)
    };
    std::fs::write(&tmp, pid.to_string())
        .context(|| format!("cannot write pid file {}", tmp.display()))?;
    std::fs::rename(&tmp, path).context(|| format!("cannot write pid file {}", path.display()))
}
