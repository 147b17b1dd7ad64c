//! The help text a server sends for `HELP [verb]` (`210 HELP`), built from
//! the verb table so it cannot drift from what the parser accepts.

use std::borrow::Cow;

use crate::reply::Reply;
use crate::request::Verb;

/// What each verb does, one line.
fn summary(verb: Verb) -> &'static str {
    match verb {
        Verb::Hello => "check the server; answers 100 OK with the protocol version",
        Verb::Help => "this text, or the details of one verb",
        Verb::Codes => "the reply code table",
        Verb::Quit => "end the session; answers 200 BYE and closes",
        Verb::CreateBucket => "create a bucket",
        Verb::ListBuckets => "list the buckets",
        Verb::DeleteBucket => "delete an empty bucket",
        Verb::Upload => "upload a file: send `size` raw bytes right after the line",
        Verb::ListFiles => "list the files of one bucket, or of every bucket",
        Verb::Download => "download a file: 900 FDBS size, then the raw bytes",
        Verb::DeleteFile => "delete a file",
    }
}

/// `VERB <required> [optional]`, as in PROTOCOL.md's table.
fn usage(verb: Verb) -> String {
    let mut s = verb.as_str().to_owned();
    for f in verb.required() {
        s.push_str(&format!(" <{f}>"));
    }
    for f in verb.optional() {
        s.push_str(&format!(" [{f}]"));
    }
    s
}

/// The `210 HELP` reply: for `None`, one line per verb (usage, aliases,
/// summary); for a verb, its usage, aliases, summary, dialogue and reply
/// codes.
pub fn help(topic: Option<Verb>) -> Reply<'static> {
    let mut lines: Vec<Cow<'static, str>> = Vec::new();
    match topic {
        None => {
            lines.push("BKT/1 verbs (case-insensitive; arguments by space, tab or comma; quote names with spaces):".into());
            for &verb in Verb::ALL {
                let aliases = verb.aliases();
                let also = if aliases.is_empty() {
                    String::new()
                } else {
                    format!(" (also {})", aliases.join(", "))
                };
                lines.push(format!("{}{also}: {}", usage(verb), summary(verb)).into());
            }
            lines.push("HELP <verb> for details; CODES for the reply codes.".into());
        }
        Some(verb) => {
            lines.push(usage(verb).into());
            if !verb.aliases().is_empty() {
                lines.push(format!("aliases: {}", verb.aliases().join(", ")).into());
            }
            lines.push(summary(verb).into());
            if !verb.required().is_empty() {
                lines.push(
                    "missing arguments are asked for with 150 NEED <field>; an empty line cancels"
                        .into(),
                );
            }
            lines.push(
                format!(
                    "replies: {} on success, {} on failure",
                    verb.success_code(),
                    verb.failure_code()
                )
                .into(),
            );
        }
    }
    Reply::Help { lines }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overview_lists_every_verb_and_alias() {
        let Reply::Help { lines } = help(None) else {
            panic!("not a help reply");
        };
        let text = lines.join("\n");
        for &verb in Verb::ALL {
            assert!(text.contains(verb.as_str()), "{verb}");
            for alias in verb.aliases() {
                assert!(text.contains(alias), "{alias}");
            }
        }
    }

    #[test]
    fn topic_names_usage_and_codes() {
        let Reply::Help { lines } = help(Some(Verb::Upload)) else {
            panic!("not a help reply");
        };
        assert_eq!(lines[0], "UPLOAD <bucket> <name> <size>");
        assert!(
            lines
                .iter()
                .any(|l| l.contains("700 FUBS") && l.contains("701 FUBF"))
        );
    }
}
