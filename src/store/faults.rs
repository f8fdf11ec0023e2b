//! Storage faults: which database errors mean "the database cannot take this now" (a
//! `503 unavailable` worth retrying, counted by reason) rather than "the query was wrong";
//! the checkpoint types of the WAL upkeep; and the faults tests can inject.

use super::WriteFault;

/// Whether `e` means "the database cannot take this now" (worth retrying: `503
/// unavailable`), not "the query was wrong", and why.
pub fn storage_fault(e: &sqlx::Error) -> Option<WriteFault> {
    match e {
        sqlx::Error::Database(db) => {
            let code = db.code()?;
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                sqlite_fault(code.parse().ok()?)
            } else {
                sqlstate_fault(&code)
            }
        }
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => Some(WriteFault::Unavailable),
        _ => None,
    }
}

/// SQLite result codes (the primary code is the low byte of the extended one). Corruption
/// is left out on purpose: retrying does not help, and it must not look transient.
fn sqlite_fault(extended: i32) -> Option<WriteFault> {
    match extended & 0xff {
        13 => Some(WriteFault::DiskFull),             // SQLITE_FULL
        8 => Some(WriteFault::ReadOnly),              // SQLITE_READONLY
        5 | 6 => Some(WriteFault::Busy), // SQLITE_BUSY, SQLITE_LOCKED (past busy_timeout)
        7 | 10 | 14 => Some(WriteFault::Unavailable), // SQLITE_NOMEM, SQLITE_IOERR, SQLITE_CANTOPEN
        _ => None,
    }
}

/// PostgreSQL SQLSTATEs: 53100 disk_full; 25006 read-only transaction (a standby after a
/// failover); 40001/40P01 serialization failure and deadlock (a retry succeeds); 55000 (a
/// database that does not accept connections, `ALLOW_CONNECTIONS false`); 3D000 (a
/// database that does not exist, as while it is being recreated); classes 08 connection
/// exception, 53 insufficient resources (e.g. 53300 too_many_connections), 57 operator
/// intervention (shutdown, terminated backend, 57P03 cannot_connect_now) and 58 system
/// error (I/O).
fn sqlstate_fault(sqlstate: &str) -> Option<WriteFault> {
    match sqlstate {
        "53100" => Some(WriteFault::DiskFull),
        "25006" => Some(WriteFault::ReadOnly),
        "40001" | "40P01" | "55P03" => Some(WriteFault::Busy),
        "55000" | "3D000" => Some(WriteFault::Unavailable),
        _ if ["08", "53", "57", "58"]
            .iter()
            .any(|class| sqlstate.starts_with(class)) =>
        {
            Some(WriteFault::Unavailable)
        }
        _ => None,
    }
}

/// How hard a checkpoint tries (SQLite `PRAGMA wal_checkpoint(…)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointMode {
    /// Copies what it can without waiting for anyone: safe under load.
    Passive,
    /// Copies everything and truncates the log to zero bytes; waits for readers and
    /// holds writers off meanwhile, so only for an idle server.
    Truncate,
}

/// What a checkpoint did (the three columns of `PRAGMA wal_checkpoint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalCheckpoint {
    /// The checkpoint could not finish (readers or a writer were in the way).
    pub busy: bool,
    /// Frames in the log.
    pub log_frames: i64,
    /// Frames of the log now in the database file.
    pub checkpointed_frames: i64,
}

/// A storage fault a test can inject (see [`Store::inject_fault_for_tests`](super::Store::inject_fault_for_tests)).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InjectedFault {
    /// No fault: the database may grow again and accepts writes.
    None,
    /// The file may not grow beyond its current size (`PRAGMA max_page_count`): writes
    /// that need a new page fail with `SQLITE_FULL`, as on a full disk.
    Full,
    /// Every write fails with `SQLITE_READONLY` (`PRAGMA query_only`).
    ReadOnly,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    #[test]
    fn every_storage_fault_code_has_its_reason() {
        let sqlite = [
            (13, Some(WriteFault::DiskFull)),     // SQLITE_FULL
            (8, Some(WriteFault::ReadOnly)),      // SQLITE_READONLY
            (1032, Some(WriteFault::ReadOnly)),   // SQLITE_READONLY_DBMOVED
            (5, Some(WriteFault::Busy)),          // SQLITE_BUSY
            (517, Some(WriteFault::Busy)),        // SQLITE_BUSY_SNAPSHOT
            (6, Some(WriteFault::Busy)),          // SQLITE_LOCKED
            (10, Some(WriteFault::Unavailable)),  // SQLITE_IOERR
            (778, Some(WriteFault::Unavailable)), // SQLITE_IOERR_WRITE
            (14, Some(WriteFault::Unavailable)),  // SQLITE_CANTOPEN
            (2067, None),                         // SQLITE_CONSTRAINT_UNIQUE
            (11, None),                           // SQLITE_CORRUPT: not worth a retry
            (1, None),                            // SQLITE_ERROR (bad SQL)
        ];
        for (code, reason) in sqlite {
            assert_eq!(sqlite_fault(code), reason, "SQLite {code}");
        }
        let postgres = [
            ("53100", Some(WriteFault::DiskFull)),
            ("25006", Some(WriteFault::ReadOnly)),
            ("40001", Some(WriteFault::Busy)),
            ("40P01", Some(WriteFault::Busy)),
            ("55000", Some(WriteFault::Unavailable)),
            ("57P03", Some(WriteFault::Unavailable)),
            ("57P01", Some(WriteFault::Unavailable)),
            ("53300", Some(WriteFault::Unavailable)),
            ("08006", Some(WriteFault::Unavailable)),
            ("3D000", Some(WriteFault::Unavailable)),
            ("58030", Some(WriteFault::Unavailable)),
            ("23505", None), // unique violation
            ("42P01", None), // undefined table: a bug, not an outage
            ("22001", None), // value too long
        ];
        for (sqlstate, reason) in postgres {
            assert_eq!(sqlstate_fault(sqlstate), reason, "SQLSTATE {sqlstate}");
        }
    }

    #[test]
    fn connection_level_failures_are_unavailable() {
        for e in [sqlx::Error::PoolTimedOut, sqlx::Error::PoolClosed] {
            assert_eq!(storage_fault(&e), Some(WriteFault::Unavailable));
            assert!(matches!(StoreError::from(e), StoreError::Unavailable(_)));
        }
        assert_eq!(storage_fault(&sqlx::Error::RowNotFound), None);
    }
}
