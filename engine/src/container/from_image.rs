//! What a container takes from its image, by Docker's rules: the entrypoint
//! and command (an `--entrypoint` resets the image's command), the
//! environment under the user's, the working dir, user, stop signal and
//! labels unless given, and the layers the overlay will stack.

use crate::error::{EngineError, Result};
use crate::images::ImageRootfs;
use crate::record::RunConfig;

/// Fills `config` from `image`. `command` is what followed the image name;
/// `entrypoint` is `--entrypoint` (`Some("")` clears the image's).
pub fn apply(
    config: &mut RunConfig,
    image: &ImageRootfs,
    entrypoint: Option<&str>,
    command: &[String],
) -> Result<()> {
    let defaults = &image.config;
    let entrypoint: Vec<String> = match entrypoint {
        Some("") => Vec::new(),
        Some(given) => vec![given.to_string()],
        None => defaults.entrypoint.clone(),
    };
    let command: Vec<String> = if !command.is_empty() {
        command.to_vec()
    } else if config_overrides_entrypoint(entrypoint.as_slice(), defaults) {
        Vec::new()
    } else {
        defaults.cmd.clone()
    };
    config.args = entrypoint.into_iter().chain(command).collect();
    if config.args.is_empty() {
        return Err(EngineError::Other(format!(
            "no command specified: image {} has neither an entrypoint nor a command",
            image.name
        )));
    }
    let user_env = std::mem::take(&mut config.env);
    config.env = defaults.env.iter().cloned().chain(user_env).collect();
    if config.workdir.is_none() {
        config.workdir = defaults.workdir.clone().filter(|w| !w.is_empty());
    }
    if config.user.is_none() {
        config.user = defaults.user.clone().filter(|u| !u.is_empty());
    }
    if config.stop_signal.is_none() {
        config.stop_signal = defaults.stop_signal.clone();
    }
    let mut labels = defaults.labels.clone();
    labels.append(&mut config.labels);
    config.labels = labels;
    // The image's VOLUME declarations become anonymous volumes, unless
    // something is mounted there already.
    for path in &defaults.volumes {
        let path = path.trim_end_matches('/');
        if !config
            .mounts
            .iter()
            .any(|m| m.target.trim_end_matches('/') == path)
        {
            let volume = crate::mounts::parse_volume_flag(path)
                .map_err(|e| EngineError::Other(format!("image VOLUME {path:?}: {e}")))?;
            config.mounts.push(volume);
        }
    }
    config.image_id = image.id.clone();
    config.layers = image.layers.clone();
    Ok(())
}

/// Whether the entrypoint in use is not the image's own (Docker then drops
/// the image's command too).
fn config_overrides_entrypoint(
    entrypoint: &[String],
    defaults: &crate::images::ImageRunDefaults,
) -> bool {
    entrypoint != defaults.entrypoint.as_slice()
}

/// `NAME[:GROUP]` or `UID[:GID]` → numeric `UID:GID`, looking names up in
/// the `etc/passwd` and `etc/group` of `roots` (the image's layers, top
/// first, or a root filesystem directory).
pub fn numeric_user(user: &str, roots: &[std::path::PathBuf]) -> Result<String> {
    let (name, group) = match user.split_once(':') {
        Some((n, g)) => (n, Some(g)),
        None => (user, None),
    };
    let passwd = first_file(roots, "etc/passwd");
    let entry = passwd.as_deref().and_then(|text| {
        text.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.len() >= 4 && (fields[0] == name || fields[2] == name))
                .then(|| (fields[2].to_string(), fields[3].to_string()))
        })
    });
    let uid = match (name.parse::<u32>(), &entry) {
        (Ok(uid), _) => uid.to_string(),
        (Err(_), Some((uid, _))) => uid.clone(),
        (Err(_), None) => {
            return Err(EngineError::Other(format!(
                "unable to find user {name}: no matching entries in passwd file"
            )))
        }
    };
    let gid = match group {
        Some(group) if group.parse::<u32>().is_ok() => group.to_string(),
        Some(group) => {
            let groups = first_file(roots, "etc/group");
            groups
                .as_deref()
                .and_then(|text| {
                    text.lines().find_map(|line| {
                        let fields: Vec<&str> = line.split(':').collect();
                        (fields.len() >= 3 && fields[0] == group).then(|| fields[2].to_string())
                    })
                })
                .ok_or_else(|| {
                    EngineError::Other(format!(
                        "unable to find group {group}: no matching entries in group file"
                    ))
                })?
        }
        // Docker: the user's primary group, or the uid itself for an unknown uid.
        None => entry.map(|(_, gid)| gid).unwrap_or_else(|| uid.clone()),
    };
    Ok(format!("{uid}:{gid}"))
}

/// The content of `relative` in the first of `roots` that has it.
fn first_file(roots: &[std::path::PathBuf], relative: &str) -> Option<String> {
    roots
        .iter()
        .find_map(|root| std::fs::read_to_string(root.join(relative)).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_numbers_from_the_top_layer_that_has_the_file() {
        let top = tempfile::tempdir().unwrap();
        let bottom = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(bottom.path().join("etc")).unwrap();
        std::fs::write(
            bottom.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nwww-data:x:33:33::/var/www:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(bottom.path().join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
        let roots = vec![top.path().to_path_buf(), bottom.path().to_path_buf()];
        assert_eq!(numeric_user("www-data", &roots).unwrap(), "33:33");
        assert_eq!(numeric_user("www-data:staff", &roots).unwrap(), "33:50");
        assert_eq!(numeric_user("1234", &roots).unwrap(), "1234:1234");
        assert_eq!(numeric_user("33", &roots).unwrap(), "33:33");
        assert!(numeric_user("nobody", &roots).is_err());
        assert!(numeric_user("root:nogroup", &roots).is_err());
    }
}
