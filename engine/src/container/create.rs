//! `create`: a record with a unique name, its mounts attached (volumes
//! created and, for a plain root filesystem directory, populated on first
//! use) and the bundle the runtime will run.

use std::path::Path;

use burrow_runtime::spec::oci::Spec;

use super::attach_mounts::{attach_mounts, forget_created};
use crate::error::{EngineError, IoContext, Result};
use crate::ids::{generated_name, new_id, validate_name};
use crate::record::{ContainerRecord, RunConfig};
use crate::spec_builder;
use crate::store::Store;
use crate::volumes::populate_container_volumes;

pub fn create(store: &Store, mut config: RunConfig, name: Option<&str>) -> Result<ContainerRecord> {
    if config.args.is_empty() {
        return Err(EngineError::Other("no command given".into()));
    }
    resolve_networks(store, &mut config)?;
    for spec in &config.publish {
        burrow_net::parse_publish(spec).map_err(|e| EngineError::Other(e.to_string()))?;
    }
    let id = new_id()?;
    if !config.layers.is_empty() {
        // An image: the supervisor mounts its overlay there.
        config.rootfs = store.container_dir(&id).join("rootfs");
    } else if !config.rootfs.is_dir() {
        return Err(EngineError::Other(format!(
            "rootfs {} is not a directory",
            config.rootfs.display()
        )));
    }
    // Checks the flags before anything is created.
    build_spec(&config, &id)?;
    let _lock = store.lock()?;
    let taken: Vec<String> = store.list()?.into_iter().map(|r| r.name).collect();
    let name = match name {
        Some(n) => {
            validate_name(n)?;
            if taken.iter().any(|t| t == n) {
                return Err(EngineError::NameInUse(n.into()));
            }
            n.to_string()
        }
        None => (0..)
            .map(|attempt| generated_name(&id, attempt))
            .find(|candidate| !taken.contains(candidate))
            .unwrap_or_else(|| id.clone()),
    };
    let created_volumes = attach_mounts(store, &mut config)?;
    let record = ContainerRecord::new(id.clone(), name, config);
    let dir = store.container_dir(&id);
    let written = populate_plain_rootfs(store, &record)
        .and_then(|()| build_spec(&record.config, &id))
        .and_then(|mut spec| write_bundle(&dir, &mut spec, &record.config))
        // The record last: a container without one is invisible and never half-listed.
        .and_then(|()| store.save_renamed(&record));
    if let Err(e) = written {
        forget_created(store, &created_volumes);
        let _ = std::fs::remove_dir_all(&dir);
        return Err(e);
    }
    log::debug!(
        "created container {} ({}) from {:?}, bundle {}",
        record.short_id(),
        record.name,
        record.config.image,
        dir.display()
    );
    Ok(record)
}

/// The runtime spec for `config`: namespaces, process, mounts, then the
/// confinement (seccomp, no-new-privileges, rlimits, resource limits).
fn build_spec(config: &RunConfig, id: &str) -> Result<Spec> {
    let mut spec = spec_builder::build(config, id)?;
    crate::security::apply(&mut spec, config)?;
    if let Some(keep) = config.keep_id {
        let maps = crate::userns::IdMaps::for_current_user();
        crate::idshift::apply_to_spec(&mut spec, keep, &maps, config.user.is_some())?;
    }
    Ok(spec)
}

/// The bundle the runtime will run, and the files it mounts.
fn write_bundle(dir: &Path, spec: &mut Spec, config: &RunConfig) -> Result<()> {
    let bundle = dir.join("bundle");
    std::fs::create_dir_all(&bundle).context(|| format!("cannot create {}", bundle.display()))?;
    super::etc_files::add(spec, dir, config)?;
    if let Some(keep) = config.keep_id {
        let roots = if config.layers.is_empty() {
            vec![config.rootfs.clone()]
        } else {
            config.layers.clone()
        };
        let mut mounts = spec.mounts().clone().unwrap_or_default();
        for (target, source) in crate::idshift::user_files(dir, &roots, keep)? {
            let mut mount = burrow_runtime::spec::oci::Mount::default();
            mount.set_destination(target.into());
            mount.set_typ(Some("bind".into()));
            mount.set_source(Some(source));
            mount.set_options(Some(vec!["rbind".into(), "rprivate".into()]));
            mounts.push(mount);
        }
        spec.set_mounts(Some(mounts));
    }
    spec.save(bundle.join("config.json"))
        .map_err(|e| EngineError::Other(format!("cannot write the bundle config: {e}")))
}

/// A `--rootfs` directory is the container's file system already: its
/// content at each volume's mount path fills the volume now. An image's
/// root filesystem exists only once the supervisor has mounted it; the
/// supervisor populates from there.
fn populate_plain_rootfs(store: &Store, record: &ContainerRecord) -> Result<()> {
    if !record.config.layers.is_empty() {
        return Ok(());
    }
    populate_container_volumes(store, &record.config, &record.config.rootfs)
}

/// Checks the networks asked for and stores each by name (`network rm` and
/// DNS go by the name): `host` and `none` stand alone, no network twice.
fn resolve_networks(store: &Store, config: &mut RunConfig) -> Result<()> {
    let solo = ["host", "none"];
    if !config.more_networks.is_empty() && solo.contains(&config.network.as_str())
        || config
            .more_networks
            .iter()
            .any(|a| solo.contains(&a.name.as_str()))
    {
        return Err(EngineError::Other(
            "conflicting options: --network host or none cannot be combined with other networks"
                .into(),
        ));
    }
    let by_name = |reference: &str| -> Result<String> {
        match crate::networks::BUILTIN.contains(&reference) {
            true => Ok(reference.to_string()),
            false => Ok(crate::networks::find(store, reference)?.name),
        }
    };
    config.network = by_name(&config.network)?;
    if let Some(ip) = config.network_ip {
        check_requested_address(store, &config.network, ip)?;
    }
    let mut seen = vec![config.network.clone()];
    for attachment in &mut config.more_networks {
        attachment.name = by_name(&attachment.name)?;
        if seen.contains(&attachment.name) {
            return Err(EngineError::Other(format!(
                "network {} given twice: a container is on a network once",
                attachment.name
            )));
        }
        seen.push(attachment.name.clone());
    }
    Ok(())
}

/// `--ip`: only on a user-defined network, as Docker has it, and inside
/// that network's subnet. Whether it is free is settled when the container
/// joins (another container may hold it until then).
fn check_requested_address(store: &Store, network: &str, ip: std::net::Ipv4Addr) -> Result<()> {
    if crate::networks::BUILTIN.contains(&network) {
        return Err(EngineError::Other(format!(
            "invalid --ip {ip}: user specified IP address is supported on user defined networks only, not on {network}"
        )));
    }
    crate::networks::members::check_address(&crate::networks::find(store, network)?, ip)
}
