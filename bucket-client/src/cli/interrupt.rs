//! Ending on Ctrl-C, SIGTERM or SIGHUP without leaving a download's part
//! file behind.
//!
//! A download to a file is written to a `.bucket-client-*.part` file beside
//! it and renamed into place once whole ([`super::ops::download`]). Ended by
//! a signal's default action, the program would leave that part file (a
//! failed download must leave nothing). Once [`install`] has run, such a
//! signal removes every part file a [`PartFile`] guard has registered and
//! ends the program with status 128 + the signal's number.
//!
//! The interactive shell asks for more ([`cancel_commands_on_sigint`]):
//! there Ctrl-C ends the connection of the command under way
//! ([`command_started`]), which fails with `interrupted`, and the shell
//! goes on. At a prompt ([`AtPrompt`]), where Ctrl-C is a signal only
//! when rustyline reads plain lines (`TERM=dumb`: the terminal stays in
//! cooked mode, and the terminal itself drops the line typed so far), it
//! shows the prompt again on a new line, as bash does; at a command's
//! question (`bucket:`) it cancels the command and shows the shell's
//! prompt, as rustyline does in raw mode. Pressed again
//! before a command is over, or while the shell is neither in a command
//! nor at a prompt, it ends the program as above.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use bucket_client::Interrupter;

/// Part files being written, removed if a signal ends the program.
static PARTS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// The value behind `mutex`, even if a thread panicked holding it: a list
/// of paths or an `Option` cannot be left half-changed.
fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn parts() -> MutexGuard<'static, Vec<PathBuf>> {
    locked(&PARTS)
}

/// Whether SIGINT cancels the shell's command under way rather than ending
/// the program.
static CANCEL_COMMANDS: AtomicBool = AtomicBool::new(false);
/// The connection of the shell's command under way, until SIGINT takes it.
static COMMAND: Mutex<Option<Interrupter>> = Mutex::new(None);
/// Whether SIGINT ended the connection of the command under way.
static CANCELLED: AtomicBool = AtomicBool::new(false);

fn command() -> MutexGuard<'static, Option<Interrupter>> {
    locked(&COMMAND)
}

/// Where the shell is reading a line, while [`AtPrompt`] lives.
struct Prompt {
    /// The prompt shown.
    shown: String,
    /// At a command's question: the shell's own prompt, which SIGINT
    /// shows after cancelling the command. `None` at the shell's prompt.
    back_to: Option<String>,
}

/// Where the shell is reading a line, while [`AtPrompt`] lives.
static PROMPT: Mutex<Option<Prompt>> = Mutex::new(None);
/// Whether SIGINT cancelled the command whose question was being read.
static QUESTION_CANCELLED: AtomicBool = AtomicBool::new(false);

fn prompt() -> MutexGuard<'static, Option<Prompt>> {
    locked(&PROMPT)
}

/// The shell is reading a line at `prompt` while this guard lives: SIGINT
/// then shows the prompt again on a new line instead of ending the program
/// (when commands are cancelled, [`cancel_commands_on_sigint`]); at a
/// command's question ([`AtPrompt::question`]) it cancels the command and
/// shows the shell's prompt instead.
#[must_use]
pub struct AtPrompt(());

impl AtPrompt {
    /// The shell is about to read a line at its own prompt, `prompt`.
    pub fn new(prompt: &str) -> AtPrompt {
        AtPrompt::set(prompt, None)
    }

    /// The shell is about to read the answer to a command's question
    /// `prompt`; `shell_prompt` is its own. SIGINT meanwhile prints
    /// `error: cancelled` and shows `shell_prompt`, so that the line then
    /// read is a command, not the answer ([`question_cancelled`]).
    pub fn question(prompt: &str, shell_prompt: &str) -> AtPrompt {
        AtPrompt::set(prompt, Some(shell_prompt.to_owned()))
    }

    fn set(shown: &str, back_to: Option<String>) -> AtPrompt {
        let mut prompt = self::prompt();
        QUESTION_CANCELLED.store(false, Ordering::Release);
        *prompt = Some(Prompt {
            shown: shown.to_owned(),
            back_to,
        });
        AtPrompt(())
    }
}

/// Whether SIGINT cancelled the command while its question was read
/// ([`AtPrompt::question`]): the line read, if any, was then typed at the
/// shell's prompt. Asked once, after the read.
pub fn question_cancelled() -> bool {
    QUESTION_CANCELLED.swap(false, Ordering::AcqRel)
}

impl Drop for AtPrompt {
    fn drop(&mut self) {
        *prompt() = None;
    }
}

/// SIGINT's answer at a prompt when commands are cancelled: the prompt
/// again, on a new line (the terminal has echoed `^C` and dropped the line
/// typed so far); `false` when the shell is not at a prompt. The read goes
/// on, so the next line typed is the answer. At a command's question, the
/// command is cancelled instead, as rustyline cancels it in raw mode:
/// `error: cancelled`, then the shell's prompt, whose line the read takes.
fn prompt_again() -> bool {
    if !CANCEL_COMMANDS.load(Ordering::Acquire) {
        return false;
    }
    let mut prompt = prompt();
    let Some(prompt) = prompt.as_mut() else {
        return false;
    };
    let _ = writeln!(std::io::stdout().lock());
    if let Some(shell_prompt) = prompt.back_to.take() {
        QUESTION_CANCELLED.store(true, Ordering::Release);
        prompt.shown = shell_prompt;
        let _ = writeln!(std::io::stderr().lock(), "error: cancelled");
    }
    let mut stdout = std::io::stdout().lock();
    let _ = write!(stdout, "{}", prompt.shown);
    let _ = stdout.flush();
    true
}

/// From now on, SIGINT (Ctrl-C) ends the connection of the command under
/// way, if one was registered by [`command_started`] and not yet ended,
/// instead of the program. For the interactive shell.
pub fn cancel_commands_on_sigint() {
    CANCEL_COMMANDS.store(true, Ordering::Release);
}

/// A command is about to use `interrupter`'s connection: SIGINT ends that
/// connection (see [`cancel_commands_on_sigint`]).
pub fn command_started(interrupter: Interrupter) {
    *command() = Some(interrupter);
}

/// The command is over. Returns whether SIGINT ended its connection.
pub fn command_finished() -> bool {
    *command() = None;
    CANCELLED.swap(false, Ordering::AcqRel)
}

/// SIGINT's answer when commands are cancelled: ends the command's
/// connection; `false` when there was none to end.
fn cancel_command() -> bool {
    if !CANCEL_COMMANDS.load(Ordering::Acquire) {
        return false;
    }
    match command().take() {
        Some(interrupter) => {
            CANCELLED.store(true, Ordering::Release);
            interrupter.interrupt();
            true
        }
        None => false,
    }
}

/// Handles SIGINT, SIGTERM and SIGHUP for the rest of the program, on a
/// thread of its own: the first one removes the registered part files and
/// ends the program with status 128 + the signal's number (130 for Ctrl-C),
/// as a shell reports a program its default action ended. A SIGINT that
/// cancels a shell command or comes at its prompt
/// ([`cancel_commands_on_sigint`]) does neither.
///
/// A signal the program was started with ignored stays ignored (`nohup`
/// ignores SIGHUP; a non-interactive shell's background jobs ignore
/// SIGINT), as POSIX programs that catch signals do. If the handler cannot
/// be installed, the signals keep their default action (logged at `debug`).
#[cfg(unix)]
pub fn install() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let ignored = bucket_client::ignored_signals();
    let caught: Vec<i32> = [SIGINT, SIGTERM, SIGHUP]
        .into_iter()
        .filter(|&signal| ignored & (1 << (signal - 1)) == 0)
        .collect();
    let mut signals = match signal_hook::iterator::Signals::new(&caught) {
        Ok(signals) => signals,
        Err(error) => {
            tracing::debug!(%error, "no signal handler: an interrupted download may leave its part file");
            return;
        }
    };
    std::thread::spawn(move || {
        for signal in signals.forever() {
            if signal == SIGINT && (cancel_command() || prompt_again()) {
                continue;
            }
            for part in parts().iter() {
                let _ = std::fs::remove_file(part);
            }
            std::process::exit(128 + signal);
        }
    });
}

/// Elsewhere, signals keep their default action.
#[cfg(not(unix))]
pub fn install() {}

/// Registers a part file for removal on a signal while the guard lives.
/// Dropping the guard also removes the file if it is still there (a
/// download that failed), before unregistering it, so no signal can come
/// between the two; after a successful rename nothing is left at the path.
#[must_use]
pub struct PartFile(PathBuf);

impl PartFile {
    /// Registers `path`.
    pub fn register(path: &Path) -> PartFile {
        parts().push(path.to_owned());
        PartFile(path.to_owned())
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let mut parts = parts();
        if let Some(i) = parts.iter().position(|p| *p == self.0) {
            parts.swap_remove(i);
        }
    }
}
