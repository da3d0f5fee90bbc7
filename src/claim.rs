//! Which process owns a piece of work in a shared folder: a claim file created with `O_EXCL`
//! that names its owner's host, pid and start time (so that a reused pid is not mistaken for
//! the owner). Many `sweep run` processes on one results folder use it to train every run once
//! and to remove only the work of processes that are gone.
//!
//! A claim on `KEY` in a folder is the file `KEY.<n>` with the highest `n`. A process takes the
//! work by creating `KEY.<n+1>` (exclusively) when `KEY.<n>`'s owner is dead, or `KEY.0` when
//! there is none; only the creator of a higher claim removes lower ones, so two processes can
//! never both hold the work.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// This machine's name as it appears in claims and temporary names (never holds '.' or '/').
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty() && !s.contains(['/', '.']) && !s.contains(char::is_whitespace))
        .unwrap_or_else(|| "host".into())
}

/// Start time of process `pid` (field 22 of `/proc/<pid>/stat`, clock ticks since boot);
/// `None` when there is no such process.
pub fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after its end.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// A process, identified across pid reuse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    pub host: String,
    pub pid: u32,
    pub start: u64,
}

impl Owner {
    /// The calling process.
    pub fn me() -> Owner {
        let pid = std::process::id();
        Owner {
            host: hostname(),
            pid,
            start: process_start(pid).unwrap_or(0),
        }
    }
    /// False only when the owner is known to be gone: same host, and no process with its pid
    /// and start time. A process on another host is taken to be alive.
    pub fn alive(&self) -> bool {
        self.host != hostname() || process_start(self.pid) == Some(self.start)
    }
    /// `host.pid.start`: a file-name part (hosts never hold '.').
    pub fn tag(&self) -> String {
        format!("{}.{}.{}", self.host, self.pid, self.start)
    }
    /// The inverse of [`Owner::tag`].
    pub fn from_tag(tag: &str) -> Option<Owner> {
        let mut it = tag.splitn(3, '.');
        let host = it.next()?.to_string();
        let pid = it.next()?.parse().ok()?;
        let start = it.next()?.parse().ok()?;
        (!host.is_empty()).then_some(Owner { host, pid, start })
    }
}

/// Work this process holds; released by [`Claim::release`] (a claim of a killed process is
/// taken over by the next one).
#[derive(Debug)]
pub struct Claim {
    path: PathBuf,
}

impl Claim {
    pub fn release(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn io_err(p: &Path, e: std::io::Error) -> Error {
    Error::Runtime(format!("{}: {e}", p.display()))
}

/// The claims on `key` in `dir`: (n, owner as read; `None` when unreadable), by n.
fn claims_on(dir: &Path, key: &str) -> Result<Vec<(u64, Option<Owner>)>> {
    let mut out = Vec::new();
    let prefix = format!("{key}.");
    for e in std::fs::read_dir(dir)
        .map_err(|e| io_err(dir, e))?
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(n) = name
            .strip_prefix(&prefix)
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        // Only plain files count (a link or folder planted at a claim's name is nobody's).
        let regular = std::fs::symlink_metadata(e.path()).is_ok_and(|m| m.file_type().is_file());
        if regular {
            let owner = std::fs::read_to_string(e.path())
                .ok()
                .and_then(|t| Owner::from_tag(t.trim()));
            out.push((n, owner));
        }
    }
    out.sort_by_key(|c| c.0);
    Ok(out)
}

/// The live owner of `key` in `dir`, if any.
pub fn holder(dir: &Path, key: &str) -> Option<Owner> {
    let claims = claims_on(dir, key).ok()?;
    match claims.last()? {
        // Unreadable: being written this instant (the owner text goes in through a link).
        (_, None) => Some(Owner {
            host: String::new(),
            pid: 0,
            start: 0,
        }),
        (_, Some(o)) => o.alive().then(|| o.clone()),
    }
}

/// Claim `key` in `dir` for this process; `None` when a live process holds it.
pub fn try_claim(dir: &Path, key: &str) -> Result<Option<Claim>> {
    let me = Owner::me();
    // The owner text is written in full under a private name, then linked to the claim's name
    // (link fails when that exists): a claim is never seen half-written.
    let private = dir.join(format!(".{key}.{}", me.tag()));
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags_nofollow()
        .open(&private)
        .map_err(|e| io_err(&private, e))?;
    f.write_all(me.tag().as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| io_err(&private, e))?;
    drop(f);
    let result = (|| {
        // Each failed attempt means another process created a claim meanwhile; a few suffice.
        for _ in 0..16 {
            let claims = claims_on(dir, key)?;
            let next = match claims.last() {
                None => 0,
                Some((_, None)) => return Ok(None),
                Some((n, Some(o))) if !o.alive() => n + 1,
                Some(_) => return Ok(None),
            };
            let path = dir.join(format!("{key}.{next}"));
            match std::fs::hard_link(&private, &path) {
                Ok(()) => {
                    for (n, _) in claims {
                        let _ = std::fs::remove_file(dir.join(format!("{key}.{n}")));
                    }
                    return Ok(Some(Claim { path }));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_err(&path, e)),
            }
        }
        Ok(None)
    })();
    let _ = std::fs::remove_file(&private);
    result
}

/// Remove the private files (`.KEY.host.pid.start`) that killed processes of this host left.
pub fn clean_private(dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix('.') else {
            continue;
        };
        // KEY holds no '.', so the owner's tag is what follows the first one.
        let Some(owner) = rest.split_once('.').and_then(|(_, t)| Owner::from_tag(t)) else {
            continue;
        };
        let regular = std::fs::symlink_metadata(e.path()).is_ok_and(|m| m.file_type().is_file());
        if regular && !owner.alive() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// `OpenOptions` that refuse to open through a symbolic link.
pub trait NoFollow {
    fn custom_flags_nofollow(&mut self) -> &mut Self;
}

impl NoFollow for OpenOptions {
    fn custom_flags_nofollow(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(libc::O_NOFOLLOW)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_tells_a_live_process_from_a_reused_pid() {
        let me = Owner::me();
        assert!(me.start > 0 && me.alive());
        let reused = Owner {
            start: me.start + 1,
            ..me.clone()
        };
        assert!(!reused.alive());
        assert_eq!(Owner::from_tag(&me.tag()), Some(me));
    }

    #[test]
    fn a_claim_is_exclusive_and_a_dead_owners_claim_is_taken_over() {
        let dir = std::env::temp_dir().join(format!("snnlab-claim-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let c = try_claim(&dir, "run1").unwrap().expect("free");
        assert!(try_claim(&dir, "run1").unwrap().is_none(), "held by me");
        assert_eq!(holder(&dir, "run1"), Some(Owner::me()));
        c.release();
        assert!(holder(&dir, "run1").is_none());
        // A dead owner's claim (a start time no live process has).
        let dead = Owner {
            start: Owner::me().start + 7,
            ..Owner::me()
        };
        std::fs::write(dir.join("run2.3"), dead.tag()).unwrap();
        assert!(holder(&dir, "run2").is_none());
        let c = try_claim(&dir, "run2")
            .unwrap()
            .expect("stale claim taken over");
        assert!(!dir.join("run2.3").exists() && dir.join("run2.4").exists());
        c.release();
        // Nothing but the claims' own files was ever there.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
