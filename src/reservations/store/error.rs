//! What can go wrong in the store, typed so that callers can tell bad input (a constraint the
//! database refused: a 400) from an outage (a 500/503), and never showing a password.

use std::fmt;

/// Errors of [`super::Store`]. `Display` and `Debug` never contain the database URL's password:
/// URLs are kept only in their redacted form ([`redact_url`]).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL is neither `sqlite:…` nor `postgres://…`/`postgresql://…`.
    #[error("database.url {url}: unsupported; expected sqlite://PATH or postgres://USER@HOST/DB")]
    UnsupportedUrl { url: String },
    /// The database could not be opened or reached (bad URL syntax, refused connection, failed
    /// authentication, unwritable SQLite file).
    #[error("cannot open database {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    /// The schema migrations could not be applied (or the database was migrated by a newer,
    /// or a modified, version of this server).
    #[error("cannot migrate database {url}: {source}")]
    Migrate {
        url: String,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    /// The database refused a record because it breaks a rule of the schema (an end before the
    /// start, the same owner twice, …). Nothing of the operation was stored. Callers that
    /// validate their input first only see this on a bug or a race; it is bad input, not an
    /// outage.
    #[error("the database refused the record ({kind}): {message}")]
    Constraint {
        kind: ConstraintKind,
        /// The constraint's name where the database reports it (PostgreSQL always; SQLite for
        /// CHECK constraints, which it names in the message).
        constraint: Option<String>,
        message: String,
    },
    /// [`super::Store::start_conference`] collided with a running conference that was gone when
    /// read, this many times in a row: something keeps opening and closing the room.
    #[error("room {room}: its running conference kept changing; gave up after {attempts} attempts")]
    Contended { room: String, attempts: usize },
    /// A stored value cannot be what the schema allows (e.g. a recurrence kind this version
    /// does not know): the database was changed by something else.
    #[error("stored {what} is invalid: {why}")]
    Corrupt { what: &'static str, why: String },
    /// Anything else from the database or the connection pool (lost connection, timeout, …).
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

/// Which kind of schema rule a [`StoreError::Constraint`] broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConstraintKind {
    Unique,
    ForeignKey,
    NotNull,
    Check,
}

impl fmt::Display for ConstraintKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConstraintKind::Unique => "unique",
            ConstraintKind::ForeignKey => "foreign key",
            ConstraintKind::NotNull => "not null",
            ConstraintKind::Check => "check",
        })
    }
}

impl StoreError {
    /// Whether the database refused the input (a client error), as opposed to failing.
    pub fn is_constraint(&self) -> bool {
        matches!(self, StoreError::Constraint { .. })
    }
}

/// Query errors: constraint violations become [`StoreError::Constraint`], the rest
/// [`StoreError::Database`]. (Connection and migration errors are mapped where they happen,
/// with the redacted URL.)
impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        let kind = match &error {
            sqlx::Error::Database(db) => match db.kind() {
                sqlx::error::ErrorKind::UniqueViolation => Some(ConstraintKind::Unique),
                sqlx::error::ErrorKind::ForeignKeyViolation => Some(ConstraintKind::ForeignKey),
                sqlx::error::ErrorKind::NotNullViolation => Some(ConstraintKind::NotNull),
                sqlx::error::ErrorKind::CheckViolation => Some(ConstraintKind::Check),
                _ => None,
            },
            _ => None,
        };
        match (kind, &error) {
            (Some(kind), sqlx::Error::Database(db)) => {
                let message = db.message().to_string();
                let constraint = db.constraint().map(str::to_string).or_else(|| sqlite_check_name(&message));
                StoreError::Constraint { kind, constraint, message }
            }
            _ => StoreError::Database(error),
        }
    }
}

/// SQLite reports a named CHECK constraint only in its message: "CHECK constraint failed: NAME".
fn sqlite_check_name(message: &str) -> Option<String> {
    let name = message.strip_prefix("CHECK constraint failed: ")?.trim();
    (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then(|| name.to_string())
}

/// The URL as it may be shown: the password of `scheme://user:PASSWORD@host…` and the value of
/// any `…password…=` query parameter replaced by `***`. Errs towards hiding too much: the
/// userinfo ends at the *last* `@` before the query, so a password with a raw `/` or `@` is
/// still hidden.
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut out = String::with_capacity(url.len());
    match base.split_once("://") {
        Some((scheme, rest)) => {
            out.push_str(scheme);
            out.push_str("://");
            match rest.rsplit_once('@') {
                Some((userinfo, host)) => {
                    match userinfo.split_once(':') {
                        Some((user, _password)) => {
                            out.push_str(user);
                            out.push_str(":***");
                        }
                        None => out.push_str(userinfo),
                    }
                    out.push('@');
                    out.push_str(host);
                }
                None => out.push_str(rest),
            }
        }
        None => out.push_str(base),
    }
    if let Some(query) = query {
        out.push('?');
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.to_ascii_lowercase().contains("password") => format!("{key}=***"),
                _ => pair.to_string(),
            })
            .collect();
        out.push_str(&pairs.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_userinfo_password() {
        assert_eq!(redact_url("postgres://res:s3cret@db:5432/res"), "postgres://res:***@db:5432/res");
        assert_eq!(
            redact_url("postgresql://res:p/a@ss@db/res?sslmode=require"),
            "postgresql://res:***@db/res?sslmode=require"
        );
        assert_eq!(redact_url("postgres://res@db/res"), "postgres://res@db/res");
        assert_eq!(redact_url("postgres://db/res"), "postgres://db/res");
    }

    #[test]
    fn redacts_password_parameters() {
        assert_eq!(
            redact_url("postgres://db/res?user=res&password=s3cret&sslpassword=x&application_name=r"),
            "postgres://db/res?user=res&password=***&sslpassword=***&application_name=r"
        );
    }

    #[test]
    fn leaves_sqlite_paths_alone() {
        assert_eq!(redact_url("sqlite:///var/lib/res/res.db?mode=rwc"), "sqlite:///var/lib/res/res.db?mode=rwc");
        assert_eq!(redact_url("sqlite://res.db"), "sqlite://res.db");
        assert_eq!(redact_url("sqlite::memory:"), "sqlite::memory:");
    }

    #[test]
    fn names_sqlite_check_constraints() {
        assert_eq!(
            sqlite_check_name("CHECK constraint failed: meetings_end_after_start").as_deref(),
            Some("meetings_end_after_start")
        );
        assert_eq!(sqlite_check_name("UNIQUE constraint failed: meeting_owners.meeting_id"), None);
    }
}
