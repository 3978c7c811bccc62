//! The flags `run` and `create` share, and their translation to a RunConfig.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use burrow_engine::container::from_image;
use burrow_engine::images::{self, ImageRootfs};
use burrow_engine::mounts::{self, MountSpec};
use burrow_engine::{EngineError, RunConfig};

#[derive(clap::Args)]
pub struct ContainerArgs {
    /// Assign a name.
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables (KEY=VALUE, or KEY to copy it from here).
    #[arg(short, long)]
    pub env: Vec<String>,
    /// Read environment variables from files.
    #[arg(long)]
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container.
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// UID[:GID] to run as.
    #[arg(short, long)]
    pub user: Option<String>,
    /// Container host name.
    #[arg(long, short = 'h')]
    pub hostname: Option<String>,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    pub tty: bool,
    /// Keep stdin open.
    #[arg(short, long)]
    pub interactive: bool,
    /// Remove the container when it exits.
    #[arg(long)]
    pub rm: bool,
    /// Mount the root filesystem read-only.
    #[arg(long)]
    pub read_only: bool,
    /// Run an init as pid 1 that reaps zombies and forwards signals.
    #[arg(long)]
    pub init: bool,
    /// Set metadata (KEY=VALUE).
    #[arg(short, long)]
    pub label: Vec<String>,
    /// Mount a volume: NAME:PATH (named), PATH (anonymous) or /HOST:PATH (bind),
    /// then optionally :ro, :rw, :nocopy.
    #[arg(short, long)]
    pub volume: Vec<String>,
    /// Attach a mount: type=bind|volume|tmpfs,source=…,target=…[,readonly][,…].
    #[arg(long)]
    pub mount: Vec<String>,
    /// Mount a tmpfs: PATH[:size=64m,mode=1777,…].
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Mount the volumes and binds of another container: CONTAINER[:ro|rw].
    #[arg(long)]
    pub volumes_from: Vec<String>,
    /// Network: bridge (a network of its own, the default), host, none or a
    /// user-defined network; given again, one more network (an interface each).
    #[arg(long, visible_alias = "net")]
    pub network: Vec<String>,
    /// More names other containers on a user-defined network find this one by.
    #[arg(long = "network-alias", visible_alias = "net-alias")]
    pub network_alias: Vec<String>,
    /// IPv4 address on the first network (a user-defined one), like Docker's --ip.
    #[arg(long)]
    pub ip: Option<std::net::Ipv4Addr>,
    /// Publish every port the image exposes to a random host port.
    #[arg(short = 'P', long)]
    pub publish_all: bool,
    /// Publish a container's port to the host: [IP:][HOSTPORT:]CONTAINERPORT[/PROTO].
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// DNS servers for the container's resolv.conf.
    #[arg(long)]
    pub dns: Vec<String>,
    /// Add a line to /etc/hosts (NAME:IP, IP may be host-gateway).
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Signal to stop the container (default SIGTERM).
    #[arg(long)]
    pub stop_signal: Option<String>,
    /// Seconds to wait after the stop signal before SIGKILL.
    #[arg(long)]
    pub stop_timeout: Option<u64>,
    /// Add Linux capabilities.
    #[arg(long)]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities.
    #[arg(long)]
    pub cap_drop: Vec<String>,
    /// Restart policy: no, on-failure[:MAX-RETRIES], always or unless-stopped.
    #[arg(long, default_value = "no")]
    pub restart: String,
    /// Print help (-h is --hostname, as in Docker).
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Security options: seccomp=unconfined|PROFILE.json, no-new-privileges.
    #[arg(long)]
    pub security_opt: Vec<String>,
    /// All capabilities, no seccomp filter, no masked paths.
    #[arg(long)]
    pub privileged: bool,
    /// Resource limit: NAME=SOFT[:HARD] (nofile, nproc, core, …).
    #[arg(long)]
    pub ulimit: Vec<String>,
    /// Memory limit (e.g. 512m); needs a delegated cgroup v2 tree.
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Process limit; needs a delegated cgroup v2 tree.
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// CPUs (e.g. 1.5); needs a delegated cgroup v2 tree.
    #[arg(long)]
    pub cpus: Option<String>,
    /// User namespace: host (default: the user is root inside) or
    /// keep-id[:uid=U,gid=G] (the user keeps its own ids inside, as Podman's).
    #[arg(long)]
    pub userns: Option<String>,
    /// Overwrite the image's entrypoint ("" clears it).
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Pull the image: always, missing (when not here) or never.
    #[arg(long, default_value = "missing")]
    pub pull: String,
    /// Use (and pull) the image for this platform, os/arch[/variant]; an image here
    /// for another platform counts as missing.
    #[arg(long)]
    pub platform: Option<String>,
    /// The first argument is a root filesystem directory, not an image.
    #[arg(long)]
    pub rootfs: bool,
    /// Image (or, with --rootfs, a directory) and the command to run.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub image_and_command: Vec<String>,
}

impl ContainerArgs {
    pub fn to_config(&self, store: &burrow_engine::Store) -> Result<RunConfig> {
        let (image, command) = self
            .image_and_command
            .split_first()
            .context("an image (or --rootfs DIR) is required")?;
        let mut config = self.flags_config()?;
        if config.privileged {
            config.cap_add.push("ALL".into());
        }
        let limited =
            config.memory.is_some() || config.pids_limit.is_some() || config.cpus.is_some();
        if let Some(memory) = &config.memory {
            burrow_engine::security::parse_bytes(memory)?;
        }
        if limited && !burrow_runtime::cgroups_delegated() {
            eprintln!(
                "burrow: warning: no delegated cgroup v2 tree here: --memory, --pids-limit and \
                 --cpus are recorded but not enforced"
            );
        }
        config.image = image.clone();
        let roots = if self.rootfs {
            let rootfs = std::fs::canonicalize(image).with_context(|| format!("rootfs {image}"))?;
            config.args = self
                .entrypoint
                .iter()
                .cloned()
                .chain(command.iter().cloned())
                .collect();
            if config.args.is_empty() {
                bail!("no command given (with --rootfs there is no image default)");
            }
            config.rootfs = rootfs.clone();
            vec![rootfs]
        } else {
            let resolved = resolve_or_pull(store, image, &self.pull, self.platform.as_deref())?;
            from_image::apply(&mut config, &resolved, self.entrypoint.as_deref(), command)?;
            if self.publish_all {
                // `80/tcp` alone: the container port, on a random free host port.
                config
                    .publish
                    .extend(resolved.config.exposed_ports.iter().cloned());
            }
            resolved.layers
        };
        if let Some(user) = &config.user {
            config.user = Some(from_image::numeric_user(user, &roots)?);
        }
        Ok(config)
    }

    /// Everything the flags say, before the image adds its defaults.
    fn flags_config(&self) -> Result<RunConfig> {
        let restart = burrow_engine::RestartPolicy::parse(&self.restart)?;
        if self.rm && restart != burrow_engine::RestartPolicy::No {
            bail!("conflicting options: --restart and --rm");
        }
        let mut env = Vec::new();
        for file in &self.env_file {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read env file {}", file.display()))?;
            env.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .filter_map(expand_env),
            );
        }
        env.extend(self.env.iter().map(String::as_str).filter_map(expand_env));
        let mut labels = std::collections::BTreeMap::new();
        for label in &self.label {
            let (k, v) = label.split_once('=').unwrap_or((label, ""));
            labels.insert(k.to_string(), v.to_string());
        }
        let mounts = self.mounts()?;
        Ok(RunConfig {
            env,
            workdir: self.workdir.clone(),
            user: self.user.clone(),
            hostname: self.hostname.clone(),
            tty: self.tty,
            interactive: self.interactive,
            auto_remove: self.rm,
            read_only: self.read_only,
            init: self.init,
            labels,
            binds: self.volume.clone(),
            mounts,
            volumes_from: self.volumes_from.clone(),
            network: self
                .network
                .first()
                .cloned()
                .unwrap_or_else(|| "bridge".into()),
            more_networks: self
                .network
                .iter()
                .skip(1)
                .map(|name| burrow_engine::NetworkAttachment {
                    name: name.clone(),
                    ..Default::default()
                })
                .collect(),
            stop_signal: self.stop_signal.clone(),
            stop_timeout: self.stop_timeout,
            cap_add: self.cap_add.clone(),
            cap_drop: self.cap_drop.clone(),
            publish: self.publish.clone(),
            network_aliases: self.network_alias.clone(),
            network_ip: self.ip,
            security_opt: self.security_opt.clone(),
            privileged: self.privileged,
            ulimits: self.ulimit.clone(),
            memory: self.memory.clone(),
            pids_limit: self.pids_limit,
            cpus: self.cpus.clone(),
            dns: self.dns.clone(),
            add_hosts: self.add_host.clone(),
            keep_id: burrow_engine::idshift::parse_userns(
                self.userns.as_deref().unwrap_or(""),
                (
                    nix::unistd::geteuid().as_raw(),
                    nix::unistd::getegid().as_raw(),
                ),
            )?,
            restart,
            ..RunConfig::default()
        })
    }
}

/// The image, pulled first when it is not here (`--pull missing`, Docker's
/// default), every time (`always`) or never (`never`). With `--platform`, an image
/// here for another platform counts as missing, as in Docker.
fn resolve_or_pull(
    store: &burrow_engine::Store,
    image: &str,
    policy: &str,
    platform: Option<&str>,
) -> Result<ImageRootfs> {
    if let Some(platform) = platform {
        images::parse_platform(platform)?;
    }
    let options = images::PullOptions {
        platform: platform.map(str::to_string),
        ..images::PullOptions::default()
    };
    let pull = |quietly: bool| -> Result<()> {
        if !quietly {
            eprintln!("Unable to find image '{image}' locally");
        }
        images::pull_with(store, image, &options, &images::Quiet)?;
        Ok(())
    };
    match policy {
        "always" => pull(true)?,
        "missing" | "never" => {}
        other => bail!("invalid pull option {other:?}: use always, missing or never"),
    }
    match images::resolve_rootfs_for(store, image, platform) {
        Err(EngineError::NoSuchImage(_) | EngineError::WrongPlatform { .. })
            if policy == "missing" =>
        {
            pull(false)?;
            Ok(images::resolve_rootfs_for(store, image, platform)?)
        }
        other => Ok(other?),
    }
}

impl ContainerArgs {
    /// `-v`, `--mount` and `--tmpfs`, in that order (`create` checks them
    /// against the machine and attaches the volumes).
    fn mounts(&self) -> Result<Vec<MountSpec>> {
        let volumes = self.volume.iter().map(|v| mounts::parse_volume_flag(v));
        let mount_flags = self.mount.iter().map(|m| mounts::parse_mount_flag(m));
        let tmpfs = self.tmpfs.iter().map(|t| mounts::parse_tmpfs_flag(t));
        Ok(volumes
            .chain(mount_flags)
            .chain(tmpfs)
            .collect::<Result<Vec<_>, _>>()?)
    }
}

/// `KEY=VALUE` as is; a bare `KEY` takes this process's value (or is dropped).
fn expand_env(entry: &str) -> Option<String> {
    if entry.contains('=') {
        return Some(entry.to_string());
    }
    std::env::var(entry).ok().map(|v| format!("{entry}={v}"))
}
