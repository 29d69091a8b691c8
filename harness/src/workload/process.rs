// Longer than 700 lines: one client process and its protocol (hello, operations, answers, timeouts, problems), whose parts share the bounded pending table.
//! A client process: a program in any language that drives the system under
//! test for faultline, speaking JSON Lines over its stdin and stdout
//! (protocol version [`PROTOCOL_VERSION`], documented in `docs/clients.md`).
//!
//! - client → faultline, first line: the hello, `{"protocol": 1}`. Nothing
//!   is sent before it arrives (within the client's `ready_timeout`).
//! - faultline → client: one operation per line, `{"id": 17, "op": "put",
//!   "key": "k3", "value": …}` (probes: `probe_write`/`probe_read` with a
//!   `marker`; final reads: `final_read`).
//! - client → faultline: one answer per line, in any order, `{"id": 17,
//!   "outcome": "ok"|"fail"|"unknown", "value": …, "detail": "…"}`.
//! - stdin closed: the client must exit (it is sent SIGTERM, then SIGKILL,
//!   if it does not).
//!
//! faultline keeps the clock: an operation's completion is when its answer
//! line was read, and an operation without an answer within its timeout is
//! `unknown` (a late answer is then ignored). A client that exits, writes a
//! line that is not an answer, or answers an id it was never sent is
//! reported in [`ClientProblems`] with its name, region and the line; its
//! operations in flight become `unknown`, and later ones `fail` (they were
//! never sent). Everything is bounded: lines ([`MAX_LINE`]), the ids kept
//! to recognise late answers, the stderr tail kept for messages, and the
//! problems kept.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{ChildStdin, Command};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use crate::history::Outcome;
use crate::scenario::RenderedCommand;

/// The protocol version this faultline speaks (the hello line's `protocol`).
pub const PROTOCOL_VERSION: u64 = 1;

/// The longest line a client may write (a final read's state is one line).
pub const MAX_LINE: usize = 16 << 20;

/// How many problems are kept per drill; more are counted.
const MAX_PROBLEMS: usize = 100;

/// How many timed-out ids are remembered, so their late answers are not
/// reported as answers to ids never sent.
const EXPIRED_KEPT: usize = 4096;

/// How many lines of a client's stderr are kept for its error messages.
const STDERR_TAIL: usize = 5;

/// How long a client gets to exit after its stdin closes, and after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// How much of an offending line a problem quotes.
const QUOTE: usize = 200;

/// What to start: one client process for one region.
#[derive(Debug, Clone)]
pub struct ClientSpec {
    /// Its name in history records and messages (`put-us-east`).
    pub name: String,
    /// The region whose instance it calls.
    pub region: String,
    /// The address of that instance (also in `FAULTLINE_ADDR`).
    pub addr: String,
    /// The command, placeholders rendered.
    pub command: RenderedCommand,
    /// The program, resolved.
    pub program: PathBuf,
    /// How long it may take to write its hello line.
    pub ready_timeout: Duration,
    /// Where its stderr goes (`None`: only the tail is kept).
    pub log: Option<PathBuf>,
}

/// Why a client process could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The program could not be started.
    #[error("client {name} in {region}: cannot start {program:?}: {source}")]
    Spawn {
        /// The client's name.
        name: String,
        /// Its region.
        region: String,
        /// The program.
        program: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// It did not say a valid hello in time.
    #[error("client {name} in {region}: {reason}")]
    Hello {
        /// The client's name.
        name: String,
        /// Its region.
        region: String,
        /// What went wrong, with its stderr's last lines.
        reason: String,
    },
}

/// Problems clients showed during a drill (bounded), for the report.
#[derive(Debug, Default)]
pub struct ClientProblems {
    list: Mutex<Vec<String>>,
    more: AtomicU64,
}

impl ClientProblems {
    /// Records one problem.
    pub fn push(&self, problem: String) {
        tracing::warn!(%problem, "client process");
        let mut list = self.list.lock().unwrap_or_else(|p| p.into_inner());
        if list.len() < MAX_PROBLEMS {
            list.push(problem);
        } else {
            self.more.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Every problem recorded, plus a line counting those not kept.
    pub fn all(&self) -> Vec<String> {
        let mut list = self.list.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let more = self.more.load(Ordering::Relaxed);
        if more > 0 {
            list.push(format!("… and {more} more client problems"));
        }
        list
    }
}

/// A client's answer to one operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// `ok`, `fail` or `unknown`.
    pub outcome: Outcome,
    /// The answer's `value` (`null` when it had none).
    pub value: Value,
    /// The answer's `detail`, or what faultline says about the operation.
    pub detail: String,
    /// When the answer was read (or the operation given up).
    pub at: Instant,
}

impl Answer {
    fn faultline(outcome: Outcome, detail: String) -> Self {
        Self {
            outcome,
            value: Value::Null,
            detail,
            at: Instant::now(),
        }
    }
}

/// Ids whose operation timed out, most recent last.
#[derive(Debug, Default)]
struct Expired {
    order: VecDeque<u64>,
    set: HashSet<u64>,
}

impl Expired {
    fn insert(&mut self, id: u64) {
        if self.set.insert(id) {
            self.order.push_back(id);
        }
        while self.order.len() > EXPIRED_KEPT {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }
}

/// State shared by the caller side and the reader task.
#[derive(Debug)]
struct Shared {
    label: String,
    pending: Mutex<HashMap<u64, oneshot::Sender<Answer>>>,
    expired: Mutex<Expired>,
    /// Set once the client is gone: why (e.g. "exited with exit status: 1").
    gone: Mutex<Option<String>>,
    stopping: AtomicBool,
    stderr: Arc<Mutex<VecDeque<String>>>,
    problems: Arc<ClientProblems>,
}

impl Shared {
    fn gone(&self) -> Option<String> {
        self.gone.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn stderr_tail(&self) -> String {
        stderr_tail(&self.stderr)
    }
}

fn stderr_tail(tail: &Mutex<VecDeque<String>>) -> String {
    let tail = tail.lock().unwrap_or_else(|p| p.into_inner());
    if tail.is_empty() {
        String::new()
    } else {
        format!(
            "; its stderr ends: {}",
            tail.iter().cloned().collect::<Vec<_>>().join(" | ")
        )
    }
}

/// A running client process.
#[derive(Debug)]
pub struct ClientProcess {
    shared: Arc<Shared>,
    stdin: tokio::sync::Mutex<Option<ChildStdin>>,
    pid: Option<u32>,
    exit: watch::Receiver<Option<ExitStatus>>,
    reader: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl ClientProcess {
    /// Starts the client and waits for its hello line.
    ///
    /// # Errors
    /// [`ClientError::Spawn`] if it cannot start, [`ClientError::Hello`] if it
    /// exits, stays silent past its `ready_timeout` or writes anything but a
    /// hello of this protocol version first. The process is killed then.
    pub async fn start(
        spec: ClientSpec,
        problems: Arc<ClientProblems>,
    ) -> Result<Self, ClientError> {
        let label = format!("client {} in {}", spec.name, spec.region);
        let mut child = Command::new(&spec.program)
            .args(&spec.command.args)
            .envs(spec.command.env.iter().map(|(k, v)| (k, v)))
            .env("FAULTLINE_CLIENT_PROTOCOL", PROTOCOL_VERSION.to_string())
            .env("FAULTLINE_REGION", &spec.region)
            .env("FAULTLINE_ADDR", &spec.addr)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| ClientError::Spawn {
                name: spec.name.clone(),
                region: spec.region.clone(),
                program: spec.program.display().to_string(),
                source,
            })?;
        let pid = child.id();
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().map(BufReader::new);
        let stderr = child.stderr.take();
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(stderr) = stderr {
            tokio::spawn(keep_stderr(stderr, spec.log.clone(), tail.clone()));
        }
        let (exit_tx, exit) = watch::channel(None);
        tokio::spawn(async move {
            let status = child.wait().await.ok();
            let _ = exit_tx.send(status);
        });
        let hello_error = |reason: String| ClientError::Hello {
            name: spec.name.clone(),
            region: spec.region.clone(),
            reason,
        };
        let Some(mut stdout) = stdout else {
            return Err(hello_error("has no stdout".into()));
        };
        let mut line = Vec::new();
        let first = tokio::time::timeout(
            spec.ready_timeout,
            read_line(&mut stdout, &mut line, MAX_LINE),
        )
        .await;
        let failed = |reason: String, exit: &watch::Receiver<Option<ExitStatus>>| {
            kill(pid, exit, nix::sys::signal::Signal::SIGKILL);
            reason
        };
        match first {
            Err(_) => {
                return Err(hello_error(failed(
                    format!(
                        "wrote no hello line ({{\"protocol\": {PROTOCOL_VERSION}}}) within {:?}{}",
                        spec.ready_timeout,
                        stderr_tail(&tail)
                    ),
                    &exit,
                )))
            }
            Ok(Err(err)) => {
                return Err(hello_error(failed(
                    format!("reading its hello line: {err}"),
                    &exit,
                )))
            }
            Ok(Ok(LineRead::Eof)) => {
                let status = wait_exit(exit.clone(), STOP_GRACE).await;
                // The stderr reader may still be draining the last lines.
                tokio::task::yield_now().await;
                return Err(hello_error(format!(
                    "{} before its hello line{}",
                    describe_exit(status),
                    stderr_tail(&tail)
                )));
            }
            Ok(Ok(LineRead::TooLong)) => {
                return Err(hello_error(failed(
                    format!("its first line is longer than {MAX_LINE} bytes, not a hello"),
                    &exit,
                )))
            }
            Ok(Ok(LineRead::Line)) => {}
        }
        let text = String::from_utf8_lossy(&line);
        let hello: Option<Value> = serde_json::from_str(&text).ok();
        match hello
            .as_ref()
            .and_then(|h| h.get("protocol"))
            .map(Value::as_u64)
        {
            Some(Some(PROTOCOL_VERSION)) => {}
            Some(Some(other)) => {
                return Err(hello_error(failed(
                    format!("speaks protocol {other}; this faultline speaks {PROTOCOL_VERSION}"),
                    &exit,
                )))
            }
            _ => {
                return Err(hello_error(failed(
                    format!(
                        "line 1 is not the hello {{\"protocol\": {PROTOCOL_VERSION}}}: {}",
                        quote(&text)
                    ),
                    &exit,
                )))
            }
        }
        let shared = Arc::new(Shared {
            label,
            pending: Mutex::new(HashMap::new()),
            expired: Mutex::new(Expired::default()),
            gone: Mutex::new(None),
            stopping: AtomicBool::new(false),
            stderr: tail,
            problems,
        });
        let reader = tokio::spawn(read_answers(stdout, shared.clone(), exit.clone()));
        Ok(Self {
            shared,
            stdin: tokio::sync::Mutex::new(stdin),
            pid,
            exit,
            reader: Mutex::new(Some(reader)),
        })
    }

    /// Sends operation `id` (`fields` without the id) and waits at most
    /// `timeout` for its answer. Never fails: a missing answer is `unknown`,
    /// an operation that could not be sent is `fail`.
    pub async fn call(&self, id: u64, fields: Map<String, Value>, timeout: Duration) -> Answer {
        if let Some(why) = self.shared.gone() {
            return Answer::faultline(
                Outcome::Fail,
                format!("not sent: {} is not running ({why})", self.shared.label),
            );
        }
        let mut message = Map::with_capacity(fields.len() + 1);
        message.insert("id".into(), Value::from(id));
        message.extend(fields);
        let mut line = serde_json::to_vec(&Value::Object(message)).unwrap_or_default();
        line.push(b'\n');
        let (tx, rx) = oneshot::channel();
        self.shared
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, tx);
        let exchange = async {
            {
                let mut stdin = self.stdin.lock().await;
                let Some(pipe) = stdin.as_mut() else {
                    return Answer::faultline(
                        Outcome::Fail,
                        format!("not sent: {} is stopping", self.shared.label),
                    );
                };
                if let Err(err) = pipe.write_all(&line).await {
                    return Answer::faultline(
                        Outcome::Fail,
                        format!("not sent: writing to {}: {err}", self.shared.label),
                    );
                }
            }
            match rx.await {
                Ok(answer) => answer,
                Err(_) => Answer::faultline(
                    Outcome::Unknown,
                    format!(
                        "{} went away with the operation in flight ({})",
                        self.shared.label,
                        self.shared.gone().unwrap_or_else(|| "stopped".into())
                    ),
                ),
            }
        };
        let answer = tokio::time::timeout(timeout, exchange).await;
        let pending = self
            .shared
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        match answer {
            Ok(answer) => answer,
            Err(_) => {
                if pending.is_some() {
                    self.shared
                        .expired
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(id);
                }
                Answer::faultline(Outcome::Unknown, format!("no answer within {timeout:?}"))
            }
        }
    }

    /// Whether the client is still running.
    pub fn is_running(&self) -> bool {
        self.shared.gone().is_none() && self.exit.borrow().is_none()
    }

    /// Stops the client: closes its stdin, then SIGTERM, then SIGKILL, each
    /// after a grace period. Returns once it exited and its last answers were read.
    pub async fn stop(&self) {
        self.shared.stopping.store(true, Ordering::Relaxed);
        // A write blocked on a client that stopped reading holds the pipe
        // until its operation times out; do not wait for it past the grace.
        if let Ok(mut stdin) = tokio::time::timeout(STOP_GRACE, self.stdin.lock()).await {
            drop(stdin.take());
        }
        if wait_exit(self.exit.clone(), STOP_GRACE).await.is_none() {
            tracing::debug!(client = %self.shared.label, "did not exit when its stdin closed; SIGTERM");
            kill(self.pid, &self.exit, nix::sys::signal::Signal::SIGTERM);
            if wait_exit(self.exit.clone(), STOP_GRACE).await.is_none() {
                tracing::warn!(client = %self.shared.label, "did not stop on SIGTERM; killing it");
                kill(self.pid, &self.exit, nix::sys::signal::Signal::SIGKILL);
                let _ = wait_exit(self.exit.clone(), STOP_GRACE).await;
            }
        }
        let reader = self.reader.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(reader) = reader {
            let _ = reader.await;
        }
    }
}

impl Drop for ClientProcess {
    fn drop(&mut self) {
        // Dropped without `stop` (a cancelled drill): leave nothing running.
        kill(self.pid, &self.exit, nix::sys::signal::Signal::SIGKILL);
    }
}

/// Signals the client unless it is known to have exited (its pid may be reused then).
fn kill(
    pid: Option<u32>,
    exit: &watch::Receiver<Option<ExitStatus>>,
    signal: nix::sys::signal::Signal,
) {
    if exit.borrow().is_some() {
        return;
    }
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal);
    }
}

/// Waits at most `grace` for the exit status.
async fn wait_exit(
    mut exit: watch::Receiver<Option<ExitStatus>>,
    grace: Duration,
) -> Option<ExitStatus> {
    let waited = tokio::time::timeout(grace, exit.wait_for(Option::is_some)).await;
    match waited {
        Ok(Ok(status)) => *status,
        _ => None,
    }
}

fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Ok => "ok",
        Outcome::Fail => "fail",
        Outcome::Unknown => "unknown",
    }
}

fn describe_exit(status: Option<ExitStatus>) -> String {
    match status {
        Some(status) => format!("exited with {status}"),
        None => "closed its stdout".to_owned(),
    }
}

/// The first [`QUOTE`] characters of a line, for messages.
fn quote(line: &str) -> String {
    let line = line.trim_end();
    match line.char_indices().nth(QUOTE) {
        Some((cut, _)) => format!("{:?}…", &line[..cut]),
        None => format!("{line:?}"),
    }
}

/// The result of reading one line.
#[derive(Debug, PartialEq, Eq)]
enum LineRead {
    /// A line is in the buffer (without its newline).
    Line,
    /// A line longer than the limit was skipped.
    TooLong,
    /// End of the stream.
    Eof,
}

/// Reads one line into `buf`, at most `max` bytes of it; a longer line is
/// skipped up to its newline and reported as [`LineRead::TooLong`].
async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<LineRead> {
    buf.clear();
    let mut too_long = false;
    let mut any = false;
    loop {
        let chunk = reader.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(match (any, too_long) {
                (false, _) => LineRead::Eof,
                (true, true) => LineRead::TooLong,
                (true, false) => LineRead::Line,
            });
        }
        any = true;
        let (take, done) = match chunk.iter().position(|b| *b == b'\n') {
            Some(end) => (end, true),
            None => (chunk.len(), false),
        };
        if !too_long {
            if buf.len() + take > max {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(&chunk[..take]);
            }
        }
        reader.consume(take + usize::from(done));
        if done {
            return Ok(if too_long {
                LineRead::TooLong
            } else {
                LineRead::Line
            });
        }
    }
}

/// Reads answers until the client closes its stdout, then records why it went.
async fn read_answers<R: AsyncBufRead + Unpin>(
    mut stdout: R,
    shared: Arc<Shared>,
    exit: watch::Receiver<Option<ExitStatus>>,
) {
    let mut buf = Vec::new();
    let mut line_number = 1u64; // the hello was line 1
    let mut answers = 0u64;
    let mut late = 0u64;
    loop {
        let read = match read_line(&mut stdout, &mut buf, MAX_LINE).await {
            Ok(read) => read,
            Err(err) => {
                tracing::debug!(client = %shared.label, %err, "reading stdout");
                break;
            }
        };
        line_number += 1;
        match read {
            LineRead::Eof => break,
            LineRead::TooLong => {
                shared.problems.push(format!(
                    "{}: line {line_number} is longer than {MAX_LINE} bytes; skipped",
                    shared.label
                ));
                continue;
            }
            LineRead::Line => {}
        }
        let text = String::from_utf8_lossy(&buf);
        if text.trim().is_empty() {
            continue;
        }
        let at = Instant::now();
        let parsed: Option<Map<String, Value>> = match serde_json::from_str(&text) {
            Ok(Value::Object(map)) => Some(map),
            _ => None,
        };
        let Some(mut answer) = parsed else {
            shared.problems.push(format!(
                "{}: line {line_number} is not a JSON answer ({{\"id\": …, \"outcome\": \"ok\"|\"fail\"|\"unknown\"}}): {}",
                shared.label,
                quote(&text)
            ));
            continue;
        };
        let Some(id) = answer.get("id").and_then(Value::as_u64) else {
            shared.problems.push(format!(
                "{}: line {line_number} has no numeric \"id\": {}",
                shared.label,
                quote(&text)
            ));
            continue;
        };
        let waiting = shared
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        let Some(waiting) = waiting else {
            if shared
                .expired
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .set
                .contains(&id)
            {
                late += 1;
            } else {
                shared.problems.push(format!(
                    "{}: line {line_number} answers id {id}, which was never sent or was already answered: {}",
                    shared.label,
                    quote(&text)
                ));
            }
            continue;
        };
        answers += 1;
        let outcome = match answer.get("outcome").and_then(Value::as_str) {
            Some("ok") => Some(Outcome::Ok),
            Some("fail") => Some(Outcome::Fail),
            Some("unknown") => Some(Outcome::Unknown),
            _ => None,
        };
        let answer = match outcome {
            Some(outcome) => Answer {
                outcome,
                value: answer.remove("value").unwrap_or(Value::Null),
                detail: match answer.remove("detail") {
                    Some(Value::String(detail)) => detail,
                    Some(Value::Null) | None => outcome_name(outcome).to_owned(),
                    Some(other) => other.to_string(),
                },
                at,
            },
            None => {
                shared.problems.push(format!(
                    "{}: line {line_number} has no \"outcome\" of \"ok\", \"fail\" or \"unknown\": {}",
                    shared.label,
                    quote(&text)
                ));
                // It may or may not have happened.
                Answer {
                    outcome: Outcome::Unknown,
                    value: Value::Null,
                    detail: format!("malformed answer: {}", quote(&text)),
                    at,
                }
            }
        };
        let _ = waiting.send(answer);
    }
    let status = wait_exit(exit, STOP_GRACE).await;
    let why = describe_exit(status);
    *shared.gone.lock().unwrap_or_else(|p| p.into_inner()) = Some(why.clone());
    // Operations in flight: their senders drop here and their callers see `unknown`.
    let in_flight = std::mem::take(&mut *shared.pending.lock().unwrap_or_else(|p| p.into_inner()));
    let stopping = shared.stopping.load(Ordering::Relaxed);
    if !stopping {
        // Give the stderr reader a moment to catch the last words.
        tokio::time::sleep(Duration::from_millis(20)).await;
        shared.problems.push(format!(
            "{} {why} during the drill, after {answers} answers, with {} operations in flight (recorded as unknown; later ones fail as not sent){}",
            shared.label,
            in_flight.len(),
            shared.stderr_tail()
        ));
    }
    if late > 0 {
        tracing::debug!(client = %shared.label, late, "answers after their timeout, ignored");
    }
    drop(in_flight);
}

/// Keeps the last lines of a client's stderr (and all of it in `log`).
async fn keep_stderr(
    stderr: tokio::process::ChildStderr,
    log: Option<PathBuf>,
    tail: Arc<Mutex<VecDeque<String>>>,
) {
    let mut file = match log {
        Some(path) => {
            if let Some(dir) = path.parent() {
                let _ = tokio::fs::create_dir_all(dir).await;
            }
            tokio::fs::File::create(&path).await.ok()
        }
        None => None,
    };
    let mut reader = BufReader::new(stderr);
    let mut buf = Vec::new();
    loop {
        match read_line(&mut reader, &mut buf, 64 * 1024).await {
            Ok(LineRead::Line) => {
                if let Some(file) = file.as_mut() {
                    let _ = file.write_all(&buf).await;
                    let _ = file.write_all(b"\n").await;
                }
                let line = String::from_utf8_lossy(&buf).trim_end().to_owned();
                if line.is_empty() {
                    continue;
                }
                let mut tail = tail.lock().unwrap_or_else(|p| p.into_inner());
                tail.push_back(quote(&line).trim_matches('"').to_owned());
                if tail.len() > STDERR_TAIL {
                    tail.pop_front();
                }
            }
            Ok(LineRead::TooLong) => {}
            Ok(LineRead::Eof) | Err(_) => break,
        }
    }
    if let Some(file) = file.as_mut() {
        let _ = file.flush().await;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn spec(script: &str) -> ClientSpec {
        ClientSpec {
            name: "put-us-east".into(),
            region: "us-east".into(),
            addr: "127.0.0.1:1".into(),
            command: RenderedCommand {
                program: "sh".into(),
                args: vec!["-c".into(), script.into()],
                env: Vec::new(),
            },
            program: "sh".into(),
            ready_timeout: Duration::from_secs(10),
            log: None,
        }
    }

    fn op(key: &str) -> Map<String, Value> {
        let Value::Object(map) = json!({"op": "put", "key": key}) else {
            unreachable!()
        };
        map
    }

    /// A shell client that answers each operation with `ok` and echoes its key.
    const ECHO: &str = r#"echo '{"protocol": 1}'; while read -r line; do id=${line#*\"id\":}; id=${id%%,*}; echo "{\"id\": $id, \"outcome\": \"ok\", \"value\": \"seen\"}"; done"#;

    #[tokio::test]
    async fn answers_come_back_to_their_operations() {
        let problems = Arc::new(ClientProblems::default());
        let client = ClientProcess::start(spec(ECHO), problems.clone())
            .await
            .unwrap();
        let (a, b) = tokio::join!(
            client.call(7, op("a"), Duration::from_secs(30)),
            client.call(8, op("b"), Duration::from_secs(30))
        );
        assert_eq!(a.outcome, Outcome::Ok, "{a:?}");
        assert_eq!(b.value, json!("seen"));
        client.stop().await;
        assert!(problems.all().is_empty(), "{:?}", problems.all());
        let after = client.call(9, op("c"), Duration::from_secs(1)).await;
        assert_eq!(after.outcome, Outcome::Fail);
        assert!(after.detail.contains("not sent"), "{}", after.detail);
    }

    #[tokio::test]
    async fn a_wrong_hello_is_refused_with_the_line() {
        let problems = Arc::new(ClientProblems::default());
        let err = ClientProcess::start(spec("echo 'hello there'; sleep 30"), problems.clone())
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "client put-us-east in us-east: line 1 is not the hello {\"protocol\": 1}: \"hello there\""
        );
        let err = ClientProcess::start(spec(r#"echo '{"protocol": 2}'"#), problems.clone())
            .await
            .unwrap_err();
        assert!(err
            .to_string()
            .contains("speaks protocol 2; this faultline speaks 1"));
        let err = ClientProcess::start(spec("echo boom >&2; exit 3"), problems)
            .await
            .unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("exited with exit status: 3 before its hello line"),
            "{message}"
        );
        assert!(message.contains("boom"), "{message}");
    }

    // Real time: a paused clock would jump past the deadlines while the
    // runtime waits for the child's output.
    #[tokio::test]
    async fn a_silent_client_times_out_at_hello_and_its_operations_are_unknown() {
        let problems = Arc::new(ClientProblems::default());
        let mut silent = spec("exec sleep 600");
        silent.ready_timeout = Duration::from_millis(200);
        let err = ClientProcess::start(silent, problems.clone())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("wrote no hello line"), "{err}");
        let client = ClientProcess::start(
            spec(r#"echo '{"protocol": 1}'; exec sleep 600"#),
            problems.clone(),
        )
        .await
        .unwrap();
        let answer = client.call(1, op("a"), Duration::from_millis(300)).await;
        assert_eq!(answer.outcome, Outcome::Unknown);
        assert_eq!(answer.detail, "no answer within 300ms");
        client.stop().await;
        assert!(!client.is_running());
    }

    #[tokio::test]
    async fn garbage_unknown_ids_and_a_crash_are_reported_with_the_line() {
        let problems = Arc::new(ClientProblems::default());
        let script = r#"echo '{"protocol": 1}'; read -r line; echo 'not json at all'; echo '{"id": 999, "outcome": "ok"}'; echo '{"id": 1, "outcome": "maybe"}'; read -r line; echo dying >&2; exit 4"#;
        let client = ClientProcess::start(spec(script), problems.clone())
            .await
            .unwrap();
        let first = client.call(1, op("a"), Duration::from_secs(30)).await;
        assert_eq!(first.outcome, Outcome::Unknown);
        assert!(
            first.detail.starts_with("malformed answer"),
            "{}",
            first.detail
        );
        let second = client.call(2, op("b"), Duration::from_secs(30)).await;
        assert_eq!(second.outcome, Outcome::Unknown, "{second:?}");
        assert!(
            second.detail.contains("exited with exit status: 4"),
            "{}",
            second.detail
        );
        let third = client.call(3, op("c"), Duration::from_secs(30)).await;
        assert_eq!(third.outcome, Outcome::Fail);
        client.stop().await;
        let all = problems.all();
        assert_eq!(all.len(), 4, "{all:?}");
        assert_eq!(all[0], "client put-us-east in us-east: line 2 is not a JSON answer ({\"id\": …, \"outcome\": \"ok\"|\"fail\"|\"unknown\"}): \"not json at all\"");
        assert!(
            all[1].contains("line 3 answers id 999, which was never sent"),
            "{}",
            all[1]
        );
        assert!(all[2].contains("line 4 has no \"outcome\""), "{}", all[2]);
        assert!(all[3].contains("exited with exit status: 4 during the drill, after 1 answers, with 1 operations in flight"), "{}", all[3]);
        assert!(all[3].contains("dying"), "{}", all[3]);
    }

    #[tokio::test]
    async fn a_client_that_stops_reading_cannot_block_the_drill() {
        let problems = Arc::new(ClientProblems::default());
        let client = ClientProcess::start(
            spec(r#"echo '{"protocol": 1}'; exec sleep 600"#),
            problems.clone(),
        )
        .await
        .unwrap();
        // Larger than a pipe's buffer: the write itself blocks.
        let mut big = op("a");
        big.insert("value".into(), Value::from("x".repeat(1 << 20)));
        let answer = client.call(1, big, Duration::from_millis(300)).await;
        assert_eq!(answer.outcome, Outcome::Unknown);
        client.stop().await;
        assert!(!client.is_running());
    }

    #[tokio::test]
    async fn an_overlong_line_is_skipped() {
        let mut reader = BufReader::new(&b"0123456789\nok\nlast"[..]);
        let mut buf = Vec::new();
        assert_eq!(
            read_line(&mut reader, &mut buf, 4).await.unwrap(),
            LineRead::TooLong
        );
        assert_eq!(
            read_line(&mut reader, &mut buf, 4).await.unwrap(),
            LineRead::Line
        );
        assert_eq!(buf, b"ok");
        assert_eq!(
            read_line(&mut reader, &mut buf, 4).await.unwrap(),
            LineRead::Line
        );
        assert_eq!(buf, b"last");
        assert_eq!(
            read_line(&mut reader, &mut buf, 4).await.unwrap(),
            LineRead::Eof
        );
    }
}
