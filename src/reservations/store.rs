//! Storage (SQLite or PostgreSQL): to be written.
