//! Running the system's networking tools (`ip`, `bridge`, `sysctl`, `nsenter`) so that a failure
//! says exactly what was run, what it printed, and — for `-batch` scripts — which line failed.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Child, Command, ExitStatus, Stdio};

use serde::de::DeserializeOwned;

/// A command that could not be run or did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("could not start `{command}`")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("could not feed the script to `{command}`")]
    Stdin {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}): {stderr}{script}")]
    Failed {
        command: String,
        status: ExitStatus,
        stderr: String,
        /// The numbered `-batch` script, so `Command failed -:12` can be read against line 12.
        script: String,
    },
    #[error("`{command}` printed something that is not the JSON expected")]
    Json {
        command: String,
        #[source]
        source: serde_json::Error,
    },
}

/// One invocation of a program, built up like a shell command line.
#[derive(Debug, Clone)]
pub struct Cmd {
    program: String,
    args: Vec<String>,
    stdin: Option<String>,
}

impl Cmd {
    pub fn new(program: impl Into<String>) -> Self {
        Cmd {
            program: program.into(),
            args: Vec::new(),
            stdin: None,
        }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Text written to the program's standard input (a `-batch -` script).
    pub fn stdin(mut self, text: impl Into<String>) -> Self {
        self.stdin = Some(text.into());
        self
    }

    /// The program and its arguments.
    pub fn argv(&self) -> Vec<String> {
        std::iter::once(self.program.clone())
            .chain(self.args.iter().cloned())
            .collect()
    }

    /// The command line as a person would type it.
    pub fn command_line(&self) -> String {
        std::iter::once(self.program.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Runs to completion; returns standard output, or an error carrying standard error.
    pub fn run(&self) -> Result<String, CommandError> {
        let mut child = self.spawn()?;
        if let Some(text) = &self.stdin {
            let mut stdin = child.stdin.take().ok_or_else(|| CommandError::Stdin {
                command: self.command_line(),
                source: std::io::Error::other("standard input was not piped"),
            })?;
            stdin
                .write_all(text.as_bytes())
                .map_err(|source| CommandError::Stdin {
                    command: self.command_line(),
                    source,
                })?;
        }
        let output = child
            .wait_with_output()
            .map_err(|source| CommandError::Spawn {
                command: self.command_line(),
                source,
            })?;
        if !output.status.success() {
            return Err(CommandError::Failed {
                command: self.command_line(),
                status: output.status,
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
                script: self.numbered_script(),
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Runs and parses standard output as JSON.
    pub fn run_json<T: DeserializeOwned>(&self) -> Result<T, CommandError> {
        let stdout = self.run()?;
        serde_json::from_str(&stdout).map_err(|source| CommandError::Json {
            command: self.command_line(),
            source,
        })
    }

    /// Starts the program with standard output and error piped; standard input is piped when a
    /// script was given (the caller writes it), else closed.
    pub fn spawn(&self) -> Result<Child, CommandError> {
        let stdin = if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        };
        Command::new(&self.program)
            .args(&self.args)
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| CommandError::Spawn {
                command: self.command_line(),
                source,
            })
    }

    fn numbered_script(&self) -> String {
        let Some(text) = &self.stdin else {
            return String::new();
        };
        let mut out = String::from("\nscript:");
        for (i, line) in text.lines().enumerate() {
            let _ = write!(out, "\n{:>5}: {line}", i + 1);
        }
        out
    }
}

/// `ip -n NETNS …`: iproute2 acting inside a named network namespace.
pub fn ip(netns: &str) -> Cmd {
    Cmd::new("ip").args(["-n", netns])
}

/// A `-batch` script for one tool in one namespace, run as a single process. Building a node
/// line by line and running it once keeps a 250-pod node to a few hundred processes.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    lines: Vec<String>,
}

impl Batch {
    pub fn new() -> Self {
        Batch::default()
    }

    /// Adds one command line, without the leading tool name (`link add …`, `route add …`).
    pub fn push(&mut self, line: impl Into<String>) -> &mut Self {
        self.lines.push(line.into());
        self
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Runs the script with `ip -n NETNS -batch -`.
    pub fn run_ip(&self, netns: &str) -> Result<(), CommandError> {
        self.run_with(ip(netns))
    }

    /// Runs the script with `nsenter --net=PATH ip -batch -`, for namespaces that have no name.
    pub fn run_ip_at(&self, netns_path: &str) -> Result<(), CommandError> {
        self.run_with(
            Cmd::new("nsenter")
                .arg(format!("--net={netns_path}"))
                .arg("ip"),
        )
    }

    /// Runs the script with `bridge -n NETNS -batch -`.
    pub fn run_bridge(&self, netns: &str) -> Result<(), CommandError> {
        self.run_with(Cmd::new("bridge").args(["-n", netns]))
    }

    fn run_with(&self, tool: Cmd) -> Result<(), CommandError> {
        if self.lines.is_empty() {
            return Ok(());
        }
        let mut script = self.lines.join("\n");
        script.push('\n');
        tool.args(["-batch", "-"]).stdin(script).run().map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_batch_names_the_command_and_numbers_the_script() {
        let err = Cmd::new("sh")
            .args([
                "-c",
                "cat >/dev/null; echo 'Command failed -:2' >&2; exit 1",
            ])
            .stdin("link show\nlink frobnicate\n")
            .run()
            .expect_err("the command exits 1");
        let text = err.to_string();
        assert!(text.contains("`sh -c"), "{text}");
        assert!(text.contains("Command failed -:2"), "{text}");
        assert!(text.contains("    2: link frobnicate"), "{text}");
    }

    #[test]
    fn a_missing_program_is_a_spawn_error() {
        let err = Cmd::new("/nonexistent/podwire-tool")
            .run()
            .expect_err("no such program");
        assert!(matches!(err, CommandError::Spawn { .. }), "{err}");
    }
}
