//! Temporaries that name their owner. Every temporary this program makes carries the tag
//! `host.pid.start` of the process that made it (see [`crate::claim::Owner`]): atomic writes go
//! through `.{name}.tmp-{tag}-{n}`, sweeps train in `tmp/{id}.{tag}/`. A later process removes
//! the temporaries of owners that are gone, and only those.

use std::path::Path;
use std::sync::OnceLock;

use crate::claim::Owner;

/// This process's owner tag (computed once).
pub fn my_tag() -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| Owner::me().tag())
}

/// `(key, owner)` of a name `{key}.{tag}` (keys hold no '.').
pub fn parse_owned(name: &str) -> Option<(String, Owner)> {
    let (key, tag) = name.split_once('.')?;
    Some((key.to_string(), Owner::from_tag(tag)?))
}

/// The owner of an atomic write's temporary `.{name}.tmp-{tag}-{n}`.
pub fn parse_temp_file(name: &str) -> Option<Owner> {
    let rest = name.strip_prefix('.')?;
    let (_, tail) = rest.rsplit_once(".tmp-")?;
    let (tag, n) = tail.rsplit_once('-')?;
    n.parse::<u64>().ok()?;
    Owner::from_tag(tag)
}

/// Remove, in `dir` (not below), the atomic-write temporaries of processes that are gone;
/// returns how many. Only plain files with the names this program gives are touched.
pub fn clean_stale_temps(dir: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(owner) = parse_temp_file(&name) else {
            continue;
        };
        let regular = std::fs::symlink_metadata(e.path()).is_ok_and(|m| m.file_type().is_file());
        if regular && !owner.alive() && std::fs::remove_file(e.path()).is_ok() {
            n += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_to_their_owner_and_only_dead_owners_temporaries_go() {
        let me = Owner::me();
        let name = format!(".update0003.safetensors.tmp-{}-12", me.tag());
        assert_eq!(parse_temp_file(&name), Some(me.clone()));
        assert_eq!(parse_temp_file("update0003.safetensors"), None);
        assert_eq!(parse_temp_file(".x.tmp-1234-5"), None, "no owner tag");
        assert_eq!(
            parse_owned(&format!("r01.{}", me.tag())),
            Some(("r01".to_string(), me.clone()))
        );
        let dir = std::env::temp_dir().join(format!("snnlab-temp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let dead = Owner {
            start: me.start + 3,
            ..me.clone()
        };
        let mine = dir.join(&name);
        let stale = dir.join(format!(".loss.csv.tmp-{}-0", dead.tag()));
        let other = dir.join(format!("keep.tmp-{}-0", dead.tag()));
        for p in [&mine, &stale, &other] {
            std::fs::write(p, b"x").unwrap();
        }
        assert_eq!(clean_stale_temps(&dir), 1);
        assert!(mine.exists() && !stale.exists() && other.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
