//! `burrow inspect`: Docker-shaped JSON for containers (and for images, when no
//! container has the name).

use anyhow::Result;
use burrow_engine::{ContainerRecord, ContainerStatus, MountKind, MountSpec};

#[derive(clap::Args)]
pub struct Args {
    /// A Go-style template such as '{{.State.Status}}' (top-level fields and one level down).
    #[arg(short, long)]
    format: Option<String>,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn run(root: Option<&std::path::Path>, args: Args) -> Result<i32> {
    let store = super::store(root)?;
    let mut out = Vec::new();
    let mut failed = false;
    for reference in &args.containers {
        match store.resolve(reference) {
            Ok(r) => out.push(docker_json(&store, &r)),
            // As Docker's: a name that is no container may be an image.
            Err(burrow_engine::EngineError::NoSuchContainer(_)) => {
                match burrow_engine::images::inspect(&store, reference) {
                    Ok(image) => out.push(super::image::inspect::to_docker_json(&image)),
                    Err(_) => {
                        eprintln!("burrow: error: No such object: {reference}");
                        failed = true;
                    }
                }
            }
            Err(e) => {
                eprintln!("burrow: error: {e}");
                failed = true;
            }
        }
    }
    match &args.format {
        Some(template) => {
            for value in &out {
                println!("{}", render_path(template, value));
            }
        }
        None => println!("{}", serde_json::to_string_pretty(&out)?),
    }
    Ok(if failed { 1 } else { 0 })
}

pub fn render_path(template: &str, value: &serde_json::Value) -> String {
    let mut result = template.to_string();
    while let (Some(start), Some(end)) = (result.find("{{"), result.find("}}")) {
        if end < start {
            break;
        }
        let path = result[start + 2..end].trim().trim_start_matches('.');
        let found = path
            .split('.')
            .filter(|p| !p.is_empty())
            .try_fold(value, |v, k| v.get(k));
        let text = match found {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => "<no value>".into(),
        };
        result.replace_range(start..end + 2, &text);
    }
    result
}

/// Docker's `Mounts` entry: volumes carry Name and Driver, binds their
/// propagation.
fn mount_json(m: &MountSpec) -> serde_json::Value {
    let mut entry = serde_json::json!({
        "Type": m.kind.as_str(),
        "Source": m.host_source,
        "Destination": m.target,
        "Mode": m.mode,
        "RW": !m.readonly,
        "Propagation": match m.kind {
            MountKind::Bind => m.propagation.as_deref().unwrap_or("rprivate"),
            _ => "",
        },
    });
    if m.kind == MountKind::Volume {
        entry["Name"] = m.source.clone().into();
        entry["Driver"] = "local".into();
    }
    if m.kind == MountKind::Tmpfs {
        entry["Source"] = "".into();
    }
    entry
}

/// Docker's `NetworkSettings`: every network the container is on, with its
/// address there while it runs.
fn network_settings(store: &burrow_engine::Store, r: &ContainerRecord) -> serde_json::Value {
    let mut networks = serde_json::Map::new();
    let mut first_ip = None;
    for e in burrow_engine::networks::connect::endpoints(store, r) {
        let (prefix_len, gateway) = match e.network.name.as_str() {
            "bridge" => {
                let net = burrow_net::NetConfig::default();
                (net.prefix_len, net.gateway_ip.to_string())
            }
            _ => (
                e.network.prefix().map(|p| p.1).unwrap_or(24),
                e.network.gateway.clone(),
            ),
        };
        let ip = e.ip.map(|ip| ip.to_string()).unwrap_or_default();
        first_ip.get_or_insert((ip.clone(), prefix_len, gateway.clone()));
        let running = e.ip.is_some();
        let ip6 = e.ip.and_then(|ip| e.network.ipv6_of(ip).ok().flatten());
        let gateway6 = ip6.and_then(|_| e.network.gateway_ip6().ok().flatten());
        networks.insert(
            e.network.name.clone(),
            serde_json::json!({
                "Aliases": e.aliases,
                "NetworkID": e.network.id,
                "EndpointID": "",
                "Gateway": if running { gateway } else { String::new() },
                "IPAddress": ip,
                "IPPrefixLen": if running { prefix_len } else { 0 },
                "IPv6Gateway": gateway6.map(|g| g.to_string()).unwrap_or_default(),
                "GlobalIPv6Address": ip6.map(|a| a.to_string()).unwrap_or_default(),
                "GlobalIPv6PrefixLen": if ip6.is_some() { 64 } else { 0 },
                "MacAddress": "",
            }),
        );
    }
    let (ip, prefix_len, gateway) = first_ip.unwrap_or_default();
    let running = !ip.is_empty();
    serde_json::json!({
        "IPAddress": ip,
        "IPPrefixLen": if running { prefix_len } else { 0 },
        "Gateway": if running { gateway } else { String::new() },
        "Networks": networks,
    })
}

fn docker_json(store: &burrow_engine::Store, r: &ContainerRecord) -> serde_json::Value {
    let (path, rest) = r
        .config
        .args
        .split_first()
        .map_or(("", &[][..]), |(p, a)| (p.as_str(), a));
    serde_json::json!({
        "Id": r.id,
        "Created": r.created,
        "Path": path,
        "Args": rest,
        "State": {
            "Status": r.state_name(),
            "Running": r.status == ContainerStatus::Running,
            "Paused": r.is_paused(),
            "Restarting": false,
            "Pid": if r.status == ContainerStatus::Running { r.pid } else { 0 },
            "ExitCode": r.exit_code.unwrap_or(0),
            "StartedAt": r.started_at.clone().unwrap_or_default(),
            "FinishedAt": r.finished_at.clone().unwrap_or_default(),
        },
        "Image": r.config.image,
        "Name": format!("/{}", r.name),
        "RestartCount": r.restart_count,
        "Mounts": r.config.mounts.iter().map(mount_json).collect::<Vec<_>>(),
        "NetworkSettings": network_settings(store, r),
        "HostConfig": {
            "AutoRemove": r.config.auto_remove,
            "ReadonlyRootfs": r.config.read_only,
            "Binds": r.config.binds,
            "VolumesFrom": r.config.volumes_from,
            "NetworkMode": r.config.network,
            "CapAdd": r.config.cap_add,
            "CapDrop": r.config.cap_drop,
            "Init": r.config.init,
            "RestartPolicy": {
                "Name": r.config.restart.name(),
                "MaximumRetryCount": r.config.restart.max_retries(),
            },
        },
        "Config": {
            "Hostname": r.config.hostname.clone().unwrap_or_else(|| r.short_id().to_string()),
            "User": r.config.user.clone().unwrap_or_default(),
            "Env": r.config.env,
            "Cmd": r.config.args,
            "Image": r.config.image,
            "WorkingDir": r.config.workdir.clone().unwrap_or_default(),
            "Labels": r.config.labels,
            "StopSignal": r.config.stop_signal.clone().unwrap_or_else(|| "SIGTERM".into()),
            "Tty": r.config.tty,
        },
    })
}
