//! The durable outbox: reservations the focus must delete, in an append-only file in the state
//! directory, so that a DELETE survives a stop, a crash or a restart.
//!
//! Each line is one JSON change (`{"put":{…}}` or `{"remove":"id"}`); a batch of changes is
//! written at once, and `fdatasync`ed when it records a new reservation. On start the file is replayed (a torn last line from a
//! crash is ignored) and rewritten compactly through a temporary file and an atomic rename.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::core::{OutboxChange, StoredDelete};

pub use crate::config::OUTBOX_FILE as FILE_NAME;

#[derive(Debug, thiserror::Error)]
#[error("state.directory: {path}: {source}")]
pub struct OutboxError {
    path: PathBuf,
    source: std::io::Error,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Line {
    Put(StoredDelete),
    Remove(String),
}

pub struct Outbox {
    path: PathBuf,
    file: File,
    entries: BTreeMap<String, StoredDelete>,
    /// Lines in the file; it is compacted when they far outnumber the entries.
    lines: usize,
    /// The file's length after the last batch that reached the disk: a failed write is cut
    /// back to it, so that no torn line makes the next one unreadable.
    length: u64,
}

impl Outbox {
    /// Opens (creating the directory and the file if needed) and replays the outbox.
    pub fn open(directory: &Path) -> Result<Outbox, OutboxError> {
        let path = directory.join(FILE_NAME);
        let error = |source| OutboxError { path: path.clone(), source };
        fs::create_dir_all(directory).map_err(|source| OutboxError { path: directory.into(), source })?;
        let mut entries = BTreeMap::new();
        match File::open(&path) {
            Ok(file) => {
                for (n, line) in BufReader::new(file).split(b'\n').enumerate() {
                    let line = line.map_err(error)?;
                    match serde_json::from_slice::<Line>(&line) {
                        Ok(Line::Put(record)) => {
                            entries.insert(record.id.clone(), record);
                        }
                        Ok(Line::Remove(id)) => {
                            entries.remove(&id);
                        }
                        // A crash in the middle of a write leaves a torn last line.
                        Err(e) => {
                            warn!(path = %path.display(), line = n + 1, "skipping an unreadable outbox line: {e}")
                        }
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(error(e)),
        }
        let file = rewrite(&path, &entries).map_err(error)?;
        let length = file.metadata().map_err(error)?.len();
        let lines = entries.len();
        Ok(Outbox { path, file, entries, lines, length })
    }

    /// The reservations still to delete.
    pub fn entries(&self) -> Vec<StoredDelete> {
        self.entries.values().cloned().collect()
    }

    /// Records a batch of changes, with one `fdatasync` if it holds a new reservation. On an
    /// error nothing of the batch counts, on disk or in memory.
    pub fn apply(&mut self, changes: &[OutboxChange]) -> Result<(), OutboxError> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut bytes = Vec::new();
        for change in changes {
            let line = match change {
                OutboxChange::Put(record) => Line::Put(record.clone()),
                OutboxChange::Remove(id) => Line::Remove(id.clone()),
            };
            serde_json::to_writer(&mut bytes, &line).expect("outbox lines serialise");
            bytes.push(b'\n');
        }
        let error = |source| OutboxError { path: self.path.clone(), source };
        // Only a new reservation must reach the disk before what follows it: a removal that a
        // power loss takes back costs one more GET after the restart, which finds the
        // reservation gone (or another room's) and sends no DELETE. A written removal survives
        // a crash of the process either way. This halves the syncs: under 50 new rooms/s they
        // were a fifth of the focus's CPU time.
        let must_sync = changes.iter().any(|c| matches!(c, OutboxChange::Put(_)));
        let written = self.file.write_all(&bytes).and_then(|()| if must_sync { self.file.sync_data() } else { Ok(()) });
        if let Err(e) = written {
            let _ = self.file.set_len(self.length);
            return Err(error(e));
        }
        self.length += bytes.len() as u64;
        for change in changes {
            match change {
                OutboxChange::Put(record) => {
                    self.entries.insert(record.id.clone(), record.clone());
                }
                OutboxChange::Remove(id) => {
                    self.entries.remove(id);
                }
            }
        }
        self.lines += changes.len();
        if self.lines > 2 * self.entries.len() + 1000 {
            self.file = rewrite(&self.path, &self.entries).map_err(error)?;
            self.length = self.file.metadata().map_err(error)?.len();
            self.lines = self.entries.len();
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The outbox on a thread of its own, so that the main loop never waits for the disk: changes
/// are submitted in numbered batches, and every batch queued while a write and sync run shares
/// the next one (group commit). The thread reports the highest batch that is on disk; the main
/// loop holds back the effects that followed a batch until then.
pub struct OutboxWriter {
    batches: Option<std::sync::mpsc::Sender<(u64, Vec<OutboxChange>)>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl OutboxWriter {
    /// Moves `outbox` to its thread; `durable` hears the number of each last batch written.
    ///
    /// A batch that cannot be written (disk full, I/O error) is logged and reported all the
    /// same, as the focus did before the thread: the conferences go on, and only a crash before
    /// their end would leave those reservations undeleted. Stopping every conference because
    /// the state disk failed would be the worse outage.
    pub fn start(mut outbox: Outbox, durable: tokio::sync::mpsc::UnboundedSender<u64>) -> std::io::Result<Self> {
        let (batches, queued) = std::sync::mpsc::channel::<(u64, Vec<OutboxChange>)>();
        let thread = std::thread::Builder::new().name("outbox".into()).spawn(move || {
            while let Ok((mut last, mut changes)) = queued.recv() {
                for (batch, more) in queued.try_iter() {
                    last = batch;
                    changes.extend(more);
                }
                if let Err(e) = outbox.apply(&changes) {
                    tracing::error!("cannot record reservations to delete (a crash now would leave them): {e}");
                }
                // The main loop is gone: nothing waits for the answer, but queued batches are
                // still written (the loop ends when the channel is closed and empty).
                let _ = durable.send(last);
            }
        })?;
        Ok(OutboxWriter { batches: Some(batches), thread: Some(thread) })
    }

    /// Queues batch `number` (numbers increase by one from 1). If the thread has died, which
    /// only a panic in it can do, the batch is dropped and the report channel is closed.
    pub fn submit(&self, number: u64, changes: Vec<OutboxChange>) {
        if let Some(batches) = &self.batches {
            let _ = batches.send((number, changes));
        }
    }

    /// Lets the thread write what is queued and end, waiting for it up to `timeout` without
    /// blocking the runtime; after that the thread is left to finish on its own.
    pub async fn close(mut self, timeout: std::time::Duration) {
        drop(self.batches.take());
        if let Some(thread) = self.thread.take() {
            let joined = tokio::task::spawn_blocking(move || thread.join());
            if tokio::time::timeout(timeout, joined).await.is_err() {
                warn!(?timeout, "the outbox's disk is still busy; stopping without waiting for it");
            }
        }
    }
}

impl Drop for OutboxWriter {
    /// Writes what is queued, then ends the thread (blocking; [`OutboxWriter::close`] does not).
    fn drop(&mut self) {
        drop(self.batches.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Writes `entries` to a new file that atomically replaces `path`, and opens it for appending.
fn rewrite(path: &Path, entries: &BTreeMap<String, StoredDelete>) -> std::io::Result<File> {
    let temporary = path.with_extension("tmp");
    let mut file = File::create(&temporary)?;
    let mut bytes = Vec::new();
    for record in entries.values() {
        serde_json::to_writer(&mut bytes, &Line::Put(record.clone())).expect("outbox lines serialise");
        bytes.push(b'\n');
    }
    file.write_all(&bytes)?;
    file.sync_all()?;
    fs::rename(&temporary, path)?;
    // Opened before anything else can fail, so that appends never go to the replaced file.
    let appending = OpenOptions::new().append(true).open(path)?;
    if let Some(directory) = path.parent() {
        // The rename itself should reach the disk; if that fails the new file is still the one
        // in the directory, so appends must go to it all the same.
        if let Err(e) = File::open(directory).and_then(|d| d.sync_all()) {
            warn!(directory = %directory.display(), "cannot sync the outbox's directory after compacting: {e}");
        }
    }
    Ok(appending)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> StoredDelete {
        StoredDelete { id: id.into(), room: "r@conference.meet.test".into(), ended_at: None }
    }

    #[test]
    fn changes_survive_a_reopen_and_a_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut outbox = Outbox::open(dir.path()).unwrap();
        assert!(outbox.is_empty());
        outbox
            .apply(&[OutboxChange::Put(record("1")), OutboxChange::Put(record("2")), OutboxChange::Remove("1".into())])
            .unwrap();
        drop(outbox);
        // A crash in the middle of a write.
        let path = dir.path().join(FILE_NAME);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"put\":{\"id\":\"3\",\"ro").unwrap();
        let outbox = Outbox::open(dir.path()).unwrap();
        assert_eq!(outbox.entries(), vec![record("2")]);
        // Reopening compacted the file to the live entries.
        assert_eq!(fs::read_to_string(&path).unwrap().lines().count(), 1);
    }

    #[test]
    fn the_file_is_compacted_as_it_grows() {
        let dir = tempfile::tempdir().unwrap();
        let mut outbox = Outbox::open(dir.path()).unwrap();
        for n in 0..3000 {
            let id = n.to_string();
            outbox.apply(&[OutboxChange::Put(record(&id)), OutboxChange::Remove(id)]).unwrap();
        }
        outbox.apply(&[OutboxChange::Put(record("last"))]).unwrap();
        let lines = fs::read_to_string(dir.path().join(FILE_NAME)).unwrap().lines().count();
        assert!(lines <= 1001, "{lines} lines");
        assert_eq!(Outbox::open(dir.path()).unwrap().entries(), vec![record("last")]);
    }

    #[test]
    fn a_missing_directory_is_created_and_the_file_lives_in_it() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("a/b");
        Outbox::open(&state).unwrap().apply(&[OutboxChange::Put(record("1"))]).unwrap();
        assert!(state.join(FILE_NAME).is_file());
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        let error = Outbox::open(&file).err().unwrap().to_string();
        assert!(error.starts_with(&format!("state.directory: {}", file.display())), "{error}");
    }

    #[test]
    fn an_unusable_directory_is_named() {
        let error = Outbox::open(Path::new("/proc/version/x")).err().unwrap().to_string();
        assert!(error.starts_with("state.directory: /proc/version/x"), "{error}");
    }

    #[test]
    fn the_writer_thread_groups_queued_batches_and_reports_the_last_one_written() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path()).unwrap();
        let (durable, mut written) = tokio::sync::mpsc::unbounded_channel();
        let writer = OutboxWriter::start(outbox, durable).unwrap();
        for n in 1..=50u64 {
            writer.submit(n, vec![OutboxChange::Put(record(&n.to_string()))]);
        }
        writer.submit(51, vec![OutboxChange::Remove("7".into())]);
        drop(writer); // writes what is queued, then joins the thread
        let mut reported = Vec::new();
        while let Ok(n) = written.try_recv() {
            reported.push(n);
        }
        assert_eq!(reported.last(), Some(&51), "the last batch is reported: {reported:?}");
        assert!(reported.windows(2).all(|w| w[0] < w[1]), "reports only increase: {reported:?}");
        let reopened = Outbox::open(dir.path()).unwrap();
        assert_eq!(reopened.len(), 49);
        assert!(!reopened.entries().iter().any(|r| r.id == "7"));
    }
}
