//! A profile's advisory lock: while an export or ingest works on a profile, a session of
//! its own holds `pg_advisory_lock` on a hash of the profile name, so two watchers on two
//! machines (whose file locks on a shared folder cannot be trusted) never work on one
//! profile at once. The lock ends with the session: when the guard drops, or when the
//! process or its connection dies.

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio_postgres::Config;

use super::conn::{Conn, Place, get};
use crate::error::{Error, Result};
use crate::store::ProfileLock;

/// The advisory lock key of a profile: the first 8 bytes of the SHA-256 of
/// `smsync profile:NAME`, as a big-endian signed integer (so SQL can compute it too).
pub fn key(profile: &str) -> i64 {
    let digest = Sha256::digest(format!("smsync profile:{profile}").as_bytes());
    i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// The session holding the lock; closing it releases the lock.
struct Held {
    _conn: Conn,
}

pub(super) fn lock_profile(config: &Config, place: &Place, profile: &str) -> Result<ProfileLock> {
    let conn = Conn::connect(config, place)?;
    let k = key(profile);
    // As long as for the file lock.
    let wait = crate::fsutil::PidLock::wait();
    let start = Instant::now();
    loop {
        let row = conn.query_one("SELECT pg_try_advisory_lock($1)", &[&k])?;
        if get::<bool>(&row, 0)? {
            return Ok(ProfileLock::new(Held { _conn: conn }));
        }
        if start.elapsed() >= wait {
            let holder = conn
                .query_opt(
                    "SELECT a.application_name, a.pid FROM pg_locks l \
                     JOIN pg_stat_activity a ON a.pid = l.pid \
                     WHERE l.locktype = 'advisory' AND l.granted \
                     AND ((l.classid::bigint << 32) | l.objid::bigint) = $1 LIMIT 1",
                    &[&k],
                )
                .ok()
                .flatten()
                .map(|r| {
                    let app: Option<String> = r.get(0);
                    let pid: i32 = r.get(1);
                    format!("{} (server pid {pid})", app.unwrap_or_default())
                })
                .unwrap_or_else(|| "another session".into());
            return Err(Error::Other(format!(
                "profile '{profile}': another smsync ({holder}) has been working on it in {place} \
                 for {} s; try again when it is done",
                wait.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn profiles_have_distinct_stable_keys() {
        assert_eq!(super::key("Ann Lee"), super::key("Ann Lee"));
        assert_ne!(super::key("Ann Lee"), super::key("Ann Lea"));
        assert_ne!(super::key("Ann Lee"), super::key("ann lee"));
    }
}
