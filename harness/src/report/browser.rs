//! Headless Chromium, for PNG renderings of a report and for the tests that
//! open `report.html` in a real browser.
//!
//! Chromium is not a dependency of faultline: `scripts/browser-env` installs
//! the Debian packages, and [`Browser::find`] looks for it on `PATH`. Every
//! call runs a fresh process with a fresh profile folder (removed afterwards),
//! no network (`--disable-background-networking` and friends), and a deadline
//! after which the process is killed.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long one Chromium run may take before it is killed.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Program names tried on `PATH`, in order.
const PROGRAMS: [&str; 3] = ["chromium", "chromium-browser", "google-chrome"];

/// Why a Chromium run failed.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    /// No Chromium on `PATH`.
    #[error("no headless Chromium found on PATH (tried {}); run scripts/browser-env", PROGRAMS.join(", "))]
    NotFound,
    /// It could not be started, or its profile folder not made.
    #[error("starting {}", program.display())]
    Spawn {
        /// The program.
        program: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// It ran past [`DEADLINE`] and was killed.
    #[error("{} did not finish within {}s and was killed", program.display(), DEADLINE.as_secs())]
    Deadline {
        /// The program.
        program: PathBuf,
    },
    /// It exited unsuccessfully, or wrote no screenshot.
    #[error("{} failed ({status}): {stderr}", program.display())]
    Failed {
        /// The program.
        program: PathBuf,
        /// Its exit status.
        status: String,
        /// The end of what it wrote to stderr.
        stderr: String,
    },
}

/// What loading a page printed.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedPage {
    /// The DOM after load, serialized.
    pub dom: String,
    /// Every console message the page logged (Chromium's `CONSOLE` log lines).
    pub console: Vec<String>,
}

/// A headless Chromium found on `PATH`.
#[derive(Debug, Clone)]
pub struct Browser {
    program: PathBuf,
}

impl Browser {
    /// The first of `chromium`, `chromium-browser`, `google-chrome` on `PATH`.
    ///
    /// # Errors
    /// [`BrowserError::NotFound`].
    pub fn find() -> Result<Self, BrowserError> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        for dir in std::env::split_paths(&path) {
            for name in PROGRAMS {
                let candidate = dir.join(name);
                if candidate.is_file() {
                    return Ok(Self { program: candidate });
                }
            }
        }
        Err(BrowserError::NotFound)
    }

    /// The program that runs.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// Loads the local file `page` and returns its DOM and console messages.
    ///
    /// # Errors
    /// A [`BrowserError`] if Chromium cannot run or fails.
    pub fn load(&self, page: &Path) -> Result<LoadedPage, BrowserError> {
        let profile = scratch_profile(page, "dump");
        let output = self.run(
            &profile,
            &[
                "--enable-logging=stderr".into(),
                "--v=0".into(),
                "--dump-dom".into(),
                file_url(page),
            ],
        )?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        Ok(LoadedPage {
            dom: String::from_utf8_lossy(&output.stdout).into_owned(),
            console: stderr
                .lines()
                .filter(|line| line.contains(":CONSOLE"))
                .map(str::to_owned)
                .collect(),
        })
    }

    /// Writes a PNG screenshot of the local file `page`, `width` × `height` pixels.
    ///
    /// # Errors
    /// A [`BrowserError`] if Chromium cannot run, fails, or writes no file.
    pub fn screenshot(
        &self,
        page: &Path,
        png: &Path,
        width: u32,
        height: u32,
    ) -> Result<(), BrowserError> {
        let profile = scratch_profile(png, "shot");
        let _ = std::fs::remove_file(png);
        self.run(
            &profile,
            &[
                "--hide-scrollbars".into(),
                format!("--window-size={width},{height}"),
                format!("--screenshot={}", absolute(png).display()),
                file_url(page),
            ],
        )?;
        if !png.is_file() {
            return Err(BrowserError::Failed {
                program: self.program.clone(),
                status: "exit 0".into(),
                stderr: format!("no screenshot was written to {}", png.display()),
            });
        }
        Ok(())
    }

    fn run(&self, profile: &Path, args: &[String]) -> Result<Output, BrowserError> {
        let spawn_error = |source| BrowserError::Spawn {
            program: self.program.clone(),
            source,
        };
        std::fs::create_dir_all(profile).map_err(spawn_error)?;
        let child = Command::new(&self.program)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--mute-audio",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn_error)?;
        let pid = child.id();
        let (done, wait) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = done.send(child.wait_with_output());
        });
        let result = match wait.recv_timeout(DEADLINE) {
            Ok(output) => output.map_err(spawn_error),
            Err(_) => {
                if let Ok(pid) = i32::try_from(pid) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                let _ = std::fs::remove_dir_all(profile);
                return Err(BrowserError::Deadline {
                    program: self.program.clone(),
                });
            }
        };
        let _ = std::fs::remove_dir_all(profile);
        let output = result?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
            return Err(BrowserError::Failed {
                program: self.program.clone(),
                status: output.status.to_string(),
                stderr: tail.into_iter().rev().collect::<Vec<_>>().join(" | "),
            });
        }
        Ok(output)
    }
}

/// A profile folder beside `near`, unique to it and the purpose.
fn scratch_profile(near: &Path, purpose: &str) -> PathBuf {
    let name = near
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    absolute(near)
        .parent()
        .map_or_else(std::env::temp_dir, Path::to_path_buf)
        .join(format!(".chromium-{purpose}-{name}"))
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// `file:///abs/path`, with the characters a URL cannot hold escaped.
fn file_url(path: &Path) -> String {
    let mut url = String::from("file://");
    for byte in absolute(path).to_string_lossy().bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                url.push(byte as char);
            }
            other => url.push_str(&format!("%{other:02X}")),
        }
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls_escape_what_a_url_cannot_hold() {
        assert_eq!(
            file_url(Path::new("/tmp/a b/report#1.html")),
            "file:///tmp/a%20b/report%231.html"
        );
    }
}
