//! The interactive shell: prompt `c> `, every BKT/1 verb and alias (any
//! case), arguments inline (shell-quoted) or asked for one by one.
//!
//! On a terminal, a command typed without arguments asks for each one in
//! turn, optional ones included (an empty answer takes the default); typed
//! with some, it asks only for missing required ones, and missing optional
//! ones take their defaults. With its input not a terminal (a script)
//! nothing is asked: a missing required argument fails that command as a
//! usage error and missing optional ones take their defaults, so a
//! script's next line is never taken as an answer. There the shell exits
//! with the status of the last command that failed. On a terminal it exits
//! with 0 and keeps its history in `~/.bucket_history`; Ctrl-C during a
//! command ends that command's connection (the command fails with
//! `interrupted`, the next one connects again) rather than the shell, and
//! at a prompt it drops the line typed so far and shows a new prompt
//! (rustyline's own key in raw mode; with `TERM=dumb`, where the terminal
//! stays in cooked mode, the terminal drops the line and the signal
//! handler shows the prompt again). At a command's question it cancels
//! the command and shows the shell's prompt, in either mode.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use bucket_client::{Client, Error, Verb};
use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{CompletionType, Config, Context, Editor, Helper};

use super::{
    CliError, Destination, Output, Source, Target, bucket_name, default_name, expand_home,
    file_name, is_stream, ops, parse_verb,
};

const PROMPT: &str = "c> ";

/// How the shell takes `verb`'s arguments, e.g.
/// `UPLOAD <local-path> <bucket> [name]`.
pub fn usage(verb: Verb) -> String {
    let args = match verb {
        Verb::Help => "[verb]",
        Verb::CreateBucket | Verb::DeleteBucket => "<bucket>",
        Verb::ListFiles => "[bucket]",
        Verb::Upload => "<local-path> <bucket> [name, default: the local file's name]",
        Verb::Download => "<bucket> <name> [local-path, default: ./name]",
        Verb::DeleteFile => "<bucket> <name>",
        Verb::Hello | Verb::Codes | Verb::Quit | Verb::ListBuckets => "",
    };
    format!("{} {args}", verb.as_str()).trim_end().to_owned()
}

/// Most arguments the shell takes for `verb` (local paths included).
fn max_args(verb: Verb) -> usize {
    match verb {
        Verb::Upload | Verb::Download => 3,
        other => other.max_args(),
    }
}

/// Runs the shell until `QUIT`, `EXIT` or end of input. The exit status is
/// 0, or, when standard input is not a terminal (a script), that of the last
/// command that failed ([`CliError::exit_code`]).
pub fn run(target: &Target) -> ExitCode {
    let out = Output {
        progress: std::io::stderr().is_terminal(),
        human: true,
    };
    let client = match target.connect() {
        Ok(client) => client,
        Err(error) => {
            out.error(&error);
            return ExitCode::FAILURE;
        }
    };
    let config = Config::builder()
        .auto_add_history(false)
        .completion_type(CompletionType::List)
        .build();
    let mut editor = match Editor::<ShellHelper, DefaultHistory>::with_config(config) {
        Ok(editor) => editor,
        Err(error) => {
            out.error(&CliError::Local {
                what: "cannot start line editing".to_owned(),
                error: std::io::Error::other(error),
            });
            return ExitCode::FAILURE;
        }
    };
    editor.set_helper(Some(ShellHelper::default()));
    let interactive = std::io::stdin().is_terminal();
    if interactive {
        super::interrupt::cancel_commands_on_sigint();
    }
    let history = interactive.then(history_path).flatten();
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    let mut shell = Shell {
        target,
        client: Some(client),
        editor,
        out,
        interactive,
        failed: None,
        pending: None,
    };
    // Lines read at the prompt: in a script, which is asked nothing else,
    // the line number in the script.
    let mut line_number: u64 = 0;
    loop {
        line_number += 1;
        let read = match shell.pending.take() {
            Some(read) => read,
            None => shell.read_line(PROMPT),
        };
        let line = match read {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => {
                shell.quit(true);
                break;
            }
            // The line was read and dropped: a bad line, not a broken
            // input, so the shell goes on as after any failed command.
            Err(ReadlineError::Io(error)) if error.kind() == std::io::ErrorKind::InvalidData => {
                let line = match interactive {
                    true => "the line".to_owned(),
                    false => format!("line {line_number}"),
                };
                shell.failed(&CliError::Usage(format!(
                    "{line} is not valid UTF-8; skipped"
                )));
                continue;
            }
            Err(error) => {
                shell.failed(&CliError::Local {
                    what: "cannot read input".to_owned(),
                    error: std::io::Error::other(error),
                });
                shell.quit(true);
                break;
            }
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let _ = shell.editor.add_history_entry(line);
        if let Flow::Quit = shell.execute(line) {
            break;
        }
    }
    if let Some(path) = &history {
        let _ = shell.editor.save_history(path);
    }
    match shell.failed {
        Some(code) if !interactive => ExitCode::from(code),
        _ => ExitCode::SUCCESS,
    }
}

/// `~/.bucket_history`.
fn history_path() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").or_else(|| std::env::var_os("USERPROFILE"))?;
    Some(PathBuf::from(home).join(".bucket_history"))
}

enum Flow {
    Continue,
    Quit,
}

struct Shell<'t> {
    target: &'t Target,
    /// `None` after a `QUIT` failed or before a reconnection.
    client: Option<Client>,
    editor: Editor<ShellHelper, DefaultHistory>,
    out: Output,
    /// Whether standard input is a terminal: only then are missing
    /// arguments asked for.
    interactive: bool,
    /// The exit status of the last command that failed.
    failed: Option<u8>,
    /// What was read at the shell's prompt after Ctrl-C cancelled a
    /// command at its question (`TERM=dumb`): the next command line.
    pending: Option<rustyline::Result<String>>,
}

impl Shell<'_> {
    /// Runs one typed line; errors are printed as one line.
    fn execute(&mut self, line: &str) -> Flow {
        let Some(words) = split_words(line) else {
            self.failed(&CliError::Usage(
                "unbalanced quotes or trailing \\".to_owned(),
            ));
            return Flow::Continue;
        };
        let Some((first, args)) = words.split_first() else {
            return Flow::Continue;
        };
        let result = parse_verb(first).and_then(|verb| self.run_verb(verb, args));
        if super::interrupt::command_finished() {
            // Ctrl-C ended the connection on purpose: the next command
            // connects again without calling it lost.
            self.client = None;
        }
        match result {
            Ok(flow) => flow,
            // Cancelled at a question by Ctrl-C, whose handler printed
            // the error already.
            Err(error) if self.pending.is_some() => {
                self.failed = Some(error.exit_code());
                Flow::Continue
            }
            Err(error) => {
                self.failed(&error);
                Flow::Continue
            }
        }
    }

    /// Prints `error` and remembers its exit status.
    fn failed(&mut self, error: &CliError) {
        self.out.error(error);
        self.failed = Some(error.exit_code());
    }

    fn run_verb(&mut self, verb: Verb, args: &[String]) -> Result<Flow, CliError> {
        if args.len() > max_args(verb) {
            return Err(CliError::Usage(format!(
                "too many arguments; usage: {}",
                usage(verb)
            )));
        }
        let mut out = self.out;
        match verb {
            Verb::Quit => {
                self.quit(false);
                return Ok(Flow::Quit);
            }
            Verb::Hello => ops::hello(self.client()?, &mut out)?,
            Verb::Codes => ops::codes(self.client()?, &mut out)?,
            Verb::Help => {
                let topic = args.first().map(|t| parse_verb(t)).transpose()?;
                ops::help(self.client()?, topic, &mut out, true)?;
            }
            Verb::CreateBucket => {
                let bucket = bucket_name(&self.arg(verb, args, 0, "bucket", None)?)?;
                ops::create_bucket(self.client()?, &bucket, &mut out)?;
            }
            Verb::ListBuckets => ops::list_buckets(self.client()?, &mut out)?,
            Verb::DeleteBucket => {
                let bucket = bucket_name(&self.arg(verb, args, 0, "bucket", None)?)?;
                ops::delete_bucket(self.client()?, &bucket, &mut out)?;
            }
            Verb::Upload => {
                let local = expand_home(&self.arg(verb, args, 0, "local path", None)?);
                // A pipe's own name (`/dev/fd/63`) is no name: one must be
                // typed, and a command that will not ask for it fails
                // before the pipe is read.
                let stream = is_stream(&local);
                let name_required = || {
                    CliError::Usage(format!(
                        "<name> is required when <local-path> is a pipe or a socket; usage: {}",
                        usage(verb)
                    ))
                };
                if stream && !args.is_empty() && args.get(2).is_none() {
                    return Err(name_required());
                }
                // Open it now: a typo in the path shows before more questions.
                let source = Source::open(&local)?;
                let default = match stream {
                    true => Err(name_required()),
                    false => default_name(&local).map(String::from),
                };
                let bucket = bucket_name(&self.arg(verb, args, 1, "bucket", None)?)?;
                let name = file_name(&self.optional(verb, args, 2, "name", default)?)?;
                ops::upload(self.client()?, &bucket, &name, source, &mut out)?;
            }
            Verb::ListFiles => {
                let bucket = args.first().map(|b| bucket_name(b)).transpose()?;
                ops::list_files(self.client()?, bucket.as_ref(), &mut out)?;
            }
            Verb::Download => {
                let bucket = bucket_name(&self.arg(verb, args, 0, "bucket", None)?)?;
                let name = file_name(&self.arg(verb, args, 1, "name", None)?)?;
                let default = format!("./{name}");
                let local = expand_home(&self.optional(verb, args, 2, "save to", Ok(default))?);
                let dest = Destination::new(Some(&local), &name);
                // Before a lost connection is made again.
                ops::check_destination(&dest, false)?;
                ops::download(self.client()?, &bucket, &name, &dest, false, &mut out)?;
            }
            Verb::DeleteFile => {
                let bucket = bucket_name(&self.arg(verb, args, 0, "bucket", None)?)?;
                let name = file_name(&self.arg(verb, args, 1, "name", None)?)?;
                ops::delete_file(self.client()?, &bucket, &name, &mut out)?;
            }
        }
        Ok(Flow::Continue)
    }

    /// An optional argument `index` of `verb`: as typed inline; else, when
    /// the command came without any argument and the shell is interactive,
    /// asked for as [`Shell::arg`] does, offering `default` when there is
    /// one; else `default` (its error when there is none), so that a
    /// script's next line is never taken as an answer.
    fn optional(
        &mut self,
        verb: Verb,
        args: &[String],
        index: usize,
        label: &str,
        default: Result<String, CliError>,
    ) -> Result<String, CliError> {
        match args.get(index) {
            Some(arg) => Ok(arg.clone()),
            None if args.is_empty() && self.interactive => {
                self.arg(verb, args, index, label, default.ok().as_deref())
            }
            None => default,
        }
    }

    /// Argument `index` of `verb` as typed inline, or else asked for with
    /// `label` (`label [default]: ` when there is a default). An empty
    /// answer takes the default, or cancels the command when there is none;
    /// Ctrl-C or Ctrl-D cancels it (with `TERM=dumb`, Ctrl-C is a signal,
    /// which shows the shell's prompt: the line then read is the next
    /// command, [`Shell::pending`]). Optional arguments go through
    /// [`Shell::optional`].
    ///
    /// With standard input not a terminal (a script) nothing is asked: a
    /// missing argument is a usage error (`missing <label>; usage: …`), and
    /// the script's next line is run as the command it is.
    fn arg(
        &mut self,
        verb: Verb,
        args: &[String],
        index: usize,
        label: &str,
        default: Option<&str>,
    ) -> Result<String, CliError> {
        if let Some(arg) = args.get(index) {
            return Ok(arg.clone());
        }
        if !self.interactive {
            return Err(missing(verb, label));
        }
        let prompt = match default {
            Some(default) => format!("{label} [{default}]: "),
            None => format!("{label}: "),
        };
        let read = {
            let _at_question = super::interrupt::AtPrompt::question(&prompt, PROMPT);
            self.editor.readline(&prompt)
        };
        if super::interrupt::question_cancelled() {
            // Ctrl-C cancelled the command and showed the shell's prompt:
            // what was read is the next command line, not the answer.
            self.pending = Some(read);
            return Err(CliError::Cancelled);
        }
        let answer = match read {
            Ok(answer) => answer,
            Err(ReadlineError::Interrupted | ReadlineError::Eof) => {
                return Err(CliError::Cancelled);
            }
            Err(error) => return Err(CliError::Usage(format!("reading input: {error}"))),
        };
        let answer = unquote(answer.trim());
        match (answer.is_empty(), default) {
            (false, _) => Ok(answer),
            (true, Some(default)) => Ok(default.to_owned()),
            (true, None) => Err(CliError::Cancelled),
        }
    }

    /// A line read at `prompt`; Ctrl-C meanwhile, when it is a signal,
    /// shows the prompt again rather than ending the shell
    /// ([`super::interrupt::AtPrompt`]).
    fn read_line(&mut self, prompt: &str) -> rustyline::Result<String> {
        let _at_prompt = super::interrupt::AtPrompt::new(prompt);
        self.editor.readline(prompt)
    }

    /// The connection, reconnecting when the last one broke or the server
    /// closed it (idle time-out).
    fn client(&mut self) -> Result<&mut Client, CliError> {
        let usable = self.client.as_ref().is_some_and(Client::is_open);
        if !usable {
            let had = self.client.take().is_some();
            let client = self.target.connect()?;
            if had {
                self.out.note(format_args!(
                    "(connection lost; reconnected to {})",
                    self.target
                ));
            }
            self.client = Some(client);
        }
        let client = self
            .client
            .as_mut()
            .ok_or(CliError::Client(Error::Closed))?;
        super::interrupt::command_started(client.interrupter());
        Ok(client)
    }

    /// Sends `QUIT` if connected; prints `200 BYE` unless `quiet`.
    fn quit(&mut self, quiet: bool) {
        let Some(client) = self.client.take() else {
            return;
        };
        if !client.is_open() {
            return;
        }
        match client.quit() {
            Ok(()) if !quiet => self
                .out
                .line(format_args!("{}", bucket_client::ReplyCode::Bye)),
            Err(error) if !quiet => self.out.error(&error.into()),
            _ => {}
        }
    }
}

/// A script's command without its argument `label`: a usage error that
/// shows how `verb` is typed.
fn missing(verb: Verb, label: &str) -> CliError {
    CliError::Usage(format!(
        "missing <{}>; usage: {}",
        label.replace(' ', "-"),
        usage(verb)
    ))
}

/// The words of a command line, split as a POSIX shell splits them
/// (quotes, backslashes; by shlex), except that `#` is a comment only at
/// the start of the line. Elsewhere it is part of its word: `#1.txt` is a
/// valid file name, and shlex, which takes a word starting with `#` as a
/// comment, dropped it and the rest of the line without a word (`upload x
/// photos #1.txt` stored `x`). `None` for unbalanced quotes or a trailing
/// backslash.
fn split_words(line: &str) -> Option<Vec<String>> {
    if line.trim_start().starts_with('#') {
        return Some(Vec::new());
    }
    shlex::split(&escape_word_start_hashes(line))
}

/// `line` with a backslash before each `#` that starts an unquoted word,
/// so that shlex keeps it.
fn escape_word_start_hashes(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + 4);
    let mut quote = None;
    let (mut escaped, mut word_start) = (false, true);
    for c in line.chars() {
        let literal = std::mem::take(&mut escaped);
        if !literal {
            match (quote, c) {
                (None, ' ' | '\t' | '\n') => {}
                (None, '#') if word_start => out.push('\\'),
                (None, '\'' | '"') => quote = Some(c),
                (None | Some('"'), '\\') => escaped = true,
                (Some(q), _) if c == q => quote = None,
                _ => {}
            }
        }
        word_start = !literal && quote.is_none() && matches!(c, ' ' | '\t' | '\n');
        out.push(c);
    }
    out
}

/// An answer typed at a prompt, with one pair of surrounding quotes removed
/// (`"cat 1.png"` → `cat 1.png`); anything else as typed.
fn unquote(answer: &str) -> String {
    let quoted = answer.len() >= 2
        && ((answer.starts_with('"') && answer.ends_with('"'))
            || (answer.starts_with('\'') && answer.ends_with('\'')));
    if quoted
        && let Some(mut words) = shlex::split(answer)
        && words.len() == 1
    {
        return words.remove(0);
    }
    answer.to_owned()
}

/// Tab completion: verbs for the first word, local paths after it.
#[derive(Default)]
struct ShellHelper {
    files: FilenameCompleter,
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        if before.contains(char::is_whitespace) {
            return self.files.complete(line, pos, ctx);
        }
        let lower = before.chars().next().is_some_and(char::is_lowercase);
        let mut names: Vec<String> = Verb::ALL
            .iter()
            .flat_map(|v| std::iter::once(v.as_str()).chain(v.aliases().iter().copied()))
            .filter(|n| n.len() >= before.len() && n[..before.len()].eq_ignore_ascii_case(before))
            .map(|n| match lower {
                true => n.to_ascii_lowercase(),
                false => n.to_owned(),
            })
            .collect();
        names.sort();
        let pairs = names
            .into_iter()
            .map(|n| Pair {
                display: n.clone(),
                replacement: format!("{n} "),
            })
            .collect();
        Ok((0, pairs))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}

impl Highlighter for ShellHelper {}

impl Validator for ShellHelper {}

impl Helper for ShellHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_starts_a_comment_only_at_the_start_of_the_line() {
        let words = |line: &str| split_words(line).expect("balanced");
        assert_eq!(
            words("upload ./x photos #draft.txt"),
            ["upload", "./x", "photos", "#draft.txt"]
        );
        assert_eq!(
            words("download b '#a b' \"#c\" #d#"),
            ["download", "b", "#a b", "#c", "#d#"]
        );
        assert_eq!(
            words("hello # not a comment"),
            ["hello", "#", "not", "a", "comment"]
        );
        assert_eq!(words("a\\ #b x#y"), ["a #b", "x#y"]);
        assert_eq!(words("a \\#b '\\' #c"), ["a", "#b", "\\", "#c"]);
        assert!(words("# a comment").is_empty());
        assert!(words("   #indented comment 'with quote").is_empty());
        assert_eq!(split_words("a '#b"), None, "unbalanced quotes");
        // Without a `#`, exactly what shlex gives.
        for line in ["a b", "'a b' c", "a\\ b", "\"x\\\"y\" z", "a\tb\nc"] {
            assert_eq!(split_words(line), shlex::split(line), "{line:?}");
        }
    }

    #[test]
    fn unquote_strips_one_pair() {
        assert_eq!(unquote("\"cat 1.png\""), "cat 1.png");
        assert_eq!(unquote("'a b'"), "a b");
        assert_eq!(unquote("plain name"), "plain name");
        assert_eq!(unquote("\"a\" \"b\""), "\"a\" \"b\"");
        assert_eq!(unquote("\""), "\"");
    }

    #[test]
    fn usage_lines() {
        assert_eq!(usage(Verb::ListBuckets), "LIST_B");
        assert_eq!(usage(Verb::DeleteFile), "DELETE_F <bucket> <name>");
        assert!(usage(Verb::Upload).starts_with("UPLOAD <local-path> <bucket> [name"));
        assert_eq!(max_args(Verb::Download), 3);
        assert_eq!(max_args(Verb::ListFiles), 1);
    }
}
